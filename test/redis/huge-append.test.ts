/**
 * A list append of many items goes to Redis as one array argument: spread into the call's
 * arguments (RPUSH, the write-back's EVAL), past V8's limit it threw a RangeError, which the
 * fallback store took for Redis failing; the write-back then failed the same way every time, and
 * the store stayed on memory for good although Redis was healthy.
 */
import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { resilientRedisStore } from "../../src/redis/index.js";
import { describeRedis, startRedis } from "./redis-servers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeRedis("a list append of many items on a healthy Redis", () => {
  it("neither degrades the store nor leaves a write-back that can never finish", async () => {
    const server = await startRedis();
    const raw = new Redis(server.url);
    const probeIntervalMs = 100;
    const store = resilientRedisStore({ url: server.url, prefix: "huge:", probeIntervalMs });
    const degraded: unknown[] = [];
    store.on("degraded", ({ error }) => degraded.push(error));
    try {
      expect(await store.whenStarted()).toBe("primary");
      const items = Array.from({ length: 300_000 }, (_, i) => i);
      await store.listAppend("list", items, { maxLength: Number.POSITIVE_INFINITY, ttlMs: 60_000 });
      // Let the retries and probes run (five probe intervals).
      await sleep(5 * probeIntervalMs);
      await store.set("other", 1, 60_000);
      expect({
        degraded: degraded.length,
        state: store.state,
        pendingWrites: store.pendingWrites,
        listInRedis: await raw.llen("huge:list"),
        otherInRedis: await raw.get("huge:other"),
      }).toEqual({ degraded: 0, state: "primary", pendingWrites: 0, listInRedis: 300_000, otherInRedis: "1" });
    } finally {
      await store.close();
      await raw.quit();
      await server.stop();
    }
  }, 30_000);
});
