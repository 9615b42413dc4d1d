import { ZoeError } from "../../errors/zoe-error.js";
import type { RouteDecision, RouteRequest, Router } from "../../routing/types.js";
import { attempt, TIMED_OUT, withDeadline } from "../../shared/deadline.js";
import { isDecision, type RouteFallback } from "../route-fallback.js";

/** How the route of a turn was decided. */
export interface RouteOutcome {
  decision: RouteDecision;
  /** Read from the route cache. */
  cached: boolean;
  /** Why the fallback router decided, when it did. */
  fallback?: string;
  ms: number;
}

/**
 * Decide the route: a cached decision, else the router under its deadline, else (timeout,
 * throw, or an answer that is not a decision) the fallback. Rejects when the run is aborted, and
 * with `ROUTER_ERROR` only when no fallback model is known.
 */
export async function decideRoute(
  router: Router,
  fallback: RouteFallback,
  cachedValue: unknown,
  request: RouteRequest,
  deadlineMs: number,
  signal: AbortSignal,
): Promise<RouteOutcome> {
  const t0 = performance.now();
  if (isDecision(cachedValue)) return { decision: cachedValue, cached: true, ms: 0 };
  let reason: string;
  try {
    const decided = await withDeadline(attempt(() => router.route(request)), deadlineMs, signal);
    if (isDecision(decided)) {
      fallback.remember(decided);
      return { decision: decided, cached: false, ms: performance.now() - t0 };
    }
    reason = decided === TIMED_OUT ? `the router took longer than its ${deadlineMs} ms deadline` : "the router's answer is not a route decision";
  } catch (error) {
    if (signal.aborted) throw error;
    reason = `the router failed: ${error instanceof Error ? error.message : String(error)}`;
  }
  let decision: RouteDecision | undefined;
  try {
    decision = await withDeadline(attempt(() => fallback.decide(request)).then((d) => (isDecision(d) ? d : undefined)), deadlineMs, signal).then(
      (d) => (d === TIMED_OUT ? undefined : d),
    );
  } catch (error) {
    if (signal.aborted) throw error;
  }
  if (!decision) throw new ZoeError("ROUTER_ERROR", `No route: ${reason}, and no fallback model is known (give \`fallbackRouter\`).`);
  return { decision, cached: false, fallback: reason, ms: performance.now() - t0 };
}
