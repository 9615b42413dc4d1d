/**
 * Model servers that misbehave as no real Ollama, vLLM or llama.cpp server does, but as a wrong
 * `host`, a proxy in between or a broken server can: an endless line, an error status with an
 * endless or stalled body, a hung server. Each gets a typed error with a stable code, bounded
 * memory and its deadline, never a run held until an unrelated, longer deadline.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { ChatChunk, ModelBackend } from "../../src/index.js";
import { ollamaBackend } from "../../src/ollama/index.js";
import { openAiCompatibleBackend } from "../../src/openai-compatible/index.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function serve(handler: Handler): Promise<string> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Write `piece` again and again until the client goes (at most `maxBytes`); returns how much was written. */
function endless(res: ServerResponse, piece: string, maxBytes: number): { written: () => number } {
  let written = 0;
  let stopped = false;
  res.on("close", () => {
    stopped = true;
  });
  const more = () => {
    while (!stopped && written < maxBytes) {
      written += piece.length;
      if (!res.write(piece)) return void res.once("drain", more);
    }
  };
  more();
  return { written: () => written };
}

const backends = {
  ollama: (url: string, extra: Record<string, number> = {}) => ollamaBackend({ host: url, ...extra }),
  "openai-compatible": (url: string, extra: Record<string, number> = {}) => openAiCompatibleBackend({ baseURL: `${url}/v1`, ...extra }),
};

async function outcome(backend: ModelBackend): Promise<{ chunks: ChatChunk[]; error: unknown }> {
  cleanups.push(() => backend.close?.());
  const chunks: ChatChunk[] = [];
  try {
    for await (const chunk of backend.chat(
      { model: "m", messages: [{ role: "user", content: "hi" }] },
      { signal: new AbortController().signal },
    )) {
      chunks.push(chunk);
    }
    return { chunks, error: undefined };
  } catch (error) {
    return { chunks, error };
  }
}

const EIGHT_MIB = 8 * 1024 * 1024;

describe.each(Object.keys(backends) as Array<keyof typeof backends>)("%s backend against a hostile server", (name) => {
  const make = backends[name];

  it("a line (or event) that never ends is UNEXPECTED_RESPONSE once it passes 8 MiB, not a process out of memory", async () => {
    let sent = () => 0;
    const url = await serve((_req, res) => {
      res.writeHead(200, { "content-type": name === "ollama" ? "application/x-ndjson" : "text/event-stream" });
      // A chunk's start, then its content without end (at most 64 MiB here; before, all of it was kept).
      res.write(name === "ollama" ? '{"model":"m","message":{"role":"assistant","content":"' : 'data: {"choices":[{"delta":{"content":"');
      sent = endless(res, "x".repeat(64 * 1024), 64 * 1024 * 1024).written;
    });
    const { error, chunks } = await outcome(make(url, { loadTimeoutMs: 20_000 }));
    expect(chunks).toEqual([]);
    expect(error).toMatchObject({ code: "UNEXPECTED_RESPONSE" });
    expect((error as Error).message).toContain("without");
    expect(sent()).toBeGreaterThan(EIGHT_MIB);
    expect(sent()).toBeLessThan(64 * 1024 * 1024);
  });

  it("an error status with a body that never ends is answered from its status (503: BACKEND_BUSY), reading a bounded part", async () => {
    let sent = () => 0;
    const url = await serve((_req, res) => {
      res.writeHead(503, { "content-type": "application/json" });
      res.write('{"error":"server busy, please try again."}');
      sent = endless(res, " ".repeat(64 * 1024), 64 * 1024 * 1024).written;
    });
    // Before, the whole body was read: up to loadTimeoutMs (20 s here), then LOAD_TIMEOUT.
    const { error } = await outcome(make(url, { loadTimeoutMs: 20_000 }));
    expect(error).toMatchObject({ code: "BACKEND_BUSY" });
    expect((error as Error).message).toContain("server busy");
    expect(sent()).toBeLessThan(64 * 1024 * 1024);
  }, 15_000);

  it("an error status whose body stalls is answered from its status (500: BACKEND_ERROR)", async () => {
    const url = await serve((_req, res) => {
      res.writeHead(500, { "content-type": "text/plain" });
      res.write("internal failure, details follow");
      // …and nothing more, the connection left open.
    });
    const { error } = await outcome(make(url, { loadTimeoutMs: 20_000 }));
    expect(error).toMatchObject({ code: "BACKEND_ERROR", status: 500 });
    expect((error as Error).message).toContain("internal failure");
  }, 15_000);

  it("429 (a rate limit, from ollama.com or a proxy) is BACKEND_BUSY", async () => {
    const url = await serve((_req, res) => {
      res.writeHead(429, { "content-type": "application/json", "retry-after": "1" });
      res.end('{"error":"rate limit exceeded"}');
    });
    const { error } = await outcome(make(url));
    expect(error).toMatchObject({ code: "BACKEND_BUSY" });
  });

  it("a 200 web page (a portal, a proxy's sign-in) is UNEXPECTED_RESPONSE with the page's start, read in a bounded part", async () => {
    let sent = () => 0;
    const url = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.write("<!doctype html>\n<title>Sign in to the network</title>\n");
      sent = endless(res, "<p>lorem ipsum</p>\n", 64 * 1024 * 1024).written;
    });
    const { error, chunks } = await outcome(make(url));
    expect(chunks).toEqual([]);
    expect(error).toMatchObject({ code: "UNEXPECTED_RESPONSE" });
    expect((error as Error).message).toContain("Sign in to the network");
    expect(sent()).toBeLessThan(16 * 1024 * 1024);
  });

  it("a 200 body of text lines under no content type that says what it is is UNEXPECTED_RESPONSE with its first line, not STREAM_INCOMPLETE", async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("Service temporarily rerouted\nplease try again\n");
    });
    const { error } = await outcome(make(url));
    expect(error).toMatchObject({ code: "UNEXPECTED_RESPONSE" });
    expect((error as Error).message).toContain("Service temporarily rerouted");
  });
});

describe("openai-compatible backend: a 200 answer that is not a stream", () => {
  const answer = (type: string, body: string) =>
    serve((_req, res) => {
      res.writeHead(200, { "content-type": type });
      res.end(body);
    });

  it("a JSON error body with status 200 (a gateway) is BACKEND_ERROR with the server's message", async () => {
    const url = await answer("application/json", JSON.stringify({ error: { message: "monthly quota exceeded", type: "quota" } }));
    const { error } = await outcome(openAiCompatibleBackend({ baseURL: `${url}/v1` }));
    expect(error).toMatchObject({ code: "BACKEND_ERROR", status: 200, serverMessage: "monthly quota exceeded", serverType: "quota" });
  });

  it("a whole completion (stream: true ignored) is UNEXPECTED_RESPONSE saying so", async () => {
    const completion = {
      id: "c",
      object: "chat.completion",
      choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
    };
    const url = await answer("application/json; charset=utf-8", JSON.stringify(completion, null, 2));
    const { error } = await outcome(openAiCompatibleBackend({ baseURL: `${url}/v1` }));
    expect(error).toMatchObject({ code: "UNEXPECTED_RESPONSE" });
    expect((error as Error).message).toContain("ignored `stream: true`");
  });

  it("an event named `error` is STREAM_ERROR with its message, whatever shape its data has", async () => {
    for (const data of ['{"message":"upstream timed out"}', '{"error":{"message":"upstream timed out"}}', "upstream timed out"]) {
      const chunk = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "a" }, finish_reason: null }] })}\n\n`;
      const url = await answer("text/event-stream", `${chunk}event: error\ndata: ${data}\n\n`);
      const { error, chunks } = await outcome(openAiCompatibleBackend({ baseURL: `${url}/v1` }));
      expect(chunks).toEqual([{ type: "text", text: "a" }]);
      expect(error).toMatchObject({ code: "STREAM_ERROR", serverMessage: "upstream timed out" });
    }
  });

  it("a stray line before the events does not fail a good stream", async () => {
    const chunk = (content: string, finish: string | null = null) =>
      `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}\n\n`;
    const url = await answer("text/event-stream", `hello there\n\n${chunk("a")}${chunk("b", "stop")}data: [DONE]\n\n`);
    const { error, chunks } = await outcome(openAiCompatibleBackend({ baseURL: `${url}/v1` }));
    expect(error).toBeUndefined();
    expect(chunks.filter((c) => c.type === "text").map((c) => (c as { text: string }).text)).toEqual(["a", "b"]);
  });
});

describe("openai-compatible backend: events that carry nothing", () => {
  it("`data: null` and other non-objects are skipped, not a TypeError", async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      const chunk = (content: string, finish: string | null = null) =>
        `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}\n\n`;
      res.end(`${chunk("a")}data: null\n\ndata: 5\n\n${chunk("b", "stop")}data: [DONE]\n\n`);
    });
    const { error, chunks } = await outcome(openAiCompatibleBackend({ baseURL: `${url}/v1` }));
    expect(error).toBeUndefined();
    expect(chunks.filter((c) => c.type === "text").map((c) => (c as { text: string }).text)).toEqual(["a", "b"]);
  });
});

describe("ollama backend: a hung server", () => {
  it("a warm model whose server hangs (the answer and /api/ps alike) fails at its first-token deadline, not after idleTimeoutMs", async () => {
    let chats = 0;
    const url = await serve((req, res) => {
      if (req.url === "/api/chat" && ++chats === 1) {
        res.writeHead(200, { "content-type": "application/x-ndjson" });
        res.write(`${JSON.stringify({ model: "m", message: { role: "assistant", content: "hi" }, done: false })}\n`);
        res.end(`${JSON.stringify({ model: "m", message: { role: "assistant", content: "" }, done: true, done_reason: "stop" })}\n`);
        return;
      }
      // The second answer and every /api/ps: headers (or nothing) and then silence.
      if (req.url === "/api/chat") res.writeHead(200, { "content-type": "application/x-ndjson" }).flushHeaders();
    });
    const backend = ollamaBackend({ host: url, firstTokenTimeoutMs: 100, idleTimeoutMs: 60_000 });
    const first = await outcome(backend);
    expect(first.error).toBeUndefined();
    // Before, the check of /api/ps after the deadline waited idleTimeoutMs (60 s here) for a server that never answers.
    const { error } = await outcome(backend);
    expect(error).toMatchObject({ code: "FIRST_TOKEN_TIMEOUT" });
  }, 15_000);
});

describe("a body held open after the answer's end (a proxy, a server that does not close it)", () => {
  const ollamaLines = [
    { model: "m", message: { role: "assistant", content: "whole" }, done: false },
    { model: "m", message: { role: "assistant", content: "" }, done: true, done_reason: "stop", eval_count: 1 },
  ];
  const sse = (finish: string | null, content: string) =>
    `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}\n\n`;

  it.each([
    ["ollama", "the done line", (res: ServerResponse) => res.write(ollamaLines.map((l) => `${JSON.stringify(l)}\n`).join(""))],
    ["openai-compatible", "[DONE]", (res: ServerResponse) => res.write(`${sse(null, "whole")}${sse("stop", "")}data: [DONE]\n\n`)],
  ] as const)(
    "%s: the answer ends at %s; the run does not wait for the body's end",
    async (name, _end, write) => {
      const url = await serve((_req, res) => {
        res.writeHead(200, { "content-type": name === "ollama" ? "application/x-ndjson" : "text/event-stream" });
        write(res);
        // …and the body is never ended.
      });
      // Before, the answer's stream returned only after idleTimeoutMs (60 s here) had passed.
      const { error, chunks } = await outcome(backends[name](url, { idleTimeoutMs: 60_000 }));
      expect(error).toBeUndefined();
      expect(chunks.map((c) => c.type)).toEqual(["text", "done"]);
    },
    15_000,
  );

  it("openai-compatible: a finish_reason without [DONE], then a stall, is a whole answer at the idle deadline (not IDLE_TIMEOUT)", async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(`${sse(null, "whole")}${sse("stop", "")}`);
    });
    const { error, chunks } = await outcome(openAiCompatibleBackend({ baseURL: `${url}/v1`, idleTimeoutMs: 200 }));
    expect(error).toBeUndefined();
    expect(chunks.map((c) => c.type)).toEqual(["text", "done"]);
    expect(chunks.at(-1)).toMatchObject({ doneReason: "stop" });
  });
});
