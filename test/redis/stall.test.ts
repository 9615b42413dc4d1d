import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createKeyBuilder, createZoePipeline, heuristicRouter, type HistoryEntry } from "../../src/index.js";
import { resilientRedisStore, type ResilientRedisStore } from "../../src/redis/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { collect } from "../helpers/ag-ui.js";
import { describeRedis, sharedRedis, uniquePrefix } from "./redis-servers.js";
import { slowConnectProxy } from "./slow-proxy.js";
import { blockEventLoop } from "./store-state.js";

const router = heuristicRouter({ models: { fast: "fast-model", default: "default-model" } });

/** Every `degraded` and `error` event of a store. */
function watch(store: ResilientRedisStore) {
  const seen = { degraded: [] as unknown[], errors: [] as string[] };
  store.on("degraded", ({ error }) => seen.degraded.push(error));
  store.on("error", ({ op, error }) => seen.errors.push(`${op}: ${error instanceof Error ? error.message : String(error)}`));
  return seen;
}

/** Commands sent and not answered yet on an ioredis connection. */
const inFlight = (store: ResilientRedisStore) =>
  (store.redis.client as unknown as { commandQueue: { length: number } }).commandQueue.length;

describeRedis("false outages: connecting and event-loop stalls are not Redis failures", () => {
  let shared: Awaited<ReturnType<typeof sharedRedis>>;
  let raw: Redis;
  const prefix = `${uniquePrefix("stall")}:`;
  beforeAll(async () => {
    shared = await sharedRedis();
    raw = new Redis(shared.url);
  });
  afterAll(async () => {
    const keys = await raw?.keys(`${prefix}*`);
    if (keys?.length) await raw.del(...keys);
    await raw?.quit();
    await shared?.stop();
  });

  it("waits for a connection that takes 600 ms: the first calls go to Redis, nothing degrades", async () => {
    const proxy = await slowConnectProxy(Number(new URL(shared.url).port), 600);
    const store = resilientRedisStore({ url: proxy.url, prefix: `${prefix}slow:` });
    const seen = watch(store);
    // Made at once, while the client connects (the ready check is answered 600 ms late).
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.listAppend(`l${i}`, [i], { maxLength: 10, ttlMs: 60_000 })));
    expect(await store.whenStarted()).toBe("primary");
    expect(seen.degraded).toEqual([]);
    expect(seen.errors).toEqual([]);
    for (let i = 0; i < 10; i++) expect(await raw.lrange(`${prefix}slow:l${i}`, 0, -1)).toEqual([String(i)]);
    await store.close();
    await proxy.close();
  });

  it("a 700 ms stall at start-up (a model load) neither degrades the store nor loses a turn", async () => {
    const store = resilientRedisStore({ url: shared.url, prefix: `${prefix}start:` });
    const seen = watch(store);
    const pipeline = createZoePipeline({ backend: scriptedBackend({ script: textChunks("Hi."), record: false }), router, cache: store });
    const runs = Array.from({ length: 10 }, (_, i) => collect(pipeline.run({ userId: "stall", threadId: `t${i}`, message: `hello ${i}` })));
    blockEventLoop(700); // the connection is made, and the first commands sent, during the stall
    const results = await Promise.all(runs);
    expect(results.map((events) => events.at(-1)?.type)).toEqual(Array(10).fill("RUN_FINISHED"));
    expect(seen.degraded).toEqual([]);
    expect(seen.errors).toEqual([]);
    const keys = createKeyBuilder("zoe");
    for (let i = 0; i < 10; i++) {
      const stored = (await raw.lrange(`${prefix}start:${keys.key("history", "stall", `t${i}`)}`, 0, -1)).map(
        (s) => JSON.parse(s) as HistoryEntry,
      );
      expect(stored.map((e) => e.content)).toEqual([`hello ${i}`, "Hi."]);
    }
    await pipeline.close();
  });

  it("700 ms stalls with calls in flight, three times over: no failed call, no degraded, every write in Redis", async () => {
    const store = resilientRedisStore({ url: shared.url, prefix: `${prefix}mid:` });
    expect(await store.whenStarted()).toBe("primary");
    const seen = watch(store);
    for (let round = 0; round < 3; round++) {
      const calls = Array.from({ length: 5 }, (_, i) => [
        store.listAppend(`list${i}`, [`r${round}`], { maxLength: 10, ttlMs: 60_000 }),
        store.set(`value${i}`, { round }, 60_000),
        store.read({ keys: [`value${i}`], lists: [{ key: `list${i}`, last: 10 }] }),
      ]).flat();
      // Let the commands go out (microtasks only: no I/O is handled), then block the loop: their
      // replies arrive during the stall and wait in the socket while the deadlines' timers expire.
      for (let i = 0; i < 1_000 && inFlight(store) < calls.length; i++) await Promise.resolve();
      expect(inFlight(store)).toBeGreaterThanOrEqual(calls.length);
      blockEventLoop(700);
      await Promise.all(calls);
    }
    expect(seen.errors).toEqual([]);
    expect(seen.degraded).toEqual([]);
    expect(store.state).toBe("primary");
    for (let i = 0; i < 5; i++) {
      expect(await raw.lrange(`${prefix}mid:list${i}`, 0, -1)).toEqual(['"r0"', '"r1"', '"r2"']);
      expect(await store.get(`value${i}`)).toEqual({ round: 2 });
    }
    await store.close();
  });
});
