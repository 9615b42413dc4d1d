/**
 * A result the client sent back, cut in the run's first call, is cut in the call after a server
 * tool step from its whole text: the note the model sees gives the result's own length.
 */
import { describe, expect, it } from "vitest";
import { createZoePipeline } from "../../../src/index.js";
import { scriptedBackend } from "../../../src/testing/index.js";
import { collect } from "../../helpers/ag-ui.js";
import { fixedRouter } from "../../helpers/fixtures.js";

describe("a client result cut twice", () => {
  it("says the length of its whole text in every call", async () => {
    let n = 0;
    const backend = scriptedBackend({
      script: () =>
        n++ === 0
          ? [{ type: "tool_call", call: { id: "s2", name: "fetch_page", arguments: { url: "b" } } }]
          : [{ type: "text", text: "ok" }],
    });
    const clientPage = "lorem ipsum dolor sit amet ".repeat(500); // 13,500 characters (< maxInputChars)
    const serverPage = "consectetur adipiscing elit ".repeat(500); // 14,000 characters
    const pipeline = createZoePipeline({
      backend,
      router: fixedRouter(),
      tools: [{ name: "fetch_page", description: "Fetch a page", execute: async () => serverPage }],
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
            toolCalls: [{ id: "c1", type: "function", function: { name: "confirm", arguments: "{}" } }],
          },
          { id: "t1", role: "tool", toolCallId: "c1", content: clientPage },
        ],
        tools: [{ name: "confirm", description: "Ask the user", parameters: { type: "object" } }],
        context: [],
        state: {},
        forwardedProps: {},
      } as never),
    );
    await pipeline.close();
    expect(backend.requests).toHaveLength(2);
    const clientResult = (i: number) => backend.requests[i]!.messages.find((m) => m.role === "tool" && m.tool_call_id === "c1")!;
    // First call: cut, and the note says 13500.
    expect(clientResult(0).content).toMatch(/\n… \[cut: the result had 13500 characters; the first \d+ are shown\]$/);
    // Follow-up: cut again (the server's page needs room): its note must still say 13500.
    const again = clientResult(1).content;
    expect(again.length).toBeLessThan(clientResult(0).content.length);
    expect(again).toMatch(/\n… \[cut: the result had 13500 characters; the first \d+ are shown\]$/);
  });
});
