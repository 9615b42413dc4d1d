import { describe, expect, it } from "vitest";
import { LOAD_TIME_OPTION_KEYS, estimateTokens, pickContextSize } from "../../src/ollama/index.js";
import { textSteps } from "../helpers/fake-ollama.js";
import { ask, doneOf, drain, setup, signal, text } from "./helpers.js";

describe("ollamaBackend chat: chunk mapping", () => {
  it("streams text chunks in order and ends with one done chunk", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": { reply: "Blue light scatters more." } } });
    const chunks = await drain(backend.chat(ask("Why is the sky blue?"), { signal: signal() }));
    expect(chunks.filter((c) => c.type === "text").map((c) => (c.type === "text" ? c.text : ""))).toEqual([
      "Blue ",
      "light ",
      "scatters ",
      "more.",
    ]);
    expect(chunks.filter((c) => c.type === "done")).toHaveLength(1);
    expect(doneOf(chunks).model).toBe("llama3.2");
    expect(doneOf(chunks).doneReason).toBe("stop");
    // the server streamed NDJSON to the end and the client did not cut it
    expect(server.chats()).toHaveLength(1);
    await server.chats()[0]!.closed;
    expect(server.chats()[0]!.closedByClient).toBe(false);
    expect(server.chats()[0]!.finished).toBe(true);
  });

  it("maps message.thinking to thinking chunks before the text", async () => {
    const { backend } = await setup({ models: { qwen3: { thinking: "The user greets me.", reply: "Hi!" } } });
    const chunks = await drain(backend.chat(ask("hello", "qwen3", { think: true }), { signal: signal() }));
    const kinds = chunks.map((c) => c.type);
    expect(kinds.indexOf("text")).toBeGreaterThan(kinds.lastIndexOf("thinking"));
    expect(
      chunks
        .filter((c) => c.type === "thinking")
        .map((c) => (c.type === "thinking" ? c.text : ""))
        .join(""),
    ).toBe("The user greets me.");
    expect(text(chunks)).toBe("Hi!");
  });

  it("maps tool calls sent only on the final done chunk", async () => {
    const calls = [
      { function: { name: "get_weather", arguments: { city: "Paris" } } },
      { id: "call_2", function: { name: "get_time", arguments: { tz: "CET" } } },
    ];
    const { backend } = await setup({ models: { "llama3.2": { reply: "", toolCalls: calls, toolCallsOnFinal: true } } });
    const chunks = await drain(backend.chat(ask("weather?"), { signal: signal() }));
    const toolChunks = chunks.filter((c) => c.type === "tool_call");
    // Ollama ≥ 0.12.10 gives every call an id (`routes.go` `toolCallId`): "call_" and 8 characters
    expect(toolChunks).toEqual([
      { type: "tool_call", call: { id: expect.stringMatching(/^call_[a-z0-9]{8}$/), name: "get_weather", arguments: { city: "Paris" } } },
      { type: "tool_call", call: { id: "call_2", name: "get_time", arguments: { tz: "CET" } } },
    ]);
    // the tool calls come before the done chunk
    expect(chunks.at(-1)?.type).toBe("done");
  });

  it("maps tool calls sent on a chunk of their own", async () => {
    const calls = [{ function: { name: "lookup", arguments: { q: "x" } } }];
    const { backend } = await setup({ models: { "llama3.2": { reply: "Let me check.", toolCalls: calls, toolCallsOnFinal: false } } });
    const chunks = await drain(backend.chat(ask("look it up"), { signal: signal() }));
    expect(chunks.filter((c) => c.type === "tool_call")).toEqual([
      { type: "tool_call", call: { id: expect.stringMatching(/^call_[a-z0-9]{8}$/), name: "lookup", arguments: { q: "x" } } },
    ]);
    expect(text(chunks)).toBe("Let me check.");
  });

  it("turns the final chunk's nanosecond metrics into ms and counts", async () => {
    const { backend } = await setup({
      models: { "llama3.2": {} },
      script: () => [
        ...textSteps("Hi there"),
        {
          type: "done",
          fields: {
            done_reason: "length",
            load_duration: 1_500_000_000,
            prompt_eval_count: 26,
            prompt_eval_duration: 130_500_000,
            eval_count: 290,
            eval_duration: 4_709_213_000,
            total_duration: 6_000_000_000,
          },
        },
      ],
    });
    const chunks = await drain(backend.chat(ask("hi"), { signal: signal() }));
    const done = doneOf(chunks);
    expect(done).toMatchObject({
      type: "done",
      loadMs: 1500,
      promptEvalMs: 130.5,
      evalMs: 4709.213,
      inputTokens: 26,
      outputTokens: 290,
      doneReason: "length",
      model: "llama3.2",
    });
    expect(done.queueMs).toBeGreaterThanOrEqual(0);
    // prompt_eval_count counts the cached prefix too (llm/llama_server.go promptEvalCount): it is
    // the prompt's size, not what was evaluated.
    expect(done).not.toHaveProperty("promptEvalTokens");
  });
});

describe("ollamaBackend chat: what is sent", () => {
  it("sends the messages, stream: true, keep_alive 30m by default, route options, tools and think", async () => {
    const { server, backend } = await setup();
    const tools = [{ type: "function" as const, function: { name: "get_weather", parameters: { type: "object" } } }];
    await drain(
      backend.chat(ask("hi", "llama3.2", { options: { num_predict: 64, temperature: 0.2 }, tools, think: true }), { signal: signal() }),
    );
    const body = server.chats()[0]!.body!;
    expect(body.messages).toEqual([
      { role: "system", content: "You are terse." },
      { role: "user", content: "hi" },
    ]);
    expect(body.stream).toBe(true);
    expect(body.keep_alive).toBe("30m");
    expect(body.options).toEqual({ num_predict: 64, temperature: 0.2 });
    expect(body.tools).toEqual(tools);
    expect(body.think).toBe(true);
  });

  it("uses the global keep_alive, and a model's own over it", async () => {
    const { server, backend } = await setup({ models: { a: {}, b: {} } }, { keepAlive: "1h", models: { b: { keepAlive: -1 } } });
    await drain(backend.chat(ask("x", "a"), { signal: signal() }));
    await drain(backend.chat(ask("x", "b"), { signal: signal() }));
    expect(server.chats().map((r) => r.body!.keep_alive)).toEqual(["1h", -1]);
  });

  it("merges load-time options into every request and a route cannot override them", async () => {
    const { server, backend } = await setup(
      { models: { a: {}, b: {} } },
      { load: { num_ctx: 8192, num_batch: 256, use_mmap: true }, models: { b: { load: { num_ctx: 4096, num_gpu: 20 } } } },
    );
    // the route tries to change num_ctx and num_thread: both are dropped
    await drain(backend.chat(ask("x", "a", { options: { num_predict: 10, num_ctx: 2048, num_thread: 2 } }), { signal: signal() }));
    await drain(backend.chat(ask("y", "a", { options: { num_predict: 20 } }), { signal: signal() }));
    await drain(backend.chat(ask("z", "b", { options: { num_ctx: 32_768 } }), { signal: signal() }));
    const [first, second, third] = server.chats().map((r) => r.body!.options);
    expect(first).toEqual({ num_predict: 10, num_ctx: 8192, num_batch: 256, use_mmap: true });
    expect(second).toEqual({ num_predict: 20, num_ctx: 8192, num_batch: 256, use_mmap: true });
    expect(third).toEqual({ num_ctx: 4096, num_batch: 256, use_mmap: true, num_gpu: 20 });
    // stable load-time options: each model was loaded once and never reloaded
    expect(server.loadCounts).toEqual({ a: 1, b: 1 });
    expect(server.reloads).toEqual({});
    expect(LOAD_TIME_OPTION_KEYS).toEqual(expect.arrayContaining(["num_ctx", "num_batch", "num_gpu", "num_thread", "use_mmap"]));
  });

  it("without the backend's protection a route's num_ctx would reload the model (the fake models Ollama)", async () => {
    const { server } = await setup({ models: { a: {} } });
    const post = (options: Record<string, unknown>) =>
      fetch(`${server.url}/api/chat`, {
        method: "POST",
        body: JSON.stringify({ model: "a", messages: [{ role: "user", content: "x" }], options }),
      }).then((r) => r.text());
    await post({ num_ctx: 8192 });
    await post({ num_ctx: 2048 });
    expect(server.reloads).toEqual({ a: 1 });
  });

  it("contextSizes picks the smallest size that fits the prompt estimate", async () => {
    const { server, backend } = await setup({ models: { a: {} } }, { contextSizes: [8192, 2048, 4096] });
    await drain(backend.chat(ask("short", "a", { options: { num_predict: 100 } }), { signal: signal() }));
    await drain(backend.chat(ask("x".repeat(3.5 * 3000), "a", { options: { num_predict: 200 } }), { signal: signal() }));
    await drain(backend.chat(ask("x".repeat(3.5 * 20_000), "a"), { signal: signal() }));
    expect(server.chats().map((r) => r.body!.options!.num_ctx)).toEqual([2048, 4096, 8192]);
    // each change of size reloads the model: the cost the docs warn about
    expect(server.reloads).toEqual({ a: 2 });
  });

  it("estimates tokens as characters / 3.5 plus num_predict", () => {
    expect(estimateTokens({ messages: [{ role: "user", content: "x".repeat(350) }], options: { num_predict: 50 } })).toBe(150);
    expect(estimateTokens({ messages: [{ role: "user", content: "x".repeat(35) }] })).toBe(10 + 512);
    expect(pickContextSize([2048, 4096], 2048)).toBe(2048);
    expect(pickContextSize([2048, 4096], 2049)).toBe(4096);
    expect(pickContextSize([2048, 4096], 9000)).toBe(4096);
  });

  it("rejects bad options at creation", async () => {
    const { ollamaBackend } = await import("../../src/ollama/index.js");
    expect(() => ollamaBackend({ keepAlive: "forever" })).toThrow(/keepAlive/);
    expect(() => ollamaBackend({ concurrency: 0 })).toThrow(/concurrency/);
    expect(() => ollamaBackend({ contextSizes: [2048, -1] })).toThrow(/contextSizes/);
    expect(() => ollamaBackend({ keepAlive: "1h30m", models: { a: { keepAlive: 90 } } })).not.toThrow();
  });
});

describe("keep-alive values", () => {
  it("reads numbers as seconds and strings as Go durations, negative as forever", async () => {
    const { keepAliveMs } = await import("../../src/ollama/options.js");
    const { refreshMargin } = await import("../../src/ollama/refresher.js");
    expect(keepAliveMs("30m")).toBe(1_800_000);
    expect(keepAliveMs("1h30m")).toBe(5_400_000);
    expect(keepAliveMs("300ms")).toBe(300);
    expect(keepAliveMs("1.5h")).toBe(5_400_000);
    expect(keepAliveMs(90)).toBe(90_000);
    expect(keepAliveMs("0")).toBe(0);
    expect(keepAliveMs(-1)).toBe(Infinity);
    expect(keepAliveMs("-1m")).toBe(Infinity);
    expect(() => keepAliveMs("10 minutes")).toThrow(RangeError);
    // the refresher re-warms `margin` before expiry, or halfway when the keep-alive is shorter
    expect(refreshMargin(1_800_000, 60_000)).toBe(60_000);
    expect(refreshMargin(400, 60_000)).toBe(200);
  });
});

describe("keep-alive as Ollama parses it (api/types.go Duration.UnmarshalJSON, Go time.ParseDuration)", () => {
  it('a keepAlive with spaces is trimmed before it is sent (Ollama answers 400 for " 30m")', async () => {
    const { server, backend } = await setup({ models: { a: {} } }, { keepAlive: " 30m", models: { b: { keepAlive: "1h " } } });
    await drain(backend.chat(ask("hi", "a"), { signal: signal() }));
    expect(server.chats()[0]!.body!.keep_alive).toBe("30m");
    expect(server.chats()[0]!.status).toBe(200);
  });

  it("rejects at creation what Ollama would reject: no unit, unknown units, overflow, not finite", async () => {
    const { ollamaBackend, normaliseKeepAlive } = await import("../../src/ollama/index.js");
    for (const bad of ["30", "10 minutes", "1d", "", "5m30", "99999999999h", Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => ollamaBackend({ keepAlive: bad }), String(bad)).toThrow(RangeError);
    }
    expect(normaliseKeepAlive(" 1h30m\n")).toBe("1h30m");
    expect(normaliseKeepAlive("+5m")).toBe("+5m");
    expect(normaliseKeepAlive(".5h")).toBe(".5h");
    expect(normaliseKeepAlive("300μs")).toBe("300μs");
    expect(normaliseKeepAlive(-1)).toBe(-1);
  });

  it("reads every zero form as 0 and negative durations as forever", async () => {
    const { keepAliveMs } = await import("../../src/ollama/index.js");
    for (const zero of [0, "0", "0s", "0m", "-0s", " 0 "]) expect(keepAliveMs(zero)).toBe(0);
    expect(keepAliveMs("-1ns")).toBe(Infinity);
    expect(keepAliveMs(0.5)).toBe(500);
  });
});

describe("load-time options are api.Runner's (api/types.go Runner; server/sched.go needsReload)", () => {
  it("lists api.Runner's keys, draft_num_predict included; the options Ollama removed in 0.7 are never sent", async () => {
    const { REMOVED_OPTION_KEYS } = await import("../../src/ollama/index.js");
    expect([...LOAD_TIME_OPTION_KEYS].sort()).toEqual([
      "draft_num_predict",
      "main_gpu",
      "num_batch",
      "num_ctx",
      "num_gpu",
      "num_thread",
      "use_mmap",
    ]);
    expect(REMOVED_OPTION_KEYS).toEqual(expect.arrayContaining(["use_mlock", "numa", "low_vram", "f16_kv", "vocab_only", "logits_all"]));
    const { server, backend } = await setup({ models: { a: {} } }, { load: { num_ctx: 4096, use_mlock: true } });
    await drain(
      backend.chat(ask("x", "a", { options: { num_predict: 8, draft_num_predict: 16, use_mlock: true, numa: true } }), {
        signal: signal(),
      }),
    );
    await drain(backend.chat(ask("y", "a", { options: { num_predict: 8 } }), { signal: signal() }));
    expect(server.chats().map((r) => r.body!.options)).toEqual([
      { num_predict: 8, num_ctx: 4096 },
      { num_predict: 8, num_ctx: 4096 },
    ]);
    expect(server.reloads).toEqual({});
  });

  it("needsReload: a negative num_gpu never reloads; any other change of a runner option does", async () => {
    const { needsReload } = await import("../../src/ollama/index.js");
    expect(needsReload({ num_ctx: 4096, num_gpu: 20 }, { num_ctx: 4096, num_gpu: -1 })).toBe(false);
    expect(needsReload({ num_ctx: 4096, num_gpu: -1 }, { num_ctx: 4096, num_gpu: 20 })).toBe(true);
    expect(needsReload({ num_ctx: 4096 }, { num_ctx: 8192 })).toBe(true);
    expect(needsReload({}, { draft_num_predict: 8 })).toBe(true);
    expect(needsReload({ num_ctx: 4096 }, { num_ctx: 4096 })).toBe(false);
  });
});

describe("model names as /api/ps shows them (types/model/name.go DisplayShortest; routes.go getExistingName)", () => {
  it("normaliseModelName reduces every spelling of a model to one", async () => {
    const { normaliseModelName } = await import("../../src/ollama/index.js");
    const one = [
      "llama3.2",
      "llama3.2:latest",
      "Llama3.2",
      "library/llama3.2",
      "registry.ollama.ai/library/llama3.2:latest",
      "REGISTRY.OLLAMA.AI/Library/LLAMA3.2",
    ];
    expect(new Set(one.map(normaliseModelName))).toEqual(new Set(["llama3.2:latest"]));
    expect(normaliseModelName("me/custom:7B")).toBe("me/custom:7b");
    expect(normaliseModelName("registry.ollama.ai/me/custom")).toBe("me/custom:latest");
    expect(normaliseModelName("example.com:5000/team/big")).toBe("example.com:5000/team/big:latest");
  });
});
