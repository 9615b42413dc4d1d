/**
 * When everything fits: each call after a tool step begins with the previous request's messages
 * byte for byte (the model server's KV prefix); a continued run that fits is sent unchanged; a run
 * without tools counts what it counted before.
 */
import { describe, expect, it } from "vitest";
import { createZoePipeline } from "../../../src/index.js";
import { scriptedBackend } from "../../../src/testing/index.js";
import { collect } from "../../helpers/ag-ui.js";
import { fixedRouter } from "../../helpers/fixtures.js";

describe("held", () => {
  it("follow-ups begin byte-identically with the first request when everything fits (stored history)", async () => {
    let n = 0;
    const backend = scriptedBackend({
      script: () =>
        n++ < 2 ? [{ type: "tool_call", call: { id: `s${n}`, name: "lookup", arguments: { q: n } } }] : [{ type: "text", text: "ok" }],
    });
    const pipeline = createZoePipeline({
      backend,
      router: fixedRouter(),
      tools: [{ name: "lookup", description: "L", execute: async () => "short" }],
    });
    await collect(pipeline.run({ userId: "u", threadId: "t", message: "first question" }));
    n = 0;
    backend.requests.length = 0;
    await collect(pipeline.run({ userId: "u", threadId: "t", message: "second question" }));
    await pipeline.close();
    const [a, b, c] = backend.requests;
    expect(JSON.stringify(b!.messages.slice(0, a!.messages.length))).toBe(JSON.stringify(a!.messages));
    expect(JSON.stringify(c!.messages.slice(0, b!.messages.length))).toBe(JSON.stringify(b!.messages));
  });

  it("a continued run whose trailing results fit is sent unchanged", async () => {
    const backend = scriptedBackend({ script: [{ type: "text", text: "ok" }] });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const messages = [
      { id: "h1", role: "user", content: "old" },
      { id: "h2", role: "assistant", content: "old answer" },
      { id: "m1", role: "user", content: "q" },
      {
        id: "a1",
        role: "assistant",
        content: "",
        toolCalls: [{ id: "c1", type: "function", function: { name: "confirm", arguments: "{}" } }],
      },
      { id: "t1", role: "tool", toolCallId: "c1", content: "yes ".repeat(500) },
    ];
    await collect(
      pipeline.run({
        threadId: "t",
        runId: "r",
        userId: "u",
        messages,
        tools: [{ name: "confirm", description: "x", parameters: { type: "object" } }],
        context: [],
        state: {},
        forwardedProps: {},
      } as never),
    );
    await pipeline.close();
    const sent = backend.requests[0]!.messages;
    expect(sent.map((m) => m.content)).toEqual([expect.any(String), "old", "old answer", "q", "", "yes ".repeat(500)]);
  });
});
