/**
 * The OpenAI-compatible backend under the whole pipeline: every stream judged by @ag-ui/client.
 */
import { describe, expect, it } from "vitest";
import {
  createZoePipeline,
  EventType,
  heuristicRouter,
  type AGUIEvent,
  type ServerTool,
  type ZoePipelineOptions,
} from "../../src/index.js";
import { openAiCompatibleBackend, type OpenAiCompatibleBackendOptions } from "../../src/openai-compatible/index.js";
import { expectValidStream, runValid, terminal, textOf } from "../helpers/ag-ui.js";
import { startFakeOpenAi, type FakeOpenAiOptions } from "../helpers/fake-openai.js";
import { offerChoicesInput } from "../helpers/fixtures.js";
import { at, cacheMetrics, metricsOf } from "../response-cache/helpers.js";
import { onCleanup, sleep } from "./helpers.js";

const MODELS = { fast: "qwen3:0.6b", default: "qwen3:8b", code: "qwen2.5-coder:7b" };

async function pipelineOn(
  fake: FakeOpenAiOptions,
  backendOptions: Omit<OpenAiCompatibleBackendOptions, "baseURL"> = {},
  options: Partial<ZoePipelineOptions> = {},
) {
  const server = await startFakeOpenAi(fake);
  onCleanup(() => server.close());
  const backend = openAiCompatibleBackend({ baseURL: server.baseURL, ...backendOptions });
  // The heuristic router with its classifier pinned, so each test knows the model it talks to.
  const router = heuristicRouter({ models: MODELS, classify: () => ({ kind: "chat", reason: "test: every turn is chat" }) });
  const pipeline = createZoePipeline({ backend, router, ...options });
  onCleanup(() => pipeline.close());
  return { server, backend, pipeline };
}

const ofType = <T extends AGUIEvent["type"]>(events: AGUIEvent[], type: T) =>
  events.filter((e) => e.type === type) as Array<Extract<AGUIEvent, { type: T }>>;
const lastContent = (body: Record<string, unknown> | undefined) => (body!.messages as Array<{ role: string; content: string }>).at(-1);

describe("openAiCompatibleBackend under the pipeline", () => {
  it("streams text: TEXT_MESSAGE_* events, RUN_FINISHED with the usage; the request says no thinking", async () => {
    const reply = "Blue light scatters more than red light.";
    const { server, pipeline } = await pipelineOn({ flavor: "vllm", models: { [MODELS.default]: { reply }, [MODELS.fast]: {} } });
    const events = await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Why is the sky blue, in physical terms?" }));
    expect(textOf(events)).toBe(reply);
    expect(ofType(events, EventType.TEXT_MESSAGE_CONTENT).length).toBe(7);
    expect(terminal(events)).toMatchObject({ type: EventType.RUN_FINISHED });
    expect(metricsOf(events).tokens).toMatchObject({ input: expect.any(Number), output: 7 });
    const [request] = server.chats();
    expect(request!.body).toMatchObject({
      model: MODELS.default,
      stream: true,
      stream_options: { include_usage: true },
      chat_template_kwargs: { enable_thinking: false },
    });
    expect(request!.body).not.toHaveProperty("userId");
  });

  it("streams reasoning (llama.cpp reasoning_content) as REASONING_* events before the text, with think on", async () => {
    const { server, pipeline } = await pipelineOn(
      {
        flavor: "llama.cpp",
        models: { [MODELS.default]: { reasoning: "Rayleigh scattering goes as 1/λ⁴.", reply: "Short wavelengths scatter most." } },
      },
      {},
      { think: "high" },
    );
    const events = await runValid(pipeline.run({ userId: "ada", threadId: "t", message: "Explain why the sky is blue, step by step." }));
    const reasoning = ofType(events, EventType.REASONING_MESSAGE_CONTENT)
      .map((e) => e.delta)
      .join("");
    expect(reasoning).toBe("Rayleigh scattering goes as 1/λ⁴.");
    expect(textOf(events)).toBe("Short wavelengths scatter most.");
    const types = events.map((e) => e.type);
    expect(types.indexOf(EventType.REASONING_END)).toBeLessThan(types.indexOf(EventType.TEXT_MESSAGE_START));
    expect(server.chats()[0]!.body!.chat_template_kwargs).toEqual({ enable_thinking: true });
  });

  it("streams a frontend tool call (vLLM deltas by index) as TOOL_CALL_START/ARGS/END with the server's id", async () => {
    const { server, pipeline } = await pipelineOn({
      flavor: "vllm",
      models: {
        [MODELS.default]: {
          reply: "",
          toolCalls: [{ id: "call_choice_1", name: "offer_choices", arguments: { options: ["tea", "coffee"] } }],
        },
        [MODELS.fast]: { reply: "" },
      },
    });
    const events = await runValid(pipeline.run(offerChoicesInput("Would you like something to drink with breakfast?", "ada")));
    const start = ofType(events, EventType.TOOL_CALL_START)[0]!;
    expect(start).toMatchObject({ toolCallId: "call_choice_1", toolCallName: "offer_choices" });
    const args = ofType(events, EventType.TOOL_CALL_ARGS)
      .map((e) => e.delta)
      .join("");
    expect(JSON.parse(args)).toEqual({ options: ["tea", "coffee"] });
    expect(ofType(events, EventType.TOOL_CALL_END)[0]).toMatchObject({ toolCallId: "call_choice_1" });
    expect(server.chats()[0]!.body!.tools).toEqual([
      expect.objectContaining({ type: "function", function: expect.objectContaining({ name: "offer_choices" }) }),
    ]);
  });

  it("a server-side tool round trip: the call's id goes back on the assistant message and as the result's tool_call_id", async () => {
    const weather: ServerTool = {
      name: "get_weather",
      description: "The weather in a city",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
      execute: ({ city }) => `Sunny, 24 °C in ${String(city)}`,
    };
    const { server, pipeline } = await pipelineOn(
      {
        flavor: "vllm",
        models: { [MODELS.default]: {}, [MODELS.fast]: {} },
        script: (body) =>
          lastContent(body)?.role === "tool"
            ? [
                { type: "content", text: "It is sunny " },
                { type: "content", text: "in Porto." },
                { type: "finish" },
                { type: "usage" },
                { type: "done" },
              ]
            : [
                {
                  type: "tool-delta",
                  delta: { index: 0, id: "chatcmpl-tool-w1", type: "function", function: { name: "get_weather", arguments: "" } },
                },
                { type: "tool-delta", delta: { index: 0, function: { arguments: '{"city": ' } } },
                { type: "tool-delta", delta: { index: 0, function: { arguments: '"Porto"}' } } },
                { type: "finish" },
                { type: "usage" },
                { type: "done" },
              ],
      },
      {},
      { tools: [weather] },
    );
    const events = await runValid(pipeline.run({ userId: "ada", threadId: "t", message: "What is the weather like in Porto today?" }));
    expect(ofType(events, EventType.TOOL_CALL_START)[0]).toMatchObject({ toolCallId: "chatcmpl-tool-w1", toolCallName: "get_weather" });
    expect(ofType(events, EventType.TOOL_CALL_RESULT)[0]).toMatchObject({
      toolCallId: "chatcmpl-tool-w1",
      content: "Sunny, 24 °C in Porto",
    });
    expect(textOf(events)).toBe("It is sunny in Porto.");
    expect(server.chats()).toHaveLength(2);
    const messages = server.chats()[1]!.body!.messages as Array<Record<string, unknown>>;
    const assistant = messages.at(-2)!;
    expect(assistant).toMatchObject({
      role: "assistant",
      tool_calls: [{ id: "chatcmpl-tool-w1", type: "function", function: { name: "get_weather" } }],
    });
    expect(JSON.parse((assistant.tool_calls as Array<{ function: { arguments: string } }>)[0]!.function.arguments)).toEqual({
      city: "Porto",
    });
    expect(messages.at(-1)).toEqual({ role: "tool", content: "Sunny, 24 °C in Porto", tool_call_id: "chatcmpl-tool-w1" });
  });

  it("errors end the run with RUN_ERROR and the backend's code", async () => {
    const { pipeline } = await pipelineOn({
      flavor: "llama.cpp-router",
      models: { [MODELS.fast]: {} },
    });
    const missing = await runValid(
      pipeline.run({ userId: "ada", threadId: "t", message: "Tell me about the history of Porto and its wine trade." }),
    );
    expect(terminal(missing)).toMatchObject({ type: EventType.RUN_ERROR, code: "MODEL_NOT_FOUND" });
    const { pipeline: failing } = await pipelineOn({
      flavor: "vllm",
      models: { [MODELS.default]: {} },
      script: () => [
        { type: "content", text: "Porto is " },
        { type: "error-event", message: "CUDA error: out of memory" },
      ],
    });
    const broken = await runValid(
      failing.run({ userId: "ada", threadId: "t", message: "Tell me about the history of Porto and its wine trade." }),
    );
    expect(textOf(broken)).toBe("Porto is ");
    expect(terminal(broken)).toMatchObject({ type: EventType.RUN_ERROR, code: "STREAM_ERROR" });
  });

  it("cancelling the run closes the request the server is answering; the run ends cancelled", async () => {
    const { server, pipeline } = await pipelineOn({
      flavor: "vllm",
      models: { [MODELS.default]: { reply: "one two three four five six seven eight nine ten", chunkDelayMs: 40 } },
    });
    const controller = new AbortController();
    const events: AGUIEvent[] = [];
    for await (const event of pipeline.run(
      { userId: "ada", threadId: "t", message: "Count slowly to ten for me, please." },
      { signal: controller.signal },
    )) {
      events.push(event);
      if (event.type === EventType.TEXT_MESSAGE_CONTENT && !controller.signal.aborted) controller.abort();
    }
    await expectValidStream(events);
    expect(terminal(events)).toMatchObject({ type: EventType.RUN_FINISHED, outcome: { type: "cancelled" } });
    const request = server.chats()[0]!;
    await request.closed;
    expect(request).toMatchObject({ closedByClient: true, finished: false });
  });

  it("pipeline.prewarm() warms every routed model with a one-token request", async () => {
    const { server, pipeline } = await pipelineOn({
      flavor: "vllm",
      models: { [MODELS.fast]: {}, [MODELS.default]: {}, [MODELS.code]: {} },
    });
    const results = await pipeline.prewarm();
    expect(results.map((r) => [r.model, r.ok]).sort()).toEqual([MODELS.code, MODELS.default, MODELS.fast].map((m) => [m, true]).sort());
    expect(server.chats().every((r) => r.body!.max_tokens === 1 && r.body!.stream === false)).toBe(true);
  });

  it("embed() feeds the semantic response cache: a close question is answered from the cache, a far one is not", async () => {
    const vectors: Record<string, number[]> = {
      "Why is the sky blue?": at(1),
      "Why's the sky blue?": at(0.97),
      "What colour is the sea?": at(0.5),
    };
    const reply = "Because of Rayleigh scattering.";
    const { server, pipeline } = await pipelineOn(
      {
        flavor: "vllm",
        models: { [MODELS.default]: { reply }, [MODELS.fast]: { reply }, "nomic-embed-text": { embedding: true } },
        embed: (text) => vectors[text] ?? at(0),
      },
      { embedModel: "nomic-embed-text" },
      { responseCache: { semantic: { timeoutMs: 2_000 } } },
    );
    const first = await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Why is the sky blue?" }));
    expect(textOf(first)).toBe(reply);
    expect(cacheMetrics(first)).toMatchObject({ hit: false, stored: true, semantic: { status: "miss" } });
    const close = await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "Why's the sky blue?" }));
    expect(textOf(close)).toBe(reply);
    expect(cacheMetrics(close)).toMatchObject({ hit: true, kind: "semantic", semantic: { status: "hit", similarity: 0.97 } });
    const far = await runValid(pipeline.run({ userId: "ada", threadId: "t3", message: "What colour is the sea?" }));
    expect(cacheMetrics(far)).toMatchObject({ hit: false });
    expect(server.chats()).toHaveLength(2);
    const embeds = server.requests.filter((r) => r.path === "/v1/embeddings");
    expect(embeds.map((r) => r.body!.input)).toEqual([["Why is the sky blue?"], ["Why's the sky blue?"], ["What colour is the sea?"]]);
    expect(embeds.every((r) => r.body!.model === "nomic-embed-text")).toBe(true);
    await sleep(0);
  });
});
