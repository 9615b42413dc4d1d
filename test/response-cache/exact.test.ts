import { describe, expect, it, onTestFinished, vi } from "vitest";
import { createZoePipeline, EventType, memoryCacheStore, type ServerTool } from "../../src/index.js";
import { scriptedBackend, textChunks, type ScriptStep } from "../../src/testing/index.js";
import { collect, runValid, terminal, textOf } from "../helpers/ag-ui.js";
import { fixedRouter, sleep } from "../helpers/fixtures.js";
import { answerState, cacheMetrics, metricsOf } from "./helpers.js";

const ANSWER = "Blue light scatters more than red light.";

function make(
  options: { ttlMs?: number; script?: ScriptStep[] | ((r: any) => ScriptStep[]); tools?: ServerTool[]; chunkDelayMs?: number } = {},
) {
  const backend = scriptedBackend({
    script: options.script ?? textChunks(ANSWER),
    ...(options.chunkDelayMs ? { chunkDelayMs: options.chunkDelayMs } : {}),
  });
  const cache = memoryCacheStore();
  const pipeline = createZoePipeline({
    backend,
    router: fixedRouter("chat"),
    cache,
    responseCache: options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs },
    ...(options.tools ? { tools: options.tools } : {}),
  });
  return { backend, cache, pipeline };
}

describe("exact response cache", () => {
  it("answers a repeated question from the cache: valid stream, marked in state and metrics, history appended", async () => {
    const { backend, pipeline } = make();
    const first = await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Why is the sky blue?" }));
    expect(textOf(first)).toBe(ANSWER);
    expect(answerState(first)).toEqual({ hit: false });
    expect(cacheMetrics(first)).toMatchObject({ hit: false, stored: true, totals: { lookups: 1, hits: 0 } });

    const second = await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "Why is the sky blue?" }));
    expect(backend.requests).toHaveLength(1);
    expect(textOf(second)).toBe(ANSWER);
    const contents = second.filter((e) => e.type === EventType.TEXT_MESSAGE_CONTENT);
    expect(contents.length).toBe(ANSWER.split(" ").length); // word-sized chunks
    expect(second.filter((e) => e.type === EventType.TEXT_MESSAGE_START)).toHaveLength(1);
    expect(second.filter((e) => e.type === EventType.TEXT_MESSAGE_END)).toHaveLength(1);
    expect(answerState(second)).toEqual({ hit: true, kind: "exact" });
    const m = cacheMetrics(second);
    expect(m).toMatchObject({ hit: true, kind: "exact", stored: false, totals: { lookups: 2, hits: 1, exactHits: 1, hitRate: 0.5 } });
    expect(metricsOf(second).ttftMs).toBeGreaterThan(0);
    const last = terminal(second);
    expect(last.type === EventType.RUN_FINISHED && last.outcome).toEqual({ type: "success" });

    const history = await pipeline.history.get("ada", "t2");
    expect(history.map((e) => [e.role, e.content])).toEqual([
      ["user", "Why is the sky blue?"],
      ["assistant", ANSWER],
    ]);
    await pipeline.close();
  });

  it("hits in the same thread when no history goes into the prompt (history.load 0)", async () => {
    const backend = scriptedBackend({ script: textChunks(ANSWER) });
    const pipeline = createZoePipeline({ backend, router: fixedRouter("chat"), history: { load: 0 }, responseCache: {} });
    await runValid(pipeline.run({ userId: "ada", message: "hello there" }));
    const second = await runValid(pipeline.run({ userId: "ada", message: "hello there" }));
    expect(backend.requests).toHaveLength(1);
    expect(answerState(second)).toEqual({ hit: true, kind: "exact" });
    expect(await pipeline.history.get("ada", "default")).toHaveLength(4);
    await pipeline.close();
  });

  it("misses when the conversation differs (same thread, or other history), and for another user", async () => {
    const { backend, pipeline } = make();
    await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Why is the sky blue?" }));
    // Same thread: the second prompt carries the first turn as history.
    const again = await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Why is the sky blue?" }));
    expect(answerState(again)).toEqual({ hit: false });
    expect(backend.requests).toHaveLength(2);

    // Two threads with different pasts, then the same question.
    await runValid(pipeline.run({ userId: "ada", threadId: "a", message: "Talk about the sea." }));
    await runValid(pipeline.run({ userId: "ada", threadId: "b", message: "Talk about the moon." }));
    const n = backend.requests.length;
    await runValid(pipeline.run({ userId: "ada", threadId: "a", message: "And its colour?" }));
    const b = await runValid(pipeline.run({ userId: "ada", threadId: "b", message: "And its colour?" }));
    expect(answerState(b)).toEqual({ hit: false });
    expect(backend.requests).toHaveLength(n + 2);

    const other = await runValid(pipeline.run({ userId: "bob", threadId: "t9", message: "Why is the sky blue?" }));
    expect(answerState(other)).toEqual({ hit: false });
    expect(backend.requests).toHaveLength(n + 3);
    await pipeline.close();
  });

  it("expires after ttlMs", async () => {
    // The store's clock (lru-cache reads performance.now()) is moved past the TTL instead of
    // waiting it out: a busy machine can take longer than a short TTL between two runs.
    const realNow = performance.now.bind(performance);
    let skew = 0;
    const clock = vi.spyOn(performance, "now").mockImplementation(() => realNow() + skew);
    onTestFinished(() => clock.mockRestore());
    const { backend, pipeline } = make({ ttlMs: 60_000 });
    await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "q" }));
    const hit = await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "q" }));
    expect(answerState(hit)?.hit).toBe(true);
    skew += 60_001;
    // lru-cache keeps the time it last read for 1 ms (`ttlResolution`, a timer): let it read again.
    await sleep(5);
    const miss = await runValid(pipeline.run({ userId: "ada", threadId: "t3", message: "q" }));
    expect(answerState(miss)).toEqual({ hit: false });
    expect(backend.requests).toHaveLength(2);
    await pipeline.close();
  });

  it("does not store a failed run", async () => {
    let calls = 0;
    const { backend, pipeline } = make({
      script: () => (++calls === 1 ? [...textChunks("Half an ans"), { type: "error", message: "boom" }] : textChunks(ANSWER)),
    });
    const failed = await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "q" }));
    expect(terminal(failed).type).toBe(EventType.RUN_ERROR);
    const second = await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "q" }));
    expect(answerState(second)).toEqual({ hit: false });
    expect(textOf(second)).toBe(ANSWER);
    const third = await runValid(pipeline.run({ userId: "ada", threadId: "t3", message: "q" }));
    expect(answerState(third)).toEqual({ hit: true, kind: "exact" });
    expect(backend.requests).toHaveLength(2);
    await pipeline.close();
  });

  it("does not store an aborted run", async () => {
    const { backend, pipeline } = make({ chunkDelayMs: 20 });
    const controller = new AbortController();
    const events = [];
    for await (const e of pipeline.run({ userId: "ada", threadId: "t1", message: "q" }, { signal: controller.signal })) {
      events.push(e);
      if (e.type === EventType.TEXT_MESSAGE_CONTENT) controller.abort();
    }
    const last = terminal(events);
    expect(last.type === EventType.RUN_FINISHED && last.outcome).toEqual({ type: "cancelled" });
    const second = await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "q" }));
    expect(answerState(second)).toEqual({ hit: false });
    expect(backend.requests).toHaveLength(2);
    await pipeline.close();
  });

  it("does not store a run with tool calls", async () => {
    const clock: ServerTool = { name: "clock", execute: async () => "12:00" };
    const { backend, pipeline } = make({
      tools: [clock],
      script: (r) =>
        r.messages.some((m: { role: string }) => m.role === "tool")
          ? textChunks("It is noon.")
          : [{ type: "tool_call", call: { name: "clock", arguments: {} } }],
    });
    const first = await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "time?" }));
    expect(textOf(first)).toBe("It is noon.");
    expect(cacheMetrics(first).stored).toBe(false);
    const second = await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "time?" }));
    expect(answerState(second)).toEqual({ hit: false });
    expect(backend.requests).toHaveLength(4);
    await pipeline.close();
  });

  it("cancelling during a cached replay ends the run cancelled, and leaving early is clean", async () => {
    const { pipeline } = make();
    await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "q" }));
    const controller = new AbortController();
    const events = [];
    for await (const e of pipeline.run({ userId: "ada", threadId: "t2", message: "q" }, { signal: controller.signal })) {
      events.push(e);
      if (e.type === EventType.TEXT_MESSAGE_CONTENT) controller.abort();
    }
    const last = terminal(events);
    expect(last.type === EventType.RUN_FINISHED && last.outcome).toEqual({ type: "cancelled" });
    expect(events.filter((e) => e.type === EventType.TEXT_MESSAGE_END)).toHaveLength(1);
    expect(await pipeline.history.get("ada", "t2")).toHaveLength(0);
    expect(pipeline.activeRuns).toBe(0);
    await pipeline.close();
  });

  it("stores under the user's answer key for 10 minutes by default; a truncated answer is not stored", async () => {
    const inner = memoryCacheStore();
    const sets: Array<[string, number]> = [];
    const cache = { ...inner, set: (key: string, value: unknown, ttl: number) => (sets.push([key, ttl]), inner.set(key, value, ttl)) };
    let calls = 0;
    const backend = scriptedBackend({
      script: () => [...textChunks(ANSWER), { type: "done", doneReason: ++calls === 1 ? "stop" : "length" }],
    });
    const pipeline = createZoePipeline({ backend, router: fixedRouter("chat"), cache, responseCache: {} });
    await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "q1" }));
    const answerSets = () => sets.filter(([k]) => k.includes(":answer:"));
    expect(answerSets()).toHaveLength(1);
    expect(answerSets()[0]![0]).toMatch(/^zoe:v1:answer:\{ada\}:[0-9a-f]{64}$/);
    expect(answerSets()[0]![1]).toBe(600_000);
    const truncated = await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "q2" }));
    expect(cacheMetrics(truncated).stored).toBe(false);
    expect(answerSets()).toHaveLength(1);
    await pipeline.close();
  });

  it("treats a failing store as a miss", async () => {
    const backend = scriptedBackend({ script: textChunks(ANSWER) });
    const inner = memoryCacheStore();
    const cache = { ...inner, name: "flaky", get: async () => Promise.reject(new Error("down")) };
    const pipeline = createZoePipeline({ backend, router: fixedRouter("chat"), cache, responseCache: {} });
    const events = await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "q" }));
    expect(textOf(events)).toBe(ANSWER);
    expect(answerState(events)).toEqual({ hit: false });
    await pipeline.close();
  });

  it("measures the time to first token of a cached answer", async () => {
    const backend = scriptedBackend({ script: textChunks(ANSWER), firstChunkDelayMs: 50 });
    const pipeline = createZoePipeline({ backend, router: fixedRouter("chat"), responseCache: {} });
    const miss = metricsOf(await collect(pipeline.run({ userId: "ada", threadId: "m0", message: "Why is the sky blue?" })));
    const ttfts: number[] = [];
    for (let i = 1; i <= 50; i++) {
      const m = metricsOf(await collect(pipeline.run({ userId: "ada", threadId: `m${i}`, message: "Why is the sky blue?" })));
      expect(m.answerCache?.hit).toBe(true);
      ttfts.push(m.ttftMs ?? NaN);
    }
    ttfts.sort((a, b) => a - b);
    const p50 = ttfts[25] as number;
    console.log(
      `[response-cache] ttft: miss ${miss.ttftMs} ms (backend first chunk 50 ms); hit p50 ${p50} ms, p95 ${ttfts[47]} ms, lookup ${metricsOf(await collect(pipeline.run({ userId: "ada", threadId: "mx", message: "Why is the sky blue?" }))).answerCache?.lookupMs} ms`,
    );
    expect(p50).toBeLessThan(miss.ttftMs as number);
    await pipeline.close();
  });
});
