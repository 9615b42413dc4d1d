import { Counter, Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import type { RunMetrics, ZoePipeline } from "../../src/index.js";
import { registerPrometheusMetrics } from "../../src/prometheus/index.js";
import { mixPipeline, runMix } from "../metrics/mix.js";
import { parseMetrics } from "./parse.js";

let pipeline: ZoePipeline | undefined;
afterEach(async () => {
  await pipeline?.close();
  pipeline = undefined;
});

describe("registerPrometheusMetrics", () => {
  it("counters and histograms hold the values of the runs made", async () => {
    pipeline = mixPipeline();
    const registry = new Registry();
    const prom = registerPrometheusMetrics(pipeline, { registry });
    expect(prom.registry).toBe(registry);
    const finished: RunMetrics[] = await runMix(pipeline);
    const v = parseMetrics(await registry.metrics());

    expect(v.get("zoe_runs_started_total")).toBe(6);
    expect(v.get('zoe_runs_total{outcome="success"}')).toBe(3);
    expect(v.get('zoe_runs_total{outcome="cancelled"}')).toBe(2);
    expect(v.get('zoe_runs_total{outcome="error"}')).toBe(2);
    expect(v.get('zoe_run_errors_total{code="MODEL_NOT_FOUND"}')).toBe(1);
    expect(v.get('zoe_run_errors_total{code="EMPTY_MESSAGE"}')).toBe(1);
    expect(v.get('zoe_cache_hits_total{part="route"}')).toBe(3);
    expect(v.get('zoe_cache_misses_total{part="route"}')).toBe(3);
    expect(v.get('zoe_cache_hits_total{part="context"}')).toBe(5);
    expect(v.get('zoe_cache_misses_total{part="context"}')).toBe(1);
    expect(v.get('zoe_cache_hits_total{part="history"}')).toBe(5);
    expect(v.get("zoe_runs_in_flight")).toBe(0);
    expect(v.get('zoe_output_tokens_total{kind="chat"}')).toBe(finished.reduce((n, m) => n + m.tokens.output, 0));

    // Histograms: one observation per finished run, sums in seconds.
    expect(v.get('zoe_time_to_first_token_seconds_count{kind="chat"}')).toBe(3);
    expect(v.get('zoe_time_to_first_token_seconds_bucket{kind="chat",le="+Inf"}')).toBe(3);
    const ttftSum = finished.reduce((s, m) => s + m.ttftMs! / 1000, 0);
    expect(v.get('zoe_time_to_first_token_seconds_sum{kind="chat"}')).toBeCloseTo(ttftSum, 9);
    expect(v.get('zoe_run_duration_seconds_count{kind="chat"}')).toBe(3);
    for (const stage of ["cache_read", "route", "context", "prompt", "generate"]) {
      expect(v.get(`zoe_stage_duration_seconds_count{stage="${stage}"}`)).toBe(3);
    }
    const generateSum = finished.reduce((s, m) => s + m.stages.generateMs / 1000, 0);
    expect(v.get('zoe_stage_duration_seconds_sum{stage="generate"}')).toBeCloseTo(generateSum, 9);
    // Buckets are cumulative: never decreasing with `le`.
    const counts = [...v]
      .filter(([k]) => k.startsWith("zoe_stage_duration_seconds_bucket{") && k.includes('stage="generate"'))
      .map(([, n]) => n);
    expect(counts).toHaveLength(16); // 15 buckets and +Inf, in the order prom-client writes them
    expect(counts.at(-1)).toBe(3);
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1]!);
    // The provider was fetched on the first run only.
    expect(v.get('zoe_provider_duration_seconds_count{provider="profile",status="ok"}')).toBe(1);
  });

  it("a provider timeout and the runs in flight", async () => {
    const { createZoePipeline } = await import("../../src/index.js");
    const { scriptedBackend, textChunks } = await import("../../src/testing/index.js");
    const { fixedRouter, testProvider } = await import("../helpers/fixtures.js");
    pipeline = createZoePipeline({
      backend: scriptedBackend({ script: [...textChunks("a b"), { type: "delay", ms: 10_000 }] }),
      router: fixedRouter("chat"),
      providers: [testProvider("calendar", "x", { delayMs: 1_000, timeoutMs: 20 })],
    });
    const { registry } = registerPrometheusMetrics(pipeline, { registry: new Registry(), prefix: "app_" });
    const iterator = pipeline.run({ userId: "ada", message: "what is on" })[Symbol.asyncIterator]();
    for (let r = await iterator.next(); !r.done && r.value.type !== "TEXT_MESSAGE_CONTENT"; r = await iterator.next());
    let v = parseMetrics(await registry.metrics());
    expect(v.get("app_runs_in_flight")).toBe(1);
    expect(v.get('app_provider_timeouts_total{provider="calendar"}')).toBe(1);
    expect(v.get("zoe_runs_in_flight")).toBeUndefined();
    await iterator.return?.();
    v = parseMetrics(await registry.metrics());
    expect(v.get("app_runs_in_flight")).toBe(0);
    expect(v.get('app_runs_total{outcome="cancelled"}')).toBe(1);
  });

  it("unregister() stops counting and frees the names; two registrations need two registries or prefixes", async () => {
    pipeline = mixPipeline();
    const registry = new Registry();
    const first = registerPrometheusMetrics(pipeline, { registry });
    expect(() => registerPrometheusMetrics(pipeline!, { registry })).toThrow(/already been registered/);
    first.unregister();
    expect(await registry.metrics()).not.toContain("zoe_");
    const second = registerPrometheusMetrics(pipeline, { registry });
    for await (const _ of pipeline.run({ userId: "ada", message: "hello" }));
    const v = parseMetrics(await registry.metrics());
    expect(v.get('zoe_runs_total{outcome="success"}')).toBe(1);
    second.unregister();
    first.unregister(); // idempotent
  });

  it("a backend's token count that is not a count (NaN, negative) counts the chunks: the counter stays a number", async () => {
    const { createZoePipeline } = await import("../../src/index.js");
    const { scriptedBackend, textChunks } = await import("../../src/testing/index.js");
    const { fixedRouter } = await import("../helpers/fixtures.js");
    for (const reported of [Number.NaN, -5]) {
      pipeline = createZoePipeline({
        backend: scriptedBackend({
          script: [...textChunks("one two three"), { type: "done", outputTokens: reported, doneReason: "stop" }],
        }),
        router: fixedRouter("chat"),
      });
      const { registry } = registerPrometheusMetrics(pipeline, { registry: new Registry() });
      const chunks = textChunks("one two three").length;
      for (let i = 0; i < 2; i++) for await (const _ of pipeline.run({ userId: "ada", message: "count" }));
      // NaN made the counter NaN for good; a negative count made prom-client throw and drop it.
      const v = parseMetrics(await registry.metrics());
      expect(v.get('zoe_output_tokens_total{kind="chat"}'), `reported ${reported}`).toBe(2 * chunks);
      await pipeline.close();
    }
  });

  it("bucket lists and prefixes Prometheus cannot read are refused with a TypeError, leaving nothing registered", () => {
    pipeline = mixPipeline();
    const registry = new Registry();
    const bad: Array<[string, Parameters<typeof registerPrometheusMetrics>[1]]> = [
      ["unsorted", { buckets: { latency: [1, 0.5, 2] } }], // cumulative counts would go down
      ["repeated", { buckets: { stage: [0.1, 0.1, 1] } }], // two series with one `le`
      ["+Inf given", { buckets: { latency: [0.5, Number.POSITIVE_INFINITY] } }], // `le="Infinity"` beside `le="+Inf"`
      ["NaN", { buckets: { stage: [Number.NaN, 1] } }],
      ["not a number", { buckets: { stage: ["0.1" as unknown as number] } }],
      ["prefix with a dash", { prefix: "zoe-" }],
      ["prefix starting with a digit", { prefix: "1zoe_" }],
    ];
    for (const [what, options] of bad) {
      expect(() => registerPrometheusMetrics(pipeline!, { registry, ...options }), what).toThrow(TypeError);
      expect(registry.getMetricsAsArray(), what).toEqual([]);
    }
    const empty = registerPrometheusMetrics(pipeline, { registry, prefix: "", buckets: { latency: [], stage: [0.001] } });
    expect(registry.getSingleMetric("runs_started_total")).toBeDefined();
    empty.unregister();
  });

  it("a name already taken in the registry leaves none of the other metrics behind", async () => {
    pipeline = mixPipeline();
    const registry = new Registry();
    // The host's own metric under one of the names (registered after the histograms).
    new Counter({ name: "zoe_runs_total", help: "the host's", registers: [registry] });
    expect(() => registerPrometheusMetrics(pipeline!, { registry })).toThrow(/already been registered/);
    expect(registry.getMetricsAsArray().map((m) => m.name)).toEqual(["zoe_runs_total"]);
    // With another prefix it registers, and counts.
    const prom = registerPrometheusMetrics(pipeline, { registry, prefix: "app_" });
    for await (const _ of pipeline.run({ userId: "ada", message: "hello" }));
    expect(parseMetrics(await registry.metrics()).get('app_runs_total{outcome="success"}')).toBe(1);
    prom.unregister();
  });
});
