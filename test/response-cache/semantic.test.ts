import { afterEach, describe, expect, it } from "vitest";
import { createZoePipeline, type RouteDecision, type RouteKind, type Router, type ZoePipeline } from "../../src/index.js";
import { ollamaBackend } from "../../src/ollama/index.js";
import { scriptedBackend } from "../../src/testing/index.js";
import { runValid, textOf } from "../helpers/ag-ui.js";
import { startFakeOllama, type FakeOllama, type FakeOllamaOptions } from "../helpers/fake-ollama.js";
import { answerState, at, cacheMetrics, metricsOf } from "./helpers.js";
import type { Tool } from "@ag-ui/core";
import type { SemanticCacheOptions } from "../../src/index.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

const REPLY = "Because of Rayleigh scattering.";

/** The test decides each question's vector. */
const VECTORS: Record<string, number[]> = {
  "Why is the sky blue?": at(1),
  "Why's the sky blue?": at(0.96),
  "What colour is the sky?": at(0.9),
  "Why is the sky so blue?": at(0.97),
  "slow question": at(1),
};

/** A router whose kind the test switches. */
function switchRouter(): Router & { kind: RouteKind } {
  const router = {
    kind: "chat" as RouteKind,
    route(): RouteDecision {
      return { model: "llama3.2", kind: router.kind, fastPath: false, reason: "test", options: {} };
    },
  };
  return router;
}

async function setup(semantic: SemanticCacheOptions = {}, fake: Partial<FakeOllamaOptions> = {}) {
  const server: FakeOllama = await startFakeOllama({
    models: { "llama3.2": { reply: REPLY }, "nomic-embed-text": {} },
    embed: (input) => VECTORS[input] ?? at(0),
    ...fake,
  });
  cleanups.push(() => server.close());
  const backend = ollamaBackend({ host: server.url, embedModel: "nomic-embed-text" });
  const router = switchRouter();
  // A generous deadline (the default is 150 ms): a cold first request on a busy test machine can be slower.
  const pipeline: ZoePipeline = createZoePipeline({ backend, router, responseCache: { semantic: { timeoutMs: 2_000, ...semantic } } });
  cleanups.push(() => pipeline.close());
  const embeds = () => server.requests.filter((r) => r.path === "/api/embed");
  return { server, backend, router, pipeline, embeds };
}

describe("semantic response cache (embeddings from Ollama's /api/embed)", () => {
  it("hits above the threshold (0.96) and misses below it (0.90)", async () => {
    const { server, pipeline, embeds } = await setup();
    const first = await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Why is the sky blue?" }));
    expect(textOf(first)).toBe(REPLY);
    expect(cacheMetrics(first)).toMatchObject({ hit: false, stored: true, semantic: { status: "miss" } });

    const close = await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "Why's the sky blue?" }));
    expect(textOf(close)).toBe(REPLY);
    expect(answerState(close)).toEqual({ hit: true, kind: "semantic", similarity: 0.96 });
    expect(cacheMetrics(close)).toMatchObject({ hit: true, kind: "semantic", semantic: { status: "hit", similarity: 0.96 } });
    expect(server.chats()).toHaveLength(1);
    const hitMetrics = metricsOf(close);
    console.log(
      `[response-cache] semantic hit over HTTP /api/embed: ttft ${hitMetrics.ttftMs} ms, embed ${hitMetrics.answerCache?.semantic?.embedMs} ms, lookup ${hitMetrics.answerCache?.lookupMs} ms; miss ttft ${metricsOf(first).ttftMs} ms`,
    );

    const far = await runValid(pipeline.run({ userId: "ada", threadId: "t3", message: "What colour is the sky?" }));
    expect(answerState(far)).toEqual({ hit: false });
    expect(cacheMetrics(far).semantic).toMatchObject({ status: "miss", similarity: 0.9 });
    expect(server.chats()).toHaveLength(2);
    expect(cacheMetrics(far).totals).toMatchObject({ lookups: 3, hits: 1, semanticHits: 1, hitRate: 0.3333 });
    expect(embeds().map((r) => (r.body as { input?: unknown }).input)).toEqual([
      ["Why is the sky blue?"],
      ["Why's the sky blue?"],
      ["What colour is the sky?"],
    ]);
    expect(embeds().every((r) => r.body?.model === "nomic-embed-text")).toBe(true);
  });

  it("respects its threshold option", async () => {
    const { server, pipeline } = await setup({ threshold: 0.85 });
    await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Why is the sky blue?" }));
    const far = await runValid(pipeline.run({ userId: "ada", threadId: "t3", message: "What colour is the sky?" }));
    expect(answerState(far)).toMatchObject({ hit: true, kind: "semantic" });
    expect(server.chats()).toHaveLength(1);
  });

  it("is scoped by user and by route kind", async () => {
    const { server, router, pipeline } = await setup();
    await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Why is the sky blue?" }));
    const bob = await runValid(pipeline.run({ userId: "bob", threadId: "t1", message: "Why's the sky blue?" }));
    expect(answerState(bob)).toEqual({ hit: false });
    expect(server.chats()).toHaveLength(2);

    router.kind = "code";
    const code = await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "Why's the sky blue?" }));
    expect(answerState(code)).toEqual({ hit: false });
    expect(server.chats()).toHaveLength(3);

    // (That answer is now in the exact cache too: the kind did not change the prompt. Ask another way.)
    router.kind = "chat";
    const chat = await runValid(pipeline.run({ userId: "ada", threadId: "t3", message: "Why is the sky so blue?" }));
    expect(answerState(chat)).toMatchObject({ hit: true, kind: "semantic" });
    expect(server.chats()).toHaveLength(3);
  });

  it("is scoped by the tools the model is offered: an answer given without a tool is not served to a request that offers one", async () => {
    const { server, pipeline } = await setup();
    const weather = { name: "get_weather", description: "The weather where the user is.", parameters: { type: "object", properties: {} } };
    const withTools = (message: string, tools: Tool[], id: string) => ({
      threadId: `t-${id}`,
      runId: `r-${id}`,
      messages: [{ id: `m-${id}`, role: "user" as const, content: message }],
      tools,
      context: [],
      state: {},
      forwardedProps: {},
    });
    await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Why is the sky blue?" }));
    // The same question, now with a frontend tool the model could call: asked of the model.
    const offered = await runValid(pipeline.run(withTools("Why's the sky blue?", [weather], "a"), { userId: "ada" }));
    expect(answerState(offered)).toEqual({ hit: false });
    expect(server.chats()).toHaveLength(2);
    expect(server.chats()[1]?.body?.tools).toHaveLength(1);
    // With the same tools, the answer given with them is served; with another tool it is not.
    const same = await runValid(pipeline.run(withTools("Why is the sky so blue?", [weather], "b"), { userId: "ada" }));
    expect(answerState(same)).toMatchObject({ hit: true, kind: "semantic" });
    const other = { ...weather, name: "get_forecast" };
    const changed = await runValid(pipeline.run(withTools("Why is the sky so blue?", [other], "c"), { userId: "ada" }));
    expect(answerState(changed)).toEqual({ hit: false });
    expect(server.chats()).toHaveLength(3);
    // Without tools, the first answer is still served.
    const none = await runValid(pipeline.run({ userId: "ada", threadId: "t5", message: "Why is the sky so blue?" }));
    expect(answerState(none)).toMatchObject({ hit: true, kind: "semantic" });
  });

  it("treats a slow embedding as a miss within its deadline and aborts the request", async () => {
    const { server, pipeline, embeds } = await setup(
      { timeoutMs: 100 },
      { embedDelayMs: (inputs) => (inputs[0] === "slow question" ? 5_000 : 0) },
    );
    const t0 = performance.now();
    const events = await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "slow question" }));
    const elapsed = performance.now() - t0;
    expect(textOf(events)).toBe(REPLY);
    expect(server.chats()).toHaveLength(1);
    expect(elapsed).toBeLessThan(1_500);
    const m = cacheMetrics(events);
    expect(m.hit).toBe(false);
    expect(m.semantic?.status).toBe("timeout");
    expect(m.semantic?.embedMs).toBeLessThan(400);
    expect(m.lookupMs).toBeLessThan(400);
    const request = embeds()[0]!;
    await request.closed;
    expect(request.closedByClient).toBe(true);
    expect(request.finished).toBe(false);
    // Nothing entered the semantic cache without a vector; the exact cache still has the answer.
    const again = await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "slow question" }));
    expect(answerState(again)).toEqual({ hit: true, kind: "exact" });
    expect(metricsOf(again).totalMs).toBeLessThan(1_500);
  });

  it("skips turns with history by default (no embedding at all)", async () => {
    const { server, pipeline, embeds } = await setup();
    await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Why is the sky blue?" }));
    expect(embeds()).toHaveLength(1);
    const follow = await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Why's the sky blue?" }));
    expect(answerState(follow)).toEqual({ hit: false });
    expect(cacheMetrics(follow).semantic).toEqual({ status: "skipped" });
    expect(embeds()).toHaveLength(1);
    expect(server.chats()).toHaveLength(2);
  });

  it("with includeHistory, embeds the conversation with the question", async () => {
    const { pipeline, embeds } = await setup({ includeHistory: true });
    await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Why is the sky blue?" }));
    await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Why's the sky blue?" }));
    expect(embeds()).toHaveLength(2);
    expect((embeds()[1]!.body as { input: string[] }).input[0]).toBe(
      `user: Why is the sky blue?\nassistant: ${REPLY}\nuser: Why's the sky blue?`,
    );
  });

  it("accepts an embed function of its own and bounds each scope", async () => {
    const backend = scriptedBackend();
    const seen: string[] = [];
    const pipeline = createZoePipeline({
      backend,
      router: switchRouter(),
      responseCache: {
        semantic: {
          maxEntries: 2,
          embed: async (text) => {
            seen.push(text);
            return text === "a" ? [1, 0, 0] : text === "b" ? [0, 1, 0] : text === "c" ? [0, 0, 1] : [1, 0.01, 0];
          },
        },
      },
    });
    cleanups.push(() => pipeline.close());
    for (const [i, q] of ["a", "b", "c"].entries()) await runValid(pipeline.run({ userId: "u", threadId: `t${i}`, message: q }));
    // "a" was the least recently used of three entries in a scope of two: gone.
    const near = await runValid(pipeline.run({ userId: "u", threadId: "t9", message: "near a" }));
    expect(answerState(near)).toEqual({ hit: false });
    expect(seen).toEqual(["a", "b", "c", "near a"]);
  });

  it("bounds all scopes together (maxTotalEntries): the least recently used scope goes whole", async () => {
    const vectors: Record<string, number[]> = { a: [1, 0, 0], b: [0, 1, 0], "near a": [1, 0.01, 0], "near b": [0.01, 1, 0] };
    const pipeline = createZoePipeline({
      backend: scriptedBackend(),
      router: switchRouter(),
      responseCache: { semantic: { maxEntries: 2, maxTotalEntries: 3, embed: async (text) => vectors[text] ?? [0, 0, 1] } },
    });
    cleanups.push(() => pipeline.close());
    let n = 0;
    for (const user of ["u1", "u2"])
      for (const q of ["a", "b"]) await runValid(pipeline.run({ userId: user, threadId: `t${n++}`, message: q }));
    const u2 = await runValid(pipeline.run({ userId: "u2", threadId: "x1", message: "near b" }));
    expect(answerState(u2)).toMatchObject({ hit: true, kind: "semantic" });
    const u1 = await runValid(pipeline.run({ userId: "u1", threadId: "x2", message: "near a" }));
    expect(answerState(u1)).toEqual({ hit: false });
  });

  it("refuses semantic caching without any embedding source", () => {
    expect(() => createZoePipeline({ backend: scriptedBackend(), router: switchRouter(), responseCache: { semantic: {} } })).toThrow(
      /embed/,
    );
  });
});
