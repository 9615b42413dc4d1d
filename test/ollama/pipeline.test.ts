import { describe, expect, it } from "vitest";
import { createZoePipeline, EventType, type AGUIEvent, type ThinkSetting } from "../../src/index.js";
import { ollamaBackend } from "../../src/ollama/index.js";
import { collect, expectValidStream, runValid, terminal, textOf } from "../helpers/ag-ui.js";
import { textSteps } from "../helpers/fake-ollama.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { onCleanup, setup } from "./helpers.js";

async function pipelineOn(server: { url: string }, model = "llama3.2", kind: "chat" | "greeting" = "chat", think: ThinkSetting = false) {
  const backend = ollamaBackend({ host: server.url, keepAlive: "45m", load: { num_ctx: 4096 } });
  const pipeline = createZoePipeline({ backend, router: fixedRouter(kind, model), think });
  onCleanup(async () => {
    await pipeline.close();
    await backend.close();
  });
  return { backend, pipeline };
}

describe("pipeline runs on the Ollama backend", () => {
  it("streams a valid AG-UI run with the answer, the backend metrics and usage", async () => {
    const { server } = await setup({ models: { "llama3.2": { reply: "Blue light scatters more than red light." } } });
    const { pipeline } = await pipelineOn(server, "llama3.2", "greeting");
    const events = await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Why is the sky blue?" }));
    expect(textOf(events)).toBe("Blue light scatters more than red light.");
    const last = terminal(events);
    expect(last.type).toBe(EventType.RUN_FINISHED);
    const finished = last as Extract<AGUIEvent, { type: EventType.RUN_FINISHED }>;
    expect(finished.outcome).toMatchObject({ type: "success" });
    const metrics = (finished.result as { metrics: { backend: Record<string, unknown>; tokens: { output: number }; model: string } })
      .metrics;
    expect(metrics.model).toBe("llama3.2");
    expect(metrics.tokens.output).toBe(7); // eval_count of the fake: one per chunk
    expect(metrics.backend).toMatchObject({ doneReason: "stop" });
    expect(typeof metrics.backend.loadMs).toBe("number");
    expect(typeof metrics.backend.queueMs).toBe("number");
    // what Ollama received: the prompt, keep_alive, the route's options plus the fixed load options
    const body = server.chats()[0]!.body!;
    expect(body.messages!.at(-1)).toMatchObject({ role: "user" });
    expect(body.messages!.at(-1)!.content).toContain("Why is the sky blue?");
    expect(body.messages![0]!.role).toBe("system");
    expect(body.keep_alive).toBe("45m");
    expect(body.options).toEqual({ num_predict: 64, num_ctx: 4096 });
    // the answer was stored in the history
    const history = await pipeline.history.get("ada", "t1");
    expect(history.map((h) => h.role)).toEqual(["user", "assistant"]);
  });

  it("thinking and tool calls on the final chunk become valid REASONING and TOOL_CALL events", async () => {
    const { server } = await setup({
      models: {
        qwen3: {
          thinking: "Need the weather tool.",
          reply: "",
          toolCalls: [{ function: { name: "get_weather", arguments: { city: "Paris" } } }],
        },
      },
    });
    // thinking is asked for: since Ollama 0.12.4 the pipeline's default `think: false` is honoured
    const { pipeline } = await pipelineOn(server, "qwen3", "chat", true);
    const events = await runValid(pipeline.run({ userId: "ada", message: "Weather in Paris?" }));
    expect(events.some((e) => e.type === EventType.REASONING_MESSAGE_CONTENT)).toBe(true);
    const start = events.find((e) => e.type === EventType.TOOL_CALL_START);
    expect(start).toMatchObject({ toolCallName: "get_weather" });
    const args = events.find((e) => e.type === EventType.TOOL_CALL_ARGS);
    expect(JSON.parse((args as { delta: string }).delta)).toEqual({ city: "Paris" });
    expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
  });

  it("a model that is not pulled ends the run with RUN_ERROR code MODEL_NOT_FOUND", async () => {
    const { server } = await setup({ models: { "llama3.2": {} } });
    const { pipeline } = await pipelineOn(server, "mistral");
    const events = await runValid(pipeline.run({ userId: "ada", message: "hello there friend" }));
    const last = terminal(events);
    expect(last.type).toBe(EventType.RUN_ERROR);
    expect(last).toMatchObject({ code: "MODEL_NOT_FOUND" });
    expect((last as { message: string }).message).toContain("ollama pull mistral");
    // a failed run stores nothing
    expect(await pipeline.history.get("ada", "default")).toEqual([]);
  });

  it("an error line mid-stream ends the run with RUN_ERROR code STREAM_ERROR", async () => {
    const { server } = await setup({
      models: { "llama3.2": {} },
      script: () => [...textSteps("Once upon a"), { type: "error-line", error: "model runner crashed" }],
    });
    const { pipeline } = await pipelineOn(server);
    const events = await runValid(pipeline.run({ userId: "ada", message: "Tell me a story" }));
    expect(textOf(events)).toBe("Once upon a");
    const last = terminal(events);
    expect(last).toMatchObject({ type: EventType.RUN_ERROR, code: "STREAM_ERROR" });
    expect((last as { message: string }).message).toContain("model runner crashed");
  });

  it("aborting the run cancels it (RUN_FINISHED cancelled) and closes the request on the server", async () => {
    const { server } = await setup({
      models: { "llama3.2": { reply: "one two three four five six seven eight nine ten", chunkDelayMs: 50 } },
    });
    const { pipeline } = await pipelineOn(server);
    const controller = new AbortController();
    const events: AGUIEvent[] = [];
    for await (const event of pipeline.run({ userId: "ada", message: "Count to ten" }, { signal: controller.signal })) {
      events.push(event);
      if (event.type === EventType.TEXT_MESSAGE_CONTENT) controller.abort();
    }
    await expectValidStream(events);
    const last = terminal(events);
    expect(last.type === EventType.RUN_FINISHED && last.outcome).toEqual({ type: "cancelled" });
    const request = server.chats()[0]!;
    await request.closed;
    expect(request.closedByClient).toBe(true);
    expect(request.finished).toBe(false);
  });

  it("leaving the loop early closes the request on the server", async () => {
    const { server } = await setup({ models: { "llama3.2": { reply: "one two three four five six", chunkDelayMs: 50 } } });
    const { pipeline } = await pipelineOn(server);
    for await (const event of pipeline.run({ userId: "ada", message: "Count" })) {
      if (event.type === EventType.TEXT_MESSAGE_CONTENT) break;
    }
    const request = server.chats()[0]!;
    await request.closed;
    expect(request.closedByClient).toBe(true);
  });

  it("pipeline.prewarm() loads the router's models through the backend", async () => {
    const { server } = await setup({ models: { "llama3.2": {} } });
    const { pipeline } = await pipelineOn(server);
    const results = await pipeline.prewarm();
    expect(results).toMatchObject([{ model: "llama3.2", ok: true }]);
    expect(server.loads()[0]!.body).toMatchObject({ messages: [], keep_alive: "45m", options: { num_ctx: 4096 } });
    // the first real turn then finds the model loaded with the same options
    await collect(pipeline.run({ userId: "ada", message: "hello there" }));
    expect(server.loadCounts).toEqual({ "llama3.2": 1 });
  });

  it("an /api/generate-style stream is read: the answer is the text, and that is what history stores", async () => {
    const line = (fields: Record<string, unknown>) => ({
      type: "line" as const,
      line: { model: "llama3.2", created_at: new Date().toISOString(), ...fields },
    });
    const { server } = await setup({
      models: { "llama3.2": {} },
      script: () => [
        line({ response: "Old ", done: false }),
        line({ response: "format.", done: false }),
        line({ response: "", done: true, done_reason: "stop" }),
      ],
    });
    const { pipeline } = await pipelineOn(server);
    const events = await runValid(pipeline.run({ userId: "ada", threadId: "g", message: "hello there friend" }));
    expect(textOf(events)).toBe("Old format.");
    const history = await pipeline.history.get("ada", "g");
    expect(history.map((h) => [h.role, h.content])).toEqual([
      ["user", "hello there friend"],
      ["assistant", "Old format."],
    ]);
  });

  it("a stream of lines that are not Ollama chunks ends with RUN_ERROR UNEXPECTED_RESPONSE and stores nothing", async () => {
    const { server } = await setup({
      models: { "llama3.2": {} },
      script: () => [
        { type: "line", line: { choices: [{ delta: { content: "Hi" } }] } },
        { type: "line", line: { done: true } },
      ],
    });
    const { pipeline } = await pipelineOn(server);
    const events = await runValid(pipeline.run({ userId: "ada", threadId: "u", message: "hello there friend" }));
    expect(terminal(events)).toMatchObject({ type: EventType.RUN_ERROR, code: "UNEXPECTED_RESPONSE" });
    expect(await pipeline.history.get("ada", "u")).toEqual([]);
  });
});
