import { afterEach, describe, expect, it } from "vitest";
import { createZoePipeline, type ZoePipeline } from "../../src/index.js";
import { ollamaBackend } from "../../src/ollama/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid, textOf } from "../helpers/ag-ui.js";
import { startFakeOllama } from "../helpers/fake-ollama.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { answerState, cacheMetrics, metricsOf } from "./helpers.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

function track(pipeline: ZoePipeline): ZoePipeline {
  cleanups.push(() => pipeline.close());
  return pipeline;
}

describe("response cache against odd dependencies and options", () => {
  it("does not store an answer that a fallback model gave in place of the model asked for", async () => {
    // "big" is missing on the server: Ollama's fallback model answers instead.
    const server = await startFakeOllama({ models: { small: { reply: "The small model's answer." } } });
    cleanups.push(() => server.close());
    const backend = ollamaBackend({ host: server.url, fallbackModel: "small" });
    const pipeline = track(createZoePipeline({ backend, router: fixedRouter("chat", "big"), responseCache: {} }));

    const first = await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "q" }));
    expect(textOf(first)).toBe("The small model's answer.");
    expect(metricsOf(first).backend.model).toBe("small");
    expect(cacheMetrics(first).stored).toBe(false);

    // The next ask goes to the model again (where "big" may be back), not to the fallback's answer.
    const second = await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "q" }));
    expect(answerState(second)).toEqual({ hit: false });
  });

  it("stores only an answer that finished with stop: not one a server aborted or filtered", async () => {
    for (const doneReason of ["abort", "content_filter", "stop"]) {
      const backend = scriptedBackend({ script: [...textChunks("part of an answer"), { type: "done", doneReason }] });
      const pipeline = createZoePipeline({ backend, router: fixedRouter("chat"), responseCache: {} });
      cleanups.push(() => pipeline.close());
      const first = await runValid(pipeline.run({ userId: "u", threadId: "t1", message: "q" }));
      expect(cacheMetrics(first).stored).toBe(doneReason === "stop");
      const second = await runValid(pipeline.run({ userId: "u", threadId: "t2", message: "q" }));
      expect(answerState(second)?.hit ?? false).toBe(doneReason === "stop");
    }
  });

  it("still stores the answer of the model asked for when the backend names it", async () => {
    const backend = scriptedBackend({ script: [...textChunks("Fine."), { type: "done", model: "test-model", doneReason: "stop" }] });
    const pipeline = track(createZoePipeline({ backend, router: fixedRouter("chat", "test-model"), responseCache: {} }));
    expect(cacheMetrics(await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "q" }))).stored).toBe(true);
    const second = await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "q" }));
    expect(answerState(second)).toEqual({ hit: true, kind: "exact" });
  });

  it("threshold 1 hits on an equal embedding (a 32-bit vector's similarity with itself may be 0.99999996)", async () => {
    // Every text embeds to [1, 1, 1]: normalised in 32-bit floats, its dot with itself is just below 1.
    const backend = scriptedBackend({ script: textChunks("Rayleigh scattering.") });
    const pipeline = track(
      createZoePipeline({
        backend,
        router: fixedRouter(),
        responseCache: { semantic: { threshold: 1, timeoutMs: 5_000, embed: async () => [1, 1, 1] } },
      }),
    );
    await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Why is the sky blue?" }));
    const second = await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "why is the sky blue" }));
    expect(answerState(second)).toEqual({ hit: true, kind: "semantic", similarity: 1 });
    expect(backend.requests).toHaveLength(1);
  });

  it("takes a Float32Array embedding (what in-process embedders give)", async () => {
    const vectors: Record<string, number[]> = { "Why is the sky blue?": [1, 0, 0], "Why's the sky blue?": [0.99, 0.01, 0] };
    const backend = scriptedBackend({ script: textChunks("Rayleigh scattering.") });
    const pipeline = track(
      createZoePipeline({
        backend,
        router: fixedRouter(),
        responseCache: { semantic: { timeoutMs: 5_000, embed: async (text) => Float32Array.from(vectors[text] ?? [0, 0, 1]) } },
      }),
    );
    const first = await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Why is the sky blue?" }));
    expect(cacheMetrics(first).semantic?.status).toBe("miss");
    const second = await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "Why's the sky blue?" }));
    expect(answerState(second)).toMatchObject({ hit: true, kind: "semantic" });
  });

  it("refuses a bad maxScopes or an embed that is not a function when the pipeline is created", () => {
    const make = (semantic: object) => () =>
      createZoePipeline({
        backend: scriptedBackend(),
        router: fixedRouter(),
        responseCache: { semantic: { embed: async () => [1], ...semantic } },
      });
    for (const maxScopes of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "10"]) {
      expect(make({ maxScopes }), String(maxScopes)).toThrow(/responseCache\.semantic\.maxScopes must be a positive integer/);
    }
    expect(make({ embed: "nomic-embed-text" })).toThrow(TypeError);
    expect(make({ embed: "nomic-embed-text" })).toThrow(/responseCache\.semantic\.embed must be a function/);
  });
});
