/**
 * A backend's own prompt budget (`promptBudget(model)`): the pipeline fits each prompt into the
 * smaller of it and `promptTokens`; an answer that is not a positive number, or that throws, is
 * ignored.
 */
import { describe, expect, it } from "vitest";
import { createZoePipeline, type ModelBackend } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

/** A scripted backend whose model says it has room for `budget` prompt tokens. */
function withBudget(budget: () => unknown) {
  const backend = scriptedBackend({ script: () => textChunks("ok") });
  const wrapped: ModelBackend = { ...backend, chat: backend.chat.bind(backend), promptBudget: () => budget() as number };
  return { backend, wrapped };
}

async function turns(wrapped: ModelBackend, n: number) {
  const pipeline = createZoePipeline({ backend: wrapped, router: fixedRouter(), history: { keep: 40, load: 20, step: 2 } });
  for (let i = 0; i < n; i++)
    await runValid(pipeline.run({ userId: "ada", threadId: "t", message: `question ${i}: ${"word ".repeat(40)}` }));
  await pipeline.close();
}

describe("a backend's own prompt budget", () => {
  it("is kept when it is smaller than promptTokens: the history window moves to fit it", async () => {
    const { backend, wrapped } = withBudget(() => 300);
    await turns(wrapped, 10);
    const counted = backend.requests.map((r) => r.promptTokens ?? 0);
    expect(Math.max(...counted)).toBeLessThanOrEqual(300);
    // Without the backend's budget the last prompts would hold the whole history (well past 300).
    expect(backend.requests.at(-1)?.messages.length).toBeLessThan(21);
  });

  for (const [what, budget] of [
    ["NaN", () => Number.NaN],
    ["0", () => 0],
    ["a string", () => "300"],
    [
      "a throw",
      () => {
        throw new Error("no idea");
      },
    ],
  ] as const) {
    it(`is ignored when the backend answers ${what}`, async () => {
      const { backend, wrapped } = withBudget(budget);
      await turns(wrapped, 6);
      // promptTokens (3,072) holds the whole conversation.
      expect(backend.requests.at(-1)?.messages.length).toBe(12);
    });
  }
});
