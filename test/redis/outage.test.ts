import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { createKeyBuilder, createZoePipeline, heuristicRouter, type CacheStore, type HistoryEntry } from "../../src/index.js";
import {
  CacheTimeoutError,
  fallbackCacheStore,
  redisCacheStore,
  resilientRedisStore,
  type FallbackCacheStore,
  type WriteBackEvent,
} from "../../src/redis/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { collect } from "../helpers/ag-ui.js";
import { describeRedis, startRedis, type RedisServer } from "./redis-servers.js";
import { signal, whenState } from "./store-state.js";

const router = heuristicRouter({ models: { fast: "fast-model", default: "default-model" } });
const THREADS = 4;
const threads = Array.from({ length: THREADS }, (_, t) => t);
const message = (t: number, n: number) => `thread ${t}, turn ${n}: tell me about the sea`;
const answer = (text: string) => `answer to ${text}`;

/** A pipeline whose answers name their question, on `cache`. */
function pipelineOn(cache: CacheStore) {
  const lastUser = (messages: ReadonlyArray<{ role: string; content?: unknown }>) =>
    String([...messages].reverse().find((m) => m.role === "user")?.content ?? "");
  return createZoePipeline({
    backend: scriptedBackend({ script: (req) => textChunks(answer(lastUser(req.messages))), record: false }),
    router,
    cache,
  });
}

/** Run turns `from..to` on every thread (threads in parallel, each thread's turns in order); returns the terminal event types. */
async function turns(pipeline: ReturnType<typeof pipelineOn>, from: number, to: number): Promise<string[]> {
  const ends: string[] = [];
  await Promise.all(
    threads.map(async (t) => {
      for (let n = from; n <= to; n++) {
        const events = await collect(pipeline.run({ userId: "ada", threadId: `t${t}`, message: message(t, n) }));
        ends.push(events.at(-1)?.type ?? "none");
      }
    }),
  );
  return ends;
}

/** Each thread's history as Redis holds it. */
async function storedHistory(url: string, prefix: string): Promise<string[][]> {
  const raw = new Redis(url);
  const keys = createKeyBuilder("zoe");
  const out = await Promise.all(
    threads.map(async (t) =>
      (await raw.lrange(prefix + keys.key("history", "ada", `t${t}`), 0, -1)).map((s) => (JSON.parse(s) as HistoryEntry).content),
    ),
  );
  await raw.quit();
  return out;
}

const expected = (t: number, turnsOf: number[]) => turnsOf.flatMap((n) => [message(t, n), answer(message(t, n))]);

describeRedis("Redis outages: every call under a deadline, and write-back at recovery", () => {
  it("redisCacheStore on a host client with ioredis defaults: a SIGSTOPped Redis fails every call with CACHE_TIMEOUT, and runs finish", async () => {
    const server = await startRedis();
    const client = new Redis(server.url); // defaults: offline queue on, 20 retries, no command timeout
    const store = redisCacheStore({ client, timeoutMs: 200 });
    await store.ping();
    signal(server, "SIGSTOP");
    const outcomes = await Promise.allSettled([
      store.get("k"),
      store.getMany(["a", "b"]),
      store.read({ keys: ["k"], lists: [{ key: "l", last: 3 }] }),
      store.set("k", 1, 10_000),
      store.delete("k"),
      store.listAppend("l", [1], { maxLength: 5, ttlMs: 10_000 }),
      store.listAppendOnce("l", [1], { maxLength: 5, ttlMs: 10_000 }),
      store.listTail("l", 3),
      store.ping(),
    ]);
    for (const outcome of outcomes) {
      expect(outcome.status).toBe("rejected");
      const reason = (outcome as PromiseRejectedResult).reason as CacheTimeoutError;
      expect(reason).toBeInstanceOf(CacheTimeoutError);
      expect(reason.code).toBe("CACHE_TIMEOUT");
    }
    // A pipeline on that store: its reads are misses, its history write fails, its runs finish.
    const pipeline = pipelineOn(store);
    expect(await turns(pipeline, 1, 1)).toEqual(Array(THREADS).fill("RUN_FINISHED"));
    signal(server, "SIGCONT");
    await pipeline.close();
    expect(client.status).toBe("ready"); // a host's client is never quit
    client.disconnect();
    await server.stop();
  });

  it("resilientRedisStore on a host client with ioredis defaults: turns finish while Redis is SIGSTOPped; after SIGCONT every thread holds every turn in order, exactly once", async () => {
    const server = await startRedis();
    const client = new Redis(server.url);
    const store = resilientRedisStore({ client, probeIntervalMs: 200, prefix: "stop:" });
    const reports: WriteBackEvent[] = [];
    store.on("writeBack", (e) => reports.push(e));
    const pipeline = pipelineOn(store);
    expect(await turns(pipeline, 0, 0)).toEqual(Array(THREADS).fill("RUN_FINISHED"));

    signal(server, "SIGSTOP");
    // Turns 1-3 of every thread while Redis is stopped: they must all end before it resumes.
    // Turn 1's writes time out (ioredis keeps them queued on the socket: they run at SIGCONT).
    expect(await turns(pipeline, 1, 3)).toEqual(Array(3 * THREADS).fill("RUN_FINISHED"));
    expect(store.state).toBe("fallback");
    expect(store.pendingWrites).toBeGreaterThanOrEqual(THREADS);
    signal(server, "SIGCONT");

    await whenState(store, "primary");
    expect(store.pendingWrites).toBe(0);
    expect(reports.reduce((n, r) => n + r.written, 0)).toBeGreaterThanOrEqual(THREADS);
    expect(reports.reduce((n, r) => n + r.dropped + r.failed, 0)).toBe(0);
    const history = await storedHistory(server.url, "stop:");
    threads.forEach((t) => expect(history[t], `thread ${t}`).toEqual(expected(t, [0, 1, 2, 3])));

    // Back on Redis: the next turn follows the written-back ones.
    expect(await turns(pipeline, 4, 4)).toEqual(Array(THREADS).fill("RUN_FINISHED"));
    const after = await storedHistory(server.url, "stop:");
    threads.forEach((t) => expect(after[t]?.slice(-2)).toEqual(expected(t, [4])));
    await pipeline.close();
    client.disconnect();
    await server.stop();
  });

  it("Redis killed and restarted: the turns made during the outage are written back in order, exactly once, before the next turn", async () => {
    const server = await startRedis();
    const store = resilientRedisStore({ url: server.url, probeIntervalMs: 200, prefix: "kill:" });
    const pipeline = pipelineOn(store);
    expect(await turns(pipeline, 0, 0)).toEqual(Array(THREADS).fill("RUN_FINISHED"));
    await server.kill(); // Redis keeps nothing on disk: turn 0 goes with it
    expect(await turns(pipeline, 1, 3)).toEqual(Array(3 * THREADS).fill("RUN_FINISHED"));
    expect(store.state).toBe("fallback");
    await server.restart();
    await whenState(store, "primary");
    expect(await turns(pipeline, 4, 4)).toEqual(Array(THREADS).fill("RUN_FINISHED"));
    const history = await storedHistory(server.url, "kill:");
    threads.forEach((t) => expect(history[t], `thread ${t}`).toEqual(expected(t, [1, 2, 3, 4])));
    await pipeline.close();
    await server.stop();
  });

  it("writeBack: false keeps the old trade-off: the outage's writes stay in memory and are dropped at recovery", async () => {
    const server = await startRedis();
    const store = resilientRedisStore({ url: server.url, probeIntervalMs: 200, prefix: "nowb:", writeBack: false });
    expect(await store.whenStarted()).toBe("primary");
    const pipeline = pipelineOn(store);
    await server.kill();
    expect(await turns(pipeline, 1, 2)).toEqual(Array(2 * THREADS).fill("RUN_FINISHED"));
    expect(store.pendingWrites).toBe(0);
    await server.restart();
    await whenState(store, "primary");
    expect(await turns(pipeline, 3, 3)).toEqual(Array(THREADS).fill("RUN_FINISHED"));
    const history = await storedHistory(server.url, "nowb:");
    threads.forEach((t) => expect(history[t]).toEqual(expected(t, [3])));
    await pipeline.close();
    await server.stop();
  });

  it("a write-back whose reply is lost is repeated without appending anything twice", async () => {
    const server = await startRedis();
    const redis = redisCacheStore({ url: server.url, prefix: "lost:" });
    let lose = 1;
    // The real Redis store, except that the first write-back's reply is lost after Redis ran it.
    const primary: typeof redis = {
      ...redis,
      async listAppendOnce(key, items, options) {
        await redis.listAppendOnce(key, items, options);
        if (lose-- > 0) throw new CacheTimeoutError("test", "listAppendOnce", 1);
      },
    };
    const store = fallbackCacheStore({ primary, probeIntervalMs: 100, timeoutMs: 250 });
    expect(await store.whenStarted()).toBe("primary");
    const stopped = signal.bind(null, server);
    stopped("SIGSTOP");
    for (let i = 0; i < 4; i++) await store.listAppend("h", [{ id: `m${i}`, content: `m${i}` }], { maxLength: 10, ttlMs: 60_000 });
    await whenState(store, "fallback");
    stopped("SIGCONT");
    await whenState(store, "primary");
    expect(lose).toBeLessThan(0); // the lost reply happened, and the write-back was repeated
    const raw = new Redis(server.url);
    expect((await raw.lrange("lost:h", 0, -1)).map((s) => (JSON.parse(s) as { id: string }).id)).toEqual(["m0", "m1", "m2", "m3"]);
    await raw.quit();
    await store.close();
    await server.stop();
  });

  it("bounds the journal: past maxKeys the least recently written keys are dropped and reported", async () => {
    const server: RedisServer = await startRedis();
    const store: FallbackCacheStore = fallbackCacheStore({
      primary: redisCacheStore({ url: server.url, prefix: "bound:" }),
      probeIntervalMs: 100,
      writeBack: { maxKeys: 3 },
    });
    const reports: WriteBackEvent[] = [];
    store.on("writeBack", (e) => reports.push(e));
    expect(await store.whenStarted()).toBe("primary");
    await server.kill();
    for (let i = 0; i < 5; i++) await store.set(`k${i}`, i, 60_000);
    await store.listAppend("k4", ["list now"], { maxLength: 5, ttlMs: 60_000 }); // k4 was a value: replaced by a list
    expect(store.state).toBe("fallback");
    expect(store.pendingWrites).toBe(3);
    await server.restart();
    await whenState(store, "primary");
    expect(reports).toEqual([{ written: 3, dropped: 2, failed: 0 }]);
    const raw = new Redis(server.url);
    expect((await raw.keys("bound:*")).sort()).toEqual(["bound:k2", "bound:k3", "bound:k4"]);
    expect(await raw.lrange("bound:k4", 0, -1)).toEqual(['"list now"']);
    await raw.quit();
    await store.close();
    await server.stop();
  });
});
