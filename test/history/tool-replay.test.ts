import { describe, expect, it } from "vitest";
import { createZoePipeline, type ChatMessage } from "../../src/index.js";
import { buildPrompt } from "../../src/prompt/build-prompt.js";
import { estimateTokens } from "../../src/prompt/token-count.js";
import { toOpenAiMessages } from "../../src/openai-compatible/request-body.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

/**
 * What an OpenAI-style server refuses: an assistant's tool call not followed by the tool message
 * that answers it, or a tool message whose call is not right before it.
 */
function invalidToolMessages(messages: readonly ChatMessage[]): string[] {
  const problems: string[] = [];
  const wire = toOpenAiMessages(messages);
  let open = new Set<string>();
  for (const [i, m] of wire.entries()) {
    if (m.role === "tool") {
      if (!open.delete(m.tool_call_id ?? "")) problems.push(`message ${i}: a tool result without its call`);
      continue;
    }
    if (open.size > 0) problems.push(`message ${i - 1}: calls without results: ${[...open].join(", ")}`);
    open = new Set(m.role === "assistant" ? (m.tool_calls ?? []).map((c) => c.id) : []);
  }
  if (open.size > 0) problems.push(`last message: calls without results: ${[...open].join(", ")}`);
  return problems;
}

/** A model that calls `weather` once per turn, then answers from its result. */
function weatherPipeline() {
  let calls = 0;
  const backend = scriptedBackend({
    script: (request) =>
      request.messages.at(-1)?.role === "tool"
        ? textChunks("It is 20 degrees.")
        : [{ type: "tool_call", call: { id: `c${++calls}`, name: "weather", arguments: { city: "Porto" } } }],
  });
  const pipeline = createZoePipeline({
    backend,
    router: fixedRouter(),
    tools: [{ name: "weather", description: "The weather", parameters: { type: "object" }, execute: () => "20C" }],
  });
  return { backend, pipeline };
}

describe("tool calls in later turns", () => {
  it("a turn after a server tool call does not replay the call without its result (stored history)", async () => {
    const { backend, pipeline } = weatherPipeline();
    for (const message of ["Weather in Porto?", "And tomorrow?", "Thanks"]) {
      await runValid(pipeline.run({ userId: "u", threadId: "t", message }));
    }
    // The stored answer still names its tool calls (for the host and MESSAGES_SNAPSHOT).
    const stored = await pipeline.history.get("u", "t");
    expect(stored[1]?.toolCalls?.map((c) => c.name)).toEqual(["weather"]);
    for (const request of backend.requests) expect(invalidToolMessages(request.messages)).toEqual([]);
    // Each turn's first request still extends the previous turn's first request, answer and all.
    const firsts = backend.requests.filter((r) => r.messages.at(-1)?.role === "user").map((r) => r.messages);
    expect(firsts[2]!.slice(0, firsts[1]!.length - 1)).toEqual(firsts[1]!.slice(0, -1));
    await pipeline.close();
  });

  it("a client's conversation with a tool call but no result (a MESSAGES_SNAPSHOT of stored history) is replayed without the call", async () => {
    const { backend, pipeline } = weatherPipeline();
    await runValid(
      pipeline.run({
        threadId: "t",
        runId: "r",
        userId: "u",
        tools: [],
        context: [],
        messages: [
          { id: "m1", role: "user", content: "Weather in Porto?" },
          {
            id: "a1",
            role: "assistant",
            content: "It is 20 degrees.",
            toolCalls: [{ id: "c0", type: "function", function: { name: "weather", arguments: '{"city":"Porto"}' } }],
          },
          { id: "m2", role: "user", content: "Thanks" },
        ],
      }),
    );
    const first = backend.requests[0]!.messages;
    expect(first[2]).toEqual({ role: "assistant", content: "It is 20 degrees." });
    for (const request of backend.requests) expect(invalidToolMessages(request.messages)).toEqual([]);
    await pipeline.close();
  });

  it("a client's conversation whose history window would start on a tool result starts at the question of that exchange", async () => {
    const { backend, pipeline } = weatherPipeline();
    // Turns of two and four messages: with load 12 and step 8, the window starts at position 8, a tool result.
    const messages = [
      { id: "u0", role: "user" as const, content: "hi" },
      { id: "a0", role: "assistant" as const, content: "hello" },
      ...[1, 2, 3].flatMap((i) => [
        { id: `u${i}`, role: "user" as const, content: `weather ${i}?` },
        {
          id: `c${i}`,
          role: "assistant" as const,
          toolCalls: [{ id: `k${i}`, type: "function" as const, function: { name: "weather", arguments: "{}" } }],
        },
        { id: `t${i}`, role: "tool" as const, toolCallId: `k${i}`, content: "20C" },
        { id: `a${i}`, role: "assistant" as const, content: `It is 2${i} degrees.` },
      ]),
      { id: "now", role: "user" as const, content: "thanks" },
    ];
    expect(messages[8]?.role).toBe("tool");
    await runValid(pipeline.run({ threadId: "t", runId: "r", userId: "u", tools: [], context: [], messages }));
    const first = backend.requests[0]!.messages;
    expect(first[1]).toEqual({ role: "user", content: "weather 2?" });
    for (const request of backend.requests) expect(invalidToolMessages(request.messages)).toEqual([]);
    await pipeline.close();
  });

  it("the prompt budget never moves the history window's start onto a tool result", () => {
    const call = (id: string): ChatMessage => ({
      role: "assistant",
      content: "",
      tool_calls: [{ id, function: { name: "f", arguments: {} } }],
    });
    const history: ChatMessage[] = [
      { role: "user", content: "x".repeat(3_000) },
      call("k1"),
      { role: "tool", content: "result", tool_call_id: "k1", tool_name: "f" },
      { role: "assistant", content: "done" },
    ];
    const built = buildPrompt({
      systemPrompt: "You are a test.",
      context: [],
      clientContext: [],
      history,
      userText: "hello",
      trailing: [],
      contextTokens: 100,
      promptTokens: 200,
      step: 2,
      count: estimateTokens,
    });
    // No user message is left to start on: the answer is kept rather than nothing.
    expect(built.droppedHistory).toBe(3);
    expect(built.messages.map((m) => m.role)).toEqual(["system", "assistant", "user"]);
    expect(invalidToolMessages(built.messages)).toEqual([]);
  });
});
