/**
 * A run continued from the client's messages (a step that mixed a server tool and a frontend
 * tool, or any result the client sends back after the turn) has those results after the user's
 * message. They are fitted too: in the run's first request and in the call after its own tool
 * step, so that Ollama's own cut (server/prompt.go chatPrompt) keeps the user's question.
 */
import { describe, expect, it } from "vitest";
import { createZoePipeline } from "../../src/index.js";
import { scriptedBackend } from "../../src/testing/index.js";
import { collect } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { keptByOllama, requestTokens } from "../helpers/ollama-truncation.js";

describe("results the client sent back after the turn", () => {
  it("are fitted in the call after a server tool step, so the question survives", async () => {
    let n = 0;
    const backend = scriptedBackend({
      script: () =>
        n++ === 0
          ? [{ type: "tool_call", call: { id: "s2", name: "fetch_page", arguments: { url: "b" } } }]
          : [{ type: "text", text: "ok" }],
    });
    const page = "lorem ipsum dolor sit amet ".repeat(3_700); // 99,900 characters, as the first run's TOOL_CALL_RESULT gave it
    const pipeline = createZoePipeline({
      backend,
      router: fixedRouter(),
      tools: [{ name: "fetch_page", description: "Fetch a page", execute: async () => "short page" }],
    });
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
            content: "",
            toolCalls: [
              { id: "s1", type: "function", function: { name: "fetch_page", arguments: '{"url":"a"}' } },
              { id: "c1", type: "function", function: { name: "confirm", arguments: "{}" } },
            ],
          },
          { id: "t1", role: "tool", toolCallId: "s1", content: page },
          { id: "t2", role: "tool", toolCallId: "c1", content: "yes" },
        ],
        tools: [{ name: "confirm", description: "Ask the user", parameters: { type: "object" } }],
        context: [],
        state: {},
        forwardedProps: {},
      } as never),
    );
    await pipeline.close();
    expect(backend.requests).toHaveLength(2);
    const followUp = backend.requests[1]!;
    const tokens = requestTokens(followUp);
    // The run's own 10-character result stays whole; the client's long one is cut.
    expect(followUp.messages.at(-1)?.content).toBe("short page");
    expect(tokens).toBeLessThanOrEqual(3_072);
    const first = backend.requests[0]!;
    expect(requestTokens(first)).toBeLessThanOrEqual(3_072);
    expect(keptByOllama(first.messages, first.tools ?? []).some((m) => m.role === "user" && m.content.includes("pricing"))).toBe(true);
    const seen = keptByOllama(followUp.messages, followUp.tools ?? []);
    expect(seen.some((m) => m.role === "user" && m.content.includes("pricing"))).toBe(true);
  });
});
