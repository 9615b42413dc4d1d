import { afterEach, describe, expect, it } from "vitest";
import { createZoePipeline, EventType, type AGUIEvent, type ServerTool } from "../../src/index.js";
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
      return [{ type: "text", text: "Checking. " }, { type: "done", toolCalls: [{ function: { name: tool, arguments: args } }] }];
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
    expect((chats[0]!.body?.tools as Array<{ function: { name: string } }>).map((t) => t.function.name)).toEqual(["get_weather"]);
    const continued = chats[1]!.body!.messages!;
    expect(continued.at(-2)).toMatchObject({ role: "assistant", tool_calls: [{ function: { name: "get_weather", arguments: { city: "Porto" } } }] });
    expect(continued.at(-1)).toMatchObject({ role: "tool", content: "sunny in Porto", tool_name: "get_weather" });
    await pipeline.close();
  });

  it("leaves frontend tools pending and does not call the model again", async () => {
    const server = await toolServer("offer_choices", { options: ["a", "b"] });
    const pipeline = createZoePipeline({ backend: ollamaBackend({ host: server.url }), router: fixedRouter() });
    const events = await runValid(
      pipeline.run(offerChoicesInput("pick")),
    );
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
    const pipeline = createZoePipeline({ backend: ollamaBackend({ host: server.url }), router: fixedRouter(), tools: [again], maxToolSteps: 2 });
    const events = await runValid(pipeline.run({ userId: "u", message: "loop" }));
    expect(runs).toBe(2);
    expect(server.chats()).toHaveLength(3);
    expect(results(events).at(-1)).toMatch(/limit of 2 tool steps/);
    await pipeline.close();
  });
});
