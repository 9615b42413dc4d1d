/**
 * The near cache trusts its invalidation connection for as long as it is not closed. A connection
 * that goes silent without closing (half-open TCP: a NAT/conntrack/load-balancer that drops an
 * idle flow, a partition) is never detected: the copy keeps serving what it held after another
 * client changed it, until each key's TTL ends.
 */
import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { redisCacheStore } from "../../src/redis/index.js";
import { describeRedis, startRedis } from "./redis-servers.js";
import { blackholeProxy } from "./blackhole-proxy.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeRedis("near cache over an invalidation connection that goes silent", () => {
  it("stops serving a value another client changed, within a generous multiple of the store's deadlines", async () => {
    const server = await startRedis();
    const proxy = await blackholeProxy(server.port);
    const raw = new Redis(server.url);
    const timeoutMs = 250;
    const connectTimeoutMs = 500;
    const store = redisCacheStore({ url: proxy.url, prefix: "silent:", nearCache: true, timeoutMs, connectTimeoutMs });
    try {
      while (store.nearCacheStats()?.active !== true) await sleep(5);
      await store.set("k", "v1", 10 * 60_000);
      expect((await store.read({ keys: ["k"] })).values).toEqual(["v1"]);
      const hits = store.nearCacheStats()?.hits ?? 0;
      expect((await store.read({ keys: ["k"] })).values).toEqual(["v1"]);
      expect(store.nearCacheStats()?.hits).toBe(hits + 1); // served from the copy

      // The invalidation connection goes silent (no FIN, no RST); the data connection is fine.
      expect(proxy.blackhole((c) => c.subscriber)).toBe(1);
      await raw.set("silent:k", JSON.stringify("v2"), "PX", 10 * 60_000);

      // Generous: 20 x connectTimeoutMs (10 s) for the store to notice that it hears nothing.
      let last: unknown;
      let staleReads = 0;
      const until = performance.now() + 20 * connectTimeoutMs;
      while (performance.now() < until) {
        last = (await store.read({ keys: ["k"] })).values[0];
        if (last === "v2") break;
        staleReads++;
        await sleep(100);
      }
      expect({ last, staleReads: staleReads > 0 ? "some" : "none" }).toEqual({ last: "v2", staleReads: "some" });
    } finally {
      await store.close();
      await raw.quit();
      await proxy.close();
      await server.stop();
    }
  }, 30_000);
});
