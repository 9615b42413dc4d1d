import { describe, expect, it, vi } from "vitest";
import type { ChatChunk } from "../../src/index.js";
import type { OllamaError } from "../../src/ollama/index.js";
import { ask, doneOf, drain, failure, setup, signal, text } from "./helpers.js";

const slow = { reply: "one two three four five six seven eight", chunkDelayMs: 40 };

describe("ollamaBackend cancellation", () => {
  it("aborting one of two concurrent requests closes exactly that request; the other completes", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": slow } });
    const a = new AbortController();
    let onFirst!: () => void;
    const gotFirst = new Promise<void>((resolve) => (onFirst = resolve));
    const first = (async () => {
      const chunks: ChatChunk[] = [];
      try {
        for await (const chunk of backend.chat(ask("first"), { signal: a.signal })) {
          chunks.push(chunk);
          onFirst();
        }
      } catch (error) {
        return { chunks, error };
      }
      return { chunks, error: undefined };
    })();
    const second = drain(backend.chat(ask("second"), { signal: signal() }));
    await gotFirst;
    const reason = new DOMException("user pressed stop", "AbortError");
    a.abort(reason);
    const [aborted, completed] = await Promise.all([first, second]);
    // the aborted stream fails with the caller's own reason, not a backend error
    expect(aborted.error).toBe(reason);
    expect(text(aborted.chunks).length).toBeLessThan("one two three four five six seven eight".length);
    expect(text(completed)).toBe("one two three four five six seven eight");
    expect(doneOf(completed).type).toBe("done");
    const [reqA, reqB] = [
      server.chats().find((r) => r.body!.messages!.at(-1)!.content === "first")!,
      server.chats().find((r) => r.body!.messages!.at(-1)!.content === "second")!,
    ];
    await Promise.all([reqA.closed, reqB.closed]);
    expect(reqA.closedByClient).toBe(true);
    expect(reqA.finished).toBe(false);
    expect(reqB.closedByClient).toBe(false);
    expect(reqB.finished).toBe(true);
    expect(backend.active).toBe(0);
  });

  it("leaving the for-await loop closes the HTTP request", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": slow } });
    for await (const chunk of backend.chat(ask("talk"), { signal: signal() })) {
      if (chunk.type === "text") break;
    }
    const request = server.chats()[0]!;
    await request.closed;
    expect(request.closedByClient).toBe(true);
    expect(request.finished).toBe(false);
    expect(backend.active).toBe(0);
  });

  it("a signal aborted before the request sends nothing", async () => {
    const { server, backend } = await setup();
    const controller = new AbortController();
    controller.abort(new Error("gone"));
    const { error } = await failure(backend.chat(ask("hi"), { signal: controller.signal }));
    expect((error as Error).message).toBe("gone");
    expect(server.requests).toHaveLength(0);
  });

  it("an abort during a slow model load closes the request before any byte", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": { loadDelayMs: 5_000 } } });
    const controller = new AbortController();
    const run = failure(backend.chat(ask("hi"), { signal: controller.signal }));
    await vi.waitFor(() => expect(server.chats()).toHaveLength(1));
    controller.abort();
    const { error } = await run;
    expect((error as Error).name).toBe("AbortError");
    await server.chats()[0]!.closed;
    expect(server.chats()[0]!.closedByClient).toBe(true);
  });
});

describe("ollamaBackend concurrency and close", () => {
  it("with concurrency 1 a second request waits for the first; the wait is queueMs", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": { reply: "a b c d e", chunkDelayMs: 50 } } }, { concurrency: 1 });
    const first = drain(backend.chat(ask("first"), { signal: signal() }));
    const second = drain(backend.chat(ask("second"), { signal: signal() }));
    await vi.waitFor(() => expect(backend.queued).toBe(1));
    expect(backend.active).toBe(1);
    const [a, b] = await Promise.all([first, second]);
    expect(server.maxActive).toBe(1);
    // the first streamed 4 delays of 50 ms while the second waited
    expect(doneOf(a).queueMs!).toBeLessThan(doneOf(b).queueMs!);
    expect(doneOf(b).queueMs!).toBeGreaterThanOrEqual(100);
    expect(backend.queued).toBe(0);
  });

  it("a request aborted while it waits leaves the queue and never reaches the server", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": { reply: "a b c", chunkDelayMs: 50 } } }, { concurrency: 1 });
    const first = drain(backend.chat(ask("first"), { signal: signal() }));
    const controller = new AbortController();
    const waiting = failure(backend.chat(ask("second"), { signal: controller.signal }));
    await vi.waitFor(() => expect(backend.queued).toBe(1));
    controller.abort(new Error("stop waiting"));
    expect(((await waiting).error as Error).message).toBe("stop waiting");
    expect(backend.queued).toBe(0);
    await first;
    const third = await drain(backend.chat(ask("third"), { signal: signal() }));
    expect(text(third)).toBe("a b c");
    expect(server.chats().map((r) => r.body!.messages!.at(-1)!.content)).toEqual(["first", "third"]);
  });

  it("close() aborts requests in flight and waiting (BACKEND_CLOSED) and refuses new ones", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": { reply: "a b c d e f", chunkDelayMs: 100 } } }, { concurrency: 1 });
    const inFlight = failure(backend.chat(ask("first"), { signal: signal() }));
    const waiting = failure(backend.chat(ask("second"), { signal: signal() }));
    await vi.waitFor(() => expect(server.chats()).toHaveLength(1));
    await vi.waitFor(() => expect(backend.queued).toBe(1));
    await backend.close();
    expect(((await inFlight).error as OllamaError).code).toBe("BACKEND_CLOSED");
    expect(((await waiting).error as OllamaError).code).toBe("BACKEND_CLOSED");
    await server.chats()[0]!.closed;
    expect(server.chats()[0]!.closedByClient).toBe(true);
    const after = await failure(backend.chat(ask("third"), { signal: signal() }));
    expect((after.error as OllamaError).code).toBe("BACKEND_CLOSED");
    expect(server.chats()).toHaveLength(1);
  });
});
