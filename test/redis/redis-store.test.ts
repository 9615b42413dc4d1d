import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createKeyBuilder, createZoePipeline, type ContextProvider } from "../../src/index.js";
import { redisCacheStore, resilientRedisStore, type InvalidValueEvent } from "../../src/redis/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { describeRedis, sharedRedis, startRedis, uniquePrefix, type RedisServer } from "./redis-servers.js";
import { recordWrites } from "../helpers/redis-wire.js";
import { expectIsolatedUsers } from "./scenarios.js";

describeRedis("redisCacheStore on a single server", () => {
  let shared: Awaited<ReturnType<typeof sharedRedis>>;
  let raw: Redis;
  beforeAll(async () => {
    shared = await sharedRedis();
    raw = new Redis(shared.url);
  });
  afterAll(async () => {
    await raw?.quit();
    await shared?.stop();
  });

  it("stores JSON under the store prefix with PX/PEXPIRE TTLs in milliseconds", async () => {
    const prefix = `${uniquePrefix("px")}:`;
    const store = redisCacheStore({ url: shared.url, prefix });
    await store.set("k", { a: 1 }, 1_500);
    await store.listAppend("l", [1, 2], { maxLength: 5, ttlMs: 2_500 });
    expect(await raw.get(`${prefix}k`)).toBe('{"a":1}');
    expect(await raw.lrange(`${prefix}l`, 0, -1)).toEqual(["1", "2"]);
    const [ttlK, ttlL] = [await raw.pttl(`${prefix}k`), await raw.pttl(`${prefix}l`)];
    expect(ttlK).toBeGreaterThan(1_000);
    expect(ttlK).toBeLessThanOrEqual(1_500);
    expect(ttlL).toBeGreaterThan(2_000);
    expect(ttlL).toBeLessThanOrEqual(2_500);
    // Fractional TTLs are rounded up, never rejected by Redis.
    await store.set("f", 1, 10.5);
    expect(await store.get("f")).toBe(1);
    await store.close();
  });

  it("a read on a ready connection writes its commands before read() returns: the caller's work overlaps the round trip", async () => {
    const plain = redisCacheStore({ url: shared.url, prefix: `${uniquePrefix("sync-read")}:` });
    const resilient = resilientRedisStore({ url: shared.url, prefix: `${uniquePrefix("sync-read")}:` });
    await plain.set("warm", 1, 10_000); // connected and ready
    await resilient.whenStarted();
    for (const client of [plain.client, resilient.redis.client]) {
      const store = client === plain.client ? plain : resilient;
      const recorder = recordWrites([client as Redis]);
      const reading = store.read({ keys: ["a", "b"], lists: [{ key: "l", last: 12 }] });
      // Before any microtask has run.
      expect(recorder.writes.map((w) => w.commands.join(" "))).toEqual(["MGET LRANGE"]);
      recorder.stop();
      expect(await reading).toEqual({ values: [undefined, undefined], lists: [[]] });
    }
    await plain.close();
    await resilient.close();
  });

  it("treats values that are not JSON, or of the wrong Redis type, as misses and reports them", async () => {
    const prefix = `${uniquePrefix("bad")}:`;
    const reported: InvalidValueEvent[] = [];
    const store = redisCacheStore({ url: shared.url, prefix, onInvalid: (e) => reported.push(e) });
    const events: InvalidValueEvent[] = [];
    store.on("invalid", (e) => events.push(e));
    await raw.set(`${prefix}garbage`, "{not json", "PX", 10_000);
    await raw.rpush(`${prefix}list`, '"ok"', "{broken", "2");
    await raw.set(`${prefix}string`, '"s"', "PX", 10_000);
    await raw.rpush(`${prefix}alist`, '"x"');

    expect(await store.get("garbage")).toBeUndefined();
    expect(await store.listTail("list", 10)).toEqual(["ok", 2]);
    expect(await store.listTail("string", 10)).toEqual([]); // WRONGTYPE: a miss
    expect(await store.get("alist")).toBeUndefined(); // WRONGTYPE: a miss
    const batch = await store.read({
      keys: ["garbage", "string", "alist"],
      lists: [
        { key: "string", last: 3 },
        { key: "list", last: 3 },
      ],
    });
    expect(batch).toEqual({ values: [undefined, "s", undefined], lists: [[], ["ok", 2]] });
    expect(reported.map((e) => e.key)).toEqual(["garbage", "list", "string", "alist", "garbage", "string", "list"]);
    expect(events).toEqual(reported);
    expect(reported[0]?.reason).toBe("not JSON");
    expect(reported[2]?.reason).toMatch(/^WRONGTYPE/);
    await store.close();
  });

  it("rejects bad arguments with TypeError, like the memory store", async () => {
    const store = redisCacheStore({ url: shared.url, prefix: `${uniquePrefix("args")}:` });
    await expect(store.set("k", undefined, 1_000)).rejects.toThrow(TypeError);
    await expect(store.set("k", () => 1, 1_000)).rejects.toThrow(TypeError);
    await expect(store.set("k", 1n, 1_000)).rejects.toThrow(TypeError);
    await expect(store.listAppend("l", [1], { maxLength: 3, ttlMs: 0 })).rejects.toThrow(TypeError);
    await expect(store.listAppend("l", [undefined], { maxLength: 3, ttlMs: 10 })).rejects.toThrow(TypeError);
    expect(() => redisCacheStore({ url: shared.url, prefix: "app{1}:" })).toThrow(TypeError);
    expect(() => redisCacheStore({} as never)).toThrow(TypeError);
    expect(() => redisCacheStore({ url: shared.url, client: raw } as never)).toThrow(TypeError);
    await store.close();
  });

  it("lets calls made while its client connects wait for the connection (one shared wait, no listener pile-up)", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on("warning", onWarning);
    const prefix = `${uniquePrefix("early")}:`;
    const store = redisCacheStore({ url: shared.url, prefix });
    expect(store.isReady()).toBe(false);
    await Promise.all(Array.from({ length: 300 }, (_, i) => store.set(`k${i}`, i, 10_000)));
    expect(await store.getMany(["k0", "k299"])).toEqual([0, 299]);
    expect(store.client.listenerCount("ready")).toBe(1);
    await new Promise((r) => setImmediate(r));
    process.off("warning", onWarning);
    expect(warnings).not.toContain("MaxListenersExceededWarning");
    await store.close();
  });

  it("quits a client it created on close(), leaves a given client open, refuses calls after close()", async () => {
    const owned = redisCacheStore({ url: shared.url });
    await owned.ping();
    expect(owned.isReady()).toBe(true);
    await owned.close();
    expect(owned.client.status).toBe("end");
    await expect(owned.get("x")).rejects.toThrow(/closed/);

    const client = new Redis(shared.url);
    const given = redisCacheStore({ client, prefix: `${uniquePrefix("given")}:` });
    await given.set("k", 1, 1_000);
    await given.close();
    expect(client.status).toBe("ready");
    expect(await client.ping()).toBe("PONG");
    await client.quit();
  });

  it("a second close() resolves only once the client it created has ended, as the first does", async () => {
    const store = redisCacheStore({ url: shared.url });
    await store.ping();
    const first = store.close();
    await store.close();
    expect(store.client.status).toBe("end");
    await first;
  });

  it("keeps crafted user ids apart: no user is served another's cached context, prompt or history", async () => {
    await expectIsolatedUsers(redisCacheStore({ url: shared.url }), uniquePrefix("iso"));
  });

  it("keeps crafted user ids apart through the fallback store as well", async () => {
    await expectIsolatedUsers(resilientRedisStore({ url: shared.url }), uniquePrefix("isofb"));
  });
});

describeRedis("round trips per run (private server, counted on the socket and with MONITOR)", () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("reads a run's cache in one round trip and appends its history in one", async () => {
    const store = redisCacheStore({ url: server.url });
    await store.ping();
    const observer = new Redis(server.url);
    const monitor = await observer.monitor();
    const seen: string[][] = [];
    monitor.on("monitor", (_time: string, args: string[]) => seen.push(args));

    const profile: ContextProvider = { name: "profile", placement: "stable", ttlMs: 60_000, fetch: () => "likes tea" };
    const pipeline = createZoePipeline({
      backend: scriptedBackend({ script: textChunks("An answer.") }),
      router: fixedRouter("chat"),
      cache: store,
      providers: [profile],
      keyPrefix: "rt",
    });
    const run = async () => {
      const recorder = recordWrites([store.client as Redis]);
      await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "Why is the sky blue?" }));
      await new Promise((r) => setTimeout(r, 50)); // let fire-and-forget writes go out
      recorder.stop();
      return recorder.writes.map((w) => w.commands.join(" "));
    };

    const cold = await run();
    const warm = await run();
    console.log(`round trips, cold run: ${cold.length} ${JSON.stringify(cold)}`);
    console.log(`round trips, warm run: ${warm.length} ${JSON.stringify(warm)}`);
    // Cold: one batched read, the route and context writes (fire-and-forget), one history append.
    expect(cold.filter((w) => w.includes("MGET"))).toEqual(["MGET LRANGE"]);
    expect(cold.filter((w) => w.includes("RPUSH"))).toEqual(["MULTI RPUSH LTRIM PEXPIRE EXEC"]);
    expect(cold).toHaveLength(4);
    expect(cold.filter((w) => w === "SET")).toHaveLength(2);
    // Warm: route and context come from the cache: exactly two round trips.
    expect(warm).toEqual(["MGET LRANGE", "MULTI RPUSH LTRIM PEXPIRE EXEC"]);

    // What the server executed for the warm run, and every key in the user's hash tag.
    await new Promise((r) => setTimeout(r, 100));
    const warmCommands = seen.slice(-7);
    expect(warmCommands.map((c) => c[0]?.toUpperCase())).toEqual(["MGET", "LRANGE", "MULTI", "RPUSH", "LTRIM", "PEXPIRE", "EXEC"]);
    const keys = createKeyBuilder("rt");
    expect(warmCommands[0]?.slice(1)).toEqual([keys.key("route", "ada", "why is the sky blue?"), keys.key("context", "ada", "profile")]);
    expect(warmCommands[1]?.[1]).toBe(keys.key("history", "ada", "t1"));
    monitor.disconnect();
    observer.disconnect();
    await pipeline.close();
  });
});
