import type { Message } from "@ag-ui/core";
import { describe, expect, it } from "vitest";
import { createZoePipeline } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

/**
 * A turn the model answered after several frontend-tool round trips (a CopilotKit agent) leaves
 * the client's conversation with one user message followed by assistant/tool messages. With the
 * default history (load 12, step 8), seven round trips make 16 messages before the next turn: the
 * window would start at 8, and no user message follows. Moved on to the next user message, the
 * next turn's prompt held no history at all (not even the previous answer); the window now starts
 * at the question that began that exchange, and holds it whole.
 */
describe("the history window after an agentic turn", () => {
  it("keeps the previous turn's final answer in the next turn's prompt", async () => {
    const backend = scriptedBackend({ script: () => textChunks("Second answer.") });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const tools = [{ name: "look", description: "Look something up", parameters: { type: "object" } }];
    const messages: Message[] = [{ id: "u1", role: "user", content: "Compare the seven cities I pinned." }];
    for (let i = 1; i <= 7; i++) {
      messages.push({
        id: `a${i}`,
        role: "assistant",
        toolCalls: [{ id: `c${i}`, type: "function", function: { name: "look", arguments: `{"city":${i}}` } }],
      });
      messages.push({ id: `t${i}`, role: "tool", toolCallId: `c${i}`, content: `City ${i}: sunny` });
    }
    messages.push({ id: "af", role: "assistant", content: "PREVIOUS-ANSWER: Lisbon is the sunniest." });
    messages.push({ id: "u2", role: "user", content: "Why that one?" });
    await runValid(pipeline.run({ threadId: "t", runId: "r", userId: "ada", tools, context: [], messages }));
    await pipeline.close();
    const prompt = backend.requests[0]!.messages;
    // system + history + the user's turn: the previous answer must be somewhere in the prompt.
    expect(prompt.map((m) => m.content).join("\n")).toContain("PREVIOUS-ANSWER");
  });
});
