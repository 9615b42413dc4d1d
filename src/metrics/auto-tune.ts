import type { ContextProvider } from "../context/types.js";
import { PROVIDER_DEFAULTS } from "../context/fetch-context.js";
import type { RunMetrics } from "../pipeline/metrics.js";
import type { RouteDecision, RouteKind, RouteOptions } from "../routing/types.js";
import { setEntry } from "../shared/own-entry.js";
import { SampleWindow } from "./sample-window.js";

/** Provider deadlines that follow observed latency. */
export interface AutoTuneProviderOptions {
  /** Percentile of observed latency. Default 95. */
  percentile?: number;
  /** Deadline = percentile × factor. Default 1.5. */
  factor?: number;
  /** Lowest deadline, ms. Default 100. */
  minMs?: number;
  /** Highest deadline, ms. Default 5,000. */
  maxMs?: number;
  /** Samples needed before the tuned deadline replaces the provider's `timeoutMs`. Default 20. */
  minSamples?: number;
}

/** `num_predict` per route kind that follows observed output lengths. */
export interface AutoTuneNumPredictOptions {
  /** Percentile of observed output tokens. Default 95. */
  percentile?: number;
  /** num_predict = percentile × factor. Default 1.25. */
  factor?: number;
  /** Lowest value. Default 32. */
  min?: number;
  /** Highest value. Default 2,048. */
  max?: number;
  /** Samples needed before the tuned value is used. Default 20. */
  minSamples?: number;
}

/** The `autoTune` pipeline option. Each part is off unless given (`{}` turns it on with the defaults). */
export interface AutoTuneOptions {
  providers?: AutoTuneProviderOptions;
  numPredict?: AutoTuneNumPredictOptions;
  /** Samples kept per provider and per route kind, at most 65,536. Default 256. */
  windowSize?: number;
}

/**
 * The largest `autoTune.windowSize` (512 KiB per series, sorted every 8th run). A route kind's
 * window is made when the kind is first seen, in a `run:finished` listener: a size too large to
 * allocate must be refused when the pipeline is created, not throw there at every run.
 */
const MAX_WINDOW = 65_536;

/** Defaults of {@link AutoTuneOptions}. */
export const AUTO_TUNE_DEFAULTS = {
  providers: { percentile: 95, factor: 1.5, minMs: 100, maxMs: 5_000, minSamples: 20 },
  numPredict: { percentile: 95, factor: 1.25, min: 32, max: 2_048, minSamples: 20 },
  windowSize: 256,
} as const;

/** The tuned values now in force, as `pipeline.metrics().autoTune` shows them. */
export interface AutoTuneSnapshot {
  providers?: Record<string, { deadlineMs: number; staticMs: number; samples: number; tuned: boolean }>;
  numPredict?: Partial<Record<RouteKind, { value?: number; samples: number; truncated: number }>>;
}

/** What a run asks of the tuner (see `RunDeps.tune`). */
export interface RunTuning {
  /** The deadline of a provider, ms, or undefined for its own `timeoutMs`. */
  deadline(name: string): number | undefined;
  /** The route's options with a tuned `num_predict` when the route sets none. */
  options(decision: RouteDecision): RouteOptions;
}

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

/**
 * A tuned value from a window of samples. The window is sorted again on every sample while it is
 * small (< 64 values), then every 8th sample: O(1) amortised per run, fixed memory.
 */
class TunedSeries {
  readonly window: SampleWindow;
  #sinceRecompute = 0;
  value: number | undefined;

  constructor(
    size: number,
    private readonly settings: { percentile: number; factor: number; lo: number; hi: number; minSamples: number; integer: boolean },
  ) {
    this.window = new SampleWindow(size);
  }

  add(sample: number): void {
    this.window.add(sample);
    this.#sinceRecompute++;
    if (this.window.count < this.settings.minSamples) return;
    if (this.window.length >= 64 && this.#sinceRecompute < 8 && this.value !== undefined) return;
    this.#sinceRecompute = 0;
    const { percentile, factor, lo, hi, integer } = this.settings;
    const raw = clamp(this.window.percentile(percentile) * factor, lo, hi);
    this.value = integer ? Math.round(raw) : Math.round(raw * 1000) / 1000;
  }
}

/** Tunes provider deadlines and `num_predict` from finished runs. */
export class AutoTuner implements RunTuning {
  readonly #providers = new Map<string, { series: TunedSeries; staticMs: number }>();
  readonly #kinds = new Map<RouteKind, { series: TunedSeries; truncated: number }>();
  readonly #numPredict: Required<AutoTuneNumPredictOptions> | undefined;
  readonly #windowSize: number;

  constructor(options: AutoTuneOptions, providers: readonly Pick<ContextProvider, "name" | "timeoutMs">[]) {
    this.#windowSize = options.windowSize ?? AUTO_TUNE_DEFAULTS.windowSize;
    checkAutoTune(options);
    if (options.providers) {
      const o = { ...AUTO_TUNE_DEFAULTS.providers, ...definedOnly(options.providers) };
      for (const p of providers) {
        this.#providers.set(p.name, {
          staticMs: p.timeoutMs ?? PROVIDER_DEFAULTS.timeoutMs,
          series: new TunedSeries(this.#windowSize, {
            percentile: o.percentile,
            factor: o.factor,
            lo: o.minMs,
            hi: o.maxMs,
            minSamples: o.minSamples,
            integer: false,
          }),
        });
      }
    }
    this.#numPredict = options.numPredict ? { ...AUTO_TUNE_DEFAULTS.numPredict, ...definedOnly(options.numPredict) } : undefined;
  }

  deadline(name: string): number | undefined {
    return this.#providers.get(name)?.series.value;
  }

  options(decision: RouteDecision): RouteOptions {
    // A router written in JavaScript may give no options (see `isDecision`).
    const options: RouteOptions = (decision.options as RouteOptions | undefined) ?? {};
    if (options.num_predict !== undefined) return options;
    const value = this.#kinds.get(decision.kind)?.series.value;
    return value === undefined ? options : { ...options, num_predict: value };
  }

  /** Learn from a finished run. */
  observe(metrics: RunMetrics): void {
    for (const [name, { status, ms }] of Object.entries(metrics.providers)) {
      if (status !== "ok" && status !== "timeout") continue;
      const entry = this.#providers.get(name);
      if (!entry) continue;
      // A timeout says "at least the deadline": it counts at the deadline that was in force.
      entry.series.add(status === "timeout" ? Math.max(ms, entry.series.value ?? entry.staticMs) : ms);
    }
    const reason = metrics.backend.doneReason;
    if (this.#numPredict && (reason === "stop" || reason === "length")) {
      let entry = this.#kinds.get(metrics.kind);
      if (!entry) {
        const o = this.#numPredict;
        entry = {
          truncated: 0,
          series: new TunedSeries(this.#windowSize, {
            percentile: o.percentile,
            factor: o.factor,
            lo: o.min,
            hi: o.max,
            minSamples: o.minSamples,
            integer: true,
          }),
        };
        this.#kinds.set(metrics.kind, entry);
      }
      // A cut answer says "more than the budget", not how long it would have been: it counts as the
      // highest value, so that a few cut answers bring the budget back up at once (counted at the
      // budget, the value grew by `factor` every 8th run, a hundred cut answers and more after a run
      // of short ones, which any one user can send, had brought it down to `min` for everyone).
      if (reason === "length") entry.truncated++;
      entry.series.add(reason === "length" ? this.#numPredict.max : metrics.tokens.output);
    }
  }

  snapshot(): AutoTuneSnapshot {
    const out: AutoTuneSnapshot = {};
    if (this.#providers.size > 0) {
      out.providers = {};
      for (const [name, { series, staticMs }] of this.#providers) {
        setEntry(out.providers, name, {
          deadlineMs: series.value ?? staticMs,
          staticMs,
          samples: series.window.count,
          tuned: series.value !== undefined,
        });
      }
    }
    if (this.#numPredict) {
      out.numPredict = {};
      for (const [kind, { series, truncated }] of this.#kinds) {
        out.numPredict[kind] = { ...(series.value === undefined ? {} : { value: series.value }), samples: series.window.count, truncated };
      }
    }
    return out;
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Throw a TypeError for settings that cannot work (caught at `createZoePipeline`). */
function checkAutoTune(options: AutoTuneOptions): void {
  const fail = (what: string) => {
    throw new TypeError(`createZoePipeline: autoTune.${what}.`);
  };
  const { windowSize } = options;
  if (windowSize !== undefined && !(Number.isInteger(windowSize) && windowSize >= 1 && windowSize <= MAX_WINDOW))
    fail(`windowSize must be an integer from 1 to ${MAX_WINDOW}`);
  const parts = [
    ["providers", options.providers && { ...AUTO_TUNE_DEFAULTS.providers, ...definedOnly(options.providers) }, "minMs", "maxMs"],
    ["numPredict", options.numPredict && { ...AUTO_TUNE_DEFAULTS.numPredict, ...definedOnly(options.numPredict) }, "min", "max"],
  ] as const;
  for (const [name, o, lo, hi] of parts) {
    if (!o) continue;
    const low = (o as Record<string, number>)[lo]!;
    const high = (o as Record<string, number>)[hi]!;
    if (!(o.percentile > 0 && o.percentile <= 100)) fail(`${name}.percentile must be in (0, 100]`);
    // An infinite factor times a 0 sample is NaN: no deadline at all, or `num_predict: NaN`.
    if (!(o.factor > 0 && o.factor < Infinity)) fail(`${name}.factor must be positive and finite`);
    if (!(low >= 0 && high >= low)) fail(`${name}: ${lo} must be ≥ 0 and ≤ ${hi}`);
    if (!(Number.isInteger(o.minSamples) && o.minSamples >= 1)) fail(`${name}.minSamples must be a positive integer`);
  }
}
