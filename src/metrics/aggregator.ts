import type { ZoeError } from "../errors/zoe-error.js";
import type { RunMetrics } from "../pipeline/metrics.js";
import type { AutoTuneSnapshot } from "./auto-tune.js";
import { SampleWindow, type LatencySummary } from "./sample-window.js";

/** Stage names of `RunMetrics.stages`. */
export const STAGES = ["cacheReadMs", "routeMs", "contextMs", "promptMs", "generateMs"] as const;
export type StageName = (typeof STAGES)[number];

/** Hits, misses and hit rate of one cache part. */
export interface CachePartStats {
  hits: number;
  misses: number;
  /** hits / (hits + misses); 0 before the first read. */
  hitRate: number;
}

/** What `pipeline.metrics()` returns: counts since the start, latency over recent runs. */
export interface PipelineMetricsSnapshot {
  runs: {
    /** Runs that emitted `run:started`. */
    started: number;
    /** Runs that finished (success, tool calls pending included). */
    finished: number;
    cancelled: number;
    /** `run:error` events, those of input rejected before a start included. */
    errors: number;
    /** Started runs that have not ended yet. */
    inFlight: number;
  };
  /** `run:error` events by error code. */
  errorsByCode: Record<string, number>;
  /** Each a {@link LatencySummary} in ms over the last `windowSize` finished runs. */
  latency: {
    ttftMs: LatencySummary;
    totalMs: LatencySummary;
    stages: Record<StageName, LatencySummary>;
    /** Time each provider made the run wait (fetched or timed out; cached and skipped left out). */
    providers: Record<string, LatencySummary>;
  };
  /** Hits and misses by cache part (`route`, `system`, `context`, `history`, …). */
  cache: Record<string, CachePartStats>;
  /** Share of finished runs that took the fast path, 0 to 1. */
  fastPathShare: number;
  /** Generated tokens per second of finished runs that report it. */
  tokensPerSecond: LatencySummary;
  /** Provider deadlines and num_predict values now in force (only with the `autoTune` option). */
  autoTune?: AutoTuneSnapshot;
}

/** The emitter side the aggregator listens to: a pipeline, or its internal emitter. */
export interface MetricsSource {
  // biome-ignore lint/suspicious/noExplicitAny: each event passes its own payload type
  on(event: string, listener: (...args: any[]) => void): unknown;
  // biome-ignore lint/suspicious/noExplicitAny: each event passes its own payload type
  off(event: string, listener: (...args: any[]) => void): unknown;
}

type Ids = { threadId?: string; runId?: string };
/**
 * Runs in flight, by run id, then thread id: what a run's end is matched with (a run refused
 * before its start ends without being in flight). Almost every run id has one thread, kept in
 * `thread`; a run id that several threads use at once gets a map. Keyed by the id strings
 * themselves, whose hash V8 keeps on the string: a key joined from both ids was a new string to
 * hash on every event, about 1.5 µs a run.
 */
type InFlight = { thread: string; runs: number; others?: Map<string, number> };

const threadOf = (info: Ids): string => info.threadId ?? "";

/**
 * Aggregates pipeline events into a {@link PipelineMetricsSnapshot}: O(1) work per event and fixed
 * memory (a ring of the last `windowSize` values per series, counters, the ids of runs in flight).
 */
export class MetricsAggregator {
  readonly windowSize: number;
  #started = 0;
  #finished = 0;
  #cancelled = 0;
  #errors = 0;
  #fastPath = 0;
  readonly #inFlight = new Map<string, InFlight>();
  readonly #errorsByCode = new Map<string, number>();
  readonly #cache = new Map<string, { hits: number; misses: number }>();
  readonly #ttft: SampleWindow;
  readonly #total: SampleWindow;
  readonly #tps: SampleWindow;
  readonly #stages: Record<StageName, SampleWindow>;
  readonly #providers = new Map<string, SampleWindow>();
  /** Provider series kept at most (names come from configuration; this only guards memory). */
  static readonly MAX_PROVIDERS = 256;

  constructor(options: { windowSize?: number } = {}) {
    this.windowSize = options.windowSize ?? 2048;
    const w = () => new SampleWindow(this.windowSize);
    this.#ttft = w();
    this.#total = w();
    this.#tps = w();
    this.#stages = { cacheReadMs: w(), routeMs: w(), contextMs: w(), promptMs: w(), generateMs: w() };
  }

  runStarted(info: Ids): void {
    this.#started++;
    const runId = info.runId ?? "";
    const thread = threadOf(info);
    const entry = this.#inFlight.get(runId);
    if (!entry) this.#inFlight.set(runId, { thread, runs: 1 });
    else if (entry.thread === thread) entry.runs++;
    else {
      entry.others ??= new Map();
      entry.others.set(thread, (entry.others.get(thread) ?? 0) + 1);
    }
  }

  runFinished(info: Ids & { metrics: RunMetrics }): void {
    this.#finished++;
    this.#ended(info);
    const m = info.metrics;
    if (m.ttftMs !== undefined) this.#ttft.add(m.ttftMs);
    this.#total.add(m.totalMs);
    for (const stage of STAGES) this.#stages[stage].add(m.stages[stage]);
    if (m.tokensPerSecond !== undefined) this.#tps.add(m.tokensPerSecond);
    if (m.fastPath) this.#fastPath++;
    for (const [name, { status, ms }] of Object.entries(m.providers)) {
      if (status === "cached" || status === "skipped") continue;
      let window = this.#providers.get(name);
      if (!window) {
        if (this.#providers.size >= MetricsAggregator.MAX_PROVIDERS) continue;
        window = new SampleWindow(this.windowSize);
        this.#providers.set(name, window);
      }
      window.add(ms);
    }
  }

  runCancelled(info: Ids): void {
    this.#cancelled++;
    this.#ended(info);
  }

  runError(info: Ids & { error: Pick<ZoeError, "code"> }): void {
    this.#errors++;
    const code = String(info.error?.code ?? "INTERNAL_ERROR");
    this.#errorsByCode.set(code, (this.#errorsByCode.get(code) ?? 0) + 1);
    this.#ended(info);
  }

  cacheRead(part: string, hit: boolean): void {
    let entry = this.#cache.get(part);
    if (!entry) this.#cache.set(part, (entry = { hits: 0, misses: 0 }));
    if (hit) entry.hits++;
    else entry.misses++;
  }

  #ended(info: Ids): void {
    const runId = info.runId ?? "";
    const entry = this.#inFlight.get(runId);
    if (!entry) return; // rejected before its start: never in flight
    const thread = threadOf(info);
    if (entry.thread === thread && entry.runs > 0) entry.runs--;
    else {
      const n = entry.others?.get(thread);
      if (n === undefined) return;
      if (n <= 1) entry.others?.delete(thread);
      else entry.others?.set(thread, n - 1);
    }
    if (entry.runs === 0 && !entry.others?.size) this.#inFlight.delete(runId);
  }

  /** Subscribe to a pipeline's (or its emitter's) events; returns the function that unsubscribes. */
  attach(source: MetricsSource): () => void {
    // biome-ignore lint/suspicious/noExplicitAny: each event passes its own payload type
    const listeners: Array<[string, (...args: any[]) => void]> = [
      ["run:started", (i: Ids) => this.runStarted(i)],
      ["run:finished", (i: Ids & { metrics: RunMetrics }) => this.runFinished(i)],
      ["run:cancelled", (i: Ids) => this.runCancelled(i)],
      ["run:error", (i: Ids & { error: ZoeError }) => this.runError(i)],
      ["cache:hit", (i: { part: string }) => this.cacheRead(i.part, true)],
      ["cache:miss", (i: { part: string }) => this.cacheRead(i.part, false)],
    ];
    for (const [event, listener] of listeners) source.on(event, listener);
    return () => {
      for (const [event, listener] of listeners) source.off(event, listener);
    };
  }

  snapshot(): PipelineMetricsSnapshot {
    let inFlight = 0;
    for (const entry of this.#inFlight.values()) {
      inFlight += entry.runs;
      if (entry.others) for (const n of entry.others.values()) inFlight += n;
    }
    const cache: Record<string, CachePartStats> = {};
    for (const [part, { hits, misses }] of this.#cache) {
      cache[part] = { hits, misses, hitRate: hits + misses === 0 ? 0 : hits / (hits + misses) };
    }
    const providers: Record<string, LatencySummary> = {};
    for (const [name, window] of this.#providers) providers[name] = window.summary();
    const stages = {} as Record<StageName, LatencySummary>;
    for (const stage of STAGES) stages[stage] = this.#stages[stage].summary();
    return {
      runs: { started: this.#started, finished: this.#finished, cancelled: this.#cancelled, errors: this.#errors, inFlight },
      errorsByCode: Object.fromEntries(this.#errorsByCode),
      latency: { ttftMs: this.#ttft.summary(), totalMs: this.#total.summary(), stages, providers },
      cache,
      fastPathShare: this.#finished === 0 ? 0 : this.#fastPath / this.#finished,
      tokensPerSecond: this.#tps.summary(),
    };
  }
}
