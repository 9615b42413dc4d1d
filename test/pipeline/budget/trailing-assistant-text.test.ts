/**
 * A continued run whose question is followed by long assistant text (no tool result to cut):
 * that text is cut as a last resort, so the call fits and Ollama's own cut keeps the question.
 */
import { describe, expect, it } from "vitest";
import { createZoePipeline } from "../../../src/index.js";
import { scriptedBackend } from "../../../src/testing/index.js";
import { collect } from "../../helpers/ag-ui.js";
import { fixedRouter } from "../../helpers/fixtures.js";
import { keptByOllama, requestTokens } from "../../helpers/ollama-truncation.js";

describe("last user message followed by assistant text (after a tool round)", () => {
  it("the call fits promptTokens and keeps the question", async () => {
    const backend = scriptedBackend({ script: [{ type: "text", text: "ok" }] });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    await collect(
      pipeline.run({
        threadId: "t",
        runId: "r2",
        userId: "u",
        messages: [
          { id: "m1", role: "user", content: "What does example.com say about pricing?" },
          {
            id: "a1",
            role: "assistant",
            content: `Here is the page in full: ${"lorem ipsum dolor sit amet ".repeat(700)}`,
            toolCalls: [{ id: "c1", type: "function", function: { name: "confirm", arguments: "{}" } }],
          },
          { id: "t1", role: "tool", toolCallId: "c1", content: "yes" },
          { id: "a2", role: "assistant", content: `And the second page: ${"consectetur adipiscing elit ".repeat(700)}` },
        ],
        tools: [{ name: "confirm", description: "Ask the user", parameters: { type: "object" } }],
        context: [],
        state: {},
        forwardedProps: {},
      } as never),
    );
    await pipeline.close();
    const first = backend.requests[0]!;
    const seen = keptByOllama(first.messages);
    expect(seen.some((m) => m.role === "user" && m.content.includes("pricing"))).toBe(true);
    expect(requestTokens(first)).toBeLessThanOrEqual(3_072);
  });
});
