import { afterEach, describe, expect, it } from "vitest";
import { createZoePipeline, type ChatRequest, type RunMetrics, type ZoePipeline } from "../../src/index.js";
import { AutoTuner } from "../../src/metrics/index.js";
import { scriptedBackend, textChunks, type ScriptStep } from "../../src/testing/index.js";
import { fixedRouter, testProvider } from "../helpers/fixtures.js";
import { runMetrics } from "./mix.js";

let pipeline: ZoePipeline | undefined;
afterEach(async () => {
  await pipeline?.close();
  pipeline = undefined;
});

async function run(p: ZoePipeline, message = "tell me something"): Promise<RunMetrics> {
  let metrics: RunMetrics | undefined;
  for await (const event of p.run({ userId: "ada", message })) {
    if (event.type === "RUN_FINISHED") metrics = (event.result as { metrics: RunMetrics }).metrics;
  }
  if (!metrics) throw new Error("the run did not finish");
  return metrics;
}

describe("autoTune.providers", () => {
  it("moves a slow provider's deadline up and a fast one's down, within bounds", async () => {
    // slow answers in 150 ms but starts with a 50 ms deadline; fast answers at once with 1 s.
    const slow = testProvider("slow", "s", { delayMs: 150, timeoutMs: 50, ttlMs: 0 });
    const fast = testProvider("fast", "f", { timeoutMs: 1_000, ttlMs: 0 });
    pipeline = createZoePipeline({
      backend: scriptedBackend(),
      router: fixedRouter("chat"),
      providers: [slow, fast],
      autoTune: { providers: { minSamples: 3, factor: 2, minMs: 100, maxMs: 400 } },
    });
    const before = pipeline.metrics().autoTune?.providers;
    expect(before).toEqual({
      slow: { deadlineMs: 50, staticMs: 50, samples: 0, tuned: false },
      fast: { deadlineMs: 1_000, staticMs: 1_000, samples: 0, tuned: false },
    });

    const statuses: string[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await run(pipeline)).providers.slow!.status);
    // Under its static deadline it times out; once tuned up past 150 ms it answers.
    expect(statuses.slice(0, 3)).toEqual(["timeout", "timeout", "timeout"]);
    expect(statuses.at(-1)).toBe("ok");

    const after = pipeline.metrics().autoTune!.providers!;
    expect(after.slow!.tuned).toBe(true);
    expect(after.slow!.samples).toBe(7);
    expect(after.slow!.deadlineMs).toBeGreaterThan(150);
    expect(after.slow!.deadlineMs).toBeLessThanOrEqual(400);
    // The fast one's deadline drops from 1,000 to the floor.
    expect(after.fast).toEqual({ deadlineMs: 100, staticMs: 1_000, samples: 7, tuned: true });
  });

  it("a provider that always misses its deadline grows toward maxMs and stops there", () => {
    const tuner = new AutoTuner({ providers: { minSamples: 2, factor: 1.5, maxMs: 1_000 } }, [{ name: "p", timeoutMs: 100 }]);
    const deadlines: number[] = [];
    for (let i = 0; i < 12; i++) {
      const deadline = tuner.deadline("p") ?? 100;
      deadlines.push(deadline);
      tuner.observe(runMetrics({ providers: { p: { status: "timeout", ms: deadline } } }));
    }
    for (let i = 1; i < deadlines.length; i++) expect(deadlines[i]).toBeGreaterThanOrEqual(deadlines[i - 1]!);
    expect(deadlines.slice(0, 4)).toEqual([100, 100, 150, 225]);
    expect(deadlines.at(-1)).toBe(1_000);
    expect(tuner.snapshot().providers?.p).toEqual({ deadlineMs: 1_000, staticMs: 100, samples: 12, tuned: true });
  });

  it("off unless asked for: deadlines stay static and metrics() has no autoTune", async () => {
    pipeline = createZoePipeline({
      backend: scriptedBackend(),
      router: fixedRouter("chat"),
      providers: [testProvider("p", "x", { timeoutMs: 30, delayMs: 100, ttlMs: 0 })],
    });
    for (let i = 0; i < 3; i++) expect((await run(pipeline)).providers.p!.status).toBe("timeout");
    expect(pipeline.metrics().autoTune).toBeUndefined();
  });
});

describe("autoTune.numPredict", () => {
  /** A backend that says it generated `tokens` and stopped, or hit the budget it was given. */
  function budgetBackend(tokens: () => number) {
    return scriptedBackend({
      script: (request: ChatRequest): ScriptStep[] => {
        const budget = request.options?.num_predict;
        const wanted = tokens();
        const truncated = budget !== undefined && wanted > budget;
        return [
          ...textChunks("some words"),
          { type: "done", outputTokens: truncated ? budget : wanted, doneReason: truncated ? "length" : "stop" },
        ];
      },
    });
  }

  it("sets num_predict from the output lengths of a route kind, grows it when answers are cut", async () => {
    let wanted = 100;
    const backend = budgetBackend(() => wanted);
    pipeline = createZoePipeline({
      backend,
      router: fixedRouter("chat"),
      autoTune: { numPredict: { minSamples: 5, factor: 1.25, max: 600 } },
    });
    for (let i = 0; i < 5; i++) await run(pipeline);
    // No value before minSamples runs.
    expect(backend.requests.slice(0, 5).map((r) => r.options?.num_predict)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(pipeline.metrics().autoTune?.numPredict?.chat).toEqual({ value: 125, samples: 5, truncated: 0 });

    await run(pipeline);
    expect(backend.requests.at(-1)?.options?.num_predict).toBe(125);

    // Answers now want 1,000 tokens: cut at the budget, which grows run after run up to max.
    wanted = 1_000;
    const budgets: number[] = [];
    for (let i = 0; i < 12; i++) {
      await run(pipeline);
      budgets.push(backend.requests.at(-1)!.options!.num_predict!);
    }
    for (let i = 1; i < budgets.length; i++) expect(budgets[i]).toBeGreaterThanOrEqual(budgets[i - 1]!);
    expect(budgets[0]).toBe(125);
    // A cut answer counts as the highest value: one among six brings the budget back to max.
    expect(budgets[1]).toBe(600);
    expect(budgets.at(-1)).toBe(600);
    const chat = pipeline.metrics().autoTune?.numPredict?.chat;
    expect(chat).toMatchObject({ value: 600, samples: 18, truncated: 12 });
  });

  it("after a run of short answers (any one user can send them), a few cut answers bring the budget back up", async () => {
    let wanted = 10;
    const backend = budgetBackend(() => wanted);
    pipeline = createZoePipeline({ backend, router: fixedRouter("chat"), autoTune: { numPredict: { max: 600 } } });
    for (let i = 0; i < 100; i++) await run(pipeline);
    expect(pipeline.metrics().autoTune?.numPredict?.chat?.value).toBe(32);
    wanted = 1_000;
    let cut = 0;
    while (backend.requests.at(-1)?.options?.num_predict !== 600 && cut < 200) {
      await run(pipeline);
      cut++;
    }
    // Counted at the budget they were cut at, it took over a hundred cut answers (172); counted as
    // max, 5 % of the window, and the value is recomputed every 8th run past 64 samples.
    expect(cut).toBeLessThanOrEqual(16);
  });

  it("short answers bring it down to the floor; a route's own num_predict is left alone", async () => {
    const backend = budgetBackend(() => 10);
    pipeline = createZoePipeline({ backend, router: fixedRouter("greeting"), autoTune: { numPredict: { minSamples: 2 } } });
    for (let i = 0; i < 4; i++) await run(pipeline, "hi");
    // fixedRouter("greeting") sets num_predict 64 itself: never replaced.
    expect(backend.requests.map((r) => r.options?.num_predict)).toEqual([64, 64, 64, 64]);
    expect(pipeline.metrics().autoTune?.numPredict?.greeting).toEqual({ value: 32, samples: 4, truncated: 0 });

    const tuner = new AutoTuner({ numPredict: { minSamples: 2 } }, []);
    for (let i = 0; i < 2; i++) tuner.observe(runMetrics({ kind: "code", tokens: { output: 10 }, backend: { doneReason: "stop" } }));
    expect(tuner.options({ model: "m", kind: "code", fastPath: false, reason: "", options: { temperature: 0 } })).toEqual({
      temperature: 0,
      num_predict: 32,
    });
    // Runs without a done reason (e.g. tool calls pending, backends that do not say) teach nothing.
    tuner.observe(runMetrics({ kind: "chat", tokens: { output: 10 }, backend: {} }));
    expect(tuner.snapshot().numPredict?.chat).toBeUndefined();
  });
});

describe("autoTune options", () => {
  it("rejects settings that cannot work when the pipeline is created", () => {
    const make = (autoTune: object) => () => createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), autoTune });
    expect(make({ providers: { minMs: 500, maxMs: 100 } })).toThrow(/minMs must be ≥ 0 and ≤ maxMs/);
    expect(make({ numPredict: { factor: 0 } })).toThrow(/factor must be positive/);
    expect(make({ providers: { percentile: 120 } })).toThrow(/percentile/);
    expect(make({ numPredict: { minSamples: 0 } })).toThrow(/minSamples/);
    expect(make({ providers: {}, numPredict: {} })).not.toThrow();
  });

  it("rejects an infinite factor: times a 0 sample it made num_predict NaN (a provider deadline NaN: none at all)", async () => {
    const make = (autoTune: object) => () => createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), autoTune });
    expect(make({ numPredict: { factor: Number.POSITIVE_INFINITY } })).toThrow(/numPredict.factor must be positive and finite/);
    expect(make({ providers: { factor: Number.POSITIVE_INFINITY } })).toThrow(/providers.factor must be positive and finite/);
  });

  it("rejects a windowSize too large to allocate, which starved every host run:finished listener", async () => {
    const backend = scriptedBackend({ script: [...textChunks("a b"), { type: "done", doneReason: "stop" }] });
    const make = (windowSize: number) => () =>
      createZoePipeline({ backend, router: fixedRouter(), autoTune: { numPredict: {}, windowSize } });
    // A route kind's window is made at its first run, inside the tuner's run:finished listener.
    expect(make(2 ** 33)).toThrow(/windowSize must be an integer from 1 to 65536/);
    expect(make(65_537)).toThrow(TypeError);
    pipeline = make(65_536)();
    let told = 0;
    pipeline.on("run:finished", () => told++);
    await run(pipeline);
    expect(told).toBe(1);
    expect(pipeline.metrics().autoTune?.numPredict?.chat?.samples).toBe(1);
  });

  it("a provider named __proto__ is an own entry of metrics().autoTune.providers", () => {
    pipeline = createZoePipeline({
      backend: scriptedBackend(),
      router: fixedRouter(),
      providers: ["__proto__", "profile"].map((name) => ({ name, timeoutMs: 300, fetch: async () => name })),
      autoTune: { providers: {} },
    });
    const providers = pipeline.metrics().autoTune?.providers ?? {};
    expect(Object.keys(providers).sort()).toEqual(["__proto__", "profile"]);
    expect(Object.getPrototypeOf(providers)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(JSON.parse(JSON.stringify(providers)), "__proto__")?.value).toEqual({
      deadlineMs: 300,
      staticMs: 300,
      samples: 0,
      tuned: false,
    });
  });
});
