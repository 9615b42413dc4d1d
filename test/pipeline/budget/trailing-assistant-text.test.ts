/**
 * A continued run whose question is followed by long assistant text (no tool result to cut):
 * that text is cut as a last resort, so the call fits and Ollama's own cut keeps the question.
 */
import { describe, expect, it } from "vitest";
import { createZoePipeline, type ChatMessage } from "../../../src/index.js";
import { estimateTokens, MESSAGE_OVERHEAD_TOKENS } from "../../../src/prompt/token-count.js";
import { scriptedBackend } from "../../../src/testing/index.js";
import { collect } from "../../helpers/ag-ui.js";
import { fixedRouter } from "../../helpers/fixtures.js";

const cost = (m: ChatMessage) =>
  estimateTokens(m.content) + MESSAGE_OVERHEAD_TOKENS + (m.tool_calls ? estimateTokens(JSON.stringify(m.tool_calls)) : 0);

function keptByOllama(messages: ChatMessage[], numCtx = 4_096): ChatMessage[] {
  const tokens = (m: ChatMessage[]) => Math.ceil(JSON.stringify({ m }).length / 4);
  for (let i = 0; i < messages.length; i++) {
    const candidate = [...messages.slice(0, i).filter((m) => m.role === "system"), ...messages.slice(i)];
    if (tokens(candidate) <= numCtx || i === messages.length - 1) return candidate;
  }
  return messages;
}

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
    expect(first.messages.reduce((s, m) => s + cost(m), 0)).toBeLessThanOrEqual(3_072);
  });
});
