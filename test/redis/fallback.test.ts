import v8 from "node:v8";
import vm from "node:vm";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { memoryCacheStore } from "../../src/cache/memory-store.js";
import type { CacheStore } from "../../src/cache/types.js";
import { createZoePipeline } from "../../src/index.js";
import { fallbackCacheStore, resilientRedisStore } from "../../src/redis/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { describeRedis, sparePort, startRedis } from "./redis-servers.js";
import { whenState } from "./store-state.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A primary whose health the test controls: answering, failing at once, or hanging. */
function flakyPrimary() {
  const inner = memoryCacheStore();
  let mode: "ok" | "fail" | "hang" = "ok";
  let pings = 0;
  let calls = 0;
  const gate = async () => {
    calls++;
    if (mode === "fail") throw new Error("ECONNRESET (simulated)");
    if (mode === "hang") await new Promise(() => {});
  };
  const store: CacheStore & { ping(): Promise<void> } = {
    name: "flaky",
    get: async (k) => (await gate(), inner.get(k)),
    getMany: async (k) => (await gate(), inner.getMany(k)),
    read: async (b) => (await gate(), inner.read(b)),
    set: async (k, v, t) => (await gate(), inner.set(k, v, t)),
    delete: async (k) => (await gate(), inner.delete(k)),
    listAppend: async (k, i, o) => (await gate(), inner.listAppend(k, i, o)),
    listTail: async (k, l) => (await gate(), inner.listTail(k, l)),
    close: () => inner.close(),
    async ping() {
      pings++;
      if (mode !== "ok") throw new Error("no PONG (simulated)");
    },
  };
  return {
    store,
    inner,
    set mode(m: "ok" | "fail" | "hang") {
      mode = m;
    },
    get pings() {
      return pings;
    },
    get calls() {
      return calls;
    },
  };
}

describe("fallbackCacheStore: the circuit breaker", () => {
  it("serves failures from the fallback, degrades after N consecutive failures and a failed PING, recovers and writes back", async () => {
    const primary = flakyPrimary();
    const store = fallbackCacheStore({ primary: primary.store, failureThreshold: 3, probeIntervalMs: 50, timeoutMs: 100 });
    const events: string[] = [];
    store.on("degraded", ({ failures }) => events.push(`degraded after ${failures}`));
    store.on("recovered", ({ downMs }) => events.push(`recovered ${downMs >= 0}`));
    let errors = 0;
    store.on("error", () => errors++);

    await store.set("a", 1, 10_000);
    expect(store.state).toBe("primary");
    expect(await primary.inner.get("a")).toBe(1);

    primary.mode = "fail";
    await store.set("b", 2, 10_000); // failure 1: written to memory
    expect(await store.get("b")).toBe(2); // failure 2: served by memory
    expect(store.state).toBe("primary");
    expect(await store.listTail("l", 5)).toEqual([]); // failure 3: a PING confirms the outage
    await whenState(store, "fallback");
    expect(errors).toBeGreaterThanOrEqual(3);
    const callsWhenDegraded = primary.calls;
    await store.set("c", 3, 10_000);
    expect(await store.read({ keys: ["b", "c"] })).toEqual({ values: [2, 3], lists: [] });
    expect(primary.calls).toBe(callsWhenDegraded); // no longer asked

    const pings = primary.pings;
    await sleep(160);
    expect(primary.pings).toBeGreaterThan(pings); // probing every 50 ms
    primary.mode = "ok";
    await whenState(store, "primary");
    expect(events).toEqual(["degraded after 3", "recovered true"]);
    // Back on the primary, with what was written on the fallback written back.
    expect(await store.get("a")).toBe(1);
    expect(await primary.inner.get("b")).toBe(2);
    expect(await primary.inner.get("c")).toBe(3);
    expect(store.pendingWrites).toBe(0);
    await store.close();
  });

  it("counts a call over its deadline as a failure and answers within the deadline", async () => {
    const primary = flakyPrimary();
    const store = fallbackCacheStore({ primary: primary.store, failureThreshold: 2, probeIntervalMs: 1_000, timeoutMs: 60 });
    await store.set("k", "v", 10_000);
    primary.mode = "hang";
    // The primary never answers: that these calls return at all is the deadline at work.
    expect(await store.get("k")).toBeUndefined(); // a miss, served by the (empty) fallback
    await store.listAppend("h", [1], { maxLength: 5, ttlMs: 10_000 });
    await whenState(store, "fallback");
    expect(await store.listTail("h", 5)).toEqual([1]);
    await store.close();
  });

  it("rejects bad arguments itself, never counting them as primary failures", async () => {
    const primary = flakyPrimary();
    const store = fallbackCacheStore({ primary: primary.store, failureThreshold: 1 });
    await store.whenStarted();
    await expect(store.set("k", undefined, 1_000)).rejects.toThrow(TypeError);
    await expect(store.set("k", 1, 0)).rejects.toThrow(TypeError);
    await expect(store.listAppend("k", [1], { maxLength: 1, ttlMs: Number.NaN })).rejects.toThrow(TypeError);
    expect(store.state).toBe("primary");
    await store.close();
    await expect(store.get("k")).rejects.toThrow(/closed/);
  });

  it("clears its probe timer on close()", async () => {
    const primary = flakyPrimary();
    primary.mode = "fail";
    const store = fallbackCacheStore({ primary: primary.store, probeIntervalMs: 20, timeoutMs: 50 });
    await sleep(70);
    expect(store.state).toBe("fallback");
    await store.close();
    const pings = primary.pings;
    await sleep(100);
    expect(primary.pings).toBe(pings);
  });

  it("an append whose reply comes after a later delete of its key is not written back: the delete wins", async () => {
    const primary = flakyPrimary();
    // The append is done in the primary, but its answer comes after the deadline.
    const append = primary.store.listAppend;
    primary.store.listAppend = async (k, i, o) => {
      await append(k, i, o);
      await sleep(150);
    };
    const store = fallbackCacheStore({ primary: primary.store, failureThreshold: 5, probeIntervalMs: 50, timeoutMs: 60 });
    await store.whenStarted();
    const appended = store.listAppend("thread", [{ secret: 1 }], { maxLength: 5, ttlMs: 10_000 });
    await sleep(5);
    await store.delete("thread");
    await appended;
    await sleep(200); // a write-back, had the append been kept for one, has run by now
    expect(store.pendingWrites).toBe(0);
    expect(await primary.inner.listTail("thread", 5)).toEqual([]);
    expect(await store.listTail("thread", 5)).toEqual([]);
    await store.close();
  });
});

describeRedis("resilientRedisStore on a real server", () => {
  it("starts degraded when Redis is down, runs fine, goes back to Redis when it comes up, and writes the outage's turn back", async () => {
    const port = await sparePort();
    const store = resilientRedisStore({ url: `redis://127.0.0.1:${port}`, probeIntervalMs: 400, prefix: "start:" });
    const degraded = new Promise<void>((resolve) => store.once("degraded", () => resolve()));
    const pipeline = createZoePipeline({
      backend: scriptedBackend({ script: textChunks("Fine.") }),
      router: fixedRouter("chat"),
      cache: store,
    });
    const first = await runValid(pipeline.run({ userId: "ada", message: "Hello" }));
    expect(first.at(-1)?.type).toBe("RUN_FINISHED");
    await degraded;
    expect(store.state).toBe("fallback");
    expect(await pipeline.history.get("ada", "default")).toHaveLength(2); // kept in memory meanwhile

    // Race-free: the wait checks the current state first, then listens, and starts before Redis
    // does (the store may reconnect before startRedis() resolves).
    const recovered = whenState(store, "primary");
    const server = await startRedis(port);
    await recovered;
    const second = await runValid(pipeline.run({ userId: "ada", message: "Again" }));
    expect(second.at(-1)?.type).toBe("RUN_FINISHED");
    const raw = new Redis(server.url);
    expect((await raw.keys("start:*")).sort()).toEqual([
      "start:zoe:v1:history:{ada}:default",
      "start:zoe:v1:route:{ada}:again",
      "start:zoe:v1:route:{ada}:hello",
    ]);
    // The outage's turn was written back before the store switched: the history is complete.
    expect((await raw.lrange("start:zoe:v1:history:{ada}:default", 0, -1)).map((s) => JSON.parse(s).content)).toEqual([
      "Hello",
      "Fine.",
      "Again",
      "Fine.",
    ]);
    await raw.quit();
    await pipeline.close();
    expect(store.redis.client.status).toBe("end");
    await server.stop();
  });

  it("keeps its memory fallback and its write-back journal bounded: 100,000 distinct users while Redis is down", async () => {
    v8.setFlagsFromString("--expose_gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const maxEntries = 2_000;
    const store = resilientRedisStore({
      url: `redis://127.0.0.1:${await sparePort()}`,
      fallback: () => memoryCacheStore({ maxEntries }),
    });
    await new Promise((resolve) => store.once("degraded", resolve));
    gc();
    const before = process.memoryUsage().heapUsed;
    const turn = "x".repeat(1_000); // ~1 KB a user: 100,000 users would be ~100 MB unbounded
    for (let i = 0; i < 100_000; i++) {
      await store.set(`route:{user${i}}`, { model: "m", text: turn }, 60_000);
      if (i % 10 === 0) await store.listAppend(`history:{user${i}}`, [{ role: "user", content: turn }], { maxLength: 10, ttlMs: 60_000 });
    }
    gc();
    const grownMb = (process.memoryUsage().heapUsed - before) / 2 ** 20;
    const kept = (await store.getMany(Array.from({ length: 100_000 }, (_, i) => `route:{user${i}}`))).filter((v) => v !== undefined);
    console.log(
      `100,000 users while degraded: ${kept.length} entries kept, ${store.pendingWrites} keys waiting for write-back, ` +
        `heap +${grownMb.toFixed(1)} MB after GC`,
    );
    expect(store.pendingWrites).toBeLessThanOrEqual(10_000); // WRITE_BACK_DEFAULTS: 10,000 keys, 16 MiB
    expect(kept.length).toBeLessThanOrEqual(maxEntries);
    expect(kept.length).toBeGreaterThan(maxEntries / 2);
    expect(grownMb).toBeLessThan(20);
    await store.close();
  });
});
