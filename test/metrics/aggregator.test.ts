import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MetricsAggregator, SampleWindow, nearestRank } from "../../src/metrics/index.js";
import type { RunMetrics } from "../../src/index.js";
import { runMetrics } from "./mix.js";

/** A finished run's metrics with the given timings. */
function metrics(ms: number, overrides: Partial<RunMetrics> = {}): RunMetrics {
  return runMetrics({
    ttftMs: ms,
    totalMs: ms * 2,
    stages: { cacheReadMs: ms / 100, routeMs: ms / 50, contextMs: ms / 10, promptMs: ms / 20, generateMs: ms },
    providers: { profile: { status: "ok", ms: ms / 10 }, memory: { status: "cached", ms: 0 } },
    tokens: { output: 10 },
    tokensPerSecond: ms,
    ...overrides,
  });
}

describe("SampleWindow", () => {
  it("nearest-rank percentiles of 1..100 are 50, 95, 99", () => {
    const w = new SampleWindow(2048);
    for (let i = 100; i >= 1; i--) w.add(i);
    expect(w.summary()).toEqual({ count: 100, p50: 50, p95: 95, p99: 99, mean: 50.5 });
  });

  it("keeps only the last `size` values, counts all of them", () => {
    const w = new SampleWindow(4);
    for (const v of [1000, 1000, 1, 2, 3, 4]) w.add(v);
    expect(w.length).toBe(4);
    expect(w.count).toBe(6);
    expect(w.summary()).toMatchObject({ p50: 2, p99: 4, mean: 2.5 });
  });

  it("empty: zeros; ignores NaN", () => {
    const w = new SampleWindow(8);
    w.add(Number.NaN);
    expect(w.summary()).toEqual({ count: 0, p50: 0, p95: 0, p99: 0, mean: 0 });
    expect(nearestRank([], 50)).toBe(0);
    expect(nearestRank([7], 99)).toBe(7);
  });
});

describe("MetricsAggregator fed directly", () => {
  it("counts runs by outcome, errors by code, in-flight runs and cache hit rates", () => {
    const a = new MetricsAggregator();
    for (let i = 1; i <= 5; i++) a.runStarted();
    a.runFinished(metrics(10, { fastPath: true }));
    a.runFinished(metrics(20));
    a.runCancelled();
    a.runError("MODEL_NOT_FOUND", true);
    // Rejected before its start: an error, never in flight.
    a.runError("EMPTY_MESSAGE", false);
    a.runError("EMPTY_MESSAGE", false);
    a.cacheReads("route", 3, 1);
    a.cacheReadsOf({ history: { hits: 0, misses: 1 }, system: { hits: 0, misses: 0 } });

    const s = a.snapshot();
    expect(s.runs).toEqual({ started: 5, finished: 2, cancelled: 1, errors: 3, inFlight: 1 });
    expect(s.errorsByCode).toEqual({ MODEL_NOT_FOUND: 1, EMPTY_MESSAGE: 2 });
    // A part never read is left out.
    expect(s.cache).toEqual({ route: { hits: 3, misses: 1, hitRate: 0.75 }, history: { hits: 0, misses: 1, hitRate: 0 } });
    expect(s.fastPathShare).toBe(0.5);
  });

  it("counts runs in flight as those started and not yet ended, whatever the order of starts, ends and refusals", () => {
    const step = fc.constantFrom("start", "finish", "cancel", "error", "refused");
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const a = new MetricsAggregator();
        let open = 0;
        for (const kind of steps) {
          if (kind === "start") {
            a.runStarted();
            open++;
            continue;
          }
          if (kind === "refused") {
            a.runError("EMPTY_MESSAGE", false);
            continue;
          }
          // The pipeline reports an end only for a run it started.
          if (open === 0) continue;
          if (kind === "finish") a.runFinished(metrics(1));
          else if (kind === "cancel") a.runCancelled();
          else a.runError("MODEL_ERROR", true);
          open--;
        }
        expect(a.snapshot().runs.inFlight).toBe(open);
      }),
      { numRuns: 3_000 },
    );
  });

  it("latency percentiles equal the known values of a deterministic sample", () => {
    const a = new MetricsAggregator();
    for (let ms = 1; ms <= 100; ms++) a.runFinished(metrics(ms));
    const s = a.snapshot();
    expect(s.latency.ttftMs).toEqual({ count: 100, p50: 50, p95: 95, p99: 99, mean: 50.5 });
    expect(s.latency.totalMs).toEqual({ count: 100, p50: 100, p95: 190, p99: 198, mean: 101 });
    expect(s.latency.stages.generateMs).toMatchObject({ p50: 50, p95: 95, p99: 99 });
    expect(s.latency.stages.contextMs).toMatchObject({ p50: 5, p95: 9.5, p99: 9.9 });
    expect(s.latency.providers).toEqual({ profile: { count: 100, p50: 5, p95: 9.5, p99: 9.9, mean: 5.05 } });
    expect(s.tokensPerSecond).toMatchObject({ count: 100, p50: 50 });
    expect(s.runs.inFlight).toBe(0);
  });

  it("the window forgets old runs: percentiles follow the recent ones", () => {
    const a = new MetricsAggregator({ windowSize: 10 });
    for (let i = 0; i < 50; i++) a.runFinished(metrics(1000));
    for (let i = 0; i < 10; i++) a.runFinished(metrics(5));
    expect(a.snapshot().latency.ttftMs).toEqual({ count: 60, p50: 5, p95: 5, p99: 5, mean: 5 });
  });
});
