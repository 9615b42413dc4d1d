/**
 * `concurrency` matches `OLLAMA_NUM_PARALLEL` (per model, 1 by default: `envconfig/config.go`
 * `NumParallel`). Requests beyond it wait inside Ollama before any byte (`llm/llama_server.go`
 * `Completion`: `s.sem.Acquire`), unseen and against the first-token deadline; waiting in the
 * backend instead is reported as `queueMs` and counts against no deadline.
 */
import { describe, expect, it, vi } from "vitest";
import { OLLAMA_DEFAULTS } from "../../src/ollama/index.js";
import { ask, doneOf, drain, setup, signal, text } from "./helpers.js";

const slow = { reply: "one two three four five six", chunkDelayMs: 60 };

describe("ollamaBackend concurrency (envconfig NumParallel; llm/llama_server.go Completion sem.Acquire)", () => {
  it("defaults to 1, as OLLAMA_NUM_PARALLEL", () => {
    expect(OLLAMA_DEFAULTS.concurrency).toBe(1);
  });

  it("with the defaults a second request waits in the backend (queueMs), never inside Ollama against firstTokenTimeoutMs", async () => {
    const { server, backend } = await setup({ models: { a: slow } }, { firstTokenTimeoutMs: 150 });
    expect((await backend.prewarm(["a"]))[0]!.ok).toBe(true);
    const first = drain(backend.chat(ask("first", "a"), { signal: signal() }));
    const second = drain(backend.chat(ask("second", "a"), { signal: signal() }));
    await vi.waitFor(() => expect(backend.queued).toBe(1));
    const [x, y] = await Promise.all([first, second]);
    expect([text(x), text(y)]).toEqual([slow.reply, slow.reply]);
    // no request waited for a slot inside the server
    expect(server.log.filter((e) => e.type === "slot-wait")).toEqual([]);
    expect(doneOf(y).queueMs).toBeGreaterThan(doneOf(x).queueMs!);
  });

  it("concurrency is per model, as OLLAMA_NUM_PARALLEL: two models answer at once", async () => {
    const { server, backend } = await setup({ models: { a: slow, b: slow } });
    await Promise.all([drain(backend.chat(ask("x", "a"), { signal: signal() })), drain(backend.chat(ask("y", "b"), { signal: signal() }))]);
    const log = server.log.map((e) => e.type);
    expect(log.indexOf("first-byte", log.indexOf("first-byte") + 1)).toBeLessThan(log.indexOf("end"));
  });

  it("matched to a server's OLLAMA_NUM_PARALLEL of 2, two requests to one model stream at once and none waits", async () => {
    const { server, backend } = await setup({ models: { a: slow }, numParallel: 2 }, { concurrency: 2 });
    await Promise.all([drain(backend.chat(ask("x", "a"), { signal: signal() })), drain(backend.chat(ask("y", "a"), { signal: signal() }))]);
    expect(server.log.filter((e) => e.type === "slot-wait")).toEqual([]);
    const log = server.log.map((e) => e.type);
    expect(log.indexOf("first-byte", log.indexOf("first-byte") + 1)).toBeLessThan(log.indexOf("end"));
  });
});
