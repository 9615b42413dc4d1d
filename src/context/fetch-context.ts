import type { FlightControl, SharedFlights } from "../cache/shared-flights.js";
import type { CacheStore } from "../cache/types.js";
import { writeQuietly } from "../cache/write-quietly.js";
import { TIMED_OUT, withDeadline } from "../shared/deadline.js";
import { isToolCatalogue, TOOL_NAME_RULE } from "../tools/tool-spec.js";
import type { ContextProvider, ContextRequest, ProviderOutcome } from "./types.js";
import { errorMessage } from "../errors/error-message.js";
import { isInstance } from "../shared/is-instance.js";

/** Defaults of a provider's deadline and cache TTL. */
export const PROVIDER_DEFAULTS = { timeoutMs: 1_000, ttlMs: 30_000 } as const;

/** One provider to fetch in a run, with its cache key and what the batched cache read found. */
export interface ProviderJob {
  provider: ContextProvider;
  /** Its cache key, or the error that computing the key raised (the provider then fails alone). */
  key: string | { error: string };
  cached: unknown;
  /** The deadline for this run (an auto-tuned one), ms; default the provider's `timeoutMs`. */
  timeoutMs?: number | undefined;
  /** Runs the provider's `fetch` (with tracing: inside the provider's span, so its own spans are children). */
  within?: (<T>(fetch: () => T) => T) | undefined;
}

/** A provider's deadline passed (one object per timeout, built only on that path). */
class ProviderTimeout extends Error {}

/**
 * A provider's value as an outcome's `text` (prompt context) or `value` (tool definitions). Its
 * own `format()` or a value JSON cannot express fails this provider only.
 */
function present(provider: ContextProvider, value: unknown): Pick<ProviderOutcome, "text" | "value"> | { error: string } {
  if (value === undefined) return {};
  if (provider.provides === "tools") {
    return isToolCatalogue(value)
      ? { value }
      : { error: `a tool catalogue must give an array of tools, each an object with a name (${TOOL_NAME_RULE})` };
  }
  try {
    const text = provider.format ? provider.format(value) : typeof value === "string" ? value : JSON.stringify(value);
    if (typeof text !== "string") return { error: "format() did not return a string" };
    return { value, text };
  } catch (error) {
    return { error: `${provider.format ? "format() failed" : "the value cannot be serialised"}: ${errorMessage(error)}` };
  }
}

/** Where a provider's context keeps its flight. */
const FLIGHT: unique symbol = Symbol("zoe.flight");

/** The accessor every provider context shares: one descriptor, so every context has one shape. */
const SIGNAL: PropertyDescriptor = {
  get(this: { [FLIGHT]: FlightControl }): AbortSignal {
    return this[FLIGHT].signal;
  },
  enumerable: true,
  configurable: true,
};

/**
 * What a provider's `fetch` gets as its second argument: `{ signal }`, the flight's signal made
 * when first read. `signal` is an own enumerable accessor, as an object literal's getter would be
 * (a spread, `Object.keys` or a Proxy of the context see it), but defined from one shared
 * descriptor: about 0.15 µs per context where the literal costs V8 0.3–0.6 µs, every fetch.
 */
class FetchSignal {
  declare readonly signal: AbortSignal;
  readonly [FLIGHT]: FlightControl;
  constructor(flight: FlightControl) {
    this[FLIGHT] = flight;
    Object.defineProperty(this, "signal", SIGNAL);
  }
}

function loadProvider(
  provider: ContextProvider,
  request: ContextRequest,
  key: string,
  store: CacheStore,
  flight: FlightControl,
  deadlineMs?: number,
  within?: <T>(fetch: () => T) => T,
): Promise<unknown> {
  // Nothing here throws: whatever the provider does (its fetch, its value, a getter of its own)
  // fails that provider alone, as a rejection.
  const failed = (error: unknown): never => {
    flight.abort(error);
    throw error;
  };
  try {
    // The provider's signal is the flight's, created only if the provider reads it (most answer
    // from memory and never do); every caller leaving, the deadline or a failure aborts it.
    const context = new FetchSignal(flight);
    const work: unknown = within ? within(() => provider.fetch(request, context)) : provider.fetch(request, context);
    // A value that is not an object (text, a number) is never a thenable: it is there already,
    // with no deadline to wait out.
    if (work === null || (typeof work !== "object" && typeof work !== "function")) return Promise.resolve(keep(provider, key, store, work));
    const timeoutMs = deadlineMs ?? provider.timeoutMs ?? PROVIDER_DEFAULTS.timeoutMs;
    // Callers stop waiting on their own signals (see SharedFlights); this wait ends with the
    // provider, its deadline, or the flight's abort once every caller has left (its deadline
    // timer then goes too). It hooks to the flight itself: no signal is made for it, only for a
    // provider that reads its own.
    return withDeadline(Promise.resolve(work), timeoutMs, flight).then((value) => {
      if (value === TIMED_OUT) {
        return failed(new ProviderTimeout(`Context provider "${provider.name}" took longer than its ${timeoutMs} ms deadline.`));
      }
      try {
        return keep(provider, key, store, value);
      } catch (error) {
        return failed(error);
      }
    }, failed);
  } catch (error) {
    flight.abort(error);
    return Promise.reject(error);
  }
}

/**
 * A provider's value, written to the cache when it has a TTL (a failed write costs a later miss,
 * never this run). A cached value is used as the store gives it back, through JSON, on this run
 * too: one JSON does not give back as it was (a `Date`, a `toJSON`, a `Map`) would otherwise be
 * formatted one way fresh and another cached, and a stable provider's system message (the KV
 * prefix, the answer cache's key) would change from the first turn to the next. A value JSON
 * cannot hold is used as it is, and not cached.
 */
function keep(provider: ContextProvider, key: string, store: CacheStore, value: unknown): unknown {
  const ttlMs = provider.ttlMs ?? PROVIDER_DEFAULTS.ttlMs;
  if (!(ttlMs > 0) || value === undefined) return value;
  if (typeof value === "string") {
    writeQuietly(store, key, value, ttlMs);
    return value;
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    return value;
  }
  if (json === undefined) return value;
  const stored: unknown = JSON.parse(json);
  writeQuietly(store, key, stored, ttlMs);
  return stored;
}

/**
 * Fetch every provider in parallel (cached ones answer at once) and pass the outcomes to `land`
 * in batches as they arrive: first those known at once (cached, or without a cache key), then
 * each group that arrived together, in one task per group; `last` is true for the batch after
 * which no provider is pending. Undefined when every outcome has landed already (all cached:
 * nothing to wait for); otherwise a promise that settles when every provider has an outcome, or
 * at once when `signal` aborts (the providers were aborted with it). Never throws for a
 * provider's failure — its fetch, its cache key, its `format()`, its value — that becomes its
 * outcome.
 */
export function fetchContext(
  jobs: readonly ProviderJob[],
  request: ContextRequest,
  store: CacheStore,
  flights: SharedFlights<unknown>,
  signal: AbortSignal,
  land: (outcomes: ProviderOutcome[], last: boolean) => void,
): Promise<void> | undefined {
  const started = performance.now();
  const arrived: ProviderOutcome[] = [];
  let waiting = 0;
  let wake: (() => void) | undefined;
  const arrive = (outcome: ProviderOutcome) => {
    arrived.push(outcome);
    waiting--;
    wake?.();
  };
  const outcomeOf = (provider: ContextProvider, status: "ok" | "cached", value: unknown, ms: number): ProviderOutcome => {
    const placement = provider.placement ?? "volatile";
    const shown = present(provider, value);
    if ("error" in shown) return { name: provider.name, status: "error", ms, placement, error: shown.error };
    // Optional fields set one by one: no spread of an object made for the purpose.
    const outcome: ProviderOutcome = { name: provider.name, status, ms, placement };
    if (provider.priority !== undefined) outcome.priority = provider.priority;
    if ("value" in shown) outcome.value = shown.value;
    if ("text" in shown) outcome.text = shown.text;
    return outcome;
  };
  const atOnce: ProviderOutcome[] = [];
  const fetches: Array<ProviderJob & { key: string }> = [];
  for (const job of jobs) {
    const { provider, key, cached } = job;
    if (typeof key !== "string") {
      atOnce.push({ name: provider.name, status: "error", ms: 0, placement: provider.placement ?? "volatile", error: key.error });
    } else if (cached !== undefined) atOnce.push(outcomeOf(provider, "cached", cached, 0));
    else fetches.push(job as ProviderJob & { key: string });
  }
  // What is known at once lands before any fetch starts: a host that cancels the run on one of
  // those outcomes (a `provider:error` listener) starts none.
  waiting = fetches.length;
  land(atOnce, waiting === 0);
  if (waiting === 0) return undefined;
  for (const { provider, key, timeoutMs, within } of fetches) {
    // Runs share the fetch of a cache entry; a provider that is not cached (`ttlMs: 0`) has none,
    // and its value may depend on the whole request (the thread, the message): it is fetched for
    // each run alone.
    const load = (flight: FlightControl) => loadProvider(provider, request, key, store, flight, timeoutMs, within);
    const fetched =
      (provider.ttlMs ?? PROVIDER_DEFAULTS.ttlMs) > 0 ? flights.joinControlled(key, load, signal) : flights.alone(load, signal);
    // Settled in a later task: nothing arrives while this loop runs.
    fetched.then(
      (value) => arrive(outcomeOf(provider, "ok", value, performance.now() - started)),
      (error: unknown) =>
        arrive({
          name: provider.name,
          status: isInstance(error, ProviderTimeout) ? "timeout" : "error",
          ms: performance.now() - started,
          placement: provider.placement ?? "volatile",
          error: errorMessage(error),
        }),
    );
  }
  const landAll = async () => {
    while (waiting > 0 || arrived.length > 0) {
      if (arrived.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      // A cancelled run stops waiting here; the providers were aborted with it.
      if (signal.aborted) return;
      land(arrived.splice(0), waiting === 0);
    }
  };
  return landAll();
}
