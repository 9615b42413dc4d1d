/**
 * Ollama fits a prompt longer than `num_ctx` by dropping messages from the front, keeping the
 * system messages and at least the last message (`server/prompt.go` `chatPrompt`, and
 * `server/routes.go` `truncateNativeChatMessages` on the llama-server path), unless the request
 * says `truncate: false` (`ChatHandler`: `truncate := req.Truncate == nil || *req.Truncate`);
 * without `num_ctx` the context is 4,096 tokens below about 23 GiB of VRAM (`Serve`). The fake
 * server does not truncate, so the rule is applied here to what it received: after a tool step
 * with a long result, the model must still see the user's question.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createZoePipeline, type RunMetrics, type ServerTool } from "../../src/index.js";
import { ollamaBackend } from "../../src/ollama/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { startFakeOllama, type FakeOllama, type FakeStep } from "../helpers/fake-ollama.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { keptByOllama } from "../helpers/ollama-truncation.js";

let servers: FakeOllama[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

describe("a call after a tool step fits the prompt budget, so Ollama keeps the question", () => {
  it("cuts a 40,500-character tool result for the model; the client still gets it whole", async () => {
    const server = await startFakeOllama({
      models: { "test-model": {} },
      script: (body): FakeStep[] =>
        body.messages?.at(-1)?.role === "tool"
          ? [{ type: "text", text: "Summary." }, { type: "done" }]
          : [{ type: "done", toolCalls: [{ function: { name: "fetch_page", arguments: { url: "https://example.com" } } }] }],
    });
    servers.push(server);
    const page = "lorem ipsum dolor sit amet ".repeat(1_500);
    const fetchPage: ServerTool = {
      name: "fetch_page",
      description: "Fetch a web page",
      parameters: { type: "object", properties: { url: { type: "string" } }, required: ["url"] },
      execute: async () => page,
    };
    const pipeline = createZoePipeline({ backend: ollamaBackend({ host: server.url }), router: fixedRouter(), tools: [fetchPage] });
    const events = await runValid(pipeline.run({ userId: "u", message: "What does example.com say about pricing?" }));
    await pipeline.close();

    const chats = server.chats();
    expect(chats).toHaveLength(2);
    const body = chats[1]?.body ?? {};
    const seen = keptByOllama(body.messages ?? [], body.tools);
    expect(seen.some((m) => m.role === "user" && m.content.includes("pricing"))).toBe(true);
    expect(seen.at(-1)?.content).toMatch(/\n… \[cut: the result had 40500 characters; the first \d+ are shown\]$/);
    // The client's event carries the whole result; the metrics say one was cut.
    const result = events.find((e) => e.type === "TOOL_CALL_RESULT") as { content: string } | undefined;
    expect(result?.content).toBe(page);
    const metrics = events.find((e) => e.type === "CUSTOM" && (e as { name: string }).name === "zoe.metrics") as
      | { value: RunMetrics }
      | undefined;
    expect(metrics?.value.prompt.cutToolResults).toBe(1);
  });

  it("counts the tool definitions too: with 20 long ones, the question still survives Ollama's cut", async () => {
    const server = await startFakeOllama({
      models: { "test-model": {} },
      script: (body): FakeStep[] =>
        body.messages?.at(-1)?.role === "tool"
          ? [{ type: "text", text: "Summary." }, { type: "done" }]
          : [{ type: "done", toolCalls: [{ function: { name: "tool_0", arguments: {} } }] }],
    });
    servers.push(server);
    const tools: ServerTool[] = Array.from({ length: 20 }, (_, i) => ({
      name: `tool_${i}`,
      description: `Tool number ${i}: ${"it does a great many things, described at length. ".repeat(6)}`,
      parameters: { type: "object", properties: { q: { type: "string", description: "what to look for" } } },
      execute: async () => "result ".repeat(2_000),
    }));
    const pipeline = createZoePipeline({ backend: ollamaBackend({ host: server.url }), router: fixedRouter(), tools });
    await runValid(pipeline.run({ userId: "u", message: "What does example.com say about pricing?" }));
    await pipeline.close();
    const chats = server.chats();
    expect(chats).toHaveLength(2);
    for (const chat of chats) {
      const seen = keptByOllama(chat.body?.messages ?? [], chat.body?.tools);
      expect(seen.some((m) => m.role === "user" && m.content.includes("pricing"))).toBe(true);
    }
  });
});
