import { connect, type Socket } from "node:net";
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpAgent, type BaseEvent } from "@ag-ui/client";
import { EventType, type AGUIEvent } from "@ag-ui/core";
import { EventEncoder } from "@ag-ui/encoder";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sseFrame } from "../../src/adapters/encode-events.js";
import { markReturnCancels } from "../../src/pipeline/return-cancels.js";
import { RunStream } from "../../src/pipeline/run-stream.js";
import { createAgUiResponse, createZoePipeline, type ChatChunk, type ModelBackend, type ZoePipeline } from "../../src/index.js";
import { createAgUiHandler, type AgUiHandlerOptions } from "../../src/express/index.js";
import { scriptedBackend, textChunks, type ScriptStep } from "../../src/testing/index.js";
import { expectValidStream } from "../helpers/ag-ui.js";
import { fixedRouter, sleep } from "../helpers/fixtures.js";
import { listen, postJson, runInput } from "../helpers/http.js";
import { sseEvents } from "../hostile/clients.js";

// How the adapters write a run: SSE frames byte for byte as @ag-ui/encoder encodes them, the frames
// a run produces within one tick in one write (the first token at once), and backpressure,
// heartbeats and cancellation as before.

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

const encoder = new EventEncoder();
const protoEncoder = new EventEncoder({ accept: "application/vnd.ag-ui.event+proto" });
const HEARTBEAT = ": heartbeat\n\n";

/** A pipeline whose run yields `ticks`: the events of one tick synchronously, then a real wait before the next (a timer of `gapMs`, or until `gapMs()` settles). */
function tickPipeline(
  ticks: AGUIEvent[][],
  gapMs: number | (() => Promise<void>) = 20,
): ZoePipeline & { produced: () => number; closed: () => boolean } {
  let produced = 0;
  let closed = false;
  async function* run() {
    try {
      for (const [i, tick] of ticks.entries()) {
        if (i > 0) await (typeof gapMs === "number" ? sleep(gapMs) : gapMs());
        for (const event of tick) {
          produced++;
          yield event;
        }
      }
    } finally {
      closed = true;
    }
  }
  return { run, produced: () => produced, closed: () => closed } as unknown as ZoePipeline & {
    produced: () => number;
    closed: () => boolean;
  };
}

const ids = { threadId: "t", runId: "r" };
const started = (): AGUIEvent => ({ type: EventType.RUN_STARTED, ...ids });
const textStart = (): AGUIEvent => ({ type: EventType.TEXT_MESSAGE_START, messageId: "m", role: "assistant" });
const token = (delta: string): AGUIEvent => ({ type: EventType.TEXT_MESSAGE_CONTENT, messageId: "m", delta });
const textEnd = (): AGUIEvent => ({ type: EventType.TEXT_MESSAGE_END, messageId: "m" });
const finished = (): AGUIEvent => ({ type: EventType.RUN_FINISHED, ...ids });
const frames = (events: AGUIEvent[]) => events.map((e) => encoder.encodeSSE(e)).join("");

/** Every chunk handed to `res.write` / `res.end` of each response, in order (heartbeats included). */
type Writes = string[];

/** What reaches a socket's own write (`_write` / `_writev`, once cork and uncork are done with): the bytes of each write to the OS. */
function spySocket(socket: Socket): string[] {
  const known = (socket as unknown as { zoeSpy?: string[] }).zoeSpy;
  if (known) return known;
  const writes: string[] = [];
  const s = socket as unknown as {
    zoeSpy: string[];
    _write: (chunk: unknown, encoding: BufferEncoding, cb: unknown) => void;
    _writev: (chunks: Array<{ chunk: unknown; encoding: BufferEncoding }>, cb: unknown) => void;
  };
  const bytes = (chunk: unknown, encoding: BufferEncoding) =>
    typeof chunk === "string" ? Buffer.from(chunk, encoding).toString("latin1") : Buffer.from(chunk as Uint8Array).toString("latin1");
  const write = s._write.bind(socket);
  const writev = s._writev.bind(socket);
  s._write = (chunk, encoding, cb) => {
    writes.push(bytes(chunk, encoding));
    write(chunk, encoding, cb);
  };
  s._writev = (chunks, cb) => {
    writes.push(chunks.map((c) => bytes(c.chunk, c.encoding)).join(""));
    writev(chunks, cb);
  };
  s.zoeSpy = writes;
  return writes;
}

async function serveSpied(pipeline: ZoePipeline, options: Partial<AgUiHandlerOptions> = {}) {
  const handler = createAgUiHandler(pipeline, { getUserId: () => "u1", heartbeatMs: 0, ...options } as AgUiHandlerOptions);
  const responses: Writes[] = [];
  const sockets: string[][] = [];
  const server = await listen((req: IncomingMessage, res: ServerResponse) => {
    const writes: Writes = [];
    responses.push(writes);
    sockets.push(spySocket(req.socket));
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      writes.push(String(chunk));
      return write(chunk, ...rest);
    }) as typeof res.write;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (typeof chunk === "string" || chunk instanceof Uint8Array) writes.push(String(chunk));
      return end(chunk, ...rest);
    }) as typeof res.end;
    return handler(req, res);
  });
  cleanups.push(async () => {
    expect(server.rejections).toEqual([]);
    await server.close();
  });
  return { ...server, responses, sockets };
}

/** The pipeline with its `run` replaced (a host's wrapper), everything else passed through. */
const withRun = (pipeline: ZoePipeline, run: ZoePipeline["run"]): ZoePipeline =>
  new Proxy(pipeline, { get: (t, k) => (k === "run" ? run : Reflect.get(t, k)) });

/** A real pipeline on a scripted model; `record` sees every event the adapter is given. */
function realPipeline(script: ScriptStep[], record?: AGUIEvent[]) {
  const backend = scriptedBackend({ script });
  const pipeline = createZoePipeline({ backend, router: fixedRouter() });
  cleanups.push(() => pipeline.close());
  if (!record) return { pipeline, backend };
  async function* run(...args: Parameters<ZoePipeline["run"]>) {
    for await (const event of pipeline.run(...args)) {
      record!.push(event);
      yield event;
    }
  }
  return { pipeline: withRun(pipeline, run), backend };
}

const body = (text = "hi there") => JSON.stringify(runInput(text));

/** A client that reads until the first token, then leaves. */
async function leaveAfterFirstToken(url: string) {
  const controller = new AbortController();
  const streaming = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: body(),
    signal: controller.signal,
  });
  const reader = streaming.body!.getReader();
  let text = "";
  while (!text.includes("TEXT_MESSAGE_CONTENT")) text += new TextDecoder().decode((await reader.read()).value);
  controller.abort();
}

describe("SSE frames are @ag-ui/encoder's, byte for byte", () => {
  it("a whole run over HTTP: the body is exactly the encoder's frames of the events, in order", async () => {
    const events: AGUIEvent[] = [];
    const { pipeline } = realPipeline(
      [
        ...textChunks('Bytes as the encoder writes them: «ünïcödé», "quotes", \\ and\nnew lines. '),
        { type: "delay", ms: 5 },
        ...textChunks("null 0 false"),
      ],
      events,
    );
    const { url } = await serveSpied(pipeline);
    const response = await postJson(url, body(), { accept: "text/event-stream" });
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    expect(events.at(-1)?.type).toBe(EventType.RUN_FINISHED);
    expect(events.length).toBeGreaterThan(20);
    expect(bytes.equals(Buffer.from(frames(events)))).toBe(true);
  });

  it("events with optional fields set to null go through the encoder (which drops them), and still match", async () => {
    const events: AGUIEvent[] = [];
    const { pipeline: inner } = realPipeline(textChunks("with nulls"));
    const withNulls = new Proxy(inner, {
      get: (t, k) =>
        k === "run"
          ? async function* (...args: Parameters<ZoePipeline["run"]>) {
              for await (const event of inner.run(...args)) {
                const e =
                  event.type === EventType.TEXT_MESSAGE_START
                    ? ({ ...event, name: null, rawEvent: { kept: null } } as unknown as AGUIEvent)
                    : event.type === EventType.RUN_STARTED
                      ? ({ ...event, parentRunId: null } as unknown as AGUIEvent)
                      : event;
                events.push(e);
                yield e;
              }
            }
          : Reflect.get(t, k),
    });
    const { url } = await serveSpied(withNulls);
    const text = await (await postJson(url, body())).text();
    expect(text).toBe(frames(events));
    expect(text).not.toContain('"parentRunId"');
    expect(text).not.toContain('"name":null');
    expect(text).toContain('"rawEvent":{"kept":null}');
  });

  it("sseFrame is encodeSSE for any event: nulls, unicode (lone surrogates too), nested values", () => {
    const value = fc.jsonValue();
    const text = fc.string({ unit: "binary" });
    const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null });
    const event = fc.oneof(
      fc.record({ type: fc.constant(EventType.TEXT_MESSAGE_CONTENT), messageId: text, delta: text, rawEvent: optional(value) }),
      fc.record({ type: fc.constant(EventType.TEXT_MESSAGE_START), messageId: text, role: fc.constant("assistant"), name: optional(text) }),
      fc.record({ type: fc.constant(EventType.CUSTOM), name: text, value, timestamp: optional(fc.integer()) }),
      fc.record({ type: fc.constant(EventType.STATE_SNAPSHOT), snapshot: value }),
      fc.record({ type: fc.constant(EventType.RUN_STARTED), threadId: text, runId: text, parentRunId: optional(text) }),
      fc.record({
        type: fc.constant(EventType.RUN_FINISHED),
        threadId: text,
        runId: text,
        result: value,
        outcome: optional(fc.record({ type: fc.constant("success"), pendingToolCallIds: optional(fc.array(text)) })),
      }),
    );
    fc.assert(
      fc.property(event, (e) => {
        expect(sseFrame(e as AGUIEvent)).toBe(encoder.encodeSSE(e as AGUIEvent));
      }),
      { numRuns: 500 },
    );
    expect(() => sseFrame({ ...token("x"), rawEvent: 1n } as unknown as AGUIEvent)).toThrow();
  });

  it("protobuf, when the client names it, is still the encoder's bytes", async () => {
    const events: AGUIEvent[] = [];
    const { pipeline } = realPipeline(textChunks("over protobuf"), events);
    const { url } = await serveSpied(pipeline);
    const response = await postJson(url, body(), { accept: "application/vnd.ag-ui.event+proto" });
    expect(response.headers.get("content-type")).toBe("application/vnd.ag-ui.event+proto");
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(bytes.equals(Buffer.concat(events.map((e) => protoEncoder.encodeBinary(e))))).toBe(true);
  });
});

describe("createAgUiHandler: one write per tick", () => {
  it("the events of one tick go out in one write; the first token at once, the last tick with the end", async () => {
    const ticks = [
      [started(), textStart()],
      [token("one "), token("two "), token("three ")],
      [token("four "), token("five "), token("six "), token("seven ")],
      [token("eight"), textEnd(), finished()],
    ];
    const { url, responses } = await serveSpied(tickPipeline(ticks));
    const text = await (await postJson(url, body())).text();
    expect(text).toBe(frames(ticks.flat()));
    // Head (sent when the run had to wait), first token alone, the rest of its tick, then a write per tick.
    expect(responses[0]).toEqual([
      frames(ticks[0]!),
      frames([token("one ")]),
      frames([token("two "), token("three ")]),
      frames(ticks[2]!),
      frames(ticks[3]!),
    ]);
  });

  it("a run that never waits is one write up to the first token and one with the end", async () => {
    const events = [started(), textStart(), ...Array.from({ length: 30 }, (_, i) => token(`t${i} `)), textEnd(), finished()];
    const { url, responses, sockets } = await serveSpied(tickPipeline([events]));
    expect(await (await postJson(url, body())).text()).toBe(frames(events));
    expect(responses[0]).toEqual([frames(events.slice(0, 3)), frames(events.slice(3))]);
    // And on the socket: the headers with the first token in one write, sent before the rest of the tick; the rest with the end.
    const onSocket = sockets[0]!;
    expect(onSocket).toHaveLength(2);
    expect(onSocket[0]).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(onSocket[0]).toContain(frames(events.slice(0, 3)));
    expect(onSocket[0]).not.toContain("t1 ");
    expect(onSocket[1]).toContain(frames(events.slice(3)));
    expect(onSocket[1]).toMatch(/\r\n0\r\n\r\n$/);
  });

  it("a real run: a burst of tokens between two pauses of the model arrives in one write", async () => {
    const { pipeline } = realPipeline([
      ...textChunks("one two "),
      { type: "delay", ms: 30 },
      ...textChunks("three four five six "),
      { type: "delay", ms: 30 },
      ...textChunks("seven."),
    ]);
    const { url, responses } = await serveSpied(pipeline);
    const text = await (await postJson(url, body())).text();
    await expectValidStream(sseEvents(text));
    const writes = responses[0]!;
    const deltasOf = (chunk: string) => sseEvents(chunk).flatMap((e) => (e.type === EventType.TEXT_MESSAGE_CONTENT ? [e.delta] : []));
    expect(writes.map(deltasOf).filter((d) => d.length > 0)).toEqual([
      ["one "],
      ["two "],
      ["three ", "four ", "five ", "six "],
      ["seven."],
    ]);
    // Far fewer writes than events.
    expect(writes.length).toBeLessThan(sseEvents(text).length / 2);
  });

  it("the stream is accepted by @ag-ui/client's HttpAgent", async () => {
    const { pipeline } = realPipeline([
      ...textChunks("Coalesced "),
      { type: "delay", ms: 10 },
      ...textChunks("frames, "),
      { type: "delay", ms: 10 },
      ...textChunks("parsed by the client."),
    ]);
    const { url } = await serveSpied(pipeline);
    const agent = new HttpAgent({ url, threadId: "thread-coalesced" });
    agent.addMessage({ id: "m1", role: "user", content: "hello" });
    const seen: BaseEvent[] = [];
    await agent.runAgent({}, { onEvent: ({ event }) => void seen.push(event) });
    expect(agent.messages.at(-1)?.content).toBe("Coalesced frames, parsed by the client.");
    expect(seen.at(-1)?.type).toBe(EventType.RUN_FINISHED);
  });
});

describe("createAgUiHandler: backpressure, heartbeats and cancellation with coalesced writes", () => {
  /** A model that yields `count` chunks of `size` characters without ever waiting. */
  const firehose = (count: number, size: number) => {
    const state = { produced: 0, aborted: false };
    const text = "x".repeat(size);
    const backend: ModelBackend = {
      name: "firehose",
      async *chat(_request, { signal }): AsyncGenerator<ChatChunk> {
        signal.addEventListener("abort", () => (state.aborted = true), { once: true });
        for (let i = 0; i < count; i++) {
          state.produced++;
          yield { type: "text", text };
        }
      },
    };
    return { backend, state };
  };

  /** A raw client that sends a run and then reads nothing. */
  const stalledClient = (port: number) => {
    const socket = connect(port, "127.0.0.1");
    const payload = body("flood me");
    socket.write(
      `POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
    );
    socket.pause();
    return socket;
  };

  it("a client that does not read stalls a model that never waits (what one tick buffers is bounded), and gets every token once it reads", async () => {
    const { backend, state } = firehose(6_000, 2_000);
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    cleanups.push(() => pipeline.close());
    const { port } = await serveSpied(pipeline);
    const socket = stalledClient(port);
    await sleep(500);
    const stalledAt = state.produced;
    // Without a bound on what one tick may buffer, all 6,000 (about 12.6 MB of frames) would be produced at once.
    expect(stalledAt).toBeGreaterThan(0);
    expect(stalledAt).toBeLessThan(4_000);
    await sleep(300);
    expect(state.produced).toBe(stalledAt);
    let text = "";
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => (text += d));
    socket.resume();
    await new Promise<void>((resolve) => socket.on("data", () => text.endsWith("0\r\n\r\n") && resolve()));
    expect(state.produced).toBe(6_000);
    expect(text.split('"TEXT_MESSAGE_CONTENT"').length - 1).toBe(6_000);
    expect(text).toContain('"RUN_FINISHED"');
    socket.destroy();
  });

  it("a client that stops reading and then leaves cancels the run the handler was holding back", async () => {
    const { backend, state } = firehose(6_000, 2_000);
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    cleanups.push(() => pipeline.close());
    const { port } = await serveSpied(pipeline);
    const socket = stalledClient(port);
    await sleep(300);
    expect(state.produced).toBeLessThan(4_000);
    expect(pipeline.activeRuns).toBe(1);
    socket.destroy();
    for (let i = 0; i < 100 && pipeline.activeRuns > 0; i++) await sleep(10);
    expect(pipeline.activeRuns).toBe(0);
    expect(state.aborted).toBe(true);
    expect(state.produced).toBeLessThan(6_000);
  });

  it("heartbeats are written alone while the model has not produced a token, and stop at the first token", async () => {
    const ticks = [
      [started(), textStart()],
      [token("late "), token("answer")],
      [textEnd(), finished()],
    ];
    // The model's pause lasts until two heartbeats have been written (a fixed pause could see
    // only one on a busy machine, where the loop may not reach the timers phase for 100 ms).
    let responses: Writes[] = [];
    const twoBeats = async () => {
      const t0 = performance.now();
      while ((responses[0] ?? []).filter((w) => w === HEARTBEAT).length < 2 && performance.now() - t0 < 5_000) await sleep(5);
    };
    const served = await serveSpied(tickPipeline(ticks, twoBeats), { heartbeatMs: 30 });
    const { url } = served;
    responses = served.responses;
    const text = await (await postJson(url, body())).text();
    expect(text.replaceAll(HEARTBEAT, "")).toBe(frames(ticks.flat()));
    const writes = responses[0]!;
    const firstToken = writes.findIndex((w) => w.includes("TEXT_MESSAGE_CONTENT"));
    const beats = writes.filter((w) => w === HEARTBEAT).length;
    expect(beats).toBeGreaterThanOrEqual(2);
    expect(writes.slice(firstToken).includes(HEARTBEAT)).toBe(false);
    expect(writes.every((w) => w === HEARTBEAT || !w.includes(": heartbeat"))).toBe(true);
    await expectValidStream(sseEvents(text));
  });

  it("a client that disconnects mid-stream cancels the run and its model request", async () => {
    const backend = scriptedBackend({ script: textChunks("one two three four five six seven eight nine ten"), chunkDelayMs: 40 });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    cleanups.push(() => pipeline.close());
    const { url } = await serveSpied(pipeline);
    await leaveAfterFirstToken(url);
    for (let i = 0; i < 100 && backend.cancelled === 0; i++) await sleep(10);
    expect(backend.cancelled).toBe(1);
    expect(backend.active).toBe(0);
    expect(pipeline.activeRuns).toBe(0);
  });
});

describe("createAgUiHandler: a client that leaves cancels the run, with or without a signal", () => {
  it("createZoePipeline's run gets no AbortSignal; leaving returns its iterator, which stops a model waiting between two chunks", async () => {
    // The second chunk would come after 30 s: only a cancellation that reaches the waiting model ends this run.
    const backend = scriptedBackend({ script: textChunks("one two three"), chunkDelayMs: 30_000 });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    cleanups.push(() => pipeline.close());
    const seen: Array<{ signal?: AbortSignal } | undefined> = [];
    const run = markReturnCancels((...args: Parameters<ZoePipeline["run"]>) => {
      seen.push(args[1]);
      return pipeline.run(...args);
    });
    const { url } = await serveSpied(withRun(pipeline, run));
    await leaveAfterFirstToken(url);
    for (let i = 0; i < 200 && backend.cancelled === 0; i++) await sleep(10);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.signal).toBeUndefined();
    expect(backend.cancelled).toBe(1);
    expect(backend.active).toBe(0);
    expect(pipeline.activeRuns).toBe(0);
  });

  it("a pipeline whose run is a wrapper (an async generator) gets a signal, which stops it while it waits between two events", async () => {
    const backend = scriptedBackend({ script: textChunks("one two three"), chunkDelayMs: 30_000 });
    const inner = createZoePipeline({ backend, router: fixedRouter() });
    cleanups.push(() => inner.close());
    const seen: Array<{ signal?: AbortSignal } | undefined> = [];
    let wrapperClosed = false;
    async function* run(...args: Parameters<ZoePipeline["run"]>) {
      seen.push(args[1]);
      try {
        yield* inner.run(...args);
      } finally {
        wrapperClosed = true;
      }
    }
    // A Proxy that forwards everything else: the mark is on createZoePipeline's own run, so this one has none.
    const { url } = await serveSpied(withRun(inner, run));
    await leaveAfterFirstToken(url);
    for (let i = 0; i < 200 && !(backend.cancelled === 1 && wrapperClosed); i++) await sleep(10);
    expect(seen[0]?.signal).toBeInstanceOf(AbortSignal);
    expect(backend.cancelled).toBe(1);
    expect(wrapperClosed).toBe(true);
    expect(inner.activeRuns).toBe(0);
  });
});

describe("a createZoePipeline run is read without a promise per ready event (TAKE_READY)", () => {
  const words = Array.from({ length: 40 }, (_, i) => `w${i} `).join("");
  function zoePipeline(text = words) {
    const pipeline = createZoePipeline({
      backend: scriptedBackend({ script: [...textChunks(text), { type: "done" }] }),
      router: fixedRouter(),
    });
    cleanups.push(() => pipeline.close());
    return pipeline;
  }
  /** Calls of a run's `next()`, counted on the prototype: the run itself is not wrapped. */
  function countNext() {
    const spy = vi.spyOn(RunStream.prototype, "next");
    cleanups.push(async () => spy.mockRestore());
    return () => spy.mock.calls.length;
  }
  const webRequest = () =>
    new Request("http://app.local/agent", { method: "POST", body: body(), headers: { "content-type": "application/json" } });

  // Without TAKE_READY every event is one next() (the background drain after RUN_FINISHED counts too).
  it("createAgUiHandler: the whole answer, valid and in order, with fewer next() calls than events", async () => {
    const calls = countNext();
    const { url } = await serveSpied(zoePipeline());
    const events = sseEvents(await (await postJson(url, body())).text());
    await expectValidStream(events);
    const deltas = events.flatMap((e) => (e.type === EventType.TEXT_MESSAGE_CONTENT ? [e.delta] : []));
    expect(deltas.join("")).toBe(words);
    expect(events.at(-1)?.type).toBe(EventType.RUN_FINISHED);
    expect(calls()).toBeLessThan(events.length);
  });

  it("createAgUiResponse: the same", async () => {
    const calls = countNext();
    const response = await createAgUiResponse(zoePipeline(), webRequest(), { getUserId: () => "u1", heartbeatMs: 0 });
    const events = sseEvents(await response.text());
    await expectValidStream(events);
    expect(events.filter((e) => e.type === EventType.TEXT_MESSAGE_CONTENT)).toHaveLength(40);
    expect(events.at(-1)?.type).toBe(EventType.RUN_FINISHED);
    expect(calls()).toBeLessThan(events.length);
  });

  // A host that wraps the run's iterator to change events (here: redact a word) must see every one
  // of them in its next(), whatever else of the run it passes through.
  const redact = (r: IteratorResult<AGUIEvent>): IteratorResult<AGUIEvent> =>
    r.done || r.value.type !== EventType.TEXT_MESSAGE_CONTENT
      ? r
      : { done: false, value: { ...r.value, delta: r.value.delta.replaceAll("secret", "[redacted]") } };
  type Wrap = (stream: AsyncIterator<AGUIEvent>) => AsyncIterator<AGUIEvent>;
  const wrappers: Record<string, Wrap> = {
    "a Proxy that forwards the rest, bound to the run": (stream) => {
      const wrapped: AsyncIterator<AGUIEvent> = new Proxy(stream, {
        get(target, key) {
          if (key === "next") return () => target.next().then(redact);
          if (key === Symbol.asyncIterator) return () => wrapped;
          const value = Reflect.get(target, key);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      return wrapped;
    },
    "a Proxy that forwards the rest, unbound": (stream) => {
      const next = stream.next.bind(stream);
      return new Proxy(stream, {
        get: (target, key, receiver) => (key === "next" ? () => next().then(redact) : Reflect.get(target, key, receiver)),
      });
    },
    "Object.create with its own next": (stream) => {
      const wrapped = Object.create(stream) as AsyncIterator<AGUIEvent>;
      wrapped.next = () => stream.next().then(redact);
      return wrapped;
    },
    "the run with its next patched": (stream) => {
      const next = stream.next.bind(stream);
      stream.next = () => next().then(redact);
      return stream;
    },
  };
  const wrapping = (pipeline: ZoePipeline, wrap: Wrap): ZoePipeline => {
    const run = markReturnCancels((...args: Parameters<ZoePipeline["run"]>) => {
      const iterator = wrap(pipeline.run(...args)[Symbol.asyncIterator]());
      return { [Symbol.asyncIterator]: () => iterator, next: () => iterator.next(), return: () => iterator.return!() } as never;
    });
    return withRun(pipeline, run);
  };
  const secrets = "the secret is here, another secret there ".repeat(10);
  const check = async (text: string) => {
    const events = sseEvents(text);
    await expectValidStream(events);
    const deltas = events.flatMap((e) => (e.type === EventType.TEXT_MESSAGE_CONTENT ? [e.delta] : []));
    expect(deltas.length).toBeGreaterThan(20);
    expect(deltas.join("")).toBe(secrets.replaceAll("secret", "[redacted]"));
  };
  for (const [name, wrap] of Object.entries(wrappers)) {
    it(`a wrapped run's next() sees every event: ${name}`, async () => {
      const { url } = await serveSpied(wrapping(zoePipeline(secrets), wrap));
      await check(await (await postJson(url, body())).text());
      const response = await createAgUiResponse(wrapping(zoePipeline(secrets), wrap), webRequest(), {
        getUserId: () => "u1",
        heartbeatMs: 0,
      });
      await check(await response.text());
    });
  }
});

describe("createAgUiResponse: one chunk per tick", () => {
  async function chunksOf(response: Response): Promise<string[]> {
    const out: string[] = [];
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    for (let next = await reader.read(); !next.done; next = await reader.read()) out.push(decoder.decode(next.value));
    return out;
  }
  const request = () =>
    new Request("http://app.local/agent", { method: "POST", body: body(), headers: { "content-type": "application/json" } });

  it("the events of one tick are one chunk; the first token at once; the bytes are the encoder's", async () => {
    const ticks = [
      [started(), textStart()],
      [token("one "), token("two "), token("three ")],
      [token("four "), token("five ")],
      [textEnd(), finished()],
    ];
    const pipeline = tickPipeline(ticks);
    const response = await createAgUiResponse(pipeline, request(), { getUserId: () => "u1", heartbeatMs: 0 });
    const chunks = await chunksOf(response);
    expect(chunks.join("")).toBe(frames(ticks.flat()));
    expect(chunks).toEqual([
      frames(ticks[0]!),
      frames([token("one ")]),
      frames([token("two "), token("three ")]),
      frames(ticks[2]!),
      frames(ticks[3]!),
    ]);
    expect(pipeline.closed()).toBe(true);
  });

  it("a run that never waits is two chunks; a cancelled body stops reading the run", async () => {
    const events = [started(), textStart(), ...Array.from({ length: 30 }, (_, i) => token(`t${i} `)), textEnd(), finished()];
    const all = await chunksOf(await createAgUiResponse(tickPipeline([events]), request(), { getUserId: () => "u1" }));
    expect(all).toEqual([frames(events.slice(0, 3)), frames(events.slice(3))]);

    const slow = tickPipeline([[started(), textStart()], ...Array.from({ length: 20 }, (_, i) => [token(`t${i} `)])], 20);
    const response = await createAgUiResponse(slow, request(), { getUserId: () => "u1" });
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    await sleep(60);
    expect(slow.closed()).toBe(true);
    expect(slow.produced()).toBeLessThan(10);
  });
});
