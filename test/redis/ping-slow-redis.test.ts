/**
 * One PING with no answer within `timeoutMs`, on a Redis that is slow but alive (CLIENT PAUSE, a
 * long script, a fork), does not make the client connect again: that would cut every command in
 * flight (autoResendUnfulfilledCommands is false), calls whose own deadline has time left.
 */
import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { redisCacheStore } from "../../src/redis/index.js";
import { describeRedis, rawCommand, startRedis } from "./redis-servers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeRedis("store.ping() timing out on a slow but alive Redis", () => {
  it("does not fail a write issued after the PING that Redis answers within the write's own deadline", async () => {
    const server = await startRedis();
    const timeoutMs = 1_000;
    const store = redisCacheStore({ url: server.url, prefix: "attack-ping:", timeoutMs });
    const check = new Redis(server.url, { maxRetriesPerRequest: 0 });
    try {
      await store.ping();
      // Redis stops serving for 1.3 timeoutMs (a managed failover's pause, a long script...).
      expect(await rawCommand(server.port, `CLIENT PAUSE ${1.3 * timeoutMs} ALL`)).toMatch(/^\+OK/);
      const pinged = store.ping().then(
        () => "answered",
        (e: Error) => e.name,
      );
      await sleep(0.6 * timeoutMs);
      // Issued at 0.6 timeoutMs: its deadline is at 1.6 timeoutMs, Redis answers at ~1.3 timeoutMs.
      const written = store.set("k", "v", 60_000).then(
        () => "ok",
        (e: Error) => e.message,
      );
      const [p, w] = await Promise.all([pinged, written]);
      await sleep(0.5 * timeoutMs);
      const stored = await check.get("attack-ping:k");
      // The PING itself did time out (CacheTimeoutError) -- that part is expected.
      expect(p).toBe("CacheTimeoutError");
      // Without the forced reconnect the write is answered at ~1.3 timeoutMs, within its deadline.
      // With it: rejected "Connection is closed." at ~1 timeoutMs, and not stored.
      expect({ written: w, stored }).toEqual({ written: "ok", stored: '"v"' });
    } finally {
      check.disconnect();
      await store.close();
      await server.stop();
    }
  }, 30_000);
});
