import type { FlightControl, SharedFlights } from "../cache/shared-flights.js";
import type { CacheStore } from "../cache/types.js";
import { writeQuietly } from "../cache/write-quietly.js";
import { TIMED_OUT, withDeadline } from "../shared/deadline.js";
import { isToolCatalogue } from "../tools/tool-spec.js";
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
    return isToolCatalogue(value) ? { value } : { error: "a tool catalogue must give an array of tools, each an object with a name" };
  }
  try {
    const text = provider.format ? provider.format(value) : typeof value === "string" ? value : JSON.stringify(value);
    if (typeof text !== "string") return { error: "format() did not return a string" };
    return { value, text };
  } catch (error) {
    return { error: `${provider.format ? "format() failed" : "the value cannot be serialised"}: ${errorMessage(error)}` };
  }
}

/**
 * What a provider's `fetch` gets as its second argument: the flight's signal, made when first
 * read. A class: an object literal with a getter costs V8 about 0.6 µs to build, every fetch.
 */
class FetchSignal {
  readonly #flight: FlightControl;
  constructor(flight: FlightControl) {
    this.#flight = flight;
  }
  get signal(): AbortSignal {
    return this.#flight.signal;
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
  // The provider's signal is the flight's, created only if the provider reads it (most answer
  // from memory and never do); every caller leaving, the deadline or a failure aborts it.
  const context = new FetchSignal(flight);
  let work: unknown;
  try {
    work = within ? within(() => provider.fetch(request, context)) : provider.fetch(request, context);
  } catch (error) {
    flight.abort(error);
    return Promise.reject(error);
  }
  // A value that is not an object (text, a number) is never a thenable: it is there already, with
  // no deadline to wait out.
  if (work === null || (typeof work !== "object" && typeof work !== "function")) return Promise.resolve(keep(provider, key, store, work));
  const timeoutMs = deadlineMs ?? provider.timeoutMs ?? PROVIDER_DEFAULTS.timeoutMs;
  // Callers stop waiting on their own signals (see SharedFlights); this wait ends with the
  // provider, its deadline, or the flight's abort once every caller has left (its deadline timer
  // then goes too). The flight's signal is made only if the provider has not answered within a
  // microtask.
  return withDeadline(Promise.resolve(work), timeoutMs, () => flight.signal).then(
    (value) => {
      if (value !== TIMED_OUT) return keep(provider, key, store, value);
      const timeout = new ProviderTimeout(`Context provider "${provider.name}" took longer than its ${timeoutMs} ms deadline.`);
      flight.abort(timeout);
      throw timeout;
    },
    (error: unknown) => {
      flight.abort(error);
      throw error;
    },
  );
}

/** A provider's value, written to the cache when it has a TTL (a failed write costs a later miss, never this run). */
function keep(provider: ContextProvider, key: string, store: CacheStore, value: unknown): unknown {
  const ttlMs = provider.ttlMs ?? PROVIDER_DEFAULTS.ttlMs;
  if (ttlMs > 0 && value !== undefined) writeQuietly(store, key, value, ttlMs);
  return value;
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
  for (const { provider, key, cached, timeoutMs, within } of jobs) {
    const placement = provider.placement ?? "volatile";
    if (typeof key !== "string") {
      atOnce.push({ name: provider.name, status: "error", ms: 0, placement, error: key.error });
      continue;
    }
    if (cached !== undefined) {
      atOnce.push(outcomeOf(provider, "cached", cached, 0));
      continue;
    }
    waiting++;
    // Runs share the fetch of a cache entry; a provider that is not cached (`ttlMs: 0`) has none,
    // and its value may depend on the whole request (the thread, the message): it is fetched for
    // each run alone.
    const load = (flight: FlightControl) => loadProvider(provider, request, key, store, flight, timeoutMs, within);
    const fetched =
      (provider.ttlMs ?? PROVIDER_DEFAULTS.ttlMs) > 0 ? flights.joinControlled(key, load, signal) : flights.alone(load, signal);
    fetched.then(
      (value) => arrive(outcomeOf(provider, "ok", value, performance.now() - started)),
      (error: unknown) =>
        arrive({
          name: provider.name,
          status: isInstance(error, ProviderTimeout) ? "timeout" : "error",
          ms: performance.now() - started,
          placement,
          error: errorMessage(error),
        }),
    );
  }
  // Fetches settle in later tasks: nothing has arrived yet.
  land(atOnce, waiting === 0);
  if (waiting === 0) return undefined;
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
