import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import type { AGUIEvent } from "@ag-ui/core";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import { createZoePipeline, EventType, type ZoePipeline } from "../../src/index.js";
import { agUiErrorHandler, createAgUiHandler, type AgUiHandlerOptions } from "../../src/express/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { expectValidStream } from "../helpers/ag-ui.js";
import { fixedRouter, sleep } from "../helpers/fixtures.js";
import { listen, postJson, runInput } from "../helpers/http.js";
import { sseEvents } from "../hostile/clients.js";

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

const newPipeline = (options: Partial<Parameters<typeof createZoePipeline>[0]> = {}) => {
  const backend = scriptedBackend({ script: textChunks("Hello over HTTP.") });
  const pipeline = createZoePipeline({ backend, router: fixedRouter(), ...options });
  cleanups.push(() => pipeline.close());
  return { pipeline, backend };
};

async function serve(pipeline: ZoePipeline, options: Partial<AgUiHandlerOptions> = {}) {
  const failures: Array<{ error: unknown; stage: string }> = [];
  const handler = createAgUiHandler(pipeline, {
    getUserId: () => "u1",
    onError: (error, { stage }) => failures.push({ error, stage }),
    ...options,
  } as AgUiHandlerOptions);
  const server = await listen(handler);
  cleanups.push(async () => {
    expect(server.rejections).toEqual([]);
    await server.close();
  });
  return { ...server, failures };
}

async function serveApp(app: express.Express) {
  const server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  cleanups.push(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** Wrap a real pipeline: the same runs, with each event passed through `map` (as a host decorator might). */
function decorate(pipeline: ZoePipeline, map: (event: AGUIEvent, index: number) => AGUIEvent): ZoePipeline {
  async function* run(...args: Parameters<ZoePipeline["run"]>) {
    let i = 0;
    for await (const event of pipeline.run(...args)) yield map(event, i++);
  }
  return new Proxy(pipeline, { get: (target, key) => (key === "run" ? run : Reflect.get(target, key)) });
}

const body = (text = "hi there") => JSON.stringify(runInput(text));
const codeOf = async (response: Response) => ((await response.json()) as { error: { code: string } }).error.code;
const settled = async (pipeline: ZoePipeline) => {
  for (let i = 0; i < 100 && pipeline.activeRuns > 0; i++) await sleep(10);
  return pipeline.activeRuns;
};

describe("createAgUiHandler: bodies a framework already parsed", () => {
  it("Express with express.json(): runs from req.body; deep, bad and large bodies are JSON errors with their codes", async () => {
    const { pipeline } = newPipeline();
    const app = express();
    app.use(express.json({ limit: "10kb" }));
    app.post("/agent", createAgUiHandler(pipeline, { getUserId: () => "u1" }));
    app.use(agUiErrorHandler());
    const base = await serveApp(app);
    const ok = await postJson(`${base}/agent`, body());
    expect(ok.status).toBe(200);
    await expectValidStream(sseEvents(await ok.text()));
    const deep = await postJson(
      `${base}/agent`,
      JSON.stringify(runInput("hi", { state: { a: JSON.parse("[".repeat(500) + "]".repeat(500)) } })),
    );
    expect([deep.status, await codeOf(deep)]).toEqual([400, "INPUT_TOO_DEEP"]);
    const bad = await postJson(`${base}/agent`, "{nope");
    expect([bad.status, await codeOf(bad)]).toEqual([400, "INVALID_JSON"]);
    const large = await postJson(`${base}/agent`, body("x".repeat(20_000)));
    expect([large.status, await codeOf(large)]).toEqual([413, "BODY_TOO_LARGE"]);
    const form = await fetch(`${base}/agent`, { method: "POST", headers: { "content-type": "text/plain" }, body: body() });
    expect([form.status, await codeOf(form)]).toEqual([415, "UNSUPPORTED_MEDIA_TYPE"]);
    expect(await settled(pipeline)).toBe(0);
  });

  it("Express with express.text(): a JSON string on req.body is parsed", async () => {
    const { pipeline } = newPipeline();
    const app = express();
    app.use(express.text({ type: "application/json" }));
    app.post("/agent", createAgUiHandler(pipeline, { getUserId: () => "u1" }));
    const response = await postJson(`${await serveApp(app)}/agent`, body());
    expect(response.status).toBe(200);
    expect(sseEvents(await response.text()).at(-1)?.type).toBe(EventType.RUN_FINISHED);
  });

  it("a body handed over as the third argument (Fastify, Koa) is used; a deep one is a 400", async () => {
    const { pipeline } = newPipeline();
    const handler = createAgUiHandler(pipeline, { getUserId: () => "u1" });
    const server = await listen(async (req, res) => {
      // What Fastify's or Koa's body parser does: read the stream, parse it, keep the value.
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      await handler(req, res, { body: JSON.parse(Buffer.concat(chunks).toString()) as unknown });
    });
    cleanups.push(server.close);
    const ok = await postJson(server.url, body());
    expect(sseEvents(await ok.text()).at(-1)?.type).toBe(EventType.RUN_FINISHED);
    const deep = await postJson(server.url, JSON.stringify({ a: JSON.parse("[".repeat(100) + "]".repeat(100)) }));
    expect([deep.status, await codeOf(deep)]).toEqual([400, "INPUT_TOO_DEEP"]);
  });

  it("a stream consumed by someone else and not handed over is a 500 BODY_ALREADY_READ, not a hang", async () => {
    const { pipeline } = newPipeline();
    const failures: string[] = [];
    const handler = createAgUiHandler(pipeline, { getUserId: () => "u1", onError: (_e, { stage }) => failures.push(stage) });
    const server = await listen(async (req, res) => {
      for await (const _ of req); // a middleware that reads the body and drops it
      await handler(req, res);
    });
    cleanups.push(server.close);
    const response = await postJson(server.url, body());
    expect([response.status, await codeOf(response)]).toEqual([500, "BODY_ALREADY_READ"]);
    expect(failures).toEqual(["internal"]);
  });
});

describe("createAgUiHandler: limits before a run starts", () => {
  it("a chunked body over maxBodyBytes is a 413 and the run never starts", async () => {
    const { pipeline, backend } = newPipeline();
    const { port } = await serve(pipeline, { maxBodyBytes: 1_000 });
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: "127.0.0.1", port, method: "POST", headers: { "content-type": "application/json" } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.write(body("x".repeat(600)));
      req.write(body("y".repeat(600)));
      req.end();
    });
    expect(status).toBe(413);
    expect(backend.requests).toHaveLength(0);
  });

  it("an early 413 to a client still uploading: the client sends its whole body, then reads the answer (lingering close, no reset)", async () => {
    const { pipeline, backend } = newPipeline();
    const { port } = await serve(pipeline, { maxBodyBytes: 1_000 });
    const size = 256 * 1024;
    const piece = Buffer.alloc(16 * 1024, 0x78);
    // A raw half-open client: it declares a body over the limit, gets its 413 at once and goes on
    // uploading in pieces, as fetch and curl do. A server that stops reading resets it (EPIPE/ECONNRESET).
    const outcome = await new Promise<{ sent: number; answer: string; error?: string }>((resolve) => {
      const socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
      let sent = 0;
      let answer = "";
      let error: string | undefined;
      socket.on("data", (d: Buffer) => (answer += d.toString("latin1")));
      socket.on("error", (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
      socket.on("close", () => resolve({ sent, answer, ...(error ? { error } : {}) }));
      socket.write(`POST /agent HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${size}\r\n\r\n`);
      const next = () => {
        if (socket.destroyed) return;
        if (sent >= size) {
          socket.end();
          return;
        }
        socket.write(piece, (e) => {
          if (e) return;
          sent += piece.length;
          // Wait until the 413 is in, then keep going slowly: the server has finished its answer.
          setTimeout(next, answer.length > 0 ? 20 : 1);
        });
      };
      next();
    });
    expect(outcome.error).toBeUndefined();
    expect(outcome.sent).toBe(size);
    expect(outcome.answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(outcome.answer.toLowerCase()).toContain("connection: close");
    expect(outcome.answer).toContain("BODY_TOO_LARGE");
    expect(backend.requests).toHaveLength(0);
  });

  it("a request pipelined after an early answer starts no run: the connection is closing", async () => {
    const { pipeline, backend } = newPipeline();
    const { port } = await serve(pipeline);
    const valid = body();
    const answer = await new Promise<string>((resolve) => {
      const socket = connect({ port, host: "127.0.0.1" });
      let text = "";
      socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
      socket.on("error", () => {});
      socket.on("close", () => resolve(text));
      socket.write(
        "GET /agent HTTP/1.1\r\nhost: x\r\n\r\n" +
          `POST /agent HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(valid)}\r\n\r\n${valid}`,
      );
    });
    expect(answer.match(/HTTP\/1\.1 \d+/g)).toEqual(["HTTP/1.1 405"]);
    expect(backend.requests).toHaveLength(0);
  });

  it("a body that does not arrive in time is a 408 BODY_TIMEOUT", async () => {
    const { pipeline } = newPipeline();
    const { port } = await serve(pipeline, { bodyTimeoutMs: 100 });
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(
        { host: "127.0.0.1", port, method: "POST", headers: { "content-type": "application/json", "content-length": "500" } },
        (res) => {
          let text = "";
          res.on("data", (d: Buffer) => (text += d.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on("error", reject);
      req.write('{"threadId":"t",');
    });
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.text).error.code).toBe("BODY_TIMEOUT");
  });

  it("maxDepth, invalid UTF-8, a too-long message (413) and a 405 with Allow", async () => {
    const { pipeline } = newPipeline({ maxInputChars: 20 });
    const { url } = await serve(pipeline, { maxDepth: 4 });
    const deep = await postJson(url, JSON.stringify(runInput("hi", { state: { a: { b: { c: { d: 1 } } } } })));
    expect([deep.status, await codeOf(deep)]).toEqual([400, "INPUT_TOO_DEEP"]);
    const latin1 = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: Uint8Array.from([0x7b, 0xe9, 0x7d]),
    });
    expect([latin1.status, await codeOf(latin1)]).toEqual([400, "INVALID_JSON"]);
    const long = await postJson(url, body("z".repeat(50)));
    expect([long.status, await codeOf(long)]).toEqual([413, "MESSAGE_TOO_LONG"]);
    const get = await fetch(url);
    expect([get.status, get.headers.get("allow"), await codeOf(get)]).toEqual([405, "POST", "METHOD_NOT_ALLOWED"]);
  });

  it("rejects bad options when the handler is created", () => {
    const { pipeline } = newPipeline();
    expect(() => createAgUiHandler(pipeline, { getUserId: () => "u", maxBodyBytes: -1 })).toThrow(/maxBodyBytes/);
    expect(() => createAgUiHandler(pipeline, { getUserId: () => "u", bodyTimeoutMs: Number.NaN })).toThrow(TypeError);
    expect(() => createAgUiHandler({} as ZoePipeline, { getUserId: () => "u" })).toThrow(/ZoePipeline/);
  });
});

describe("createAgUiHandler: failures while streaming never leak a run", () => {
  it("an event that cannot be encoded ends the stream with RUN_ERROR EVENT_ENCODING_FAILED; the run is closed", async () => {
    const { pipeline, backend } = newPipeline({
      backend: scriptedBackend({ script: textChunks("one two three four five six"), chunkDelayMs: 5 }),
    });
    const broken = decorate(pipeline, (event) =>
      event.type === EventType.TEXT_MESSAGE_CONTENT ? { ...event, rawEvent: { n: 1n } } : event,
    );
    const { url, failures } = await serve(broken);
    const response = await postJson(url, body());
    expect(response.status).toBe(200);
    const events = sseEvents(await response.text());
    await expectValidStream(events);
    expect(events.at(-1)).toMatchObject({ type: EventType.RUN_ERROR, code: "EVENT_ENCODING_FAILED" });
    expect(await settled(pipeline)).toBe(0);
    expect(backend.active).toBe(0);
    expect(failures.map((f) => f.stage)).toEqual(["encode"]);
  });

  it("a first event that cannot be encoded is a 500 JSON; the run is closed", async () => {
    const { pipeline } = newPipeline();
    const broken = decorate(pipeline, (event, i) => (i === 0 ? { ...event, rawEvent: { n: 1n } } : event));
    const { url } = await serve(broken);
    const response = await postJson(url, body());
    expect([response.status, await codeOf(response)]).toEqual([500, "EVENT_ENCODING_FAILED"]);
    expect(await settled(pipeline)).toBe(0);
  });

  it("the same over protobuf", async () => {
    const { pipeline } = newPipeline();
    const broken = decorate(pipeline, (event) =>
      event.type === EventType.TEXT_MESSAGE_CONTENT ? ({ ...event, delta: 1n } as unknown as AGUIEvent) : event,
    );
    const { url } = await serve(broken);
    const response = await postJson(url, body(), { accept: "application/vnd.ag-ui.event+proto" });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    expect(await settled(pipeline)).toBe(0);
  });

  it("a deep state let through by a raised maxDepth: a well-formed answer, and no run left open", async () => {
    const { pipeline } = newPipeline();
    const { url } = await serve(pipeline, { maxDepth: 1_000_000 });
    const deep = `{"threadId":"t","runId":"r","messages":[{"id":"m","role":"user","content":"hi"}],"state":{"a":${"[".repeat(50_000)}${"]".repeat(50_000)}}}`;
    const response = await postJson(url, deep);
    const text = await response.text();
    if (response.status === 200) {
      const events = sseEvents(text);
      await expectValidStream(events);
      expect(events.at(-1)?.type).toBe(EventType.RUN_ERROR);
    } else expect(JSON.parse(text).error.code).toMatch(/INPUT_TOO_DEEP|EVENT_ENCODING_FAILED/);
    expect(await settled(pipeline)).toBe(0);
  });

  it("a pipeline that throws mid-run: RUN_ERROR INTERNAL_ERROR; one that throws at once: a 500 JSON", async () => {
    const { pipeline } = newPipeline();
    const midway = decorate(pipeline, (event) => {
      if (event.type === EventType.TEXT_MESSAGE_START) throw new Error("the decorator broke");
      return event;
    });
    const first = await serve(midway);
    const events = sseEvents(await (await postJson(first.url, body())).text());
    await expectValidStream(events);
    expect(events.at(-1)).toMatchObject({ type: EventType.RUN_ERROR, code: "INTERNAL_ERROR" });
    expect(first.failures.map((f) => f.stage)).toEqual(["run"]);
    const atOnce = new Proxy(pipeline, {
      get: (target, key) =>
        key === "run"
          ? () => {
              throw new Error("no runs today");
            }
          : Reflect.get(target, key),
    });
    const second = await serve(atOnce);
    const response = await postJson(second.url, body());
    expect([response.status, await codeOf(response)]).toEqual([500, "INTERNAL_ERROR"]);
    expect(await settled(pipeline)).toBe(0);
  });
});
