import { connect } from "node:net";
import { HttpAgent, type BaseEvent } from "@ag-ui/client";
import { afterEach, describe, expect, it } from "vitest";
import { createAgUiResponse, createZoePipeline, EventType, type ChatChunk, type ModelBackend, type ZoePipeline } from "../../src/index.js";
import { createAgUiHandler } from "../../src/express/index.js";
import { scriptedBackend, textChunks, type ScriptedBackend } from "../../src/testing/index.js";
import { fixedRouter, sleep, testProvider } from "../helpers/fixtures.js";
import { listen } from "../helpers/http.js";

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function serve(pipeline: ZoePipeline, options: Parameters<typeof createAgUiHandler>[1]) {
  const server = await listen(createAgUiHandler(pipeline, options));
  cleanups.push(
    () => server.close(),
    () => pipeline.close(),
  );
  return server;
}

/** Run an HttpAgent turn; return the events it saw (it verifies them itself) and the agent. */
async function agentRun(url: string, text: string, init: { fetch?: typeof fetch; abortAfter?: (e: BaseEvent) => boolean } = {}) {
  const agent = new HttpAgent({ url, threadId: "thread-1", ...(init.fetch ? { fetch: init.fetch } : {}) });
  agent.addMessage({ id: `m-${Math.random()}`, role: "user", content: text });
  const events: BaseEvent[] = [];
  let failure: unknown;
  await agent
    .runAgent(
      { forwardedProps: {} },
      {
        onEvent: ({ event }) => {
          events.push(event);
          if (init.abortAfter?.(event)) agent.abortRun();
        },
      },
    )
    .catch((error: unknown) => (failure = error));
  return { agent, events, failure };
}

const withUser = (userId: string) => ({ getUserId: () => userId });

describe("HTTP adapter (Node http / Express) judged by @ag-ui/client HttpAgent", () => {
  it("streams a normal run; the client rebuilds the assistant message", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend({ script: textChunks("Hello over HTTP.") }), router: fixedRouter() });
    const { url } = await serve(pipeline, withUser("u1"));
    const { agent, events, failure } = await agentRun(url, "hi there, how are you");
    expect(failure).toBeUndefined();
    expect(events[0]?.type).toBe(EventType.RUN_STARTED);
    expect(events.at(-1)?.type).toBe(EventType.RUN_FINISHED);
    const assistant = agent.messages.find((m) => m.role === "assistant");
    expect(assistant?.content).toBe("Hello over HTTP.");
    expect((agent.state as any).zoe.stage).toBe("done");
  });

  it("shows a provider timeout in the client's state and still answers", async () => {
    const slow = testProvider("search", "late", { delayMs: 2_000, timeoutMs: 30 });
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), providers: [slow] });
    const { url } = await serve(pipeline, withUser("u1"));
    const { agent, failure } = await agentRun(url, "find my notes");
    expect(failure).toBeUndefined();
    expect((agent.state as any).zoe.providers.search.status).toBe("timeout");
    expect(agent.messages.at(-1)?.content).toBe("Hello from the scripted model.");
  });

  it("ends with RUN_ERROR when the model fails", async () => {
    const backend = scriptedBackend({ script: [{ type: "error", message: "the model is gone", code: "MODEL_NOT_FOUND" }] });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const { url } = await serve(pipeline, withUser("u1"));
    const { events } = await agentRun(url, "anything");
    const last = events.at(-1) as { type: string; code?: string };
    expect(last.type).toBe(EventType.RUN_ERROR);
    expect(last.code).toBe("MODEL_NOT_FOUND");
  });

  it("a client abort cancels the run and the model request on the server", async () => {
    const backend = scriptedBackend({ script: textChunks("one two three four five six seven eight"), chunkDelayMs: 150 });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const { url } = await serve(pipeline, withUser("u1"));
    await agentRun(url, "talk to me", { abortAfter: (e) => e.type === EventType.TEXT_MESSAGE_CONTENT });
    for (let i = 0; i < 50 && backend.cancelled === 0; i++) await sleep(20);
    expect(backend.cancelled).toBe(1);
    expect(backend.active).toBe(0);
    expect(pipeline.activeRuns).toBe(0);
  });

  it("answers bad JSON and bad input with 400 and a JSON error, no user with 401, GET with 405", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter() });
    let user: string | undefined = "u1";
    const { url } = await serve(pipeline, { getUserId: () => user });
    const post = (body: string) => fetch(url, { method: "POST", body, headers: { "content-type": "application/json" } });
    const badJson = await post("{nope");
    expect(badJson.status).toBe(400);
    expect(((await badJson.json()) as any).error.code).toBe("INVALID_JSON");
    const empty = await post(
      JSON.stringify({ threadId: "t", runId: "r", messages: [{ id: "m", role: "user", content: "  " }], tools: [], context: [] }),
    );
    expect(empty.status).toBe(400);
    expect(await empty.json()).toEqual({ error: { code: "EMPTY_MESSAGE", message: expect.stringMatching(/empty/) } });
    const noIds = await post(JSON.stringify({ messages: [] }));
    expect(noIds.status).toBe(400);
    expect(((await noIds.json()) as any).error.code).toBe("MISSING_IDS");
    user = undefined;
    const anon = await post(JSON.stringify({ threadId: "t", runId: "r", messages: [{ id: "m", role: "user", content: "hi" }] }));
    expect(anon.status).toBe(401);
    expect((await fetch(url)).status).toBe(405);
    expect(pipeline.activeRuns).toBe(0);
  });

  it("sends heartbeat comments before the first token, and the client still parses the stream", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend({ firstChunkDelayMs: 250 }), router: fixedRouter() });
    const { url } = await serve(pipeline, { ...withUser("u1"), heartbeatMs: 40 });
    const response = await fetch(url, {
      method: "POST",
      headers: { accept: "text/event-stream", "content-type": "application/json" },
      body: JSON.stringify({ threadId: "t", runId: "r", messages: [{ id: "m", role: "user", content: "hello?" }], tools: [], context: [] }),
    });
    const text = await response.text();
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const beats = text.split(": heartbeat\n\n").length - 1;
    expect(beats).toBeGreaterThanOrEqual(2);
    expect(text.lastIndexOf(": heartbeat")).toBeLessThan(text.indexOf("TEXT_MESSAGE_CONTENT"));
    const { failure, agent } = await agentRun(url, "hello again");
    expect(failure).toBeUndefined();
    expect(agent.messages.at(-1)?.content).toBe("Hello from the scripted model.");
  });

  it("sends protobuf only when the client names it; */* gets SSE", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter() });
    const { url } = await serve(pipeline, withUser("u1"));
    const body = JSON.stringify({
      threadId: "t",
      runId: "r",
      messages: [{ id: "m", role: "user", content: "hi" }],
      tools: [],
      context: [],
    });
    const any = await fetch(url, { method: "POST", headers: { accept: "*/*", "content-type": "application/json" }, body });
    expect(any.headers.get("content-type")).toMatch(/^text\/event-stream/);
    await any.text();
    const proto = await fetch(url, {
      method: "POST",
      headers: { accept: "application/vnd.ag-ui.event+proto", "content-type": "application/json" },
      body,
    });
    expect(proto.headers.get("content-type")).toBe("application/vnd.ag-ui.event+proto");
    expect((await proto.arrayBuffer()).byteLength).toBeGreaterThan(50);
    // q=0 means "not acceptable" (RFC 9110): SSE, even though the type is named.
    for (const accept of ["text/event-stream, application/vnd.ag-ui.event+proto;q=0", "application/vnd.ag-ui.event+proto; q=0.0"]) {
      const refused = await fetch(url, { method: "POST", headers: { accept, "content-type": "application/json" }, body });
      expect(refused.headers.get("content-type")).toMatch(/^text\/event-stream/);
      await refused.text();
    }
    const weighted = await fetch(url, {
      method: "POST",
      headers: { accept: "text/event-stream;q=0.5, Application/vnd.ag-ui.event+proto;q=0.9", "content-type": "application/json" },
      body,
    });
    expect(weighted.headers.get("content-type")).toBe("application/vnd.ag-ui.event+proto");
    await weighted.arrayBuffer();
  });

  it("applies backpressure to a client that does not read: the model is not driven ahead", async () => {
    let produced = 0;
    const big = "x".repeat(4096);
    const backend: ModelBackend = {
      name: "firehose",
      async *chat(): AsyncGenerator<ChatChunk> {
        for (let i = 0; i < 5_000; i++) {
          produced++;
          yield { type: "text", text: big };
        }
      },
    };
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const { port } = await serve(pipeline, withUser("u1"));
    const socket = connect(port, "127.0.0.1");
    const body = JSON.stringify({
      threadId: "t",
      runId: "r",
      messages: [{ id: "m", role: "user", content: "flood me" }],
      tools: [],
      context: [],
    });
    socket.write(
      `POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    socket.pause(); // a reader that reads nothing
    await sleep(500);
    const stalledAt = produced;
    expect(stalledAt).toBeLessThan(1_000); // ~20 MB would have been produced without backpressure
    await sleep(300);
    expect(produced).toBe(stalledAt);
    let received = 0;
    socket.on("data", (d: Buffer) => (received += d.length));
    socket.resume();
    await new Promise<void>((resolve) => socket.on("data", () => produced === 5_000 && resolve()));
    expect(received).toBeGreaterThan(4096 * 1_000);
    socket.destroy();
  });
});

describe("Web Response adapter (fetch-style frameworks)", () => {
  const pipelineWith = (backend: ScriptedBackend) => {
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    cleanups.push(() => pipeline.close());
    return pipeline;
  };

  it("streams a run the HttpAgent accepts", async () => {
    const pipeline = pipelineWith(scriptedBackend({ script: textChunks("From a Response.") }));
    const fetchVia = (async (input: string | URL | Request, init?: RequestInit) =>
      createAgUiResponse(pipeline, new Request(input, init), { getUserId: () => "u1" })) as typeof fetch;
    const { agent, failure } = await agentRun("http://app.local/agent", "hello", { fetch: fetchVia });
    expect(failure).toBeUndefined();
    expect(agent.messages.at(-1)?.content).toBe("From a Response.");
  });

  it("answers bad input with 400 JSON and no user with 401", async () => {
    const pipeline = pipelineWith(scriptedBackend());
    const post = (body: string) => new Request("http://x/", { method: "POST", body, headers: { "content-type": "application/json" } });
    const bad = await createAgUiResponse(pipeline, post("{"), { getUserId: () => "u1" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.code).toBe("INVALID_JSON");
    const anon = await createAgUiResponse(pipeline, post("{}"), { getUserId: () => undefined });
    expect(anon.status).toBe(401);
  });

  it("cancelling the body cancels the model request", async () => {
    const backend = scriptedBackend({ script: textChunks("a b c d e f g h"), chunkDelayMs: 100 });
    const pipeline = pipelineWith(backend);
    const response = await createAgUiResponse(
      pipeline,
      new Request("http://x/", {
        method: "POST",
        body: JSON.stringify({ userId: "u", message: "go" }),
        headers: { "content-type": "application/json" },
      }),
      { allowClientUserId: true },
    );
    const reader = response.body!.getReader();
    let text = "";
    while (!text.includes("TEXT_MESSAGE_CONTENT")) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    for (let i = 0; i < 50 && backend.cancelled === 0; i++) await sleep(20);
    expect(backend.cancelled).toBe(1);
    expect(pipeline.activeRuns).toBe(0);
  });
});
