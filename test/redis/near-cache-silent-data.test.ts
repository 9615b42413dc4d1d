/**
 * The near cache's data connection is the one whose CLIENT TRACKING makes Redis send
 * invalidations. When the server loses it (a NAT dropped the idle flow and the server freed the
 * client; the client never hears of it, half-open), Redis stops invalidating the keys it read,
 * and reads served from the copy make no call on that connection. The liveness token (published on
 * the data connection, received on the invalidation connection) finds it: the copy is dropped.
 */
import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { redisCacheStore } from "../../src/redis/index.js";
import { blackholeProxy } from "./blackhole-proxy.js";
import { describeRedis, startRedis } from "./redis-servers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeRedis("near cache whose data connection the server lost (half-open)", () => {
  it("stops serving a value another client changed, within a generous multiple of the store's deadlines", async () => {
    const server = await startRedis();
    const proxy = await blackholeProxy(server.port);
    const raw = new Redis(server.url);
    const timeoutMs = 250;
    const connectTimeoutMs = 500;
    const store = redisCacheStore({ url: proxy.url, prefix: "attack-data:", nearCache: true, timeoutMs, connectTimeoutMs });
    try {
      while (store.nearCacheStats()?.active !== true) await sleep(5);
      await store.set("k", "v1", 10 * 60_000);
      expect((await store.read({ keys: ["k"] })).values).toEqual(["v1"]);
      const hits = store.nearCacheStats()?.hits ?? 0;
      expect((await store.read({ keys: ["k"] })).values).toEqual(["v1"]);
      expect(store.nearCacheStats()?.hits).toBe(hits + 1); // served from the copy

      // The server frees the data connection (its tracking goes with it); the store hears nothing.
      expect(proxy.cutServerSide((c) => !c.subscriber)).toBe(1);
      // Wait until Redis has freed it (only the subscriber is left from the proxy).
      for (let i = 0; i < 100; i++) {
        const list = String(await raw.client("LIST"));
        if (list.split("\n").filter((l) => l.includes("cmd=")).length <= 2) break;
        await sleep(20);
      }
      await raw.set("attack-data:k", JSON.stringify("v2"), "PX", 10 * 60_000);

      // Generous: 20 x connectTimeoutMs (10 s), as the invalidation connection's own test allows.
      // The copy is dropped; a read then goes to Redis over the silent connection and misses its
      // deadline (a plain store has no probe to connect again; resilientRedisStore would fall back):
      // never the old value again.
      let last: unknown;
      const until = performance.now() + 20 * connectTimeoutMs;
      while (performance.now() < until) {
        last = await store.read({ keys: ["k"] }).then(
          (r) => r.values[0],
          (error: { code?: string }) => error.code,
        );
        if (last !== "v1") break;
        await sleep(100);
      }
      expect(["v2", "CACHE_TIMEOUT"]).toContain(last);
      expect(store.nearCacheStats()?.active).toBe(false);
    } finally {
      await store.close();
      await raw.quit();
      await proxy.close();
      await server.stop();
    }
  }, 30_000);
});
