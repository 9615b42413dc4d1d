import pTimeout, { TimeoutError } from "p-timeout";
import type { SharedFlights } from "../cache/shared-flights.js";
import type { CacheStore } from "../cache/types.js";
import type { ContextProvider, ContextRequest, ProviderOutcome } from "./types.js";

/** Defaults of a provider's deadline and cache TTL. */
export const PROVIDER_DEFAULTS = { timeoutMs: 1_000, ttlMs: 30_000 } as const;

/** One provider to fetch in a run, with its cache key and what the batched cache read found. */
export interface ProviderJob {
  provider: ContextProvider;
  key: string;
  cached: unknown;
  /** The deadline for this run (an auto-tuned one), ms; default the provider's `timeoutMs`. */
  timeoutMs?: number | undefined;
}

/** A provider's value as an outcome's `text` (prompt context) or `value` (tool definitions). */
function present(provider: ContextProvider, value: unknown): Pick<ProviderOutcome, "text" | "value"> {
  if (value === undefined) return {};
  if (provider.provides === "tools") return { value };
  return { value, text: provider.format ? provider.format(value) : typeof value === "string" ? value : JSON.stringify(value) };
}

async function loadProvider(
  provider: ContextProvider,
  request: ContextRequest,
  key: string,
  store: CacheStore,
  signal: AbortSignal,
  deadlineMs?: number,
): Promise<unknown> {
  const controller = new AbortController();
  const forward = () => controller.abort(signal.reason);
  signal.addEventListener("abort", forward, { once: true });
  const timeoutMs = deadlineMs ?? provider.timeoutMs ?? PROVIDER_DEFAULTS.timeoutMs;
  try {
    const work = Promise.resolve().then(() => provider.fetch(request, { signal: controller.signal }));
    const value = await pTimeout(work, {
      milliseconds: timeoutMs,
      message: `Context provider "${provider.name}" took longer than its ${timeoutMs} ms deadline.`,
    });
    const ttlMs = provider.ttlMs ?? PROVIDER_DEFAULTS.ttlMs;
    if (ttlMs > 0 && value !== undefined) {
      // A failed cache write costs a later miss, never this run.
      store.set(key, value, ttlMs).catch(() => {});
    }
    return value;
  } catch (error) {
    controller.abort(error);
    throw error;
  } finally {
    signal.removeEventListener("abort", forward);
  }
}

/**
 * Fetch every provider in parallel (cached ones answer at once) and yield each outcome as it
 * arrives. Never throws for a provider's failure: that becomes its outcome.
 */
export async function* fetchContext(
  jobs: readonly ProviderJob[],
  request: ContextRequest,
  store: CacheStore,
  flights: SharedFlights<unknown>,
  signal: AbortSignal,
): AsyncGenerator<ProviderOutcome> {
  const started = performance.now();
  const pending = new Map<string, Promise<ProviderOutcome>>();
  for (const { provider, key, cached, timeoutMs } of jobs) {
    const placement = provider.placement ?? "volatile";
    if (cached !== undefined) {
      yield { name: provider.name, status: "cached", ms: 0, placement, ...present(provider, cached) };
      continue;
    }
    const outcome = flights
      .join(key, (flightSignal) => loadProvider(provider, request, key, store, flightSignal, timeoutMs), signal)
      .then(
        (value): ProviderOutcome => ({
          name: provider.name,
          status: "ok",
          ms: performance.now() - started,
          placement,
          ...present(provider, value),
        }),
        (error: unknown): ProviderOutcome => ({
          name: provider.name,
          status: error instanceof TimeoutError ? "timeout" : "error",
          ms: performance.now() - started,
          placement,
          error: error instanceof Error ? error.message : String(error),
        }),
      );
    pending.set(provider.name, outcome);
  }
  while (pending.size > 0) {
    const next = await Promise.race(pending.values());
    pending.delete(next.name);
    yield next;
  }
}
