import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { dedupeBackend, requestKey } from "../../src/backends/dedupe.js";
import { createZoePipeline, EventType, type ChatChunk, type ModelBackend } from "../../src/index.js";
import { runValid, terminal, textOf } from "../helpers/ag-ui.js";
import { textSteps } from "../helpers/fake-ollama.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { ask, drain, failure, onCleanup, setup, text } from "../ollama/helpers.js";

const REPLY = "one two three four five six seven eight nine ten";
const slow = { reply: REPLY, chunkDelayMs: 20 };

/** Read a stream, calling `onChunk` after each chunk; never throws. */
async function read(stream: AsyncIterable<ChatChunk>, onChunk?: (chunks: ChatChunk[]) => boolean | undefined) {
  const chunks: ChatChunk[] = [];
  try {
    for await (const chunk of stream) {
      chunks.push(chunk);
      if (onChunk?.(chunks) === true) break;
    }
  } catch (error) {
    return { chunks, error };
  }
  return { chunks, error: undefined };
}

describe("dedupeBackend", () => {
  it("50 identical concurrent requests make ONE backend request; every consumer gets the whole answer", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": slow } });
    const dedupe = dedupeBackend(backend);
    const first = Array.from({ length: 25 }, () => drain(dedupe.chat(ask("count to ten"), { signal: new AbortController().signal })));
    // the other 25 join mid-stream: they get the buffered chunks replayed, then the live ones
    await new Promise((resolve) => setTimeout(resolve, 70));
    expect(dedupe.stats().inFlight).toBe(1);
    const late = Array.from({ length: 25 }, () => drain(dedupe.chat(ask("count to ten"), { signal: new AbortController().signal })));
    const all = await Promise.all([...first, ...late]);
    expect(server.chats()).toHaveLength(1);
    for (const chunks of all) {
      expect(text(chunks)).toBe(REPLY);
      expect(chunks.at(-1)?.type).toBe("done");
      expect(chunks).toEqual(all[0]);
    }
    expect(dedupe.stats()).toEqual({ generations: 1, joined: 49, inFlight: 0 });
    // not a cache: the same request after the end is a new generation
    await drain(dedupe.chat(ask("count to ten"), { signal: new AbortController().signal }));
    expect(server.chats()).toHaveLength(2);
  });

  it("different requests are not shared; the key covers model, options, tools, think and messages", async () => {
    // `think: true` below needs a model that can think: Ollama answers 400 otherwise (routes.go ChatHandler)
    const { server, backend } = await setup({
      models: { "llama3.2": { reply: "hi", capabilities: ["completion", "tools", "thinking"] }, qwen3: { reply: "hi" } },
    });
    const dedupe = dedupeBackend(backend);
    const s = new AbortController().signal;
    await Promise.all([
      drain(dedupe.chat(ask("a"), { signal: s })),
      drain(dedupe.chat(ask("b"), { signal: s })),
      drain(dedupe.chat(ask("a", "qwen3"), { signal: s })),
      drain(dedupe.chat(ask("a", "llama3.2", { think: true }), { signal: s })),
      drain(dedupe.chat(ask("a", "llama3.2", { options: { temperature: 0.1 } }), { signal: s })),
    ]);
    expect(server.chats()).toHaveLength(5);
    // key order inside objects does not matter
    expect(requestKey({ model: "m", messages: [], options: { temperature: 1, top_p: 0.5 } })).toBe(
      requestKey({ messages: [], options: { top_p: 0.5, temperature: 1 }, model: "m" }),
    );
  });

  it("a key function returning undefined bypasses sharing", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": { reply: "hi" } } });
    const dedupe = dedupeBackend(backend, { key: () => undefined });
    const s = new AbortController().signal;
    await Promise.all([drain(dedupe.chat(ask("a"), { signal: s })), drain(dedupe.chat(ask("a"), { signal: s }))]);
    expect(server.chats()).toHaveLength(2);
  });

  it("one of two consumers aborting (signal) does not stop the generation; the other gets it all", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": slow } });
    const dedupe = dedupeBackend(backend);
    const a = new AbortController();
    const reason = new DOMException("stop", "AbortError");
    const first = read(dedupe.chat(ask("x"), { signal: a.signal }), (chunks) => {
      if (chunks.length === 2) a.abort(reason);
    });
    const second = drain(dedupe.chat(ask("x"), { signal: new AbortController().signal }));
    const [aborted, whole] = await Promise.all([first, second]);
    expect(aborted.error).toBe(reason);
    expect(aborted.chunks.length).toBe(2);
    expect(text(whole)).toBe(REPLY);
    const request = server.chats()[0]!;
    await request.closed;
    expect(server.chats()).toHaveLength(1);
    expect(request.finished).toBe(true);
    expect(request.closedByClient).toBe(false);
    // no listener left on the signals
    expect(getEventListeners(a.signal, "abort")).toHaveLength(0);
  });

  it("one of two consumers leaving its loop (return()) does not stop the generation", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": slow } });
    const dedupe = dedupeBackend(backend);
    const first = read(dedupe.chat(ask("x"), { signal: new AbortController().signal }), (chunks) => chunks.length === 1);
    const second = drain(dedupe.chat(ask("x"), { signal: new AbortController().signal }));
    const [left, whole] = await Promise.all([first, second]);
    expect(left.chunks).toHaveLength(1);
    expect(text(whole)).toBe(REPLY);
    await server.chats()[0]!.closed;
    expect(server.chats()[0]!.closedByClient).toBe(false);
  });

  it("when every consumer leaves, the inner request is aborted (the server sees the client close it)", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": slow } });
    const dedupe = dedupeBackend(backend);
    const a = new AbortController();
    const b = new AbortController();
    const first = read(dedupe.chat(ask("x"), { signal: a.signal }), (chunks) => {
      if (chunks.length === 1) a.abort();
    });
    const second = read(dedupe.chat(ask("x"), { signal: b.signal }), (chunks) => {
      if (chunks.length === 3) b.abort();
    });
    const [ra, rb] = await Promise.all([first, second]);
    expect(ra.error).toBeDefined();
    expect(rb.error).toBeDefined();
    const request = server.chats()[0]!;
    await request.closed;
    expect(request.closedByClient).toBe(true);
    expect(request.finished).toBe(false);
    expect(dedupe.stats().inFlight).toBe(0);
    expect(backend.active).toBe(0);
  });

  it("the last consumer leaving by return() aborts the inner request too", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": slow } });
    const dedupe = dedupeBackend(backend);
    await Promise.all([
      read(dedupe.chat(ask("x"), { signal: new AbortController().signal }), (c) => c.length === 1),
      read(dedupe.chat(ask("x"), { signal: new AbortController().signal }), (c) => c.length === 2),
    ]);
    const request = server.chats()[0]!;
    await request.closed;
    expect(request.closedByClient).toBe(true);
  });

  it("an error of the shared generation reaches every consumer", async () => {
    const { server, backend } = await setup({
      models: { "llama3.2": {} },
      script: () => [...textSteps("partial answer"), { type: "delay", ms: 30 }, { type: "error-line", error: "model crashed" }],
    });
    const dedupe = dedupeBackend(backend);
    const results = await Promise.all(
      Array.from({ length: 3 }, () => failure(dedupe.chat(ask("x"), { signal: new AbortController().signal }))),
    );
    expect(server.chats()).toHaveLength(1);
    for (const r of results) {
      expect(r.error).toMatchObject({ code: "STREAM_ERROR" });
      expect(text(r.chunks)).toBe("partial answer");
    }
    expect(dedupe.stats().inFlight).toBe(0);
  });

  it("a backend whose chat() throws at once fails every consumer (no hang, nothing left in flight)", async () => {
    const boom = new Error("boom");
    const dedupe = dedupeBackend({
      name: "broken",
      chat: () => {
        throw boom;
      },
    });
    const results = await Promise.all([1, 2].map(() => failure(dedupe.chat(ask("x"), { signal: new AbortController().signal }))));
    for (const r of results) expect(r.error).toBe(boom);
    expect(dedupe.stats().inFlight).toBe(0);
  });

  it("passes prewarm, loaded, close and embed through", async () => {
    const calls: string[] = [];
    const inner: ModelBackend = {
      name: "inner",
      chat: async function* () {},
      prewarm: async (models) => (calls.push("prewarm"), models.map((model) => ({ model, ok: true, loadMs: 0 }))),
      loaded: async () => (calls.push("loaded"), ["m"]),
      close: async () => void calls.push("close"),
      embed: async () => (calls.push("embed"), [[1, 2]]),
    };
    const dedupe = dedupeBackend(inner);
    expect(dedupe.name).toBe("inner");
    expect(await dedupe.prewarm!(["m"])).toEqual([{ model: "m", ok: true, loadMs: 0 }]);
    expect(await dedupe.loaded!()).toEqual(["m"]);
    expect(await dedupe.embed!(["x"], { signal: new AbortController().signal })).toEqual([[1, 2]]);
    await dedupe.close!();
    expect(calls).toEqual(["prewarm", "loaded", "embed", "close"]);
    const bare = dedupeBackend({ name: "bare", chat: async function* () {} });
    expect(bare.prewarm).toBeUndefined();
    expect(bare.embed).toBeUndefined();
  });

  it("through the pipeline: 50 identical concurrent runs make one backend request, all valid and complete", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": slow } });
    const dedupe = dedupeBackend(backend);
    const pipeline = createZoePipeline({ backend: dedupe, router: fixedRouter("chat", "llama3.2") });
    onCleanup(() => pipeline.close());
    const runs = await Promise.all(
      Array.from({ length: 50 }, (_, i) => runValid(pipeline.run({ userId: "ada", threadId: `t${i}`, message: "Count to ten." }))),
    );
    expect(server.chats()).toHaveLength(1);
    for (const events of runs) {
      expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
      expect(textOf(events)).toBe(REPLY);
    }
    expect(dedupe.stats()).toMatchObject({ generations: 1, joined: 49, inFlight: 0 });
  });

  it("through the pipeline: a cancelled run does not disturb the others sharing its generation", async () => {
    const { server, backend } = await setup({ models: { "llama3.2": slow } });
    const dedupe = dedupeBackend(backend);
    const pipeline = createZoePipeline({ backend: dedupe, router: fixedRouter("chat", "llama3.2") });
    onCleanup(() => pipeline.close());
    const stop = new AbortController();
    const cancelled = (async () => {
      const events = [];
      for await (const event of pipeline.run({ userId: "ada", threadId: "a", message: "Count." }, { signal: stop.signal })) {
        events.push(event);
        if (event.type === EventType.TEXT_MESSAGE_CONTENT) stop.abort();
      }
      return events;
    })();
    const whole = runValid(pipeline.run({ userId: "ada", threadId: "b", message: "Count." }));
    const [c, w] = await Promise.all([cancelled, whole]);
    expect(terminal(c)).toMatchObject({ type: EventType.RUN_FINISHED, outcome: { type: "cancelled" } });
    expect(textOf(w)).toBe(REPLY);
    expect(server.chats()).toHaveLength(1);
    expect(server.chats()[0]!.closedByClient).toBe(false);
  });
});
