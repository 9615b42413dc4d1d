import { afterEach, describe, expect, it } from "vitest";
import { createZoePipeline, EventType, type AGUIEvent, type ChatMessage, type ServerTool } from "../../src/index.js";
import { ollamaBackend } from "../../src/ollama/index.js";
import { runValid, terminal, textOf } from "../helpers/ag-ui.js";
import { startFakeOllama, type FakeChatBody, type FakeOllama, type FakeStep } from "../helpers/fake-ollama.js";
import { fixedRouter, offerChoicesInput } from "../helpers/fixtures.js";

let servers: FakeOllama[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

/** A fake Ollama whose model calls `tool` (on the final chunk, as some servers do) until it sees a tool result. */
async function toolServer(tool: string, args: Record<string, unknown>) {
  const server = await startFakeOllama({
    models: { "test-model": {} },
    script: (body: FakeChatBody): FakeStep[] => {
      const last = body.messages?.at(-1);
      if (last?.role === "tool") return [{ type: "text", text: `Result: ${last.content}` }, { type: "done" }];
      return [
        { type: "text", text: "Checking. " },
        { type: "done", toolCalls: [{ function: { name: tool, arguments: args } }] },
      ];
    },
  });
  servers.push(server);
  return server;
}

const results = (events: AGUIEvent[]) => events.flatMap((e) => (e.type === EventType.TOOL_CALL_RESULT ? [e.content] : []));

describe("tool calls through the Ollama backend and a fake Ollama server", () => {
  it("runs a full round trip: tool call, execution, result, the model's continuation", async () => {
    const server = await toolServer("get_weather", { city: "Porto" });
    const weather: ServerTool = {
      name: "get_weather",
      description: "Current weather of a city",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
      execute: async ({ city }) => `sunny in ${String(city)}`,
    };
    const pipeline = createZoePipeline({ backend: ollamaBackend({ host: server.url }), router: fixedRouter(), tools: [weather] });
    const events = await runValid(pipeline.run({ userId: "u", message: "weather in Porto?" }));
    expect(results(events)).toEqual(["sunny in Porto"]);
    expect(textOf(events)).toBe("Checking. Result: sunny in Porto");
    const chats = server.chats();
    expect(chats).toHaveLength(2);
    expect((chats[0]!.body!.tools as Array<{ function: { name: string } }>).map((t) => t.function.name)).toEqual(["get_weather"]);
    const continued = chats[1]!.body!.messages!;
    // the id Ollama gave the call (routes.go toolCallId, Ollama ≥ 0.12.10) goes back on the call and on
    // its result, with the tool's name (api/types.go Message.ToolCallID, ToolName)
    const callId = (events.find((e) => e.type === EventType.TOOL_CALL_START) as { toolCallId: string }).toolCallId;
    expect(callId).toMatch(/^call_[a-z0-9]{8}$/);
    expect(continued.at(-2)).toEqual({
      role: "assistant",
      content: "Checking. ",
      tool_calls: [{ id: callId, function: { name: "get_weather", arguments: { city: "Porto" } } }],
    });
    expect(continued.at(-1)).toEqual({ role: "tool", content: "sunny in Porto", tool_name: "get_weather", tool_call_id: callId });
    await pipeline.close();
  });

  it("leaves frontend tools pending and does not call the model again", async () => {
    const server = await toolServer("offer_choices", { options: ["a", "b"] });
    const pipeline = createZoePipeline({ backend: ollamaBackend({ host: server.url }), router: fixedRouter() });
    const events = await runValid(pipeline.run(offerChoicesInput("pick")));
    const last = terminal(events);
    expect(last.type === EventType.RUN_FINISHED && last.outcome?.type).toBe("success");
    expect(last.type === EventType.RUN_FINISHED && last.outcome?.type === "success" && last.outcome.pendingToolCallIds).toHaveLength(1);
    expect(server.chats()).toHaveLength(1);
    await pipeline.close();
  });

  it("enforces the step limit", async () => {
    const server = await startFakeOllama({
      models: { "test-model": {} },
      script: () => [{ type: "done", toolCalls: [{ function: { name: "again", arguments: {} } }] }],
    });
    servers.push(server);
    let runs = 0;
    const again: ServerTool = { name: "again", execute: () => `run ${++runs}` };
    const pipeline = createZoePipeline({
      backend: ollamaBackend({ host: server.url }),
      router: fixedRouter(),
      tools: [again],
      maxToolSteps: 2,
    });
    const events = await runValid(pipeline.run({ userId: "u", message: "loop" }));
    expect(runs).toBe(2);
    expect(server.chats()).toHaveLength(3);
    expect(results(events).at(-1)).toMatch(/limit of 2 tool steps/);
    await pipeline.close();
  });

  it("frontend-tool results replayed from an AG-UI conversation carry tool_name and tool_call_id; the calls carry their ids", async () => {
    const server = await toolServer("offer_choices", { options: ["a", "b"] });
    const pipeline = createZoePipeline({ backend: ollamaBackend({ host: server.url }), router: fixedRouter() });
    const input = offerChoicesInput("pick");
    const events = await runValid(
      pipeline.run({
        ...input,
        messages: [
          ...input.messages,
          {
            id: "a1",
            role: "assistant" as const,
            content: "",
            toolCalls: [
              { id: "call_ab12cd34", type: "function" as const, function: { name: "offer_choices", arguments: '{"options":["a","b"]}' } },
            ],
          },
          { id: "t1", role: "tool" as const, toolCallId: "call_ab12cd34", content: "a" },
        ],
      }),
    );
    expect(textOf(events)).toBe("Result: a");
    const sent = server.chats()[0]!.body!.messages!;
    expect(sent.at(-2)).toEqual({
      role: "assistant",
      content: "",
      tool_calls: [{ id: "call_ab12cd34", function: { name: "offer_choices", arguments: { options: ["a", "b"] } } }],
    });
    expect(sent.at(-1)).toEqual({ role: "tool", content: "a", tool_name: "offer_choices", tool_call_id: "call_ab12cd34" });
    await pipeline.close();
  });

  it("the backend sends messages in Ollama's api.Message shape: thinking, tool call ids, tool_name, tool_call_id", async () => {
    const server = await startFakeOllama({ models: { "test-model": {} } });
    servers.push(server);
    const backend = ollamaBackend({ host: server.url });
    const messages: ChatMessage[] = [
      { role: "user", content: "weather?" },
      {
        role: "assistant",
        content: "",
        thinking: "Need the tool.",
        tool_calls: [{ id: "call_1", function: { name: "get_weather", arguments: { city: "Oslo" } } }],
      },
      { role: "tool", content: "cold", tool_name: "get_weather", tool_call_id: "call_1" },
    ];
    for await (const _ of backend.chat({ model: "test-model", messages }, { signal: new AbortController().signal })) void _;
    expect(server.chats()[0]!.body!.messages).toEqual(messages);
    await backend.close();
  });

  it("the assistant's thinking goes back with its tool calls (docs/capabilities/tool-calling.mdx)", async () => {
    const server = await startFakeOllama({
      models: { qwen3: { thinking: "unused" } },
      script: (body: FakeChatBody): FakeStep[] => {
        const last = body.messages?.at(-1);
        if (last?.role === "tool") return [{ type: "text", text: "Done." }, { type: "done" }];
        return [
          { type: "thinking", text: "I need the clock." },
          { type: "done", toolCalls: [{ function: { name: "get_time", arguments: {} } }] },
        ];
      },
    });
    servers.push(server);
    const clock: ServerTool = { name: "get_time", description: "The time", parameters: { type: "object" }, execute: async () => "noon" };
    const pipeline = createZoePipeline({
      backend: ollamaBackend({ host: server.url }),
      router: fixedRouter("chat", "qwen3"),
      tools: [clock],
      think: true,
    });
    const events = await runValid(pipeline.run({ userId: "u", message: "what time is it" }));
    expect(textOf(events)).toBe("Done.");
    const continued = server.chats()[1]!.body!.messages!;
    expect(continued.at(-2)).toMatchObject({
      role: "assistant",
      thinking: "I need the clock.",
      tool_calls: [{ function: { name: "get_time" } }],
    });
    expect(server.chats().map((r) => r.body!.think)).toEqual([true, true]);
    await pipeline.close();
  });
});
