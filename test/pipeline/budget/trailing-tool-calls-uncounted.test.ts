/**
 * A message's tool calls (their JSON) count in the budget of the first call as in those after a
 * tool step: a first call with long call arguments moves its history window to fit.
 */
import { describe, expect, it } from "vitest";
import { createZoePipeline } from "../../../src/index.js";
import { scriptedBackend } from "../../../src/testing/index.js";
import { collect } from "../../helpers/ag-ui.js";
import { fixedRouter } from "../../helpers/fixtures.js";
import { requestTokens } from "../../helpers/ollama-truncation.js";

const old = "an earlier long question about many things ".repeat(70); // ~3,080 chars, ~880 tokens
const bigArgs = JSON.stringify({ code: "x = 1; ".repeat(900) }); // ~6,300 chars, ~1,800 tokens

function input(messages: unknown[]) {
  return {
    threadId: "t",
    runId: "r2",
    userId: "u",
    messages,
    tools: [{ name: "confirm", description: "Ask the user", parameters: { type: "object" } }],
    context: [],
    state: {},
    forwardedProps: {},
  } as never;
}

describe("tool_calls are not counted by the first call's budget", () => {
  it("continued run: trailing assistant call with long arguments -> first call over promptTokens (history could have gone)", async () => {
    const backend = scriptedBackend({ script: [{ type: "text", text: "ok" }] });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    await collect(
      pipeline.run(
        input([
          { id: "h1", role: "user", content: old },
          { id: "h2", role: "assistant", content: old },
          { id: "m1", role: "user", content: "Run this code please" },
          {
            id: "a1",
            role: "assistant",
            content: "",
            toolCalls: [{ id: "c1", type: "function", function: { name: "confirm", arguments: bigArgs } }],
          },
          { id: "t1", role: "tool", toolCallId: "c1", content: "yes" },
        ]),
      ),
    );
    await pipeline.close();
    const first = backend.requests[0]!;
    // Fitting was possible: without the two history messages it is well under 3,072.
    const withoutHistory = { ...first, messages: first.messages.filter((m) => m.content !== old) };
    expect(requestTokens(withoutHistory)).toBeLessThan(3_072);
    expect(requestTokens(first)).toBeLessThanOrEqual(3_072);
  });

  it("history from AG-UI messages holding a call with long arguments -> first call over promptTokens", async () => {
    const backend = scriptedBackend({ script: [{ type: "text", text: "ok" }] });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    await collect(
      pipeline.run(
        input([
          { id: "h0", role: "user", content: old },
          { id: "h1", role: "user", content: "run it" },
          {
            id: "a1",
            role: "assistant",
            content: "",
            toolCalls: [{ id: "c1", type: "function", function: { name: "confirm", arguments: bigArgs } }],
          },
          { id: "t1", role: "tool", toolCallId: "c1", content: "yes" },
          { id: "a2", role: "assistant", content: old },
          { id: "m1", role: "user", content: "And now?" },
        ]),
      ),
    );
    await pipeline.close();
    const first = backend.requests[0]!;
    expect(first.messages.at(-1)?.content).toBe("And now?");
    expect(requestTokens(first)).toBeLessThanOrEqual(3_072);
  });
});
