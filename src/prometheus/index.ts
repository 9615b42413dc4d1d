/**
 * Prometheus metrics for a pipeline, on prom-client (an optional peer dependency: this entry point
 * is the only one that imports it).
 */
import { Counter, Gauge, Histogram, register as globalRegistry, type Metric, type Registry } from "prom-client";
import type { ZoeError } from "../errors/zoe-error.js";
import type { RunMetrics } from "../pipeline/metrics.js";
import type { PipelineEvents, ZoePipeline } from "../pipeline/types.js";

/** Options of {@link registerPrometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** Where the metrics are registered. Default: prom-client's global `register`. */
  registry?: Registry;
  /** Prefix of every metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`, or empty). Default `"zoe_"`. */
  prefix?: string;
  /** Histogram buckets, in seconds: finite upper bounds in increasing order (`+Inf` is added). */
  buckets?: {
    /** Time to first token and run duration. Default {@link DEFAULT_BUCKETS}.latency. */
    latency?: number[];
    /** Stages and context providers. Default {@link DEFAULT_BUCKETS}.stage. */
    stage?: number[];
  };
}

/** What {@link registerPrometheusMetrics} returns. */
export interface PrometheusMetrics {
  registry: Registry;
  /** Stop listening to the pipeline and remove the metrics from the registry. */
  unregister(): void;
}

/** Default histogram buckets, in seconds. */
export const DEFAULT_BUCKETS = {
  latency: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
  stage: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
} as const;

/** Stage label values, in the order of `RunMetrics.stages`. */
const STAGE_LABELS = [
  ["cacheReadMs", "cache_read"],
  ["routeMs", "route"],
  ["contextMs", "context"],
  ["promptMs", "prompt"],
  ["generateMs", "generate"],
] as const;

/**
 * Register Prometheus metrics for a pipeline and keep them up to date from its events:
 *
 * - `zoe_time_to_first_token_seconds{kind}`, `zoe_run_duration_seconds{kind}` (histograms)
 * - `zoe_stage_duration_seconds{stage}` (cache_read, route, context, prompt, generate)
 * - `zoe_provider_duration_seconds{provider,status}` (ok, timeout, error; cached ones left out)
 * - `zoe_runs_started_total`, `zoe_runs_total{outcome}` (success, cancelled, error)
 * - `zoe_run_errors_total{code}`, `zoe_provider_timeouts_total{provider}`
 * - `zoe_cache_hits_total{part}`, `zoe_cache_misses_total{part}`
 * - `zoe_output_tokens_total{kind}`, `zoe_runs_in_flight` (gauge, read when scraped)
 *
 * Throws a TypeError for a prefix or buckets Prometheus cannot read, and prom-client's error when
 * a name is already registered; either way nothing is left registered.
 */
export function registerPrometheusMetrics(pipeline: ZoePipeline, options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  const registry = options.registry ?? globalRegistry;
  const prefix = options.prefix ?? "zoe_";
  if (typeof prefix !== "string" || !/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix)) {
    const given = JSON.stringify(prefix);
    throw new TypeError(`registerPrometheusMetrics: prefix ${given} cannot start a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*).`);
  }
  // Registered together once all are made: a name taken in the registry leaves none behind.
  const registers: Registry[] = [];
  const latencyBuckets = checkBuckets("latency", options.buckets?.latency) ?? [...DEFAULT_BUCKETS.latency];
  const stageBuckets = checkBuckets("stage", options.buckets?.stage) ?? [...DEFAULT_BUCKETS.stage];

  const ttft = new Histogram({
    name: `${prefix}time_to_first_token_seconds`,
    help: "Time from the start of a run to its first streamed token.",
    labelNames: ["kind"] as const,
    buckets: latencyBuckets,
    registers,
  });
  const total = new Histogram({
    name: `${prefix}run_duration_seconds`,
    help: "Duration of finished runs.",
    labelNames: ["kind"] as const,
    buckets: latencyBuckets,
    registers,
  });
  const stage = new Histogram({
    name: `${prefix}stage_duration_seconds`,
    help: "Duration of each stage of finished runs.",
    labelNames: ["stage"] as const,
    buckets: stageBuckets,
    registers,
  });
  const provider = new Histogram({
    name: `${prefix}provider_duration_seconds`,
    help: "Time a run waited for each context provider it fetched (cached and skipped ones left out).",
    labelNames: ["provider", "status"] as const,
    buckets: stageBuckets,
    registers,
  });
  const started = new Counter({ name: `${prefix}runs_started_total`, help: "Runs started.", registers });
  const runs = new Counter({
    name: `${prefix}runs_total`,
    help: "Runs ended, by outcome (success, cancelled, error).",
    labelNames: ["outcome"] as const,
    registers,
  });
  const errors = new Counter({ name: `${prefix}run_errors_total`, help: "Run errors by code.", labelNames: ["code"] as const, registers });
  const timeouts = new Counter({
    name: `${prefix}provider_timeouts_total`,
    help: "Context providers that missed their deadline.",
    labelNames: ["provider"] as const,
    registers,
  });
  const hits = new Counter({ name: `${prefix}cache_hits_total`, help: "Cache hits by part.", labelNames: ["part"] as const, registers });
  const misses = new Counter({
    name: `${prefix}cache_misses_total`,
    help: "Cache misses by part.",
    labelNames: ["part"] as const,
    registers,
  });
  const tokens = new Counter({
    name: `${prefix}output_tokens_total`,
    help: "Tokens generated by finished runs, by route kind.",
    labelNames: ["kind"] as const,
    registers,
  });
  const inFlight = new Gauge({
    name: `${prefix}runs_in_flight`,
    help: "Runs in progress.",
    registers,
    collect() {
      this.set(pipeline.activeRuns);
    },
  });
  for (const outcome of ["success", "cancelled", "error"]) runs.inc({ outcome }, 0);

  const listeners: { [E in keyof PipelineEvents]?: PipelineEvents[E] } = {
    "run:started": () => started.inc(),
    "run:finished": ({ metrics }: { metrics: RunMetrics }) => {
      runs.inc({ outcome: "success" });
      if (metrics.ttftMs !== undefined) ttft.observe({ kind: metrics.kind }, metrics.ttftMs / 1000);
      total.observe({ kind: metrics.kind }, metrics.totalMs / 1000);
      for (const [key, label] of STAGE_LABELS) stage.observe({ stage: label }, metrics.stages[key] / 1000);
      for (const [name, { status, ms }] of Object.entries(metrics.providers)) {
        if (status === "ok" || status === "timeout" || status === "error") provider.observe({ provider: name, status }, ms / 1000);
      }
      tokens.inc({ kind: metrics.kind }, metrics.tokens.output);
    },
    "run:cancelled": () => runs.inc({ outcome: "cancelled" }),
    "run:error": ({ error }: { error: ZoeError }) => {
      runs.inc({ outcome: "error" });
      errors.inc({ code: String(error?.code ?? "INTERNAL_ERROR") });
    },
    "provider:timeout": ({ name }: { name: string }) => timeouts.inc({ provider: name }),
    "cache:hit": ({ part }) => hits.inc({ part }),
    "cache:miss": ({ part }) => misses.inc({ part }),
  };
  const entries = Object.entries(listeners) as Array<[keyof PipelineEvents, never]>;

  const metrics = [ttft, total, stage, provider, started, runs, errors, timeouts, hits, misses, tokens, inFlight] as Metric[];
  const remove = (list: Metric[]) => {
    for (const metric of list) registry.removeSingleMetric((metric as unknown as { name: string }).name);
  };
  for (const [i, metric] of metrics.entries()) {
    try {
      registry.registerMetric(metric);
    } catch (error) {
      remove(metrics.slice(0, i));
      throw error;
    }
  }
  for (const [event, listener] of entries) pipeline.on(event, listener);
  let registered = true;
  return {
    registry,
    unregister() {
      if (!registered) return;
      registered = false;
      for (const [event, listener] of entries) pipeline.off(event, listener);
      remove(metrics);
    },
  };
}

/**
 * Histogram buckets as the exposition format needs them: finite, strictly increasing upper bounds
 * (prom-client adds `+Inf` itself, and writes unsorted or repeated bounds as given).
 */
function checkBuckets(name: string, buckets: readonly number[] | undefined): number[] | undefined {
  if (buckets === undefined) return undefined;
  const ok = Array.isArray(buckets) && buckets.every((b, i) => Number.isFinite(b) && (i === 0 || b > (buckets[i - 1] as number)));
  if (!ok) {
    const why = "must be finite numbers in increasing order, without +Inf (added by itself)";
    throw new TypeError(`registerPrometheusMetrics: buckets.${name} ${why}; got ${String(buckets)}.`);
  }
  return [...buckets];
}
