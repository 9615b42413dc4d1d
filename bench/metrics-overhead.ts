/**
 * "Overhead with metrics on": the pipeline overhead over the raw backend (time to first token,
 * warm caches, three cached providers, memory store) for a plain pipeline (whose built-in
 * `metrics()` aggregator is always on) against one with Prometheus metrics registered and both
 * auto-tuners on; plus the cost of one `pipeline.metrics()` snapshot with full windows.
 *
 * For bench/run.ts: `const m = await benchMetricsOverhead(iterations)` then print
 * `m.plain` and `m.metricsOn` (each `ttftOverheadMs` and `runMs`: n/p50/p95/p99/mean) and `m.snapshotMs`.
 */
import { Registry } from "prom-client";
import { EventType, type ModelBackend, type ZoePipeline } from "zoe-pipeline";
import { registerPrometheusMetrics } from "zoe-pipeline/prometheus";
import { overheadPipeline, rawTtft } from "./overhead.js";
import { summarise } from "./stats.js";

function makePipeline(metricsOn: boolean) {
  const made = overheadPipeline(metricsOn ? { autoTune: { providers: {}, numPredict: {} } } : {});
  if (metricsOn) registerPrometheusMetrics(made.pipeline, { registry: new Registry() });
  return made;
}

async function measure(backend: ModelBackend, pipeline: ZoePipeline, iterations: number) {
  const overheads: number[] = [];
  const totals: number[] = [];
  for (let i = 0; i < iterations + 500; i++) {
    const raw = await rawTtft(backend);
    const t0 = performance.now();
    let ttft = Number.NaN;
    for await (const event of pipeline.run({ userId: "bench", threadId: "t", message: "why is the sky blue when the sun is white?" })) {
      if (event.type === EventType.TEXT_MESSAGE_CONTENT && Number.isNaN(ttft)) ttft = performance.now() - t0;
    }
    if (i >= 500) {
      overheads.push(ttft - raw);
      totals.push(performance.now() - t0);
    }
  }
  return { ttft: summarise(overheads), run: summarise(totals) };
}

/**
 * Without and with Prometheus + auto-tuning: the time-to-first-token overhead over the raw backend
 * and the whole run's wall time (metrics are recorded at the end of a run), ms; and the cost of one
 * `metrics()` snapshot with full windows.
 */
export async function benchMetricsOverhead(iterations = 5_000) {
  const plain = makePipeline(false);
  const on = makePipeline(true);
  // Interleave halves so that warm-up and machine noise hit both alike.
  const half = Math.max(1, Math.floor(iterations / 2));
  const a1 = await measure(plain.backend, plain.pipeline, half);
  const b1 = await measure(on.backend, on.pipeline, half);
  const a2 = await measure(plain.backend, plain.pipeline, half);
  const b2 = await measure(on.backend, on.pipeline, half);
  type S = ReturnType<typeof summarise>;
  const r = (x: number) => Math.round(x * 1000) / 1000;
  const avg = (x: S, y: S): S => ({
    n: x.n + y.n,
    p50: r((x.p50 + y.p50) / 2),
    p95: r((x.p95 + y.p95) / 2),
    p99: r((x.p99 + y.p99) / 2),
    mean: r((x.mean + y.mean) / 2),
  });
  const merge = (x: { ttft: S; run: S }, y: { ttft: S; run: S }) => ({ ttftOverheadMs: avg(x.ttft, y.ttft), runMs: avg(x.run, y.run) });
  const snapshots: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    on.pipeline.metrics();
    snapshots.push(performance.now() - t0);
  }
  await Promise.all([plain.pipeline.close(), on.pipeline.close()]);
  return { plain: merge(a1, a2), metricsOn: merge(b1, b2), snapshotMs: summarise(snapshots) };
}
