/**
 * The store's client connects again only after three PINGs in a row go unanswered, so that one
 * slow moment of Redis does not cut the commands it would still answer. PINGs in flight at once
 * (a health endpoint hit by two probes, beside the resilient store's own) that time out in the
 * same slow moment are one wait, not three.
 */
import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { redisCacheStore } from "../../src/redis/index.js";
import { describeRedis, rawCommand, startRedis } from "./redis-servers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeRedis("concurrent store.ping() calls during one slow moment", () => {
  it("do not count as three PINGs in a row: a write Redis answers within its deadline is not cut", async () => {
    const server = await startRedis();
    const timeoutMs = 1_000;
    const store = redisCacheStore({ url: server.url, prefix: "attack-ping3:", timeoutMs });
    const check = new Redis(server.url, { maxRetriesPerRequest: 0 });
    let closes = 0;
    store.client.on("close", () => closes++);
    try {
      await store.ping();
      expect(await rawCommand(server.port, `CLIENT PAUSE ${1.3 * timeoutMs} ALL`)).toMatch(/^\+OK/);
      // Three PINGs at once, in the same slow moment: one episode, not three in a row.
      const pinged = Promise.all(
        [store.ping(), store.ping(), store.ping()].map((p) =>
          p.then(
            () => "answered",
            (e: Error) => e.name,
          ),
        ),
      );
      await sleep(0.6 * timeoutMs);
      const written = store.set("k", "v", 60_000).then(
        () => "ok",
        (e: Error) => e.message,
      );
      const [p, w] = await Promise.all([pinged, written]);
      await sleep(0.5 * timeoutMs);
      const stored = await check.get("attack-ping3:k");
      expect(p).toEqual(["CacheTimeoutError", "CacheTimeoutError", "CacheTimeoutError"]);
      expect({ written: w, stored, closes }).toEqual({ written: "ok", stored: '"v"', closes: 0 });
    } finally {
      check.disconnect();
      await store.close();
      await server.stop();
    }
  }, 30_000);
});
