/**
 * What a request costs and leaves behind (issue #14): an answer read to its end is never aborted,
 * so its keep-alive connection is reused; an answer left early is aborted, which closes exactly its
 * connection; a request has one deadline timer however many chunks it streams, and none when its
 * deadlines are infinite.
 */
import { createServer, connect, type AddressInfo, type Socket } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ollamaBackend, type OllamaBackendOptions, type OllamaError } from "../../src/ollama/index.js";
import { startFakeOllama, textSteps, type FakeOllamaOptions } from "../helpers/fake-ollama.js";
import { ask, doneOf, drain, failure, onCleanup, signal, text } from "./helpers.js";

/** A TCP proxy in front of the fake server that counts the connections clients open. */
async function countingProxy(port: number): Promise<{ url: string; readonly connections: number; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    connections++;
    const upstream = connect(port, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The fake server behind a counting proxy, and a backend on the proxy whose fetch records each request's signal. */
async function proxied(fake: FakeOllamaOptions, options: OllamaBackendOptions = {}) {
  const server = await startFakeOllama(fake);
  onCleanup(() => server.close());
  const proxy = await countingProxy(server.port);
  onCleanup(() => proxy.close());
  const signals: Array<{ url: string; signal: AbortSignal }> = [];
  const backend = ollamaBackend({
    host: proxy.url,
    ...options,
    fetch: (input, init) => {
      signals.push({ url: String(input), signal: init?.signal as AbortSignal });
      return fetch(input, init);
    },
  });
  onCleanup(() => backend.close());
  return { server, proxy, backend, signals };
}

/** A turn of the event loop: undici puts a connection back in its pool just after the body's end is read. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** The delays of the setTimeout calls made while `work` runs. */
async function timerDelays(work: () => Promise<unknown>): Promise<unknown[]> {
  const spy = vi.spyOn(globalThis, "setTimeout");
  try {
    await work();
    return spy.mock.calls.map((call) => call[1]);
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe("ollamaBackend connections: a finished request is never aborted", () => {
  it("answers read to their end are not aborted, and every request reuses one keep-alive connection", async () => {
    const { server, proxy, backend, signals } = await proxied(
      { models: { "llama3.2": { reply: "one two three four five" }, e: {} } },
      { embedModel: "e" },
    );
    for (let i = 0; i < 5; i++) {
      const chunks = await drain(backend.chat(ask(`question ${i}`), { signal: signal() }));
      expect(text(chunks)).toBe("one two three four five");
      await tick();
    }
    await backend.embed!(["a", "b"], { signal: signal() });
    await tick();
    await backend.loaded();
    await tick();
    await backend.available();
    await tick();
    expect(proxy.connections).toBe(1);
    // the model and the embedding model, back to back (undici pools a connection a turn after its end)
    expect((await backend.prewarm(["llama3.2"])).every((r) => r.ok)).toBe(true);
    expect(proxy.connections).toBeLessThanOrEqual(2);
    expect(signals.length).toBe(10);
    expect(signals.filter((s) => s.signal.aborted).map((s) => s.url)).toEqual([]);
    // one signal (one AbortController) per request
    expect(new Set(signals.map((s) => s.signal)).size).toBe(signals.length);
    for (const request of server.requests) {
      await request.closed.catch(() => {});
      expect(request.closedByClient).toBe(false);
    }
  });

  it("a consumer that stops at the done chunk does not abort the request either", async () => {
    const { backend, proxy, signals } = await proxied({ models: { "llama3.2": { reply: "a b c" } } });
    for (let i = 0; i < 3; i++) {
      for await (const chunk of backend.chat(ask("hi"), { signal: signal() })) if (chunk.type === "done") break;
      await vi.waitFor(() => expect(backend.active).toBe(0));
      await tick();
    }
    await vi.waitFor(() => expect(backend.active).toBe(0));
    expect(signals.some((s) => s.signal.aborted)).toBe(false);
    expect(proxy.connections).toBe(1);
  });

  it("an error line ends the answer without an abort (the server ends it: server/routes.go streamResponse)", async () => {
    const { backend, proxy, signals } = await proxied({
      models: { "llama3.2": {} },
      script: (body) =>
        body.messages?.at(-1)?.content === "fail" ? [...textSteps("Half"), { type: "error-line", error: "boom" }] : undefined,
    });
    const { error } = await failure(backend.chat(ask("fail"), { signal: signal() }));
    expect((error as OllamaError).code).toBe("STREAM_ERROR");
    await tick();
    expect(text(await drain(backend.chat(ask("again"), { signal: signal() })))).toBe("Hello from llama3.2:latest.");
    await vi.waitFor(() => expect(signals.some((s) => s.signal.aborted)).toBe(false));
    expect(proxy.connections).toBe(1);
  });

  it("a body that does not end after its done line is closed after idleTimeoutMs, and the answer is still whole", async () => {
    const { server, backend, signals } = await proxied(
      { models: { "llama3.2": {} }, script: () => [...textSteps("All here."), { type: "done" }, { type: "hang" }] },
      { idleTimeoutMs: 100 },
    );
    const chunks = await drain(backend.chat(ask("hi"), { signal: signal() }));
    expect(text(chunks)).toBe("All here.");
    expect(doneOf(chunks).doneReason).toBe("stop");
    await server.chats()[0]!.closed;
    expect(server.chats()[0]!.closedByClient).toBe(true);
    expect(signals[0]!.signal.aborted).toBe(true);
  });
});

describe("ollamaBackend connections: a request left early is aborted", () => {
  it("leaving mid-stream closes exactly that connection on the server; the next request opens a new one", async () => {
    const { server, proxy, backend, signals } = await proxied({
      models: { "llama3.2": { reply: "one two three four five", chunkDelayMs: 30 } },
    });
    for await (const chunk of backend.chat(ask("first"), { signal: signal() })) if (chunk.type === "text") break;
    await server.chats()[0]!.closed;
    expect(server.chats()[0]!.closedByClient).toBe(true);
    expect(signals[0]!.signal.aborted).toBe(true);
    expect(text(await drain(backend.chat(ask("second"), { signal: signal() })))).toBe("one two three four five");
    expect(signals[1]!.signal.aborted).toBe(false);
    expect(proxy.connections).toBe(2);
  });

  it("aborting the caller's signal mid-stream fails with its reason and closes the request on the server", async () => {
    const { server, backend } = await proxied({ models: { "llama3.2": { reply: "one two three four five", chunkDelayMs: 30 } } });
    const controller = new AbortController();
    const reason = new Error("stop");
    const chunks: unknown[] = [];
    const run = (async () => {
      for await (const chunk of backend.chat(ask("hi"), { signal: controller.signal })) {
        chunks.push(chunk);
        if (chunks.length === 2) controller.abort(reason);
      }
    })();
    await expect(run).rejects.toBe(reason);
    await server.chats()[0]!.closed;
    expect(server.chats()[0]!.closedByClient).toBe(true);
    expect(server.chats()[0]!.finished).toBe(false);
  });
});

describe("ollamaBackend deadlines cost one timer per request", () => {
  it("a 40-chunk answer arms one deadline timer, not one per chunk", async () => {
    const words = Array.from({ length: 40 }, (_, i) => `w${i}`).join(" ");
    const { backend } = await proxied({ models: { "llama3.2": { reply: words } } }, { firstTokenTimeoutMs: 8_001, idleTimeoutMs: 8_002 });
    await drain(backend.chat(ask("warm up"), { signal: signal() }));
    let chunks: Awaited<ReturnType<typeof drain>> = [];
    const delays = await timerDelays(async () => {
      chunks = await drain(backend.chat(ask("count"), { signal: signal() }));
    });
    expect(text(chunks)).toBe(words);
    expect(delays.filter((d) => d === 8_001 || d === 8_002)).toHaveLength(1);
  });

  it("infinite deadlines mean no timer at all, and answers stream", async () => {
    const { backend } = await proxied(
      { models: { "llama3.2": { reply: "slow but sure", firstByteDelayMs: 30, chunkDelayMs: 10 } } },
      { firstTokenTimeoutMs: Number.POSITIVE_INFINITY, idleTimeoutMs: Number.POSITIVE_INFINITY, loadTimeoutMs: Number.POSITIVE_INFINITY },
    );
    const delays = await timerDelays(async () => {
      for (let i = 0; i < 3; i++) expect(text(await drain(backend.chat(ask(`q${i}`), { signal: signal() })))).toBe("slow but sure");
    });
    // a timer of Infinity (or more than setTimeout takes) would fire after 1 ms
    expect(delays.filter((d) => typeof d === "number" && d > 2_147_483_647)).toEqual([]);
  });
});

describe("ollamaBackend requests as the ollama client sends them (ollama-js src/utils.ts formatHost, fetchWithHeaders)", () => {
  it("a host without a protocol is http, JSON headers and the caller's headers go with every request, and a host that is not a URL is refused at creation", async () => {
    const server = await startFakeOllama({ models: { "llama3.2": {} } });
    onCleanup(() => server.close());
    const seen: Array<{ url: string; headers: Record<string, string> }> = [];
    const backend = ollamaBackend({
      host: `127.0.0.1:${server.port}`,
      headers: { Authorization: "Bearer proxy-token", "X-Trace": "abc", accept: "text/plain" },
      fetch: (input, init) => {
        seen.push({ url: String(input), headers: { ...(init?.headers as Record<string, string>) } });
        return fetch(input, init);
      },
    });
    onCleanup(() => backend.close());
    await drain(backend.chat(ask("hi"), { signal: signal() }));
    await backend.loaded();
    expect(seen.map((s) => s.url)).toEqual([`http://127.0.0.1:${server.port}/api/chat`, `http://127.0.0.1:${server.port}/api/ps`]);
    for (const { headers } of seen) {
      expect(headers).toEqual({
        "Content-Type": "application/json",
        Accept: "application/json",
        Authorization: "Bearer proxy-token",
        "X-Trace": "abc",
      });
    }
    expect(() => ollamaBackend({ host: "http://not a host" })).toThrow(RangeError);
  });
});
