import { describe, expect, it } from "vitest";
import { createZoePipeline } from "../../src/index.js";
import { scriptedBackend, textChunks, type ScriptStep } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

/**
 * The stored-history window starts at a multiple of `step` of the thread's numbers (`seq`),
 * whatever the role there. With `load` odd (the default step is then `load`), or an odd `step`,
 * or, with the defaults, once a frontend-tool continuation has stored one message instead of two
 * (the numbers' parity flips), the prompt's history starts on an assistant message: the model sees
 * an answer to a question that is not in its prompt, and chat templates that require turns to
 * alternate from a user turn (Gemma's and Mistral's Jinja templates, as vLLM and llama.cpp's server
 * render them) refuse the request.
 */
describe("the history window's first message", () => {
  for (const history of [{ load: 5 }, { load: 6, step: 3 }]) {
    it(`is a user message (history ${JSON.stringify(history)})`, async () => {
      let n = 0;
      const backend = scriptedBackend({ script: () => textChunks(`Answer ${++n}.`) });
      const pipeline = createZoePipeline({ backend, router: fixedRouter(), history });
      for (let i = 1; i <= 6; i++) await runValid(pipeline.run({ userId: "ada", threadId: "t", message: `Question ${i}` }));
      await pipeline.close();
      const firstPast = backend.requests.map((r) => r.messages[1]?.role);
      // Every prompt: system, then the history (or the user's turn), which must open with a user message.
      expect(firstPast).toEqual(firstPast.map(() => "user"));
      // And the window never empties: from the second turn on, at least the last exchange (a window
      // that would hold an answer alone holds its question too).
      const past = backend.requests.map((r) => r.messages.length - 2);
      expect(past.slice(1).every((n) => n >= 2)).toBe(true);
    });
  }

  it("is a user message with the default settings after a frontend-tool round trip", async () => {
    let n = 0;
    const backend = scriptedBackend({
      script: (): ScriptStep[] =>
        n++ === 0
          ? [{ type: "tool_call", call: { id: "c1", name: "offer_choices", arguments: {} } }, { type: "done" }]
          : textChunks(`Answer ${n}.`),
    });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const base = { threadId: "t", userId: "ada", context: [] };
    const tools = [{ name: "offer_choices", description: "Offer options", parameters: { type: "object" } }];
    await runValid(pipeline.run({ ...base, runId: "r1", tools, messages: [{ id: "m1", role: "user", content: "pick a city" }] }));
    await runValid(
      pipeline.run({
        ...base,
        runId: "r2",
        tools,
        messages: [
          { id: "m1", role: "user", content: "pick a city" },
          {
            id: "a1",
            role: "assistant",
            toolCalls: [{ id: "c1", type: "function", function: { name: "offer_choices", arguments: "{}" } }],
          },
          { id: "t1", role: "tool", toolCallId: "c1", content: "Porto" },
        ],
      }),
    );
    const from = backend.requests.length;
    for (let i = 1; i <= 8; i++) await runValid(pipeline.run({ userId: "ada", threadId: "t", message: `Question ${i}` }));
    await pipeline.close();
    const firstPast = backend.requests.slice(from).map((r) => r.messages[1]?.role);
    expect(firstPast).toEqual(firstPast.map(() => "user"));
  });
});
