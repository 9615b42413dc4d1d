/**
 * resilientRedisStore degrades when its calls time out, then PINGs on the same connection. A data
 * connection that goes silent without closing (half-open TCP) is never replaced: every probe
 * times out on it, and the store stays on memory for good while Redis answers any new connection.
 */
import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { resilientRedisStore } from "../../src/redis/index.js";
import { describeRedis, startRedis } from "./redis-servers.js";
import { whenState } from "./store-state.js";
import { blackholeProxy } from "./blackhole-proxy.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeRedis("resilientRedisStore over a data connection that goes silent", () => {
  it("goes back to Redis once Redis answers again (a new connection does), within a generous bound", async () => {
    const server = await startRedis();
    const proxy = await blackholeProxy(server.port);
    const probeIntervalMs = 200;
    const store = resilientRedisStore({ url: proxy.url, prefix: "silentdata:", timeoutMs: 250, connectTimeoutMs: 500, probeIntervalMs });
    try {
      expect(await store.whenStarted()).toBe("primary");
      await store.set("k", 1, 60_000);

      expect(proxy.blackhole(() => true)).toBe(1);
      for (let i = 0; i < 4 && store.state === "primary"; i++) await store.get("k");
      await whenState(store, "fallback");

      // Redis is fine: a new connection through the same address answers.
      const probe = new Redis(proxy.url, { maxRetriesPerRequest: 0 });
      expect(await probe.ping()).toBe("PONG");
      await probe.quit();

      // Generous: 40 probe intervals (8 s).
      const until = performance.now() + 40 * probeIntervalMs;
      while (store.state !== "primary" && performance.now() < until) await sleep(50);
      expect(store.state).toBe("primary");
    } finally {
      await store.close();
      await proxy.close();
      await server.stop();
    }
  }, 30_000);
});
