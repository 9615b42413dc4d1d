import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, expect, it, vi } from "vitest";
import { createZoePipeline, type ModelBackend } from "../../src/index.js";
import { redisCacheStore, resilientRedisStore, type RedisCacheStore } from "../../src/redis/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter, testProvider } from "../helpers/fixtures.js";
import { gateProxy } from "./gate-proxy.js";
import { describeRedis, startRedis, uniquePrefix, type RedisServer } from "./redis-servers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HOUR = 3_600_000;

/** Calls of each command the server has run (INFO commandstats). */
async function commandCalls(admin: Redis): Promise<Record<string, number>> {
  const calls: Record<string, number> = {};
  for (const line of (await admin.info("commandstats")).split("\n")) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (m) calls[m[1] as string] = Number(m[2]);
  }
  return calls;
}

/** Reads the store sent to the server between two `commandCalls`. */
const readsBetween = (before: Record<string, number>, after: Record<string, number>) =>
  ["get", "mget", "lrange", "pttl"].reduce((n, c) => n + (after[c] ?? 0) - (before[c] ?? 0), 0);

const stores: Array<{ close(): Promise<void> }> = [];
const clients: Redis[] = [];

/** A near-cached store, once its copy is in use. */
async function nearStore(url: string, prefix = `${uniquePrefix("near")}:`, timeoutMs = 1_000): Promise<RedisCacheStore> {
  const store = redisCacheStore({ url, prefix, nearCache: true, timeoutMs });
  stores.push(store);
  await vi.waitFor(() => expect(store.nearCacheStats()?.active).toBe(true), { timeout: 5_000 });
  return store;
}

function client(url: string): Redis {
  const c = new Redis(url);
  clients.push(c);
  return c;
}

describeRedis("a Redis store's near cache (client-side caching with CLIENT TRACKING)", () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    for (const c of clients.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("serves a warm read without a round trip: keys, list tails, get and listTail", async () => {
    const admin = client(server.url);
    const store = await nearStore(server.url);
    await store.set("profile", { name: "Ada" }, HOUR);
    await store.listAppend("history", [{ n: 1 }, { n: 2 }, { n: 3 }], { maxLength: 10, ttlMs: HOUR });
    const batch = { keys: ["profile", "absent"], lists: [{ key: "history", last: 2 }] };
    expect(await store.read(batch)).toEqual({ values: [{ name: "Ada" }, undefined], lists: [[{ n: 2 }, { n: 3 }]] });
    const before = await commandCalls(admin);
    for (let i = 0; i < 50; i++) {
      expect(await store.read(batch)).toEqual({ values: [{ name: "Ada" }, undefined], lists: [[{ n: 2 }, { n: 3 }]] });
      expect(await store.getMany(["profile"])).toEqual([{ name: "Ada" }]);
      expect(await store.get("profile")).toEqual({ name: "Ada" });
      expect(await store.listTail("history", 100)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    }
    expect(readsBetween(before, await commandCalls(admin))).toBe(0);
    expect(store.nearCacheStats()).toMatchObject({ active: true, hits: expect.any(Number) });
    expect(store.nearCacheStats()!.hits).toBeGreaterThanOrEqual(200);

    // The control: the same reads without a near cache are round trips the count sees.
    const plain = redisCacheStore({ url: server.url, prefix: store.prefix });
    stores.push(plain);
    const plainBefore = await commandCalls(admin);
    for (let i = 0; i < 5; i++) await plain.read(batch);
    expect(readsBetween(plainBefore, await commandCalls(admin))).toBe(10);
  });

  it("returns copies: changing what a read returned does not change the next read", async () => {
    const store = await nearStore(server.url);
    await store.set("v", { list: [1] }, HOUR);
    await store.listAppend("l", [{ a: 1 }], { maxLength: 10, ttlMs: HOUR });
    for (let i = 0; i < 3; i++) {
      const read = await store.read({ keys: ["v"], lists: [{ key: "l", last: 5 }] });
      expect(read).toEqual({ values: [{ list: [1] }], lists: [[{ a: 1 }]] });
      (read.values[0] as { list: number[] }).list.push(2);
      (read.lists[0]![0] as { a: number }).a = 2;
      const got = (await store.get("v")) as { list: number[] };
      got.list.push(3);
    }
  });

  it("sees every change another client makes: SET, DEL, RPUSH, LTRIM, EXPIRE, and a key's own TTL", async () => {
    const other = client(server.url);
    const store = await nearStore(server.url);
    const k = (key: string) => store.prefix + key;
    const value = async () => (await store.read({ keys: ["v"] })).values[0];
    const tail = async () => (await store.read({ keys: [], lists: [{ key: "h", last: 10 }] })).lists[0];
    const hit = async (read: () => Promise<unknown>) => {
      const hits = store.nearCacheStats()!.hits;
      await read();
      return store.nearCacheStats()!.hits > hits;
    };

    await store.set("v", 1, HOUR);
    expect(await value()).toBe(1);
    expect(await hit(value)).toBe(true);
    await other.set(k("v"), "2");
    await vi.waitFor(async () => expect(await value()).toBe(2));
    expect(await hit(value)).toBe(true);
    await other.del(k("v"));
    await vi.waitFor(async () => expect(await value()).toBeUndefined());
    expect(await hit(value)).toBe(true);
    await other.set(k("v"), "3");
    await vi.waitFor(async () => expect(await store.get("v")).toBe(3));

    await store.listAppend("h", [1, 2], { maxLength: 10, ttlMs: HOUR });
    expect(await hit(tail)).toBe(true);
    expect(await tail()).toEqual([1, 2]);
    await other.rpush(k("h"), "3");
    await vi.waitFor(async () => expect(await tail()).toEqual([1, 2, 3]));
    await other.ltrim(k("h"), -1, -1);
    await vi.waitFor(async () => expect(await store.listTail("h", 10)).toEqual([3]));
    await other.pexpire(k("h"), 1);
    await vi.waitFor(async () => expect(await tail()).toEqual([]));

    // A TTL that ends: the copy drops the value with it, whenever Redis gets round to deleting it.
    await store.set("short", "soon gone", 40);
    expect((await store.read({ keys: ["short"] })).values[0]).toBe("soon gone");
    expect(await hit(() => store.read({ keys: ["short"] }))).toBe(true);
    await sleep(60);
    expect((await store.read({ keys: ["short"] })).values[0]).toBeUndefined();
  });

  it("a history append builds the copy from the whole list it held, trimmed as Redis trims it", async () => {
    const admin = client(server.url);
    const store = await nearStore(server.url);
    const key = store.prefix + "h";
    for (let i = 0; i < 12; i++) {
      await store.listAppend("h", [{ i, at: new Date(Date.UTC(2026, 0, 1 + i)) }, `text ${i}`], { maxLength: 5, ttlMs: HOUR });
      const before = await commandCalls(admin);
      const held = (await store.read({ keys: [], lists: [{ key: "h", last: 100 }] })).lists[0];
      expect(readsBetween(before, await commandCalls(admin))).toBe(0);
      const truth = (await admin.lrange(key, 0, -1)).map((item) => JSON.parse(item) as unknown);
      expect(held).toEqual(truth);
      expect(truth).toHaveLength(Math.min(5, 2 * (i + 1)));
    }
  });

  it("converges on what Redis holds after two near-cached stores and a plain client write the same keys at random", async () => {
    const other = client(server.url);
    const prefix = `${uniquePrefix("converge")}:`;
    const a = await nearStore(server.url, prefix);
    const b = await nearStore(server.url, prefix);
    const keys = ["k0", "k1", "k2"];
    const lists = ["l0", "l1"];
    const batch = { keys, lists: lists.map((key) => ({ key, last: 4 })) };
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const op = (i: number): Promise<unknown> => {
      const who = random(3);
      const key = keys[random(keys.length)] as string;
      const list = lists[random(lists.length)] as string;
      switch (random(6)) {
        case 0:
          return who === 2 ? other.set(prefix + key, JSON.stringify(i)) : [a, b][who]!.set(key, i, HOUR);
        case 1:
          return who === 2 ? other.del(prefix + key) : [a, b][who]!.delete(key);
        case 2:
          return who === 2
            ? other.rpush(prefix + list, JSON.stringify(i))
            : [a, b][who]!.listAppend(list, [i], { maxLength: 6, ttlMs: HOUR });
        case 3:
          return other.ltrim(prefix + list, -3, -1);
        default:
          return (who === 0 ? a : b).read(batch);
      }
    };
    for (let round = 0; round < 60; round++) await Promise.all(Array.from({ length: 8 }, (_, j) => op(round * 8 + j)));
    const truth = async () => ({
      values: await Promise.all(keys.map(async (k) => ((v) => (v === null ? undefined : JSON.parse(v)))(await other.get(prefix + k)))),
      lists: await Promise.all(lists.map(async (l) => (await other.lrange(prefix + l, -4, -1)).map((x) => JSON.parse(x) as unknown))),
    });
    const expected = await truth();
    for (const store of [a, b]) await vi.waitFor(async () => expect(await store.read(batch)).toEqual(expected));
    // Settled: the copies serve it, and still agree.
    for (const store of [a, b]) {
      const hits = store.nearCacheStats()!.hits;
      expect(await store.read(batch)).toEqual(expected);
      expect(store.nearCacheStats()!.hits).toBe(hits + keys.length + lists.length);
    }
  });

  it("after an own write that changed nothing (an append of no items to a missing list), another client's change still reaches the copy", async () => {
    const other = client(server.url);
    const store = await nearStore(server.url);
    expect(await store.listTail("empty", 5)).toEqual([]);
    await store.listAppend("empty", [], { maxLength: 5, ttlMs: HOUR });
    expect(await store.listTail("empty", 5)).toEqual([]);
    await other.rpush(`${store.prefix}empty`, JSON.stringify("theirs"));
    await vi.waitFor(async () => expect(await store.listTail("empty", 5)).toEqual(["theirs"]));
  });

  it("an append built on the list the copy held keeps nothing when the list changed just before it (found by an attack)", async () => {
    const admin = client(server.url);
    const store = await nearStore(server.url);
    const key = `${store.prefix}l`;
    await store.listAppend("l", ["a", "b", "c"], { maxLength: 10, ttlMs: HOUR });
    expect(await store.listTail("l", 10)).toEqual(["a", "b", "c"]);
    // Through the store's own connection, in the same tick as the append: sent before it.
    const changed = store.client.lset(key, 0, JSON.stringify("Z"));
    await store.listAppend("l", ["d"], { maxLength: 10, ttlMs: HOUR });
    await changed;
    const truth = async () => (await admin.lrange(key, 0, -1)).map((x) => JSON.parse(x) as unknown);
    await vi.waitFor(async () => expect(await store.listTail("l", 10)).toEqual(await truth()));
    expect(await truth()).toEqual(["Z", "b", "c", "d"]);
    await vi.waitFor(() => expect(store.nearCacheStats()?.inFlight).toBe(0));
  });

  it("a flush of the database empties the copy", async () => {
    const other = client(server.url);
    const store = await nearStore(server.url);
    await store.set("a", 1, HOUR);
    await store.listAppend("l", [1], { maxLength: 10, ttlMs: HOUR });
    expect(await store.read({ keys: ["a"], lists: [{ key: "l", last: 1 }] })).toEqual({ values: [1], lists: [[1]] });
    await other.flushdb();
    await vi.waitFor(async () =>
      expect(await store.read({ keys: ["a"], lists: [{ key: "l", last: 1 }] })).toEqual({ values: [undefined], lists: [[]] }),
    );
  });

  it("keeps nothing a read brought back after an invalidation of its key overtook the reply", async () => {
    const proxy = await gateProxy(server.port);
    try {
      const other = client(server.url);
      const store = await nearStore(proxy.url);
      const k = `${store.prefix}raced`;
      await other.set(k, JSON.stringify("old"));
      const before = store.nearCacheStats()!.invalidations;
      proxy.hold();
      const read = store.read({ keys: ["raced"] });
      // Redis has run the read (and tracks the key for the store) once its reply is held.
      await vi.waitFor(() => expect(proxy.heldBytes()).toBeGreaterThan(0));
      await other.set(k, JSON.stringify("new"));
      await vi.waitFor(() => expect(store.nearCacheStats()!.invalidations).toBeGreaterThan(before));
      proxy.release();
      expect((await read).values[0]).toBe("old");
      // The reply was older than the invalidation: had it been kept, no later message would ever correct it.
      expect((await store.read({ keys: ["raced"] })).values[0]).toBe("new");
      expect((await store.read({ keys: ["raced"] })).values[0]).toBe("new");
    } finally {
      await Promise.all(stores.splice(0).map((s) => s.close()));
      await proxy.close();
    }
  });

  it("an own delete sent after a read drops what that read brings back", async () => {
    const proxy = await gateProxy(server.port);
    try {
      const other = client(server.url);
      const store = await nearStore(proxy.url);
      await other.set(`${store.prefix}mine`, JSON.stringify("old"));
      proxy.hold();
      const read = store.read({ keys: ["mine"] });
      await vi.waitFor(() => expect(proxy.heldBytes()).toBeGreaterThan(0));
      const deleted = store.delete("mine");
      proxy.release();
      expect((await read).values[0]).toBe("old");
      await deleted;
      // Redis sends no invalidation of the store's own delete (NOLOOP): had the read's "old" been kept, it would stay.
      expect((await store.read({ keys: ["mine"] })).values[0]).toBeUndefined();
      expect(await store.get("mine")).toBeUndefined();
    } finally {
      await Promise.all(stores.splice(0).map((s) => s.close()));
      await proxy.close();
    }
  });

  it("reads its own writes: a read made while a write is on its way returns what the write wrote, as without a copy", async () => {
    const proxy = await gateProxy(server.port);
    try {
      const store = await nearStore(proxy.url);
      await store.set("v", "old", HOUR);
      await store.listAppend("l", ["old"], { maxLength: 10, ttlMs: HOUR });
      expect(await store.read({ keys: ["v"], lists: [{ key: "l", last: 10 }] })).toEqual({ values: ["old"], lists: [["old"]] });
      const writes: Array<[() => Promise<void>, () => Promise<unknown>, unknown]> = [
        [() => store.set("v", "new", HOUR), async () => (await store.read({ keys: ["v"] })).values[0], "new"],
        [() => store.listAppend("l", ["new"], { maxLength: 10, ttlMs: HOUR }), () => store.listTail("l", 10), ["old", "new"]],
        [() => store.delete("v"), () => store.get("v"), undefined],
      ];
      for (const [write, read, expected] of writes) {
        proxy.hold();
        const written = write();
        await vi.waitFor(() => expect(proxy.heldBytes()).toBeGreaterThan(0));
        const seen = read();
        proxy.release();
        await written;
        expect(await seen).toEqual(expected);
        expect(await read()).toEqual(expected);
      }
      // In the same tick as the write: the copy must not answer for a key a write was just asked for.
      await store.set("v", "old", HOUR);
      await store.listAppend("l", ["again"], { maxLength: 10, ttlMs: HOUR });
      expect(await store.get("v")).toBe("old");
      for (const [write, read, expected] of [
        [() => store.set("v", "same tick", HOUR), () => store.get("v"), "same tick"],
        [() => store.listAppend("l", ["tick"], { maxLength: 3, ttlMs: HOUR }), () => store.listTail("l", 10), ["new", "again", "tick"]],
        [() => store.delete("v"), async () => (await store.getMany(["v"]))[0], undefined],
      ] as Array<[() => Promise<void>, () => Promise<unknown>, unknown]>) {
        const written = write();
        const seen = read();
        await written;
        expect(await seen).toEqual(expected);
      }
    } finally {
      await Promise.all(stores.splice(0).map((s) => s.close()));
      await proxy.close();
    }
  });

  it("a read followed in the same tick by an own delete or write-back keeps nothing (found by an attack)", async () => {
    const other = client(server.url);
    const store = await nearStore(server.url);
    await other.set(store.prefix + "v", JSON.stringify("old"));
    await other.rpush(store.prefix + "l", JSON.stringify("a"));
    const read = store.getMany(["v"]);
    const deleted = store.delete("v");
    expect(await read).toEqual(["old"]);
    await deleted;
    expect(await store.get("v")).toBeUndefined();
    expect((await store.read({ keys: ["v"] })).values[0]).toBeUndefined();

    const tail = store.read({ keys: [], lists: [{ key: "l", last: 10 }] });
    const appended = store.listAppendOnce("l", ["a", "b"], { maxLength: 10, ttlMs: HOUR });
    expect((await tail).lists[0]).toEqual(["a"]);
    await appended;
    expect(await store.listTail("l", 10)).toEqual(["a", "b"]);
  });

  it("an own write whose call timed out keeps nothing when its reply comes late (found by an attack)", async () => {
    const proxy = await gateProxy(server.port);
    try {
      const other = client(server.url);
      const store = await nearStore(proxy.url, undefined, 100);
      const writes: Array<[string, () => Promise<void>, () => Promise<unknown>, () => Promise<unknown>, unknown]> = [
        [
          "v",
          () => store.set("v", "mine", HOUR),
          () => other.set(`${store.prefix}v`, JSON.stringify("theirs")),
          () => store.get("v"),
          "theirs",
        ],
        [
          "l",
          () => store.listAppend("l", ["mine"], { maxLength: 10, ttlMs: HOUR }),
          () => other.rpush(`${store.prefix}l`, JSON.stringify("theirs")),
          () => store.listTail("l", 10),
          ["mine", "theirs"],
        ],
      ];
      for (const [, write, theirs, read, expected] of writes) {
        proxy.hold();
        const written = write().then(
          () => "ok",
          (error: Error) => error.name,
        );
        await vi.waitFor(() => expect(proxy.heldBytes()).toBeGreaterThan(0));
        expect(await written).toBe("CacheTimeoutError");
        const invalidations = store.nearCacheStats()!.invalidations;
        await theirs();
        await vi.waitFor(() => expect(store.nearCacheStats()!.invalidations).toBeGreaterThan(invalidations));
        const late = proxy.heldBytes();
        proxy.release();
        expect(late).toBeGreaterThan(0);
        // The late reply is handled before anything sent after it: a read now comes back after it.
        expect(await store.ping().then(() => read())).toEqual(expected);
        expect(await read()).toEqual(expected);
      }
    } finally {
      await Promise.all(stores.splice(0).map((s) => s.close()));
      await proxy.close();
    }
  });

  it("a key that expires between a read's MGET and its PTTL is not kept (found by an attack)", async () => {
    const other = client(server.url);
    const store = await nearStore(server.url, undefined, 5_000);
    for (let round = 0; round < 6; round++) {
      const keys = Array.from({ length: 2_000 }, (_, i) => `r${round}:${i}`);
      const pipeline = other.pipeline();
      for (const key of keys) pipeline.set(store.prefix + key, "1", "PX", 60);
      await pipeline.exec();
      await sleep(40 + 5 * round); // read around the expiry
      await store.read({ keys });
      await sleep(80); // every key has expired in Redis by now
      const served = (await store.read({ keys })).values.filter((v) => v !== undefined).length;
      expect(served).toBe(0);
    }
  });

  it("names keys as Redis does: a lone surrogate is U+FFFD on the wire; redisOptions.keyPrefix is refused (found by an attack)", async () => {
    const other = client(server.url);
    const store = await nearStore(server.url);
    await store.set("bad\uD800key", "mine", HOUR);
    expect(await store.get("bad\uD800key")).toBe("mine");
    await other.set(`${store.prefix}bad\uFFFDkey`, JSON.stringify("theirs"));
    await vi.waitFor(async () => expect(await store.get("bad\uD800key")).toBe("theirs"));
    // Another spelling of the same Redis key, written by the store itself.
    await store.set("bad\uDC00key", "alias", HOUR);
    expect(await store.get("bad\uD800key")).toBe("alias");
    expect(() => redisCacheStore({ url: server.url, nearCache: true, redisOptions: { keyPrefix: "p:", lazyConnect: true } })).toThrow(
      /keyPrefix/,
    );
  });

  it("never throws synchronously, and a key held as missing makes no round trip", async () => {
    const admin = client(server.url);
    const store = await nearStore(server.url);
    const bad = {
      toString: () => {
        throw new Error("no");
      },
    } as unknown as string;
    for (const call of [
      () => store.get(Symbol("k") as never),
      () => store.get(bad),
      () => store.listTail("k", 5n as never),
      () => store.listTail(bad, 5),
    ]) {
      let result: Promise<unknown> | undefined;
      expect(() => {
        result = call();
      }).not.toThrow();
      await expect(result).rejects.toThrow();
    }
    expect((await store.read({ keys: ["absent"] })).values).toEqual([undefined]);
    expect(await store.listTail("absent-list", 3)).toEqual([]);
    const before = await commandCalls(admin);
    const misses = store.nearCacheStats()!.misses;
    expect(await store.get("absent")).toBeUndefined();
    expect(await store.getMany(["absent"])).toEqual([undefined]);
    expect(await store.listTail("absent-list", 3)).toEqual([]);
    expect(readsBetween(before, await commandCalls(admin))).toBe(0);
    expect(store.nearCacheStats()!.misses).toBe(misses);
  });

  it("comes back when the data connection drops while the invalidation connection is being set up (found by an attack)", async () => {
    const proxy = await gateProxy(server.port);
    try {
      const admin = client(server.url);
      const store = await nearStore(proxy.url);
      proxy.interceptSubscribe((send) => {
        store.client.once("close", () => send());
        proxy.dropData();
      });
      await admin.client("KILL", "TYPE", "pubsub");
      await vi.waitFor(() => expect(store.nearCacheStats()?.active).toBe(false));
      await vi.waitFor(() => expect(store.nearCacheStats()?.active).toBe(true), { timeout: 5_000 });
      const other = client(server.url);
      expect((await store.read({ keys: ["v"] })).values[0]).toBeUndefined();
      await other.set(`${store.prefix}v`, JSON.stringify("seen"));
      await vi.waitFor(async () => expect((await store.read({ keys: ["v"] })).values[0]).toBe("seen"));
    } finally {
      await Promise.all(stores.splice(0).map((s) => s.close()));
      await proxy.close();
    }
  });

  it("drops what Redis evicts, even while it runs the store's own commands (maxmemory, a full tracking table; found by an attack)", async () => {
    const own = await startRedis();
    try {
      const admin = client(own.url);
      const other = client(own.url);
      const store = await nearStore(own.url, undefined, 5_000);
      const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
      const writeAll = async (tag: string) => {
        const pipeline = other.pipeline();
        for (const key of keys) pipeline.set(store.prefix + key, JSON.stringify(`${tag}${key}`));
        await pipeline.exec();
      };
      const truth = async () =>
        (await other.mget(keys.map((key) => store.prefix + key))).map((v) => (v === null ? undefined : (JSON.parse(v) as unknown)));

      // A full tracking table: Redis forgets (and reports) the oldest keys as the store reads more.
      await admin.config("SET", "tracking-table-max-keys", "10");
      await writeAll("a");
      await store.read({ keys });
      await writeAll("b");
      await vi.waitFor(async () => expect((await store.read({ keys })).values).toEqual(await truth()));
      await admin.config("SET", "tracking-table-max-keys", "0");

      // maxmemory: the store's own writes make Redis evict the keys it holds.
      await admin.config("SET", "maxmemory-policy", "allkeys-lru");
      await admin.config("SET", "maxmemory", "2mb");
      await writeAll("c");
      expect((await store.read({ keys })).values).toEqual(await truth());
      const filler = "x".repeat(2_000);
      for (let i = 0; i < 3_000; i++) await store.set(`fill:${i}`, filler, HOUR);
      expect(Number((await admin.info("stats")).match(/evicted_keys:(\d+)/)?.[1])).toBeGreaterThan(0);
      await vi.waitFor(async () => expect((await store.read({ keys })).values).toEqual(await truth()));
      await writeAll("d");
      await vi.waitFor(async () => expect((await store.read({ keys })).values).toEqual(await truth()));
    } finally {
      await Promise.all(stores.splice(0).map((s) => s.close()));
      await own.stop();
    }
  });

  it("after a failover behind one address, the copy is used only once both connections reach the new server (found by an attack)", async () => {
    const a = await startRedis();
    const b = await startRedis();
    const proxy = await gateProxy(a.port);
    try {
      const store = await nearStore(proxy.url);
      const onA = client(a.url);
      const list = String(await onA.call("CLIENT", "LIST", "TYPE", "pubsub"));
      const subscriberId = Number(/id=(\d+)/.exec(list)?.[1]);
      // On B, a stranger's connection takes the id the store's invalidation connection has on A,
      // and another listens to every channel (a PUBLISH count would count it).
      const onB = client(b.url);
      await client(b.url).psubscribe("*");
      for (let id = Number(await onB.client("ID")); id < subscriberId; id = Number(await client(b.url).client("ID"))) {}
      proxy.retarget(b.port);
      proxy.dropData();
      await vi.waitFor(() => expect(store.nearCacheStats()?.active).toBe(false));
      await vi.waitFor(() => expect(store.nearCacheStats()?.active).toBe(true), { timeout: 5_000 });
      // Tracking is redirected to the store's own connection on B: B's changes reach the copy.
      expect(String(await onB.call("CLIENT", "LIST", "TYPE", "pubsub"))).toContain(`sub=2`);
      expect((await store.read({ keys: ["x"] })).values[0]).toBeUndefined();
      await onB.set(`${store.prefix}x`, JSON.stringify("changed on B"));
      await vi.waitFor(async () => expect((await store.read({ keys: ["x"] })).values[0]).toBe("changed on B"));
    } finally {
      await Promise.all(stores.splice(0).map((s) => s.close()));
      await proxy.close();
      await a.stop();
      await b.stop();
    }
  });

  for (const which of ["invalidation", "data"] as const) {
    it(`when the ${which} connection drops, nothing read before is served; the copy comes back, coherent`, async () => {
      const admin = client(server.url);
      const other = client(server.url);
      const store = await nearStore(server.url);
      const k = `${store.prefix}v`;
      await store.set("v", "before", HOUR);
      expect((await store.read({ keys: ["v"] })).values[0]).toBe("before");
      if (which === "invalidation") await admin.client("KILL", "TYPE", "pubsub");
      else await admin.client("KILL", "ID", String(await store.client.client("ID")));
      // Changed while the store could not hear of it.
      await other.set(k, JSON.stringify("while down"));
      await vi.waitFor(async () => expect((await store.read({ keys: ["v"] }).catch(() => ({ values: [] }))).values[0]).toBe("while down"));
      await vi.waitFor(() => expect(store.nearCacheStats()?.active).toBe(true), { timeout: 5_000 });
      // Tracking is on again, redirected to the invalidation connection of now.
      expect((await store.read({ keys: ["v"] })).values[0]).toBe("while down");
      await other.set(k, JSON.stringify("after"));
      await vi.waitFor(async () => expect((await store.read({ keys: ["v"] })).values[0]).toBe("after"));
    });
  }

  it("after Redis restarts, the copy starts empty and is coherent again", async () => {
    const own = await startRedis();
    try {
      const store = await nearStore(own.url);
      await store.set("v", "before", HOUR);
      expect((await store.read({ keys: ["v"] })).values[0]).toBe("before");
      await own.kill();
      await vi.waitFor(() => expect(store.nearCacheStats()?.active).toBe(false));
      expect(store.nearCacheStats()?.entries).toBe(0);
      await own.restart();
      await vi.waitFor(() => expect(store.nearCacheStats()?.active).toBe(true), { timeout: 5_000 });
      expect((await store.read({ keys: ["v"] })).values[0]).toBeUndefined();
      const other = client(own.url);
      await other.set(`${store.prefix}v`, JSON.stringify("later"));
      await vi.waitFor(async () => expect((await store.read({ keys: ["v"] })).values[0]).toBe("later"));
    } finally {
      await Promise.all(stores.splice(0).map((s) => s.close()));
      await own.stop();
    }
  });

  it("close() ends both connections", async () => {
    const admin = client(server.url);
    const count = async () =>
      String(await admin.client("LIST"))
        .split("\n")
        .filter((l) => l.includes("name=")).length;
    const before = await count();
    const store = await nearStore(server.url);
    expect(await count()).toBe(before + 2);
    await stores.pop()!.close();
    await vi.waitFor(async () => expect(await count()).toBe(before));
    expect(store.nearCacheStats()).toMatchObject({ active: false, entries: 0 });
  });

  it("is refused where the store cannot make its own two connections, and off unless asked for", () => {
    const host = new Redis(server.url, { lazyConnect: true });
    expect(() => redisCacheStore({ client: host, nearCache: true })).toThrow(/nearCache needs `url`/);
    expect(() => redisCacheStore({ nodes: [{ host: "127.0.0.1", port: server.port }], nearCache: true })).toThrow(/nearCache needs `url`/);
    expect(() => redisCacheStore({ url: server.url, nearCache: { maxEntries: 0 } })).toThrow(TypeError);
    const plain = redisCacheStore({ url: server.url, redisOptions: { lazyConnect: true } });
    stores.push(plain);
    expect(plain.nearCacheStats()).toBeUndefined();
    host.disconnect();
  });

  it("a pipeline's warm turn on a new message reads nothing from Redis before the model request, and sees another instance's turn", async () => {
    const admin = client(server.url);
    const prefix = `${uniquePrefix("near-pipe")}:`;
    let atRequest: Promise<Record<string, number>> | undefined;
    const scripted = scriptedBackend({ script: textChunks("An answer.") });
    const backend: ModelBackend = {
      name: "counting",
      chat: (request, options) => {
        atRequest = commandCalls(admin);
        return scripted.chat(request, options);
      },
    };
    const make = (model: ModelBackend) => {
      const store = resilientRedisStore({ url: server.url, prefix, nearCache: true });
      stores.push(store);
      const memory = testProvider("memory", "Ada likes tea.");
      return {
        store,
        memory,
        pipeline: createZoePipeline({
          backend: model,
          router: fixedRouter("chat"),
          cache: store,
          providers: [memory],
          ttl: { routeMs: 0 },
        }),
      };
    };
    const a = make(backend);
    await vi.waitFor(() => expect(a.store.redis.nearCacheStats()?.active).toBe(true), { timeout: 5_000 });
    await runValid(a.pipeline.run({ userId: "u1", threadId: "t1", message: "first question" }));
    const before = await commandCalls(admin);
    await runValid(a.pipeline.run({ userId: "u1", threadId: "t1", message: "a second, new question" }));
    expect(readsBetween(before, await atRequest!)).toBe(0);
    expect(a.memory.calls).toBe(1);
    expect(scripted.requests[1]?.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "user"]);

    // Another instance (its own store and copy) takes a turn in the same thread.
    const b = make(scriptedBackend({ script: textChunks("B's answer.") }));
    await vi.waitFor(() => expect(b.store.redis.nearCacheStats()?.active).toBe(true), { timeout: 5_000 });
    const invalidated = a.store.redis.nearCacheStats()!.invalidations;
    await runValid(b.pipeline.run({ userId: "u1", threadId: "t1", message: "from the other instance" }));
    // B's history append reaches A as an invalidation of the thread's history.
    await vi.waitFor(() => expect(a.store.redis.nearCacheStats()!.invalidations).toBeGreaterThan(invalidated));
    await runValid(a.pipeline.run({ userId: "u1", threadId: "t1", message: "back on A" }));
    const last = scripted.requests.at(-1)!.messages;
    expect(last.map((m) => m.role)).toEqual(["system", "user", "assistant", "user", "assistant", "user", "assistant", "user"]);
    expect(last[6]?.content).toBe("B's answer.");
    await a.pipeline.close();
    await b.pipeline.close();
  });
});
