import type { AGUIEvent } from "@ag-ui/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { markReturnCancels } from "../../src/pipeline/return-cancels.js";
import { createAgUiResponse, createZoePipeline, EventType, type AgUiResponseOptions, type ZoePipeline } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { expectValidStream } from "../helpers/ag-ui.js";
import { fixedRouter, sleep } from "../helpers/fixtures.js";
import { runInput } from "../helpers/http.js";
import { sseEvents } from "../hostile/clients.js";

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

function newPipeline(script = textChunks("From a Response.")) {
  const backend = scriptedBackend({ script, chunkDelayMs: 2 });
  const pipeline = createZoePipeline({ backend, router: fixedRouter() });
  cleanups.push(() => pipeline.close());
  return { pipeline, backend };
}

const post = (
  body: string | ReadableStream<Uint8Array> | null,
  headers: Record<string, string> = { "content-type": "application/json" },
  init: RequestInit = {},
) =>
  new Request("http://app.local/agent", {
    method: "POST",
    body,
    headers,
    ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
    ...init,
  } as RequestInit);
const user = { getUserId: () => "u1" } satisfies AgUiResponseOptions;
const codeOf = async (response: Response) => [response.status, ((await response.json()) as { error: { code: string } }).error.code];
const settled = async (pipeline: ZoePipeline) => {
  for (let i = 0; i < 100 && pipeline.activeRuns > 0; i++) await sleep(10);
  return pipeline.activeRuns;
};

function decorate(pipeline: ZoePipeline, map: (event: AGUIEvent, index: number) => AGUIEvent): ZoePipeline {
  async function* run(...args: Parameters<ZoePipeline["run"]>) {
    let i = 0;
    for await (const event of pipeline.run(...args)) yield map(event, i++);
  }
  return new Proxy(pipeline, { get: (target, key) => (key === "run" ? run : Reflect.get(target, key)) });
}

/**
 * A pipeline whose model sends its first chunk at once and the next after 30 s: only a
 * cancellation that reaches the waiting model ends its stream within a test. And a request signal.
 */
function slowModel() {
  const backend = scriptedBackend({ script: textChunks("one two three"), chunkDelayMs: 30_000 });
  const pipeline = createZoePipeline({ backend, router: fixedRouter() });
  cleanups.push(() => pipeline.close());
  return { backend, pipeline, controller: new AbortController() };
}

describe("createAgUiResponse: the same hardening as the Node handler", () => {
  it("the 8.4 KB body nested 4,000 levels deep is a 400 INPUT_TOO_DEEP, and no run is started", async () => {
    const { pipeline, backend } = newPipeline();
    const deep = `{"threadId":"t","runId":"r","messages":[{"id":"m","role":"user","content":"hi"}],"state":{"a":${"[".repeat(4_100)}${"]".repeat(4_100)}}}`;
    expect(await codeOf(await createAgUiResponse(pipeline, post(deep), user))).toEqual([400, "INPUT_TOO_DEEP"]);
    expect(backend.requests).toHaveLength(0);
    expect(pipeline.activeRuns).toBe(0);
  });

  it("a getUserId that throws is a 500 GET_USER_ID_FAILED (or the 401 it names); the promise never rejects", async () => {
    const { pipeline } = newPipeline();
    const stages: string[] = [];
    const body = JSON.stringify(runInput("hi"));
    const throwing = await createAgUiResponse(pipeline, post(body), {
      getUserId: () => {
        throw new Error("bad token");
      },
      onError: (_e, { stage }) => stages.push(stage),
    });
    expect(await codeOf(throwing)).toEqual([500, "GET_USER_ID_FAILED"]);
    expect(stages).toEqual(["getUserId"]);
    const rejecting = await createAgUiResponse(pipeline, post(body), {
      getUserId: () => Promise.reject(Object.assign(new Error("expired"), { statusCode: 401 })),
    });
    expect(await codeOf(rejecting)).toEqual([401, "UNAUTHENTICATED"]);
    const forbidden = await createAgUiResponse(pipeline, post(body), {
      getUserId: () => Promise.reject(Object.assign(new Error("banned"), { status: 403 })),
    });
    expect(await codeOf(forbidden)).toEqual([403, "FORBIDDEN"]);
    // A throwing onError hook changes nothing.
    const hookThrows = await createAgUiResponse(pipeline, post(body), {
      getUserId: () => {
        throw new Error("bad token");
      },
      onError: () => {
        throw new Error("and the hook too");
      },
    });
    expect(await codeOf(hookThrows)).toEqual([500, "GET_USER_ID_FAILED"]);
  });

  it("content types: text/plain, forms and no type are 415; application/*+json is accepted; GET is a 405 with Allow", async () => {
    const { pipeline } = newPipeline();
    const body = JSON.stringify(runInput("hi"));
    for (const type of [
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/json; charset=iso-8859-1",
    ]) {
      expect(await codeOf(await createAgUiResponse(pipeline, post(body, { "content-type": type }), user))).toEqual([
        415,
        "UNSUPPORTED_MEDIA_TYPE",
      ]);
    }
    expect(await codeOf(await createAgUiResponse(pipeline, post(body, {}), user))).toEqual([415, "UNSUPPORTED_MEDIA_TYPE"]);
    const ld = await createAgUiResponse(pipeline, post(body, { "content-type": "application/ld+json" }), user);
    expect(ld.status).toBe(200);
    await ld.text();
    const get = await createAgUiResponse(pipeline, new Request("http://app.local/agent"), user);
    expect(get.headers.get("allow")).toBe("POST");
    expect(await codeOf(get)).toEqual([405, "METHOD_NOT_ALLOWED"]);
  });

  it("size and time limits on the body: declared, streamed, and a body that never ends", async () => {
    const { pipeline } = newPipeline();
    const big = JSON.stringify(runInput("x".repeat(5_000)));
    expect(await codeOf(await createAgUiResponse(pipeline, post(big), { ...user, maxBodyBytes: 1_000 }))).toEqual([413, "BODY_TOO_LARGE"]);
    const streamed = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(new TextEncoder().encode("x".repeat(500)));
        c.close();
      },
    });
    expect(await codeOf(await createAgUiResponse(pipeline, post(streamed), { ...user, maxBodyBytes: 1_000 }))).toEqual([
      413,
      "BODY_TOO_LARGE",
    ]);
    const never = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new TextEncoder().encode('{"threadId":')) });
    expect(await codeOf(await createAgUiResponse(pipeline, post(never), { ...user, bodyTimeoutMs: 50 }))).toEqual([408, "BODY_TIMEOUT"]);
    const broken = new ReadableStream<Uint8Array>({ pull: (c) => c.error(new Error("connection reset")) });
    expect(await codeOf(await createAgUiResponse(pipeline, post(broken), user))).toEqual([400, "BODY_READ_FAILED"]);
  });

  it("a body the framework already read: BODY_ALREADY_READ, or used when handed over as `body`", async () => {
    const { pipeline } = newPipeline();
    const request = post(JSON.stringify(runInput("hi")));
    const parsed = await request.json();
    expect(await codeOf(await createAgUiResponse(pipeline, request, { ...user, onError: () => {} }))).toEqual([500, "BODY_ALREADY_READ"]);
    const handed = await createAgUiResponse(pipeline, request, { ...user, body: parsed });
    expect(sseEvents(await handed.text()).at(-1)?.type).toBe(EventType.RUN_FINISHED);
    const deep = await createAgUiResponse(pipeline, request, { ...user, body: JSON.parse("[".repeat(200) + "]".repeat(200)) });
    expect(await codeOf(deep)).toEqual([400, "INPUT_TOO_DEEP"]);
  });

  it("a body handed over as `body` (text or bytes) is held to maxBodyBytes, as one the adapter reads", async () => {
    const { pipeline, backend } = newPipeline();
    const big = JSON.stringify({ ...runInput("hi"), state: { pad: "x".repeat(5_000) } });
    for (const body of [big, new TextEncoder().encode(big)]) {
      const response = await createAgUiResponse(pipeline, post(null), { ...user, body, maxBodyBytes: 1_000 });
      expect(await codeOf(response)).toEqual([413, "BODY_TOO_LARGE"]);
    }
    expect(backend.requests).toHaveLength(0);
  });

  it("a body locked to another reader (read by a middleware, not yet used) is BODY_ALREADY_READ, not INTERNAL_ERROR", async () => {
    const { pipeline, backend } = newPipeline();
    const request = post(JSON.stringify(runInput("hi")));
    request.body?.getReader();
    const stages: string[] = [];
    const response = await createAgUiResponse(pipeline, request, { ...user, onError: (_e, { stage }) => stages.push(stage) });
    expect(await codeOf(response)).toEqual([500, "BODY_ALREADY_READ"]);
    expect(stages).toEqual(["internal"]);
    expect(backend.requests).toHaveLength(0);
  });

  it("an id from getUserId that the pipeline refuses is the host's failure (500 GET_USER_ID_FAILED, told to onError), not the client's", async () => {
    const { pipeline, backend } = newPipeline();
    for (const id of ["u".repeat(300), "user\uD800"]) {
      const errors: Array<{ error: unknown; stage: string }> = [];
      const response = await createAgUiResponse(pipeline, post(JSON.stringify(runInput("hi"))), {
        getUserId: () => id,
        onError: (error, { stage }) => errors.push({ error, stage }),
      });
      expect(await codeOf(response)).toEqual([500, "GET_USER_ID_FAILED"]);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({
        stage: "getUserId",
        error: expect.objectContaining({ message: expect.stringContaining("userId") }),
      });
    }
    // A client-named id that is too long is still the client's (400).
    const own = await createAgUiResponse(pipeline, post(JSON.stringify({ ...runInput("hi"), threadId: "t".repeat(300) })), user);
    expect(await codeOf(own)).toEqual([400, "INVALID_ID"]);
    expect(backend.requests).toHaveLength(0);
  });

  it("bodyTimeoutMs and heartbeatMs past setTimeout's limit (2^31 − 1 ms) or Infinity wait, rather than firing every millisecond", async () => {
    const backend = scriptedBackend({ script: textChunks("late"), firstChunkDelayMs: 80 });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    cleanups.push(() => pipeline.close());
    for (const ms of [2 ** 31, Number.POSITIVE_INFINITY]) {
      const text = JSON.stringify(runInput("hi"));
      // The body comes in two pieces, 30 ms apart.
      const body = new ReadableStream<Uint8Array>({
        async start(c) {
          c.enqueue(new TextEncoder().encode(text.slice(0, 10)));
          await sleep(30);
          c.enqueue(new TextEncoder().encode(text.slice(10)));
          c.close();
        },
      });
      const response = await createAgUiResponse(pipeline, post(body), { ...user, bodyTimeoutMs: ms, heartbeatMs: ms });
      expect(response.status).toBe(200);
      const streamed = await response.text();
      expect(streamed).not.toContain(": heartbeat");
      expect(sseEvents(streamed).at(-1)?.type).toBe(EventType.RUN_FINISHED);
    }
  });

  it("a client state with its own `__proto__` key keeps it as a key of STATE_SNAPSHOT, not as the snapshot's prototype", async () => {
    const { pipeline } = newPipeline();
    const body = `{"threadId":"t","runId":"r","messages":[{"id":"m","role":"user","content":"hi"}],"tools":[],"context":[],"state":{"__proto__":{"isAdmin":true},"keep":1}}`;
    const events = sseEvents(await (await createAgUiResponse(pipeline, post(body), user)).text());
    const frame = events.find((e) => e.type === EventType.STATE_SNAPSHOT) as { snapshot: Record<string, unknown> };
    expect(Object.keys(frame.snapshot)).toEqual(["__proto__", "keep", "zoe"]);
    expect(Object.getPrototypeOf(frame.snapshot)).toBe(Object.prototype);
    expect((frame.snapshot as { isAdmin?: unknown }).isAdmin).toBeUndefined();
  });

  it("an event that cannot be encoded ends the stream with RUN_ERROR and returns the run's iterator", async () => {
    const { pipeline, backend } = newPipeline(textChunks("one two three four five six seven"));
    const broken = decorate(pipeline, (event) =>
      event.type === EventType.TEXT_MESSAGE_CONTENT ? { ...event, rawEvent: { n: 1n } } : event,
    );
    const stages: string[] = [];
    const response = await createAgUiResponse(broken, post(JSON.stringify(runInput("hi"))), {
      ...user,
      onError: (_e, { stage }) => stages.push(stage),
    });
    expect(response.status).toBe(200);
    const events = sseEvents(await response.text());
    await expectValidStream(events);
    expect(events.at(-1)).toMatchObject({ type: EventType.RUN_ERROR, code: "EVENT_ENCODING_FAILED" });
    expect(stages).toEqual(["encode"]);
    expect(await settled(pipeline)).toBe(0);
    expect(backend.active).toBe(0);
  });

  it("a first event that cannot be encoded is a 500 JSON, and a response cancelled before it is read closes the run", async () => {
    const { pipeline } = newPipeline();
    const broken = decorate(pipeline, (event, i) => (i === 0 ? { ...event, rawEvent: { n: 1n } } : event));
    expect(await codeOf(await createAgUiResponse(broken, post(JSON.stringify(runInput("hi"))), { ...user, onError: () => {} }))).toEqual([
      500,
      "EVENT_ENCODING_FAILED",
    ]);
    expect(await settled(pipeline)).toBe(0);
    const unread = await createAgUiResponse(pipeline, post(JSON.stringify(runInput("hi"))), user);
    await unread.body!.cancel();
    expect(await settled(pipeline)).toBe(0);
  });

  it("a request that aborts while the model waits between two chunks cancels the run (createZoePipeline's, given no signal)", async () => {
    const { backend, pipeline, controller } = slowModel();
    const response = await createAgUiResponse(
      pipeline,
      post(JSON.stringify(runInput("hi")), undefined, { signal: controller.signal }),
      user,
    );
    const reader = response.body!.getReader();
    let text = "";
    while (!text.includes("TEXT_MESSAGE_CONTENT")) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    for (;;) if ((await reader.read()).done) break;
    expect(await settled(pipeline)).toBe(0);
    for (let i = 0; i < 100 && backend.active > 0; i++) await sleep(10);
    expect(backend.active).toBe(0);
    expect(backend.cancelled).toBe(1);
  });

  it("a request aborted before its run starts gets no run: 499 CLIENT_CLOSED_REQUEST, no run:started, no model request", async () => {
    const { pipeline, backend } = newPipeline();
    let started = 0;
    pipeline.on("run:started", () => started++);
    const controller = new AbortController();
    controller.abort();
    const response = await createAgUiResponse(
      pipeline,
      post(JSON.stringify(runInput("hi")), undefined, { signal: controller.signal }),
      user,
    );
    expect(await codeOf(response)).toEqual([499, "CLIENT_CLOSED_REQUEST"]);
    expect(started).toBe(0);
    expect(backend.requests).toHaveLength(0);
    expect(pipeline.activeRuns).toBe(0);
  });

  it("a request that aborts while its run starts cancels the run once the stream is made", async () => {
    const { backend, pipeline, controller } = slowModel();
    // The request aborts after the adapter has started the run, before its first event is read.
    const run = markReturnCancels(async function* (...args: Parameters<ZoePipeline["run"]>) {
      controller.abort();
      yield* pipeline.run(...args);
    });
    const late = new Proxy(pipeline, { get: (t, k) => (k === "run" ? run : Reflect.get(t, k)) });
    const response = await createAgUiResponse(late, post(JSON.stringify(runInput("hi")), undefined, { signal: controller.signal }), user);
    const reader = response.body!.getReader();
    for (;;) if ((await reader.read()).done) break;
    expect(await settled(pipeline)).toBe(0);
    for (let i = 0; i < 100 && backend.active > 0; i++) await sleep(10);
    expect(backend.active).toBe(0);
    // Cancelled before its model request, or while the model waited: never answered in full.
    expect(backend.requests.length - backend.cancelled).toBe(0);
  });

  it("a request that aborts while nobody reads or cancels its body stops the heartbeat as well as the run", async () => {
    // The heartbeat is the body's only interval: every one made with its period must be cleared.
    const made: Array<ReturnType<typeof setInterval>> = [];
    const cleared = new Set<unknown>();
    const realSet = globalThis.setInterval;
    const realClear = globalThis.clearInterval;
    const setSpy = vi.spyOn(globalThis, "setInterval").mockImplementation(((fn: () => void, ms?: number) => {
      const handle = realSet(fn, ms);
      if (ms === 2) made.push(handle);
      return handle;
    }) as typeof setInterval);
    const clearSpy = vi.spyOn(globalThis, "clearInterval").mockImplementation((handle) => {
      cleared.add(handle);
      realClear(handle);
    });
    cleanups.push(async () => {
      setSpy.mockRestore();
      clearSpy.mockRestore();
      for (const handle of made) realClear(handle);
    });
    for (const wrapped of [false, true]) {
      // The model waits: the body's queue fills with heartbeats, then the run sends more events
      // with no pull waiting; the request aborts and the body is never cancelled (a client that left).
      const backend = scriptedBackend({ script: textChunks("late answer"), firstChunkDelayMs: 30_000 });
      const pipeline = createZoePipeline({
        backend,
        router: fixedRouter(),
        providers: [{ name: "slow", ttlMs: 0, fetch: () => sleep(60).then(() => "ctx") }],
      });
      cleanups.push(() => pipeline.close());
      const controller = new AbortController();
      const response = await createAgUiResponse(
        wrapped ? decorate(pipeline, (e) => e) : pipeline,
        post(JSON.stringify(runInput("hi")), undefined, { signal: controller.signal }),
        { ...user, heartbeatMs: 2 },
      );
      expect(response.status).toBe(200);
      await sleep(150);
      controller.abort();
      expect(await settled(pipeline)).toBe(0);
      for (let i = 0; i < 100 && backend.active > 0; i++) await sleep(10);
      expect([backend.requests.length, backend.cancelled, backend.active]).toEqual([1, 1, 0]);
      expect(made.length).toBe(wrapped ? 2 : 1);
      expect(
        made.filter((h) => !cleared.has(h)),
        wrapped ? "a wrapped run" : "a createZoePipeline run",
      ).toEqual([]);
    }
  });
});
