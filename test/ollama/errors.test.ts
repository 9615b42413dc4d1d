import { describe, expect, it } from "vitest";
import { ModelError, ZoeError } from "../../src/index.js";
import {
  BackendBusyError,
  BackendResponseError,
  BackendUnreachableError,
  ConnectionLostError,
  FirstTokenTimeoutError,
  IdleTimeoutError,
  ModelNotFoundError,
  OllamaError,
  StreamError,
  StreamIncompleteError,
  UnexpectedResponseError,
  ollamaBackend,
} from "../../src/ollama/index.js";
import { OLLAMA_BUSY_MESSAGE, textSteps, type FakeStep } from "../helpers/fake-ollama.js";
import { ask, doneOf, drain, failure, freePort, onCleanup, setup, signal, text } from "./helpers.js";

const scripted = (steps: FakeStep[]) => ({ models: { "llama3.2": {} }, script: () => steps });

describe("ollamaBackend errors", () => {
  it("MODEL_NOT_FOUND for a model the server has not pulled, with the pull command", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": {} } });
    const { error, chunks } = await failure(backend.chat(ask("hi", "mistral"), { signal: signal() }));
    expect(chunks).toEqual([]);
    expect(error).toBeInstanceOf(ModelNotFoundError);
    expect(error).toBeInstanceOf(OllamaError);
    expect(error).toBeInstanceOf(ModelError);
    expect(error).toBeInstanceOf(ZoeError);
    const e = error as ModelNotFoundError;
    expect(e.code).toBe("MODEL_NOT_FOUND");
    expect(e.status).toBe(404);
    expect(e.model).toBe("mistral");
    expect(e.message).toContain(`Model "mistral" is not pulled on ${server.url}`);
    expect(e.message).toContain("`ollama pull mistral`");
  });

  it("BACKEND_UNREACHABLE when nothing listens", async () => {
    const port = await freePort();
    const backend = ollamaBackend({ host: `http://127.0.0.1:${port}` });
    onCleanup(() => backend.close());
    const { error } = await failure(backend.chat(ask("hi"), { signal: signal() }));
    expect(error).toBeInstanceOf(BackendUnreachableError);
    expect((error as OllamaError).code).toBe("BACKEND_UNREACHABLE");
    expect((error as Error).message).toContain(`Ollama is not reachable at http://127.0.0.1:${port} (ECONNREFUSED)`);
    expect((error as Error).message).toContain("ollama serve");
  });

  it("BACKEND_UNREACHABLE on a DNS failure (fetch fails as undici does)", async () => {
    const dnsFailure: typeof fetch = async () => {
      throw new TypeError("fetch failed", {
        cause: Object.assign(new Error("getaddrinfo ENOTFOUND ollama.internal"), { code: "ENOTFOUND" }),
      });
    };
    const backend = ollamaBackend({ host: "http://ollama.internal:11434", fetch: dnsFailure });
    onCleanup(() => backend.close());
    const { error } = await failure(backend.chat(ask("hi"), { signal: signal() }));
    expect((error as OllamaError).code).toBe("BACKEND_UNREACHABLE");
    expect((error as Error).message).toContain("ENOTFOUND");
  });

  it("BACKEND_UNREACHABLE after the server is killed", async () => {
    const { server, backend } = await setup();
    await drain(backend.chat(ask("hi"), { signal: signal() }));
    await server.kill();
    const { error } = await failure(backend.chat(ask("hi again"), { signal: signal() }));
    expect((error as OllamaError).code).toBe("BACKEND_UNREACHABLE");
  });

  it("BACKEND_BUSY on 503", async () => {
    const { backend } = await setup(scripted([{ type: "http", status: 503, body: { error: OLLAMA_BUSY_MESSAGE } }]));
    const { error } = await failure(backend.chat(ask("hi"), { signal: signal() }));
    expect(error).toBeInstanceOf(BackendBusyError);
    expect((error as OllamaError).code).toBe("BACKEND_BUSY");
    expect((error as OllamaError).status).toBe(503);
    expect((error as Error).message).toContain(OLLAMA_BUSY_MESSAGE);
  });

  it("BACKEND_ERROR on 500 and 400 with the server's own text", async () => {
    const { backend } = await setup({
      models: { "llama3.2": {} },
      script: (body) =>
        body.tools
          ? [{ type: "http", status: 400, body: { error: "registry.ollama.ai/library/llama3.2:latest does not support tools" } }]
          : [{ type: "http", status: 500, body: { error: "llama runner process has terminated: exit status 2" } }],
    });
    const e500 = (await failure(backend.chat(ask("hi"), { signal: signal() }))).error as OllamaError;
    expect(e500).toBeInstanceOf(BackendResponseError);
    expect(e500.code).toBe("BACKEND_ERROR");
    expect(e500.status).toBe(500);
    expect(e500.message).toContain("llama runner process has terminated: exit status 2");
    const tools = [{ type: "function" as const, function: { name: "f" } }];
    const e400 = (await failure(backend.chat(ask("hi", "llama3.2", { tools }), { signal: signal() }))).error as OllamaError;
    expect(e400.code).toBe("BACKEND_ERROR");
    expect(e400.status).toBe(400);
    expect(e400.message).toContain("does not support tools");
  });

  it("BACKEND_ERROR when the server is not Ollama (404 page not found)", async () => {
    const { server } = await setup();
    const backend = ollamaBackend({ host: `${server.url}/not-ollama` });
    onCleanup(() => backend.close());
    const { error } = await failure(backend.chat(ask("hi"), { signal: signal() }));
    expect((error as OllamaError).code).toBe("BACKEND_ERROR");
    expect((error as Error).message).toContain("404 page not found");
  });

  it("STREAM_ERROR for an error line mid-stream, after the chunks before it", async () => {
    const { backend } = await setup(
      scripted([...textSteps("Once upon"), { type: "error-line", error: "an error was encountered while running the model: CUDA error" }]),
    );
    const { error, chunks } = await failure(backend.chat(ask("story"), { signal: signal() }));
    expect(text(chunks)).toBe("Once upon");
    expect(error).toBeInstanceOf(StreamError);
    expect((error as OllamaError).code).toBe("STREAM_ERROR");
    expect((error as Error).message).toContain("CUDA error");
  });

  it("CONNECTION_LOST when the socket drops mid-stream", async () => {
    const { backend } = await setup(scripted([...textSteps("Once upon a"), { type: "delay", ms: 20 }, { type: "drop" }]));
    const { error, chunks } = await failure(backend.chat(ask("story"), { signal: signal() }));
    expect(text(chunks)).toBe("Once upon a");
    expect(error).toBeInstanceOf(ConnectionLostError);
    expect((error as OllamaError).code).toBe("CONNECTION_LOST");
  });

  it("STREAM_INCOMPLETE when the stream ends without done: true", async () => {
    const { backend } = await setup(scripted([...textSteps("Once upon a"), { type: "end" }]));
    const { error, chunks } = await failure(backend.chat(ask("story"), { signal: signal() }));
    expect(text(chunks)).toBe("Once upon a");
    expect(error).toBeInstanceOf(StreamIncompleteError);
    expect((error as OllamaError).code).toBe("STREAM_INCOMPLETE");
  });

  it("FIRST_TOKEN_TIMEOUT when the first byte is late, and the server sees the request closed", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": { firstByteDelayMs: 10_000 } } }, { firstTokenTimeoutMs: 500 });
    const { error } = await failure(backend.chat(ask("hi"), { signal: signal() }));
    expect(error).toBeInstanceOf(FirstTokenTimeoutError);
    expect((error as OllamaError).code).toBe("FIRST_TOKEN_TIMEOUT");
    expect((error as Error).message).toContain("500 ms");
    await server.chats()[0]!.closed;
    expect(server.chats()[0]!.closedByClient).toBe(true);
  });

  it("IDLE_TIMEOUT when the stream stalls between chunks, and the server sees the request closed", async () => {
    const { server, backend } = await setup(scripted([...textSteps("Once upon"), { type: "hang" }]), { idleTimeoutMs: 100 });
    const { error, chunks } = await failure(backend.chat(ask("story"), { signal: signal() }));
    expect(text(chunks)).toBe("Once upon");
    expect(error).toBeInstanceOf(IdleTimeoutError);
    expect((error as OllamaError).code).toBe("IDLE_TIMEOUT");
    await server.chats()[0]!.closed;
    expect(server.chats()[0]!.closedByClient).toBe(true);
  });

  it("a slow consumer does not count as idle time", async () => {
    const { backend } = await setup({ models: { "llama3.2": { reply: "one two three" } } }, { idleTimeoutMs: 50 });
    const chunks = [];
    for await (const chunk of backend.chat(ask("count"), { signal: signal() })) {
      chunks.push(chunk);
      await new Promise((r) => setTimeout(r, 120));
    }
    expect(text(chunks)).toBe("one two three");
  });
});

describe("ollamaBackend fallback model", () => {
  it("answers with the fallback when the model is not pulled, and says which model answered", async () => {
    const { server, backend } = await setup({ models: { "llama3.2:1b": { reply: "Small answer." } } }, { fallbackModel: "llama3.2:1b" });
    const chunks = await drain(backend.chat(ask("hi", "llama3.3:70b"), { signal: signal() }));
    expect(text(chunks)).toBe("Small answer.");
    expect(doneOf(chunks).model).toBe("llama3.2:1b");
    expect(server.chats().map((r) => r.body!.model)).toEqual(["llama3.3:70b", "llama3.2:1b"]);
  });

  it("a model's own fallback wins over the global one", async () => {
    const { server, backend } = await setup(
      { models: { a: {}, b: {} } },
      { fallbackModel: "a", models: { missing: { fallbackModel: "b" } } },
    );
    const chunks = await drain(backend.chat(ask("hi", "missing"), { signal: signal() }));
    expect(doneOf(chunks).model).toBe("b");
    expect(server.chats().map((r) => r.body!.model)).toEqual(["missing", "b"]);
  });

  it("answers with the fallback when the model fails before its first token", async () => {
    const { server, backend } = await setup(
      { models: { big: { firstByteDelayMs: 10_000 }, small: { reply: "Quick." } } },
      { firstTokenTimeoutMs: 500, models: { big: { fallbackModel: "small" } } },
    );
    const chunks = await drain(backend.chat(ask("hi", "big"), { signal: signal() }));
    expect(text(chunks)).toBe("Quick.");
    expect(doneOf(chunks).model).toBe("small");
    expect(server.chats().map((r) => r.body!.model)).toEqual(["big", "small"]);
    await server.chats()[0]!.closed;
    expect(server.chats()[0]!.closedByClient).toBe(true);
  });

  it("does not fall back once the model has answered something", async () => {
    const { server, backend } = await setup(
      {
        models: { big: {}, small: {} },
        script: (body) => (body.model === "big" ? [...textSteps("Half"), { type: "error-line", error: "boom" }] : undefined),
      },
      { fallbackModel: "small" },
    );
    const { error, chunks } = await failure(backend.chat(ask("hi", "big"), { signal: signal() }));
    expect(text(chunks)).toBe("Half");
    expect((error as OllamaError).code).toBe("STREAM_ERROR");
    expect(server.chats()).toHaveLength(1);
  });

  it("does not fall back when the server is busy", async () => {
    const { server, backend } = await setup(
      {
        models: { big: {}, small: {} },
        script: (body) => (body.model === "big" ? [{ type: "http", status: 503, body: { error: OLLAMA_BUSY_MESSAGE } }] : undefined),
      },
      { fallbackModel: "small" },
    );
    const { error } = await failure(backend.chat(ask("hi", "big"), { signal: signal() }));
    expect((error as OllamaError).code).toBe("BACKEND_BUSY");
    expect(server.chats()).toHaveLength(1);
  });

  it("reports the fallback's own failure when it fails too", async () => {
    const { backend } = await setup({ models: {} }, { fallbackModel: "tiny" });
    const { error } = await failure(backend.chat(ask("hi", "big"), { signal: signal() }));
    expect((error as OllamaError).code).toBe("MODEL_NOT_FOUND");
    expect((error as OllamaError).model).toBe("tiny");
  });
});

describe("ollamaBackend reads what Ollama really streams (server/routes.go ChatHandler, streamResponse)", () => {
  it("an error before any output comes as an HTTP status: BACKEND_ERROR with the status, and the fallback is tried", async () => {
    const early = "the prompt is longer than the context length currently available to the model; shorten the prompt";
    const { server, backend } = await setup(
      {
        models: { big: {}, small: { reply: "Short." } },
        script: (body) => (body.model === "big" ? [{ type: "error-line", status: 400, error: early }] : undefined),
      },
      { models: { big: { fallbackModel: "small" } } },
    );
    const chunks = await drain(backend.chat(ask("hi", "big"), { signal: signal() }));
    expect(text(chunks)).toBe("Short.");
    expect(server.chats()[0]!.status).toBe(400);
    const alone = await setup({
      models: { big: {} },
      script: () => [{ type: "error-line", error: "model runner has unexpectedly stopped" }],
    });
    const { error } = await failure(alone.backend.chat(ask("hi", "big"), { signal: signal() }));
    expect(error).toMatchObject({ code: "BACKEND_ERROR", status: 500 });
    expect((error as Error).message).toContain("model runner has unexpectedly stopped");
  });

  it("text on the done chunk is streamed before done", async () => {
    const { backend } = await setup({ models: { "llama3.2": { reply: "Main", textOnDone: " tail" } } });
    const chunks = await drain(backend.chat(ask("hi"), { signal: signal() }));
    expect(text(chunks)).toBe("Main tail");
    expect(chunks.at(-1)?.type).toBe("done");
  });

  it("a silent gap while a tool call is generated: within idleTimeoutMs it is fine, longer is IDLE_TIMEOUT (tools/tools.go Parser.Add)", async () => {
    const calls = [{ function: { name: "lookup", arguments: { q: "x" } } }];
    const quiet = await setup(
      { models: { "llama3.2": { reply: "Checking.", toolCalls: calls, toolCallsOnFinal: false, toolCallGapMs: 100 } } },
      { idleTimeoutMs: 2_000 },
    );
    const chunks = await drain(quiet.backend.chat(ask("hi"), { signal: signal() }));
    expect(chunks.filter((c) => c.type === "tool_call")).toHaveLength(1);
    const long = await setup(
      { models: { "llama3.2": { reply: "Checking.", toolCalls: calls, toolCallsOnFinal: false, toolCallGapMs: 3_000 } } },
      { idleTimeoutMs: 100 },
    );
    const { error } = await failure(long.backend.chat(ask("hi"), { signal: signal() }));
    expect((error as OllamaError).code).toBe("IDLE_TIMEOUT");
  });

  it("/api/generate-style lines (response instead of message.content) are read as the answer", async () => {
    const line = (fields: Record<string, unknown>) => ({
      type: "line" as const,
      line: { model: "llama3.2", created_at: new Date().toISOString(), ...fields },
    });
    const { backend } = await setup({
      models: { "llama3.2": {} },
      script: () => [
        line({ response: "", thinking: "Hmm.", done: false }),
        line({ response: "Hello ", done: false }),
        line({ response: "there.", done: false }),
        line({ response: "", done: true, done_reason: "stop", eval_count: 2, context: [1, 2, 3] }),
      ],
    });
    const chunks = await drain(backend.chat(ask("hi"), { signal: signal() }));
    expect(text(chunks)).toBe("Hello there.");
    expect(chunks.filter((c) => c.type === "thinking")).toEqual([{ type: "thinking", text: "Hmm." }]);
    expect(doneOf(chunks)).toMatchObject({ outputTokens: 2, doneReason: "stop" });
  });

  it("lines that are neither /api/chat nor /api/generate chunks are UNEXPECTED_RESPONSE, never an empty answer", async () => {
    const { backend } = await setup({
      models: { "llama3.2": {} },
      script: () => [
        { type: "line", line: { choices: [{ delta: { content: "Hi" } }], done: false } },
        { type: "line", line: { done: true } },
      ],
    });
    const { error, chunks } = await failure(backend.chat(ask("hi"), { signal: signal() }));
    expect(chunks).toEqual([]);
    expect(error).toBeInstanceOf(UnexpectedResponseError);
    expect((error as OllamaError).code).toBe("UNEXPECTED_RESPONSE");
  });
});
