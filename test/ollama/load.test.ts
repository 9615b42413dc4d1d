/**
 * Loads get their own deadline. Ollama discards a load when the request that started it goes away
 * (`server/sched.go` `load` → `llm/llama_server.go` `WaitUntilRunning(req.ctx)`), so a deadline
 * shorter than the load means the model never loads; Ollama's own limit is `OLLAMA_LOAD_TIMEOUT`,
 * 5 minutes (`envconfig/config.go` `LoadTimeout`).
 */
import { describe, expect, it } from "vitest";
import { LoadTimeoutError, OLLAMA_DEFAULTS, type OllamaError } from "../../src/ollama/index.js";
import { ask, doneOf, drain, failure, setup, signal, text } from "./helpers.js";

describe("ollamaBackend load deadline (server/sched.go load; llm/llama_server.go WaitUntilRunning; envconfig LoadTimeout)", () => {
  it("defaults to OLLAMA_LOAD_TIMEOUT's 5 minutes", () => {
    expect(OLLAMA_DEFAULTS.loadTimeoutMs).toBe(300_000);
  });

  it("a cold model gets loadTimeoutMs, not firstTokenTimeoutMs: the load is not cut off, its time is reported as loadMs", async () => {
    const { server, backend } = await setup({ models: { big: { loadDelayMs: 400, reply: "Loaded." } } }, { firstTokenTimeoutMs: 100 });
    const chunks = await drain(backend.chat(ask("hi", "big"), { signal: signal() }));
    expect(text(chunks)).toBe("Loaded.");
    expect(server.discardedLoads).toEqual({});
    expect(server.loadCounts).toEqual({ big: 1 });
    expect(doneOf(chunks).loadMs).toBeGreaterThan(0);
  });

  it("prewarm() of a model slower to load than firstTokenTimeoutMs succeeds, and the model stays loaded", async () => {
    const { server, backend } = await setup({ models: { big: { loadDelayMs: 400 } } }, { firstTokenTimeoutMs: 100 });
    const [result] = await backend.prewarm(["big"]);
    expect(result).toMatchObject({ model: "big", ok: true });
    expect(server.loadedModels()).toEqual(["big:latest"]);
    expect(server.discardedLoads).toEqual({});
  });

  it("a load longer than loadTimeoutMs fails with LOAD_TIMEOUT; Ollama discards it", async () => {
    const { server, backend } = await setup({ models: { big: { loadDelayMs: 10_000 } } }, { loadTimeoutMs: 150 });
    const { error } = await failure(backend.chat(ask("hi", "big"), { signal: signal() }));
    expect(error).toBeInstanceOf(LoadTimeoutError);
    expect((error as OllamaError).code).toBe("LOAD_TIMEOUT");
    expect((error as Error).message).toContain("did not load within 150 ms (loadTimeoutMs)");
    await server.chats()[0]!.closed;
    expect(server.discardedLoads).toEqual({ big: 1 });
    expect(server.loadedModels()).toEqual([]);
  });

  it("LOAD_TIMEOUT falls back to the fallback model", async () => {
    const { server, backend } = await setup(
      { models: { big: { loadDelayMs: 10_000 }, small: { reply: "Small." } } },
      { loadTimeoutMs: 150, models: { big: { fallbackModel: "small" } } },
    );
    const chunks = await drain(backend.chat(ask("hi", "big"), { signal: signal() }));
    expect(text(chunks)).toBe("Small.");
    expect(doneOf(chunks).model).toBe("small");
    expect(server.chats().map((r) => r.body!.model)).toEqual(["big", "small"]);
  });

  it("a loaded model keeps firstTokenTimeoutMs: FIRST_TOKEN_TIMEOUT when it is listed by /api/ps but slow", async () => {
    const { server, backend } = await setup({ models: { a: { firstByteDelayMs: 10_000 } } }, { firstTokenTimeoutMs: 150 });
    expect((await backend.prewarm(["a"]))[0]!.ok).toBe(true);
    const { error } = await failure(backend.chat(ask("hi", "a"), { signal: signal() }));
    expect((error as OllamaError).code).toBe("FIRST_TOKEN_TIMEOUT");
    expect(server.requests.some((r) => r.path === "/api/ps")).toBe(true);
  });

  it("a model unloaded behind the backend's back: when the first-token deadline passes, /api/ps shows it loading, and it gets its load time", async () => {
    const { server, backend } = await setup({ models: { a: { reply: "Again." } } }, { firstTokenTimeoutMs: 100 });
    await drain(backend.chat(ask("hi", "a"), { signal: signal() }));
    // `ollama stop a`, and the next load is slow
    await fetch(`${server.url}/api/chat`, { method: "POST", body: JSON.stringify({ model: "a", messages: [], keep_alive: 0 }) });
    server.setModel("a", { reply: "Again.", loadDelayMs: 400 });
    const chunks = await drain(backend.chat(ask("hi again", "a"), { signal: signal() }));
    expect(text(chunks)).toBe("Again.");
    expect(server.discardedLoads).toEqual({});
    expect(server.loadCounts).toEqual({ a: 2 });
  });
});
