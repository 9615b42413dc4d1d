import { afterAll, beforeAll, expect, it } from "vitest";
import { createZoePipeline, EventType, heuristicRouter, type AGUIEvent, type ZoePipeline } from "../../src/index.js";
import { llamaCppBackend } from "../../src/llama-cpp/index.js";
import { collect, expectValidStream } from "../helpers/ag-ui.js";
import { describeWithModel, TEST_MODEL_PATH, TEST_THREADS } from "./model.js";

// A llama.cpp backend with a 1,024-token context (as the project's own tests use) and the
// pipeline's DEFAULT prompt budget (promptTokens 3,072) and history settings. Answers of 200 tokens.
describeWithModel("a long conversation on a llama.cpp context smaller than the prompt budget", () => {
  let pipeline: ZoePipeline;
  const last: AGUIEvent[] = [];

  beforeAll(async () => {
    const answer = { num_predict: 200 };
    const router = heuristicRouter({
      models: { fast: "tiny", default: "tiny" },
      options: { greeting: answer, simple: answer, chat: answer, code: answer, complex: answer },
    });
    pipeline = createZoePipeline({
      backend: llamaCppBackend({ modelPath: TEST_MODEL_PATH, threads: TEST_THREADS, contextSize: 1024, sequences: 2 }),
      router,
    });
    await pipeline.prewarm();
    for (let i = 0; i < 8; i++) {
      const events = await collect(
        pipeline.run({ userId: "ada", threadId: "trains", message: `tell me about the trains, question ${i + 1}` }),
      );
      await expectValidStream(events);
      last.push(events.at(-1)!);
    }
  }, 120_000);
  afterAll(() => pipeline.close());

  it("every turn finishes: the history window moves to fit the model's context instead of failing the turn", () => {
    const outcomes = last.map((e, i) => `turn ${i + 1}: ${e.type}${e.type === EventType.RUN_ERROR ? ` ${e.code}` : ""}`);
    expect(outcomes).toEqual(last.map((_, i) => `turn ${i + 1}: ${EventType.RUN_FINISHED}`));
  });
});
