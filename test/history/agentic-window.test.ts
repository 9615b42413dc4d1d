/**
 * The history window after an agentic turn (a CopilotKit agent: one question, seven frontend-tool
 * round trips, a final answer; 16 messages before the next turn with the default load 12, step 8).
 * A window whose computed start is not a user message begins at the question of that exchange.
 * Two first versions of that rule failed here: moving on to the next user message found none and
 * left the prompt with no history at all (not even the previous answer); looking forward first
 * found one on the next turn, so the window jumped although its start did not move, and the
 * prompt no longer extended the previous one (the KV prefix was lost after every agentic turn).
 */
import type { Message } from "@ag-ui/core";
import { describe, expect, it } from "vitest";
import { createZoePipeline } from "../../src/index.js";
import { windowStart } from "../../src/history/window.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

const tools = [{ name: "look", description: "Look something up", parameters: { type: "object" } }];

/** A CopilotKit-like conversation: one question answered after seven frontend-tool round trips. */
function agentic(): Message[] {
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
  return messages;
}

const same = (a: { role: string; content: string }[], b: { role: string; content: string }[]) =>
  a.length <= b.length && a.every((m, i) => m.role === b[i]?.role && m.content === b[i]?.content);

describe("the history window after an agentic turn (default history settings)", () => {
  it("keeps the previous turn's final answer in the next turn's prompt", async () => {
    const backend = scriptedBackend({ script: () => textChunks("Second answer.") });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const messages = agentic();
    messages.push({ id: "u2", role: "user", content: "Why that one?" });
    await runValid(pipeline.run({ threadId: "t", runId: "r", userId: "ada", tools, context: [], messages }));
    await pipeline.close();
    expect(backend.requests[0]?.messages.map((m) => m.content).join("\n")).toContain("PREVIOUS-ANSWER");
  });

  it("the next turn's prompt extends this one's while windowStart stays put", async () => {
    let n = 0;
    const backend = scriptedBackend({ script: () => textChunks(`Answer ${++n}.`) });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const base = { threadId: "t", userId: "ada", tools, context: [] };
    const messages = agentic();
    messages.push({ id: "u2", role: "user", content: "Why that one?" });
    await runValid(pipeline.run({ ...base, runId: "r1", messages: [...messages] }));
    messages.push({ id: "b2", role: "assistant", content: "Answer 1." });
    messages.push({ id: "u3", role: "user", content: "And the rainiest?" });
    await runValid(pipeline.run({ ...base, runId: "r2", messages: [...messages] }));
    await pipeline.close();
    // windowStart of the messages before the turn: 16 then 18 messages, both 8 (load 12, step 8).
    expect(windowStart(16, 12, 8)).toBe(windowStart(18, 12, 8));
    const [p1, p2] = backend.requests.map((r) => r.messages);
    expect(same(p1!, p2!), `turn 1: ${p1!.length} messages, turn 2 starts with ${JSON.stringify(p2![1])}`).toBe(true);
  });
});
