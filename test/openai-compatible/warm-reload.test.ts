/**
 * A model the OpenAI-compatible backend has seen answer (warm) that the server unloaded since:
 * its reload gets the load deadline, as the Ollama backend's does (`firstChunkDeadline`). Each
 * fake behaviour names the server's source file and function it follows.
 */
import { describe, expect, it } from "vitest";
import type { OpenAiCompatibleError } from "../../src/openai-compatible/index.js";
import { ask, drain, setup, signal, text } from "./helpers.js";

describe("llama.cpp router: a warm model that was unloaded and loads again", () => {
  it("a model the router evicted (LRU past --models-max) and now reloads, listed as not loaded, gets the load deadline", async () => {
    // tools/server/server-models.cpp: `server_models::load` first calls `unload_lru()` (default
    // `models_max = 4`, common/common.h), which stops the least recently used model; a later
    // request for it goes through `router_validate_model` → `ensure_model_loaded`, which spawns it
    // again and waits (`wait_until_loaded`) before proxying: no byte is sent while it loads.
    // Meanwhile `get_router_models` lists it with `status.value` "unloaded" / "loading".
    // (The same holds for a single llama-server with --sleep-idle-seconds: the `server_res_generator`
    // constructor calls `server_queue::wait_until_no_sleep`, which reloads the model.)
    const { server, backend } = await setup(
      { flavor: "llama.cpp-router", models: { "qwen3:8b": {} } },
      { firstTokenTimeoutMs: 200, loadTimeoutMs: 10_000 },
    );
    // The model answers: it is warm.
    expect(text(await drain(backend.chat(ask("hi"), { signal: signal() })))).toBe("Hello from qwen3:8b.");
    expect(await backend.loaded()).toEqual(["qwen3:8b"]);
    // Evicted by other models; the next request reloads it: 600 ms (well under loadTimeoutMs)
    // before the headers and the first token. GET /models says it is not loaded.
    server.setModel("qwen3:8b", { status: "unloaded", firstTokenDelayMs: 600 });
    expect(await backend.loaded()).toEqual([]);
    let error: unknown;
    let chunks: Awaited<ReturnType<typeof drain>> = [];
    try {
      chunks = await drain(backend.chat(ask("again"), { signal: signal() }));
    } catch (e) {
      error = e;
    }
    // The Ollama backend treats exactly this case (a warm model that something unloaded) as a
    // load: src/ollama/backend.ts `firstChunkDeadline`. Here it fails as if the server hung.
    expect((error as OpenAiCompatibleError | undefined)?.code).toBeUndefined();
    expect(text(chunks)).toBe("Hello from qwen3:8b.");
  });

  it("a warm model the router lists as loaded whose first token is late still fails with FIRST_TOKEN_TIMEOUT", async () => {
    const { server, backend } = await setup(
      { flavor: "llama.cpp-router", models: { "qwen3:8b": {} } },
      { firstTokenTimeoutMs: 200, loadTimeoutMs: 10_000 },
    );
    expect(text(await drain(backend.chat(ask("hi"), { signal: signal() })))).toBe("Hello from qwen3:8b.");
    server.setModel("qwen3:8b", { status: "loaded", firstTokenDelayMs: 2_000 });
    const error = await drain(backend.chat(ask("again"), { signal: signal() })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as OpenAiCompatibleError | undefined)?.code).toBe("FIRST_TOKEN_TIMEOUT");
  });

  it("a warm model still loading past loadTimeoutMs fails with LOAD_TIMEOUT naming that deadline", async () => {
    const { server, backend } = await setup(
      { flavor: "llama.cpp-router", models: { "qwen3:8b": {} } },
      { firstTokenTimeoutMs: 100, loadTimeoutMs: 300 },
    );
    expect(text(await drain(backend.chat(ask("hi"), { signal: signal() })))).toBe("Hello from qwen3:8b.");
    server.setModel("qwen3:8b", { status: "loading", firstTokenDelayMs: 5_000 });
    const error = await drain(backend.chat(ask("again"), { signal: signal() })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as OpenAiCompatibleError | undefined)?.code).toBe("LOAD_TIMEOUT");
    expect((error as Error).message).toContain("300");
  });
});
