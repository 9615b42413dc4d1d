import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { isHostFailure } from "../../src/backends/pool.js";
import { ModelError } from "../../src/errors/index.js";
import type { ChatRequest } from "../../src/models/types.js";
import {
  OPENAI_COMPATIBLE_ERROR_CODES,
  OpenAiCompatibleError,
  openAiCompatibleBackend,
  toOpenAiMessages,
} from "../../src/openai-compatible/index.js";
import { chatBody } from "../../src/openai-compatible/request-body.js";
import type { FakeOpenAiStep } from "../helpers/fake-openai.js";
import { freePort } from "../ollama/helpers.js";
import { ask, doneOf, drain, failure, onCleanup, setup, signal, sleep, text, thinking } from "./helpers.js";

const bodyOf = (server: { chats(): Array<{ body: Record<string, unknown> | undefined }> }, i = 0) => server.chats()[i]!.body!;

describe("what is sent", () => {
  it("POST {baseURL}/chat/completions, streaming, asking for usage; sampling options under OpenAI names; think as chat_template_kwargs", async () => {
    const { server, backend } = await setup(undefined, { apiKey: "sk-local" });
    await drain(
      backend.chat(
        ask("hi", "qwen3:8b", {
          options: { num_predict: 64, temperature: 0.2, top_p: 0.9, top_k: 40, seed: 7, stop: ["\n\n"], num_ctx: 8192, mirostat: 2 },
          think: false,
          userId: "ada",
          threadId: "t1",
        }),
        { signal: signal() },
      ),
    );
    const [request] = server.chats();
    expect(request!.headers.authorization).toBe("Bearer sk-local");
    expect(request!.headers.accept).toBe("text/event-stream");
    expect(request!.body).toEqual({
      model: "qwen3:8b",
      messages: [
        { role: "system", content: "You are terse." },
        { role: "user", content: "hi" },
      ],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 64,
      temperature: 0.2,
      top_p: 0.9,
      top_k: 40,
      seed: 7,
      stop: ["\n\n"],
      chat_template_kwargs: { enable_thinking: false },
    });
  });

  it("think: levels and true enable thinking; undefined sends nothing; other formats: reasoning_effort, none, a function", () => {
    const settings = { think: "chat_template_kwargs" as const, includeUsage: true, extraBody: undefined };
    const body = (request: Partial<ChatRequest>, s: Partial<Parameters<typeof chatBody>[1]> = {}) =>
      chatBody({ ...ask("x"), ...request }, { ...settings, ...s });
    expect(body({ think: true }).chat_template_kwargs).toEqual({ enable_thinking: true });
    expect(body({ think: "high" }).chat_template_kwargs).toEqual({ enable_thinking: true });
    expect(body({}).chat_template_kwargs).toBeUndefined();
    expect(body({ think: false }, { think: "reasoning_effort" }).reasoning_effort).toBe("none");
    expect(body({ think: true }, { think: "reasoning_effort" }).reasoning_effort).toBe("medium");
    expect(body({ think: "low" }, { think: "reasoning_effort" }).reasoning_effort).toBe("low");
    const none = body({ think: true }, { think: "none" });
    expect(none.chat_template_kwargs === undefined && none.reasoning_effort === undefined).toBe(true);
    expect(body({ think: "medium" }, { think: (t) => ({ thinking: t !== false }) }).thinking).toBe(true);
    // extraBody is merged last; its chat_template_kwargs merge with the think setting's
    const extra = body({ think: false }, { extraBody: { repetition_penalty: 1.1, chat_template_kwargs: { foo: 1 } } });
    expect(extra).toMatchObject({ repetition_penalty: 1.1, chat_template_kwargs: { enable_thinking: false, foo: 1 } });
    expect(body({}, { includeUsage: false }).stream_options).toBeUndefined();
    expect(body({ options: { num_predict: -1 } }).max_tokens).toBeUndefined();
    expect(body({ tools: [{ type: "function", function: { name: "f" } }] }).tools).toEqual([{ type: "function", function: { name: "f" } }]);
  });

  it("tool results carry tool_call_id; assistant tool calls are replayed with their ids and JSON arguments", () => {
    const messages = toOpenAiMessages([
      { role: "user", content: "weather?" },
      {
        role: "assistant",
        content: "",
        tool_calls: [
          { id: "call_a", function: { name: "weather", arguments: { city: "Porto" } } },
          { id: "call_b", function: { name: "time", arguments: {} } },
        ],
      },
      { role: "tool", content: "12:00", tool_name: "time", tool_call_id: "call_b" },
      { role: "tool", content: "sunny", tool_name: "weather", tool_call_id: "call_a" },
    ]);
    expect(messages).toEqual([
      { role: "user", content: "weather?" },
      {
        role: "assistant",
        content: "",
        tool_calls: [
          { id: "call_a", type: "function", function: { name: "weather", arguments: '{"city":"Porto"}' } },
          { id: "call_b", type: "function", function: { name: "time", arguments: "{}" } },
        ],
      },
      { role: "tool", content: "12:00", tool_call_id: "call_b" },
      { role: "tool", content: "sunny", tool_call_id: "call_a" },
    ]);
  });

  it("messages without ids get stable ones: calls of message i are call_i_j, a result takes its tool's call, else the next unanswered", () => {
    const history: ChatRequest["messages"] = [
      { role: "user", content: "q" },
      {
        role: "assistant",
        content: "",
        tool_calls: [{ function: { name: "a", arguments: {} } }, { function: { name: "b", arguments: {} } }],
      },
      { role: "tool", content: "B", tool_name: "b" },
      { role: "tool", content: "A" },
    ];
    const first = toOpenAiMessages(history);
    expect(first[1]!.tool_calls!.map((c) => c.id)).toEqual(["call_1_0", "call_1_1"]);
    expect(first.slice(2).map((m) => m.tool_call_id)).toEqual(["call_1_1", "call_1_0"]);
    expect(toOpenAiMessages(history)).toEqual(first); // byte-stable from turn to turn
  });

  it("calls sent without ids take the ids their results carry", () => {
    const messages = toOpenAiMessages([
      { role: "user", content: "q" },
      {
        role: "assistant",
        content: "",
        tool_calls: [{ function: { name: "a", arguments: {} } }, { function: { name: "b", arguments: {} } }],
      },
      { role: "tool", content: "B", tool_name: "b", tool_call_id: "srv-b" },
      { role: "tool", content: "A", tool_name: "a", tool_call_id: "srv-a" },
    ]);
    expect(messages[1]!.tool_calls!.map((c) => c.id)).toEqual(["srv-a", "srv-b"]);
    expect(messages.slice(2).map((m) => m.tool_call_id)).toEqual(["srv-b", "srv-a"]);
  });

  it("the base URL's trailing slash is dropped; bad options are refused at creation", async () => {
    const { server } = await setup();
    const backend = openAiCompatibleBackend({ baseURL: `${server.baseURL}///` });
    onCleanup(() => backend.close());
    expect(backend.baseURL).toBe(server.baseURL);
    expect(text(await drain(backend.chat(ask("hi"), { signal: signal() })))).toBe("Hello from qwen3:8b.");
    expect(() => openAiCompatibleBackend({} as never)).toThrow(TypeError);
    expect(() => openAiCompatibleBackend({ baseURL: "localhost:8000" })).toThrow(TypeError);
    expect(() => openAiCompatibleBackend({ baseURL: "http://x/v1", idleTimeoutMs: 0 })).toThrow(RangeError);
    expect(() => openAiCompatibleBackend({ baseURL: "http://x/v1", think: "yes" as never })).toThrow(TypeError);
  });
});

describe("streaming", () => {
  it("text deltas become text chunks, then one done with the usage chunk's counts and the finish reason", async () => {
    const { backend } = await setup({ models: { m: { reply: "Blue light scatters more." } } });
    const chunks = await drain(backend.chat(ask("why?", "m"), { signal: signal() }));
    expect(chunks.filter((c) => c.type === "text").map((c) => (c as { text: string }).text)).toEqual([
      "Blue ",
      "light ",
      "scatters ",
      "more.",
    ]);
    expect(doneOf(chunks)).toEqual({ type: "done", inputTokens: expect.any(Number), outputTokens: 4, doneReason: "stop", model: "m" });
  });

  for (const [flavor, field, extra] of [
    ["vllm", "reasoning", {}],
    ["vllm", "reasoning_content", { reasoningField: "reasoning_content" as const }],
    ["llama.cpp", "reasoning_content", {}],
    ["ollama", "reasoning", {}],
  ] as const) {
    it(`reasoning (${flavor}: delta.${field}) becomes thinking chunks before the text`, async () => {
      const { backend } = await setup({ flavor, ...extra, models: { m: { reasoning: "The sky scatters blue.", reply: "Rayleigh." } } });
      const chunks = await drain(backend.chat(ask("why?", "m", { think: true }), { signal: signal() }));
      expect(thinking(chunks)).toBe("The sky scatters blue.");
      expect(text(chunks)).toBe("Rayleigh.");
      expect(chunks.findIndex((c) => c.type === "text")).toBeGreaterThan(chunks.findLastIndex((c) => c.type === "thinking"));
    });
  }

  for (const flavor of ["vllm", "llama.cpp", "ollama"] as const) {
    it(`tool calls streamed by index (${flavor}) become one tool_call chunk each, with the server's id and the whole arguments`, async () => {
      const { backend } = await setup({
        flavor,
        models: {
          m: {
            reply: "Checking. ",
            toolCalls: [
              { id: "call_w", name: "get_weather", arguments: { city: "Porto", days: 3 } },
              { id: "call_t", name: "get_time", arguments: { zone: "Europe/Lisbon" } },
            ],
          },
        },
      });
      const chunks = await drain(backend.chat(ask("weather and time?", "m", { tools: [] }), { signal: signal() }));
      const calls = chunks.flatMap((c) => (c.type === "tool_call" ? [c.call] : []));
      expect(calls.map((c) => ({ ...c, arguments: JSON.parse(c.arguments as string) }))).toEqual([
        { id: "call_w", name: "get_weather", arguments: { city: "Porto", days: 3 } },
        { id: "call_t", name: "get_time", arguments: { zone: "Europe/Lisbon" } },
      ]);
      expect(text(chunks)).toBe("Checking. ");
      expect(doneOf(chunks).doneReason).toBe("tool_calls");
    });
  }

  it("interleaved argument fragments of parallel calls are joined by index", async () => {
    const { backend } = await setup({
      models: { m: {} },
      script: () => [
        { type: "tool-delta", delta: { index: 0, id: "a", type: "function", function: { name: "f", arguments: "" } } },
        { type: "tool-delta", delta: { index: 1, id: "b", type: "function", function: { name: "g", arguments: '{"y":' } } },
        { type: "tool-delta", delta: { index: 0, function: { arguments: '{"x":' } } },
        { type: "tool-delta", delta: { index: 1, function: { arguments: "2}" } } },
        { type: "tool-delta", delta: { index: 0, function: { arguments: "1}" } } },
        { type: "finish" },
        { type: "usage" },
        { type: "done" },
      ],
    });
    const calls = (await drain(backend.chat(ask("x", "m"), { signal: signal() }))).flatMap((c) => (c.type === "tool_call" ? [c.call] : []));
    expect(calls).toEqual([
      { id: "a", name: "f", arguments: '{"x":1}' },
      { id: "b", name: "g", arguments: '{"y":2}' },
    ]);
  });

  it("cached prompt tokens (vLLM --enable-prompt-tokens-details): promptEvalTokens = prompt − cached on the next turn", async () => {
    const { backend } = await setup({ flavor: "vllm", promptTokensDetails: true, models: { m: {} } });
    const system = { role: "system" as const, content: "A long stable system prompt that the server keeps in its KV cache. ".repeat(10) };
    const turn = (t: string) => drain(backend.chat({ model: "m", messages: [system, { role: "user", content: t }] }, { signal: signal() }));
    const first = doneOf(await turn("first question"));
    expect(first.promptEvalTokens).toBe(first.inputTokens);
    const second = doneOf(await turn("second question"));
    expect(second.inputTokens).toBeGreaterThan(0);
    expect(second.promptEvalTokens).toBeLessThan(second.inputTokens! / 4);
  });

  it("llama.cpp: cached_tokens always, and its timings as promptEvalMs / evalMs", async () => {
    const { backend } = await setup({ flavor: "llama.cpp", models: { m: { reply: "a b c" } } });
    const done = doneOf(await drain(backend.chat(ask("x", "m"), { signal: signal() })));
    expect(done).toMatchObject({
      inputTokens: expect.any(Number),
      outputTokens: 3,
      promptEvalTokens: expect.any(Number),
      promptEvalMs: expect.any(Number),
      evalMs: 30,
    });
  });

  it("without the usage chunk (includeUsage: false) the done chunk still comes, without counts", async () => {
    const { server, backend } = await setup({ models: { m: {} } }, { includeUsage: false });
    const done = doneOf(await drain(backend.chat(ask("x", "m"), { signal: signal() })));
    expect(done).toEqual({ type: "done", doneReason: "stop", model: "m" });
    expect(bodyOf(server).stream_options).toBeUndefined();
  });

  it("a stream that ends after its finish_reason without [DONE] is complete", async () => {
    const { backend } = await setup({
      models: { m: {} },
      script: () => [{ type: "content", text: "ok" }, { type: "finish" }, { type: "end" }],
    });
    const chunks = await drain(backend.chat(ask("x", "m"), { signal: signal() }));
    expect(text(chunks)).toBe("ok");
    expect(doneOf(chunks).doneReason).toBe("stop");
  });

  it("after [DONE] the body is read to its end: the server finishes, the client never cuts the connection", async () => {
    const { server, backend } = await setup({ models: { m: {} } });
    await drain(backend.chat(ask("one", "m"), { signal: signal() }));
    await drain(backend.chat(ask("two", "m"), { signal: signal() }));
    expect(server.chats().map((r) => r.finished)).toEqual([true, true]);
    expect(server.chats().every((r) => !r.closedByClient)).toBe(true);
  });
});

describe("errors", () => {
  const codeOf = async (stream: AsyncIterable<unknown>) => (await failure(stream as never)).error as OpenAiCompatibleError;

  it("every error is an OpenAiCompatibleError (a ModelError) with one of the stable codes", async () => {
    const { backend } = await setup({ models: { m: {} } });
    const error = await codeOf(backend.chat(ask("x", "nope"), { signal: signal() }));
    expect(error).toBeInstanceOf(OpenAiCompatibleError);
    expect(error).toBeInstanceOf(ModelError);
    expect(OPENAI_COMPATIBLE_ERROR_CODES).toContain(error.code);
  });

  it("an unknown model is MODEL_NOT_FOUND: vLLM's 404 NotFoundError, Ollama's 404, llama.cpp router's 400 \"model not found\"", async () => {
    for (const flavor of ["vllm", "ollama", "llama.cpp-router"] as const) {
      const { backend } = await setup({ flavor, models: { m: {} } });
      const { error, chunks } = await failure(backend.chat(ask("x", "gpt-oss:20b"), { signal: signal() }));
      expect(error, flavor).toMatchObject({
        code: "MODEL_NOT_FOUND",
        model: "gpt-oss:20b",
        status: flavor === "llama.cpp-router" ? 400 : 404,
      });
      expect((error as Error).message).toMatch(/gpt-oss:20b/);
      expect(chunks).toEqual([]);
      expect(isHostFailure(error)).toBe(false);
    }
  });

  it("a wrong baseURL (404 without a model in it) is BACKEND_ERROR that says so", async () => {
    const { server } = await setup({ flavor: "llama.cpp", models: { m: {} } });
    const backend = openAiCompatibleBackend({ baseURL: server.url }); // missing /v1
    onCleanup(() => backend.close());
    const error = await codeOf(backend.chat(ask("x", "m"), { signal: signal() }));
    expect(error).toMatchObject({ code: "BACKEND_ERROR", status: 404, serverMessage: "File Not Found", serverType: "not_found_error" });
    expect(error.message).toMatch(/baseURL/);
  });

  it("401 without the API key: BACKEND_ERROR naming apiKey; 503 while llama.cpp loads its model: BACKEND_BUSY (a host failure)", async () => {
    const { server, backend } = await setup({ flavor: "llama.cpp", apiKey: "secret", models: { m: {} } });
    expect(await codeOf(backend.chat(ask("x", "m"), { signal: signal() }))).toMatchObject({
      code: "BACKEND_ERROR",
      status: 401,
      message: expect.stringMatching(/apiKey/),
    });
    const keyed = openAiCompatibleBackend({ baseURL: server.baseURL, apiKey: "secret" });
    onCleanup(() => keyed.close());
    server.loading = true;
    const busy = await codeOf(keyed.chat(ask("x", "m"), { signal: signal() }));
    expect(busy).toMatchObject({ code: "BACKEND_BUSY", status: 503, serverMessage: "Loading model" });
    expect(isHostFailure(busy)).toBe(true);
  });

  it("a 500 before the stream is BACKEND_ERROR with the server's message, a host failure", async () => {
    const { backend } = await setup({
      models: { m: {} },
      script: () => [
        {
          type: "http",
          status: 500,
          body: { error: { message: "CUDA out of memory", type: "InternalServerError", param: null, code: 500 } },
        },
      ],
    });
    const error = await codeOf(backend.chat(ask("x", "m"), { signal: signal() }));
    expect(error).toMatchObject({ code: "BACKEND_ERROR", status: 500, serverMessage: "CUDA out of memory" });
    expect(isHostFailure(error)).toBe(true);
  });

  it("no server: BACKEND_UNREACHABLE", async () => {
    const backend = openAiCompatibleBackend({ baseURL: `http://127.0.0.1:${await freePort()}/v1` });
    const error = await codeOf(backend.chat(ask("x"), { signal: signal() }));
    expect(error).toMatchObject({ code: "BACKEND_UNREACHABLE" });
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect(isHostFailure(error)).toBe(true);
  });

  const midStream: Array<[string, "vllm" | "llama.cpp", FakeOpenAiStep]> = [
    [
      "vLLM: a data event with an error object, then [DONE]",
      "vllm",
      { type: "error-event", message: "CUDA error: an illegal memory access" },
    ],
    [
      "llama.cpp: a data event with an error object, no [DONE]",
      "llama.cpp",
      { type: "error-event", message: "the request exceeds the available context size" },
    ],
    ["older llama.cpp: an `error:` SSE field", "llama.cpp", { type: "error-field", message: "slot unavailable" }],
  ];
  for (const [name, flavor, step] of midStream) {
    it(`a mid-stream error is STREAM_ERROR after the text so far (${name})`, async () => {
      const { backend } = await setup({ flavor, models: { m: {} }, script: () => [{ type: "content", text: "Half " }, step] });
      const { error, chunks } = await failure(backend.chat(ask("x", "m"), { signal: signal() }));
      expect(text(chunks)).toBe("Half ");
      expect(error).toMatchObject({ code: "STREAM_ERROR", serverMessage: (step as { message: string }).message, status: 500 });
    });
  }

  it("a connection dropped after the finish_reason (behind a proxy) ends a whole answer, as a clean end without [DONE] does", async () => {
    const { backend } = await setup({
      models: { m: {} },
      script: () => [{ type: "content", text: "ok" }, { type: "finish" }, { type: "delay", ms: 50 }, { type: "drop" }],
    });
    const chunks = await drain(backend.chat(ask("x", "m"), { signal: signal() }));
    expect(text(chunks)).toBe("ok");
    expect(doneOf(chunks).doneReason).toBe("stop");
  });

  it("a dropped connection is CONNECTION_LOST; a clean end without finish_reason nor [DONE] is STREAM_INCOMPLETE", async () => {
    const { backend } = await setup({
      models: { m: {} },
      script: (body) => [
        { type: "content", text: "a " },
        { type: "delay", ms: 50 },
        (body.messages as Array<{ content: string }>).at(-1)!.content === "drop" ? { type: "drop" } : { type: "end" },
      ],
    });
    const dropped = await failure(backend.chat(ask("drop", "m"), { signal: signal() }));
    expect(dropped.error).toMatchObject({ code: "CONNECTION_LOST" });
    expect(isHostFailure(dropped.error)).toBe(true);
    expect(text(dropped.chunks)).toBe("a ");
    const cut = await failure(backend.chat(ask("end", "m"), { signal: signal() }));
    expect(cut.error).toMatchObject({ code: "STREAM_INCOMPLETE" });
  });
});

describe("deadlines", () => {
  for (const flavor of ["vllm", "llama.cpp"] as const) {
    it(`first token (${flavor}: headers ${flavor === "vllm" ? "before" : "with"} the first token): a warm model gets firstTokenTimeoutMs, a cold one loadTimeoutMs`, async () => {
      const { server, backend } = await setup(
        { flavor, models: { m: { firstTokenDelayMs: 400 } } },
        { firstTokenTimeoutMs: 100, loadTimeoutMs: 10_000 },
      );
      // Cold: it may be loading, so the load deadline applies and the slow first token is fine.
      expect(text(await drain(backend.chat(ask("x", "m"), { signal: signal() })))).toBe("Hello from m.");
      // Warm: the same delay now misses the first-token deadline; the request is closed.
      const error = (await failure(backend.chat(ask("y", "m"), { signal: signal() }))).error as OpenAiCompatibleError;
      expect(error).toMatchObject({ code: "FIRST_TOKEN_TIMEOUT", timeoutMs: 100, model: "m" });
      expect(isHostFailure(error)).toBe(true);
      const request = server.chats()[1]!;
      await request.closed;
      expect(request.closedByClient).toBe(true);
    });
  }

  it("a cold model that sends nothing within loadTimeoutMs fails with LOAD_TIMEOUT (a host failure); so does its pre-warm", async () => {
    const { server, backend } = await setup(
      { models: { m: { firstTokenDelayMs: 2_000 } } },
      { firstTokenTimeoutMs: 10_000, loadTimeoutMs: 100 },
    );
    const error = (await failure(backend.chat(ask("x", "m"), { signal: signal() }))).error as OpenAiCompatibleError;
    expect(error).toMatchObject({ code: "LOAD_TIMEOUT", timeoutMs: 100 });
    expect(error.message).toMatch(/loadTimeoutMs/);
    expect(isHostFailure(error)).toBe(true);
    await server.chats()[0]!.closed;
    expect(server.chats()[0]!.closedByClient).toBe(true);
    expect((await backend.prewarm(["m"]))[0]).toMatchObject({ ok: false, error: expect.stringMatching(/loadTimeoutMs/) });
  });

  it("a stall between events is IDLE_TIMEOUT after the text so far; the request is closed", async () => {
    const { server, backend } = await setup(
      {
        models: { m: {} },
        script: () => [
          { type: "content", text: "Hello " },
          { type: "delay", ms: 2_000 },
          { type: "content", text: "late" },
          { type: "finish" },
          { type: "done" },
        ],
      },
      { idleTimeoutMs: 100 },
    );
    const { error, chunks } = await failure(backend.chat(ask("x", "m"), { signal: signal() }));
    expect(text(chunks)).toBe("Hello ");
    expect(error).toMatchObject({ code: "IDLE_TIMEOUT", timeoutMs: 100 });
    await server.chats()[0]!.closed;
    expect(server.chats()[0]!.closedByClient).toBe(true);
  });

  it("a slow consumer does not count against the idle deadline", async () => {
    const { backend } = await setup({ models: { m: { reply: "a b c" } } }, { idleTimeoutMs: 100 });
    const chunks = [];
    for await (const chunk of backend.chat(ask("x", "m"), { signal: signal() })) {
      chunks.push(chunk);
      await sleep(150);
    }
    expect(text(chunks)).toBe("a b c");
  });
});

describe("cancellation", () => {
  it("aborting one request closes exactly that request; another one in flight completes", async () => {
    const { server, backend } = await setup({ models: { m: { reply: "one two three four five six", chunkDelayMs: 30 } } });
    const controller = new AbortController();
    const other = drain(backend.chat(ask("other", "m"), { signal: signal() }));
    const reason = new Error("user left");
    const got: string[] = [];
    const aborted = (async () => {
      try {
        for await (const chunk of backend.chat(ask("mine", "m"), { signal: controller.signal })) {
          if (chunk.type === "text") got.push(chunk.text);
          if (got.length === 2) controller.abort(reason);
        }
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(await aborted).toBe(reason);
    expect(got).toEqual(["one ", "two "]);
    const mine = server.chats().find((r) => (r.body!.messages as Array<{ content: string }>).at(-1)!.content === "mine")!;
    await mine.closed;
    expect(mine.closedByClient).toBe(true);
    expect(text(await other)).toBe("one two three four five six");
    const theirs = server.chats().find((r) => (r.body!.messages as Array<{ content: string }>).at(-1)!.content === "other")!;
    expect(theirs).toMatchObject({ finished: true, closedByClient: false });
  });

  it("aborting while waiting for the first token closes the request (llama.cpp: before any header)", async () => {
    const { server, backend } = await setup({ flavor: "llama.cpp", models: { m: { firstTokenDelayMs: 5_000 } } });
    const controller = new AbortController();
    const pending = failure(backend.chat(ask("x", "m"), { signal: controller.signal }));
    while (server.chats().length === 0) await sleep(5);
    controller.abort(new Error("stop"));
    expect((await pending).error).toMatchObject({ message: "stop" });
    await server.chats()[0]!.closed;
    expect(server.chats()[0]!.closedByClient).toBe(true);
  });

  it("nothing is left behind: a signal shared by 50 requests (done, failed, left early) keeps no listener", async () => {
    const { backend } = await setup({
      models: { m: { reply: "a b c" } },
      script: (body) =>
        (body.messages as Array<{ content: string }>).at(-1)!.content === "fail"
          ? [{ type: "http", status: 500, body: { error: "no" } }]
          : undefined,
    });
    const shared = new AbortController().signal;
    for (let i = 0; i < 50; i++) {
      if (i % 3 === 0) await drain(backend.chat(ask("ok", "m"), { signal: shared }));
      else if (i % 3 === 1) await failure(backend.chat(ask("fail", "m"), { signal: shared }));
      else for await (const chunk of backend.chat(ask("early", "m"), { signal: shared })) if (chunk.type === "text") break;
    }
    expect(getEventListeners(shared, "abort")).toHaveLength(0);
  });

  it("close() aborts the requests in flight with BACKEND_CLOSED and refuses new ones", async () => {
    const { server, backend } = await setup({ models: { m: { firstTokenDelayMs: 5_000 } } });
    const pending = failure(backend.chat(ask("x", "m"), { signal: signal() }));
    while (server.chats().length === 0) await sleep(5);
    await backend.close();
    expect((await pending).error).toMatchObject({ code: "BACKEND_CLOSED" });
    await server.chats()[0]!.closed;
    expect(server.chats()[0]!.closedByClient).toBe(true);
    expect((await failure(backend.chat(ask("y", "m"), { signal: signal() }))).error).toMatchObject({ code: "BACKEND_CLOSED" });
    expect((await backend.prewarm(["m"]))[0]).toMatchObject({ ok: false, error: expect.stringMatching(/closed/) });
  });
});

describe("prewarm, embed, loaded", () => {
  it("prewarm sends a one-token, non-streamed request with thinking off, reports loadMs, and makes the model warm", async () => {
    const { server, backend } = await setup({ models: { m: { firstTokenDelayMs: 300 } } }, { firstTokenTimeoutMs: 100 });
    const [result] = await backend.prewarm(["m", "m"]);
    expect(result).toMatchObject({ model: "m", ok: true });
    expect(result!.loadMs).toBeGreaterThan(0);
    expect(server.chats()).toHaveLength(1); // once per model
    expect(bodyOf(server)).toEqual({
      model: "m",
      messages: [{ role: "user", content: "Hi" }],
      stream: false,
      max_tokens: 1,
      chat_template_kwargs: { enable_thinking: false },
    });
    // warm now: the first-token deadline applies to the next chat
    expect((await failure(backend.chat(ask("x", "m"), { signal: signal() }))).error).toMatchObject({ code: "FIRST_TOKEN_TIMEOUT" });
  });

  it("prewarm never throws: a missing model or a dead server is ok: false with the reason", async () => {
    const { backend } = await setup({ models: { m: {} } });
    const results = await backend.prewarm(["m", "missing"]);
    expect(results.map((r) => r.ok)).toEqual([true, false]);
    expect(results[1]!.error).toMatch(/missing/);
    const dead = openAiCompatibleBackend({ baseURL: `http://127.0.0.1:${await freePort()}/v1` });
    expect((await dead.prewarm(["m"]))[0]).toMatchObject({ ok: false, error: expect.stringMatching(/not reachable/) });
  });

  it("embed() posts {model, input} to /embeddings and returns the vectors in input order; prewarm warms the embedding model", async () => {
    const { server, backend } = await setup(
      { models: { m: {}, e: { embedding: true } }, embed: (t) => [t.length, 1] },
      { embedModel: "e" },
    );
    expect(await backend.embed!(["a", "bbb"], { signal: signal() })).toEqual([
      [1, 1],
      [3, 1],
    ]);
    expect(server.requests.find((r) => r.path === "/v1/embeddings")!.body).toEqual({
      model: "e",
      input: ["a", "bbb"],
      encoding_format: "float",
    });
    const warm = await backend.prewarm(["m"]);
    expect(warm.map((r) => [r.model, r.ok])).toEqual([
      ["m", true],
      ["e", true],
    ]);
  });

  it("embed(): rows are put back in index order; a missing model is MODEL_NOT_FOUND; llama.cpp without --embeddings is BACKEND_ERROR 501", async () => {
    const { server } = await setup({ models: { e: { embedding: true } }, embed: (t) => [t.length] });
    const reversing: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!String(input).endsWith("/embeddings") || !response.ok) return response;
      const body = (await response.json()) as { data: unknown[] };
      return Response.json({ ...body, data: [...body.data].reverse() });
    };
    const backend = openAiCompatibleBackend({ baseURL: server.baseURL, embedModel: "e", fetch: reversing });
    expect(await backend.embed!(["a", "bb", "ccc"], { signal: signal() })).toEqual([[1], [2], [3]]);
    const missing = openAiCompatibleBackend({ baseURL: server.baseURL, embedModel: "nope" });
    await expect(missing.embed!(["a"], { signal: signal() })).rejects.toMatchObject({ code: "MODEL_NOT_FOUND" });
    const { server: llama } = await setup({ flavor: "llama.cpp", embeddings: false, models: { m: {} } });
    const noEmbeddings = openAiCompatibleBackend({ baseURL: llama.baseURL, embedModel: "m" });
    await expect(noEmbeddings.embed!(["a"], { signal: signal() })).rejects.toMatchObject({
      code: "BACKEND_ERROR",
      status: 501,
      message: expect.stringMatching(/--embeddings/),
    });
    expect(openAiCompatibleBackend({ baseURL: llama.baseURL }).embed).toBeUndefined();
  });

  it("loaded() lists GET /models; for the llama.cpp router only the loaded models", async () => {
    const { backend } = await setup({ models: { a: {}, b: {} } });
    expect(await backend.loaded()).toEqual(["a", "b"]);
    const { backend: router } = await setup({ flavor: "llama.cpp-router", models: { a: {}, b: { status: "unloaded" } } });
    expect(await router.loaded()).toEqual(["a"]);
  });
});
