import { fetchContext, type ProviderJob } from "../../context/fetch-context.js";
import type { ContextProvider, ProviderOutcome } from "../../context/types.js";
import { events, pointerSegment, type JsonPatchOp } from "../../events/factory.js";
import { abortReason } from "../../shared/abort.js";
import { isToolCatalogue } from "../../tools/tool-spec.js";
import { round } from "../metrics.js";
import { beginStage, countCache, endStage, finishStep, startStep, type RunContext } from "../run-context.js";
import type { Routed } from "./route.js";

/** The context stage's outcome: every provider's outcome, in the order they arrived. */
export interface ContextOutcome {
  outcomes: ProviderOutcome[];
  ms: number;
}

const runsOnFastPath = (p: ContextProvider) => p.fastPath ?? p.provides === "tools";

/**
 * The context stage: every provider at once, cached ones answered from the batched read, each
 * under its own deadline and isolated (a failure is that provider's outcome). The fast path skips
 * context providers, except those marked `fastPath` and stable ones served from the cache (which
 * keep the system prompt, and so the KV prefix, of the thread's other turns). Each outcome is a
 * state delta as it lands; providers actually fetched are also an AG-UI activity (`zoe.context`)
 * that a UI can show as progress.
 */
export async function contextStage(ctx: RunContext, routed: Routed): Promise<ContextOutcome> {
  const { deps, turn, signal, out } = ctx;
  const { decision } = routed;
  out.send(startStep(ctx, "context"));
  const span = beginStage(ctx, "context");
  const t0 = performance.now();
  const outcomes: ProviderOutcome[] = [];
  const jobs: ProviderJob[] = [];
  const skipped: JsonPatchOp[] = [];
  deps.providers.forEach((provider, i) => {
    const stored = provider.ttlMs === 0 ? undefined : routed.cachedContext.get(i);
    // On the fast path a stable provider still served from the cache is used (no wait): the system
    // prompt is then the one of the thread's other turns, and the model server keeps its KV prefix.
    if (decision.fastPath && !runsOnFastPath(provider) && (provider.placement !== "stable" || stored === undefined)) {
      outcomes.push({ name: provider.name, status: "skipped", ms: 0, placement: provider.placement ?? "volatile" });
      skipped.push({ op: "add", path: `/zoe/providers/${pointerSegment(provider.name)}`, value: { status: "skipped", ms: 0 } });
      return;
    }
    // A stored catalogue that is not one (written by something else) is a miss: the provider is asked again.
    const cached = provider.provides === "tools" && !isToolCatalogue(stored) ? undefined : stored;
    countCache(ctx, "context", cached !== undefined);
    jobs.push({ provider, key: routed.providerKeys[i] as ProviderJob["key"], cached, timeoutMs: deps.tune?.deadline(provider.name) });
  });
  if (skipped.length > 0) out.send(events.stateDelta(skipped));
  // Providers fetched this run (not served from the cache): shown as an activity too.
  const fetching = new Set<string>();
  for (const j of jobs) if (j.cached === undefined && typeof j.key === "string") fetching.add(j.provider.name);
  const activityId = `${turn.runId}:context`;
  if (fetching.size > 0) {
    out.send(
      events.activitySnapshot(activityId, "zoe.context", {
        providers: Object.fromEntries([...fetching].map((name) => [name, { status: "pending" }])),
      }),
    );
  }
  const request = { userId: turn.userId, threadId: turn.threadId, text: turn.text, kind: decision.kind };
  const landing = fetchContext(jobs, request, deps.store, deps.flights, signal, (outcome) => {
    // A fetch that lands brings the run back from I/O: its events go out on the loop's next
    // turn, or with the model request if it was the last one.
    out.hold();
    outcomes.push(outcome);
    if (outcome.status === "timeout") deps.emitter.emit("provider:timeout", { name: outcome.name, userId: turn.userId, ms: outcome.ms });
    if (outcome.status === "error") {
      deps.emitter.emit("provider:error", { name: outcome.name, userId: turn.userId, ms: outcome.ms, error: outcome.error ?? "" });
    }
    const value = outcome.error
      ? { status: outcome.status, ms: round(outcome.ms), error: outcome.error }
      : { status: outcome.status, ms: round(outcome.ms) };
    if (ctx.trace.enabled) {
      const failure = outcome.status === "timeout" || outcome.status === "error" ? outcome.status : undefined;
      ctx.trace.record(
        `zoe.provider ${outcome.name}`,
        t0,
        t0 + outcome.ms,
        { "zoe.provider.name": outcome.name, "zoe.provider.status": outcome.status },
        span,
        failure,
      );
    }
    const segment = pointerSegment(outcome.name);
    out.send(events.stateDelta([{ op: "add", path: `/zoe/providers/${segment}`, value }]));
    if (fetching.has(outcome.name)) {
      out.send(events.activityDelta(activityId, "zoe.context", [{ op: "replace", path: `/providers/${segment}`, value }]));
    }
  });
  // Cached providers have all landed already: only fetches are waited for.
  if (landing) await landing;
  if (signal.aborted) throw abortReason(signal);
  const ms = performance.now() - t0;
  endStage(ctx, () => ({ "zoe.context.providers": outcomes.length }));
  for (const event of finishStep(ctx, "context", "generate")) out.send(event);
  return { outcomes, ms };
}
