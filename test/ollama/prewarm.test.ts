import { describe, expect, it, vi } from "vitest";
import { ollamaBackend } from "../../src/ollama/index.js";
import { ask, drain, freePort, onCleanup, setup, signal } from "./helpers.js";

describe("ollamaBackend prewarm", () => {
  it("loads each model with an empty-messages /api/chat, the same load options and keep_alive as real requests", async () => {
    const { server, backend } = await setup(
      { models: { a: { loadDelayMs: 30 }, b: {} } },
      { keepAlive: "2h", load: { num_ctx: 8192, num_gpu: 99 }, models: { b: { keepAlive: "10m", load: { num_ctx: 4096 } } } },
    );
    const results = await backend.prewarm(["a", "b"]);
    expect(results.map(({ model, ok }) => ({ model, ok }))).toEqual([
      { model: "a", ok: true },
      { model: "b", ok: true },
    ]);
    expect(results[0]!.loadMs).toBeGreaterThan(0);
    expect(results.every((r) => r.error === undefined)).toBe(true);
    const loads = server.loads();
    expect(loads.map((r) => r.body)).toEqual([
      { model: "a", messages: [], stream: false, keep_alive: "2h", options: { num_ctx: 8192, num_gpu: 99 } },
      { model: "b", messages: [], stream: false, keep_alive: "10m", options: { num_ctx: 4096, num_gpu: 99 } },
    ]);
    expect(server.loadedModels().sort()).toEqual(["a:latest", "b:latest"]);
    // a real request after the pre-warm finds the model loaded with the same options: no reload
    await drain(backend.chat(ask("hi", "a", { options: { num_predict: 32 } }), { signal: signal() }));
    expect(server.loadCounts).toEqual({ a: 1, b: 1 });
    expect(server.reloads).toEqual({});
  });

  it("pre-warms with the smallest context size when contextSizes is set", async () => {
    const { server, backend } = await setup({ models: { a: {} } }, { contextSizes: [4096, 2048] });
    await backend.prewarm(["a"]);
    expect(server.loads()[0]!.body!.options).toEqual({ num_ctx: 2048 });
  });

  it("loads one model at a time by default", async () => {
    const { server, backend } = await setup({ models: { a: { loadDelayMs: 60 }, b: { loadDelayMs: 60 }, c: { loadDelayMs: 60 } } });
    let maxOpen = 0;
    const timer = setInterval(() => {
      const open = server.loads().filter((r) => r.status === undefined).length;
      maxOpen = Math.max(maxOpen, open);
    }, 5);
    const results = await backend.prewarm(["a", "b", "c"]);
    clearInterval(timer);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(maxOpen).toBe(1);
  });

  it("sends up to prewarmConcurrency loads at once (Ollama itself loads one at a time: sched.go processPending)", async () => {
    const { server, backend } = await setup(
      { models: { a: { loadDelayMs: 300 }, b: { loadDelayMs: 300 }, c: { loadDelayMs: 300 } } },
      { prewarmConcurrency: 3 },
    );
    const done = backend.prewarm(["a", "b", "c"]);
    await vi.waitFor(() => expect(server.loads().filter((r) => r.status === undefined).length).toBe(3));
    expect((await done).every((r) => r.ok)).toBe(true);
    expect(server.log.filter((e) => e.type.startsWith("load")).map((e) => e.type)).toEqual([
      "load-start",
      "load-done",
      "load-start",
      "load-done",
      "load-start",
      "load-done",
    ]);
  });

  it("loads a model listed twice once, however it is spelled (types/model/name.go DisplayShortest)", async () => {
    const { server, backend } = await setup({ models: { a: {} } });
    const results = await backend.prewarm(["a", "a", "A:latest"]);
    expect(results.map((r) => [r.model, r.ok])).toEqual([
      ["a", true],
      ["a", true],
      ["A:latest", true],
    ]);
    expect(server.loads()).toHaveLength(1);
  });

  it("never throws: a missing model and an unreachable server are reported per model", async () => {
    const { backend } = await setup({ models: { a: {} } });
    const results = await backend.prewarm(["a", "nope"]);
    expect(results[0]).toMatchObject({ model: "a", ok: true });
    expect(results[1]).toMatchObject({ model: "nope", ok: false });
    expect(results[1]!.error).toContain("ollama pull nope");

    const down = ollamaBackend({ host: `http://127.0.0.1:${await freePort()}` });
    onCleanup(() => down.close());
    const failed = await down.prewarm(["a", "b"]);
    expect(failed.map((r) => r.ok)).toEqual([false, false]);
    expect(failed[0]!.error).toContain("not reachable");
  });

  it("a load slower than loadTimeoutMs is reported, not thrown, and Ollama discards it (sched.go load)", async () => {
    const { server, backend } = await setup({ models: { a: { loadDelayMs: 5_000 } } }, { loadTimeoutMs: 80 });
    const [result] = await backend.prewarm(["a"]);
    expect(result).toMatchObject({ model: "a", ok: false });
    expect(result!.error).toContain("did not load within 80 ms (loadTimeoutMs)");
    await vi.waitFor(() => expect(server.discardedLoads).toEqual({ a: 1 }));
    expect(server.loadedModels()).toEqual([]);
  });

  it("close() during a pre-warm resolves it with failures", async () => {
    const { backend } = await setup({ models: { a: { loadDelayMs: 5_000 }, b: {} } });
    const pending = backend.prewarm(["a", "b"]);
    await new Promise((r) => setTimeout(r, 30));
    await backend.close();
    const results = await pending;
    expect(results.map((r) => r.ok)).toEqual([false, false]);
  });
});

describe("ollamaBackend loaded() and available()", () => {
  it("loaded() lists the models in memory from /api/ps", async () => {
    const { server, backend } = await setup({ models: { a: {}, "b:7b": {} } });
    expect(await backend.loaded()).toEqual([]);
    await drain(backend.chat(ask("hi", "a"), { signal: signal() }));
    expect(await backend.loaded()).toEqual(["a:latest"]);
    await backend.prewarm(["b:7b"]);
    expect((await backend.loaded()).sort()).toEqual(["a:latest", "b:7b"]);
    expect(server.requests.filter((r) => r.path === "/api/ps")).toHaveLength(3);
  });

  it("loaded() drops a model whose keep-alive ran out", async () => {
    const { backend } = await setup({ models: { a: {} } }, { keepAlive: "100ms" });
    await drain(backend.chat(ask("hi", "a"), { signal: signal() }));
    expect(await backend.loaded()).toEqual(["a:latest"]);
    await vi.waitFor(async () => expect(await backend.loaded()).toEqual([]), { timeout: 2_000 });
  });

  it("available() lists the pulled models from /api/tags", async () => {
    const { backend } = await setup({ models: { a: {}, "b:7b": {} } });
    expect(await backend.available()).toEqual(["a:latest", "b:7b"]);
  });

  it("loaded() rejects with a typed error when the server is down", async () => {
    const down = ollamaBackend({ host: `http://127.0.0.1:${await freePort()}` });
    onCleanup(() => down.close());
    await expect(down.loaded()).rejects.toMatchObject({ code: "BACKEND_UNREACHABLE" });
  });
});

describe("ollamaBackend keep-alive refresher", () => {
  it("re-warms a used model before its keep-alive runs out, so it stays loaded", async () => {
    const { server, backend } = await setup(
      { models: { a: {} } },
      { keepAlive: "400ms", load: { num_ctx: 2048 }, refresh: { enabled: true, marginMs: 200 } },
    );
    await drain(backend.chat(ask("hi", "a"), { signal: signal() }));
    // well past the first keep-alive: the model is still loaded thanks to the re-warms
    await vi.waitFor(() => expect(server.loads().length).toBeGreaterThanOrEqual(3), { timeout: 3_000, interval: 20 });
    expect(server.loadedModels()).toEqual(["a:latest"]);
    expect(server.loads()[0]!.body).toEqual({ model: "a", messages: [], stream: false, keep_alive: "400ms", options: { num_ctx: 2048 } });
    // re-warms use the same load options: never a reload
    expect(server.reloads).toEqual({});
    expect(server.requests.some((r) => r.path === "/api/ps")).toBe(true);
  });

  it("without the refresher the model expires", async () => {
    const { server, backend } = await setup({ models: { a: {} } }, { keepAlive: "150ms" });
    await drain(backend.chat(ask("hi", "a"), { signal: signal() }));
    await new Promise((r) => setTimeout(r, 400));
    expect(server.loads()).toHaveLength(0);
    expect(server.loadedModels()).toEqual([]);
  });

  it("leaves alone a model that was unloaded in the meantime", async () => {
    const { server, backend } = await setup({ models: { a: {} } }, { keepAlive: "300ms", refresh: { enabled: true, marginMs: 150 } });
    await drain(backend.chat(ask("hi", "a"), { signal: signal() }));
    // someone runs `ollama stop a`
    await fetch(`${server.url}/api/chat`, { method: "POST", body: JSON.stringify({ model: "a", messages: [], keep_alive: 0 }) });
    const loadsBefore = server.loads().length;
    await vi.waitFor(() => expect(server.requests.filter((r) => r.path === "/api/ps").length).toBeGreaterThan(0), { timeout: 2_000 });
    await new Promise((r) => setTimeout(r, 300));
    expect(server.loads()).toHaveLength(loadsBefore);
    expect(server.loadedModels()).toEqual([]);
  });

  it("only refreshes the listed models", async () => {
    const { server, backend } = await setup(
      { models: { a: {}, b: {} } },
      { keepAlive: "300ms", refresh: { enabled: true, marginMs: 150, models: ["b"] } },
    );
    await drain(backend.chat(ask("hi", "a"), { signal: signal() }));
    await drain(backend.chat(ask("hi", "b"), { signal: signal() }));
    await vi.waitFor(() => expect(server.loads().length).toBeGreaterThanOrEqual(2), { timeout: 3_000 });
    expect(new Set(server.loads().map((r) => r.body!.model))).toEqual(new Set(["b"]));
  });

  it("close() stops the refresher", async () => {
    const { server, backend } = await setup({ models: { a: {} } }, { keepAlive: "200ms", refresh: { enabled: true, marginMs: 100 } });
    await drain(backend.chat(ask("hi", "a"), { signal: signal() }));
    await backend.close();
    const count = server.requests.length;
    await new Promise((r) => setTimeout(r, 400));
    expect(server.requests).toHaveLength(count);
  });
});

describe("ollamaBackend pre-warm answers (server/routes.go ChatHandler: done_reason load / unload)", () => {
  it("with keepAlive 0 nothing is pre-warmed and nothing reported ok: that load request would unload the model", async () => {
    for (const keepAlive of [0, "0", "0s", " 0m "]) {
      const { server, backend } = await setup({ models: { a: {} } }, { keepAlive });
      await backend.prewarm(["a"]);
      await drain(backend.chat(ask("hi", "a"), { signal: signal() }));
      // someone else keeps the model loaded; the pre-warm must not unload it
      await fetch(`${server.url}/api/chat`, { method: "POST", body: JSON.stringify({ model: "a", messages: [], keep_alive: "1h" }) });
      const [result] = await backend.prewarm(["a"]);
      expect(result).toMatchObject({ model: "a", ok: false });
      expect(result!.error).toContain("keepAlive");
      expect(server.loadedModels()).toEqual(["a:latest"]);
      expect(server.loads().map((r) => r.body!.keep_alive)).toEqual(["1h"]);
    }
  });

  it('only done_reason "load" is a successful pre-warm', async () => {
    const { server } = await setup({ models: { a: {} } });
    // a server (or proxy) that answers the load request with an unload
    const unloading: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!String(input).endsWith("/api/chat")) return response;
      const body = (await response.json()) as Record<string, unknown>;
      return new Response(JSON.stringify({ ...body, done_reason: "unload" }), {
        status: 200,
        headers: { "Content-Type": "application/json" },
      });
    };
    const backend = ollamaBackend({ host: server.url, fetch: unloading });
    onCleanup(() => backend.close());
    const [result] = await backend.prewarm(["a"]);
    expect(result).toMatchObject({ model: "a", ok: false });
    expect(result!.error).toContain('done_reason "unload", not "load"');
  });
});

describe("ollamaBackend re-warms with the last load options (server/sched.go needsReload: num_ctx is an api.Runner option)", () => {
  it("after a request at a larger context size, the refresher re-warms at that size: never a reload", async () => {
    const { server, backend } = await setup(
      { models: { a: {} } },
      // The re-warm is due 0.5 s after the chat and the model expires at 2 s: a loaded machine's
      // late timers still meet it (with 400 / 200 ms, a timer 200 ms late found the model gone).
      { keepAlive: "2s", contextSizes: [2048, 8192], refresh: { enabled: true, marginMs: 1_500 } },
    );
    await drain(backend.chat(ask("x".repeat(3.5 * 4000), "a"), { signal: signal() }));
    expect(server.chats()[0]!.body!.options!.num_ctx).toBe(8192);
    await vi.waitFor(() => expect(server.loads().length).toBeGreaterThanOrEqual(2), { timeout: 10_000, interval: 20 });
    expect(server.loads().map((r) => r.body!.options!.num_ctx)).toEqual(server.loads().map(() => 8192));
    expect(server.reloads).toEqual({});
    expect(server.loadedModels()).toEqual(["a:latest"]);
  });

  it("prewarm() after use loads with the options of the last request, before any with the smallest size", async () => {
    const { server, backend } = await setup({ models: { a: {} } }, { contextSizes: [2048, 8192] });
    await backend.prewarm(["a"]);
    await drain(backend.chat(ask("x".repeat(3.5 * 4000), "a"), { signal: signal() }));
    await backend.prewarm(["a"]);
    expect(server.loads().map((r) => r.body!.options!.num_ctx)).toEqual([2048, 8192]);
    expect(server.reloads).toEqual({ a: 1 });
  });

  it("finds models the refresher must keep under any spelling /api/ps reduces to its own (registry.ollama.ai/library/x, case)", async () => {
    const { server, backend } = await setup(
      { models: { "llama3.2": {} } },
      // As above: 0.5 s to the re-warm, 1.5 s of slack before the model expires.
      { keepAlive: "2s", refresh: { enabled: true, marginMs: 1_500, models: ["Registry.Ollama.AI/library/Llama3.2:latest"] } },
    );
    await drain(backend.chat(ask("hi", "registry.ollama.ai/library/LLAMA3.2"), { signal: signal() }));
    await vi.waitFor(() => expect(server.loads().length).toBeGreaterThanOrEqual(2), { timeout: 10_000, interval: 20 });
    expect(server.loadedModels()).toEqual(["llama3.2:latest"]);
    expect(server.reloads).toEqual({});
  });
});
