import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { resilientRedisStore } from "../../src/redis/index.js";
import { gateProxy } from "./gate-proxy.js";
import { describeRedis, startRedis } from "./redis-servers.js";
import { whenState } from "./store-state.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await sleep(5);
}

describeRedis("a connection reset that loses the reply of a write", () => {
  for (const nearCache of [false, true]) {
    it(`appends the history turn once, not again after the reconnection${nearCache ? " (near cache)" : ""}`, async () => {
      const server = await startRedis();
      const proxy = await gateProxy(server.port);
      const raw = new Redis(server.url);
      const store = resilientRedisStore({ url: proxy.url, prefix: "lost:", nearCache });
      expect(await store.whenStarted()).toBe("primary");
      if (nearCache) await until(() => store.redis.nearCacheStats()?.active === true);
      await store.listAppend("h", [{ id: "m0" }], { maxLength: 10, ttlMs: 60_000 });

      // Redis runs the append's MULTI; its reply is held, then the connection drops.
      proxy.hold();
      const append = store.listAppend("h", [{ id: "m1" }], { maxLength: 10, ttlMs: 60_000 });
      await until(async () => (await raw.llen("lost:h")) === 2 && proxy.heldBytes() > 0);
      proxy.dropData();
      proxy.release();
      await append;

      // The lost write is written back (idempotently), never sent again as it was.
      await until(() => store.pendingWrites === 0);
      await whenState(store, "primary");
      await store.listAppend("h", [{ id: "m2" }], { maxLength: 10, ttlMs: 60_000 });
      const ids = (await raw.lrange("lost:h", 0, -1)).map((s) => (JSON.parse(s) as { id: string }).id);
      expect(ids).toEqual(["m0", "m1", "m2"]);

      await store.close();
      await raw.quit();
      await proxy.close();
      await server.stop();
    });
  }
});
