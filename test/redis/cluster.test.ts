import { Cluster, type Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createKeyBuilder, createZoePipeline } from "../../src/index.js";
import { clusterSlot, redisCacheStore, resilientRedisStore } from "../../src/redis/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { cacheStoreConformance } from "../conformance/cache-store.js";
import { describeRedis, startCluster, uniquePrefix, type RedisClusterServers } from "./redis-servers.js";
import { recordWrites } from "../helpers/redis-wire.js";
import { CRAFTED_USERS, expectIsolatedUsers } from "./scenarios.js";

describeRedis("Redis Cluster (three masters started by the test)", () => {
  let servers: RedisClusterServers;
  let client: Cluster;
  beforeAll(async () => {
    servers = await startCluster();
    client = new Cluster(servers.nodes);
    await client.ping();
  }, 60_000);
  afterAll(async () => {
    await client?.quit();
    await servers?.stop();
  });

  cacheStoreConformance("redis cluster (nodes)", () => redisCacheStore({ nodes: servers.nodes, prefix: `${uniquePrefix("conf-cl")}:` }));

  it("computes the same hash slot as CLUSTER KEYSLOT, hash tags and unicode included", async () => {
    const keys = createKeyBuilder("zoe");
    const samples = [
      "",
      "a",
      "{",
      "}",
      "{}",
      "{}a",
      "a{}",
      "{a}",
      "x{a}y",
      "x{a}{b}",
      "x{{a}}",
      "x}{a}",
      "{a",
      "a}",
      "\u00e9",
      "\u{1F600}{\u65e5}",
      // an empty first tag means "no tag" even when a later `}` follows (cluster-key-slot 1.1.2 errs here)
      "a{}{b}",
      "a{}b}",
      "{}{}}",
      "x{}{y}z",
      // a lone surrogate goes on the wire as U+FFFD
      "\ud800",
      "a{\udc00}b",
      ...CRAFTED_USERS.flatMap((u) => [
        keys.key("history", u, "t"),
        keys.key("route", u, "hello {there}"),
        `p:${keys.key("context", u, "p")}`,
      ]),
    ];
    for (const key of samples) {
      expect(clusterSlot(key), JSON.stringify(key)).toBe(await client.cluster("KEYSLOT", key));
    }
  });

  it("getMany and read() work across slots; one user's keys share a slot", async () => {
    const store = redisCacheStore({ client, prefix: `${uniquePrefix("slots")}:` });
    const keys = Array.from({ length: 40 }, (_, i) => `spread:${i}`);
    expect(new Set(keys.map((k) => clusterSlot(store.prefix + k))).size).toBeGreaterThan(30);
    await Promise.all(keys.map((k, i) => store.set(k, i, 10_000)));
    expect(await store.getMany(keys)).toEqual(keys.map((_, i) => i));
    await store.listAppend("list:a", ["a"], { maxLength: 5, ttlMs: 10_000 });
    await store.listAppend("list:b", ["b"], { maxLength: 5, ttlMs: 10_000 });
    expect(
      await store.read({
        keys: [keys[0] as string, "none", keys[39] as string],
        lists: [
          { key: "list:a", last: 2 },
          { key: "list:b", last: 2 },
        ],
      }),
    ).toEqual({ values: [0, undefined, 39], lists: [["a"], ["b"]] });

    const kb = createKeyBuilder("zoe");
    for (const user of CRAFTED_USERS) {
      const slots = new Set(
        [kb.key("route", user, "x"), kb.key("system", user, "chat"), kb.key("context", user, "p", "q"), kb.key("history", user, "t")].map(
          (k) => clusterSlot(store.prefix + k),
        ),
      );
      expect(slots.size, JSON.stringify(user)).toBe(1);
    }
    await store.close();
    expect(client.status).toBe("ready"); // a given client is not quit
  });

  it("reads a run's cache in one round trip to one node and appends its history in one", async () => {
    const store = redisCacheStore({ client, prefix: `${uniquePrefix("rt")}:` });
    const pipeline = createZoePipeline({
      backend: scriptedBackend({ script: textChunks("An answer.") }),
      router: fixedRouter("chat"),
      cache: store,
      providers: [{ name: "profile", ttlMs: 60_000, fetch: () => "likes tea" }],
      keyPrefix: "rt",
    });
    const turn = { userId: "ada{x}", threadId: "t1", message: "Hello there" };
    await runValid(pipeline.run(turn));
    await new Promise((r) => setTimeout(r, 50));
    const recorder = recordWrites(client.nodes("master") as Redis[]);
    await runValid(pipeline.run(turn));
    await new Promise((r) => setTimeout(r, 50));
    recorder.stop();
    const writes = recorder.writes.map((w) => `${w.node}: ${w.commands.join(" ")}`);
    console.log(`cluster round trips, warm run: ${writes.length} ${JSON.stringify(writes)}`);
    expect(recorder.writes.map((w) => w.commands.join(" "))).toEqual(["MGET LRANGE", "MULTI RPUSH LTRIM PEXPIRE EXEC"]);
    expect(new Set(recorder.writes.map((w) => w.node)).size).toBe(1);
    await pipeline.close();
    expect(client.status).toBe("ready");
  });

  it("keeps crafted user ids apart in the Cluster (given client)", async () => {
    await expectIsolatedUsers(redisCacheStore({ client }), uniquePrefix("iso-cl"));
  });

  it("keeps crafted user ids apart in the Cluster (resilient store on nodes)", async () => {
    const store = resilientRedisStore({ nodes: servers.nodes, prefix: "tenant-1:" });
    await expectIsolatedUsers(store, uniquePrefix("iso-clfb"));
    expect(store.state).toBe("primary");
  });
});
