import { afterEach, describe, expect, it } from "vitest";
import type { ZoePipeline } from "../../src/index.js";
import { createZoePipeline } from "../../src/index.js";
import { runResult } from "../../src/client/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { mixPipeline, runMix } from "./mix.js";

let pipeline: ZoePipeline | undefined;
afterEach(async () => {
  await pipeline?.close();
  pipeline = undefined;
});

describe("pipeline.metrics()", () => {
  it("starts empty", () => {
    pipeline = mixPipeline();
    const s = pipeline.metrics();
    expect(s.runs).toEqual({ started: 0, finished: 0, cancelled: 0, errors: 0, inFlight: 0 });
    expect(s.latency.ttftMs.count).toBe(0);
    expect(s.cache).toEqual({});
    expect(s.autoTune).toBeUndefined();
  });

  it("after a mix of runs: counts, error codes, cache hit rates by part, sane percentiles", async () => {
    pipeline = mixPipeline();
    const finished = await runMix(pipeline);
    const s = pipeline.metrics();

    // 6 starts (the empty message is rejected before its start); the abandoned run counts as cancelled.
    expect(s.runs).toEqual({ started: 6, finished: 3, cancelled: 2, errors: 2, inFlight: 0 });
    expect(s.errorsByCode).toEqual({ MODEL_NOT_FOUND: 1, EMPTY_MESSAGE: 1 });
    // route: "hello" misses once then hits (runs 2, 3, 7); "please fail" and "talk slowly" miss.
    expect(s.cache.route).toEqual({ hits: 3, misses: 3, hitRate: 0.5 });
    // context: fetched on the first run, cached for the 5 later ones.
    expect(s.cache.context).toEqual({ hits: 5, misses: 1, hitRate: 5 / 6 });
    // history: empty on the first run, then written by it.
    expect(s.cache.history).toEqual({ hits: 5, misses: 1, hitRate: 5 / 6 });
    expect(s.cache.system).toBeUndefined(); // a string system prompt is never read from the cache

    expect(finished).toHaveLength(3);
    const ttfts = finished.map((m) => m.ttftMs!).sort((a, b) => a - b);
    expect(s.latency.ttftMs.count).toBe(3);
    expect(s.latency.ttftMs.p50).toBe(ttfts[1]);
    expect(s.latency.ttftMs.p99).toBe(ttfts[2]);
    for (const summary of [s.latency.ttftMs, s.latency.totalMs, ...Object.values(s.latency.stages)]) {
      expect(summary.p50).toBeLessThanOrEqual(summary.p95);
      expect(summary.p95).toBeLessThanOrEqual(summary.p99);
    }
    expect(s.latency.ttftMs.p99).toBeLessThanOrEqual(s.latency.totalMs.p99);
    expect(s.latency.stages.generateMs.count).toBe(3);
    // The provider was fetched once (then cached): one sample.
    expect(s.latency.providers.profile?.count).toBe(1);
    expect(s.fastPathShare).toBe(0);
    expect(s.tokensPerSecond.count).toBe(finished.filter((m) => m.tokensPerSecond !== undefined).length);
  });

  it("counts a run in flight while it streams", async () => {
    pipeline = mixPipeline();
    const iterator = pipeline.run({ userId: "ada", message: "talk slowly" })[Symbol.asyncIterator]();
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
      if (r.value.type === "TEXT_MESSAGE_CONTENT") break;
    }
    expect(pipeline.metrics().runs).toMatchObject({ started: 1, inFlight: 1 });
    await iterator.return?.();
    expect(pipeline.metrics().runs).toMatchObject({ started: 1, cancelled: 1, inFlight: 0 });
  });

  it("a provider named __proto__ is an own entry in the run's metrics and in metrics(), like any name", async () => {
    pipeline = createZoePipeline({
      backend: scriptedBackend(),
      router: fixedRouter(),
      providers: ["__proto__", "constructor", "profile"].map((name) => ({ name, ttlMs: 0, fetch: async () => `${name} says hi` })),
    });
    let providers: Record<string, unknown> | undefined;
    for await (const event of pipeline.run({ userId: "ada", message: "hello there" })) {
      if (event.type === "RUN_FINISHED")
        providers = (event.result as { metrics: { providers: Record<string, unknown> } }).metrics.providers;
    }
    expect(Object.keys(providers ?? {}).sort()).toEqual(["__proto__", "constructor", "profile"]);
    expect(Object.getPrototypeOf(providers)).toBe(Object.prototype);
    const latency = pipeline.metrics().latency.providers;
    expect(Object.keys(latency).sort()).toEqual(["__proto__", "constructor", "profile"]);
    expect(Object.getPrototypeOf(latency)).toBe(Object.prototype);
  });

  it("counts every cache read the host was told of, whenever close() interrupts the run", async () => {
    // close() reports a run cancelled at once; the run unwinds a few microtasks later and may read
    // the cache meanwhile. metrics() must still agree with the cache:hit / cache:miss events.
    for (let k = 0; k < 120; k++) {
      const p = createZoePipeline({
        backend: scriptedBackend({ record: false }),
        router: fixedRouter(),
        providers: ["a", "b"].map((name) => ({ name, ttlMs: 0, fetch: () => `${name} ctx` })),
      });
      const told = { hits: 0, misses: 0 };
      p.on("cache:hit", () => told.hits++);
      p.on("cache:miss", () => told.misses++);
      const run = (async () => {
        for await (const _ of p.run({ userId: "u", threadId: "t", message: "hello" })) void _;
      })();
      let closing: Promise<void> | undefined;
      const closer = (async () => {
        for (let i = 0; i < k; i++) await null;
        closing = p.close();
      })();
      await run;
      await closer;
      await closing;
      const counted = { hits: 0, misses: 0 };
      for (const part of Object.values(p.metrics().cache)) {
        counted.hits += part.hits;
        counted.misses += part.misses;
      }
      expect(counted, `close() after ${k} microtasks`).toEqual(told);
    }
  });

  it("stops counting once closed, as the host events stop", async () => {
    pipeline = mixPipeline();
    for await (const _ of pipeline.run({ userId: "ada", message: "hello" })) void _;
    await pipeline.close();
    const before = pipeline.metrics();
    for await (const _ of pipeline.run({ userId: "ada", message: "hello" })) void _;
    expect(pipeline.metrics().runs).toEqual(before.runs);
    expect(pipeline.metrics().errorsByCode).toEqual(before.errorsByCode);
  });

  it("token counts a backend reports that are not counts are left out: the result stays a zoe result for the client", async () => {
    const chunks = textChunks("one two three");
    for (const reported of [Number.NaN, Number.POSITIVE_INFINITY, -1]) {
      pipeline = createZoePipeline({
        backend: scriptedBackend({
          script: [...chunks, { type: "done", outputTokens: reported, inputTokens: reported, doneReason: "stop" }],
        }),
        router: fixedRouter(),
      });
      let finished: unknown;
      for await (const event of pipeline.run({ userId: "ada", message: "count" })) {
        // As a client receives it: through JSON, where NaN and Infinity become null.
        if (event.type === "RUN_FINISHED") finished = JSON.parse(JSON.stringify(event));
      }
      const result = runResult(finished);
      expect(result, `reported ${reported}`).toBeDefined();
      expect(result?.cancelled ? undefined : result?.metrics.tokens, `reported ${reported}`).toEqual({ output: chunks.length });
      expect((finished as { usage?: unknown }).usage).toEqual([{ provider: "scripted", model: "test-model", outputTokens: chunks.length }]);
      expect(pipeline.metrics().tokensPerSecond.count).toBe(1);
      await pipeline.close();
    }
  });

  it("an answer replayed from the response cache has no tokensPerSecond: metrics() keeps the model's speed", async () => {
    pipeline = createZoePipeline({
      backend: scriptedBackend({ script: [...textChunks("The answer is forty two."), { type: "done", evalMs: 1_000, outputTokens: 20 }] }),
      router: fixedRouter(),
      responseCache: {},
    });
    const speeds: Array<number | undefined> = [];
    for (let i = 0; i < 3; i++) {
      for await (const event of pipeline.run({ userId: "ada", threadId: `t${i}`, message: "what is the answer" })) {
        const result = runResult(event);
        if (result && !result.cancelled) speeds.push(result.metrics.tokensPerSecond);
      }
    }
    // The first run generated 20 tokens in 1 s; the two others replayed them in microseconds.
    expect(speeds).toEqual([20, undefined, undefined]);
    expect(pipeline.metrics().tokensPerSecond).toMatchObject({ count: 1, p50: 20, p99: 20 });
  });
});
