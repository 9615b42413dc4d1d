import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { resilientRedisStore, type ResilientRedisStore } from "../../src/redis/index.js";
import { gateProxy } from "./gate-proxy.js";
import { describeRedis, sharedRedis, startRedis, uniquePrefix } from "./redis-servers.js";
import { signal, whenState } from "./store-state.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(2);
}

/** Commands sent and not answered yet on an ioredis connection. */
const inFlight = (store: ResilientRedisStore) =>
  (store.redis.client as unknown as { commandQueue: { length: number } }).commandQueue.length;

const list = { maxLength: 10, ttlMs: 60_000 };

describeRedis("an older write that fails after a newer one", () => {
  for (const kind of ["set", "listAppend"] as const) {
    it(`reaches Redis in the order the writes were made (${kind})`, async () => {
      const server = await startRedis();
      // Through a proxy: the connections the client makes to it while Redis is down connect,
      // so ioredis never fails the older write itself; it fails at its deadline.
      const proxy = await gateProxy(server.port);
      const store = resilientRedisStore({ url: proxy.url, prefix: "order:", probeIntervalMs: 200 });
      const write = (n: number) => (kind === "set" ? store.set("k", `v${n}`, 60_000) : store.listAppend("k", [`m${n}`], list));
      expect(await store.whenStarted()).toBe("primary");
      await write(0);

      signal(server, "SIGSTOP");
      const older = write(1);
      await until(() => inFlight(store) > 0);
      await server.kill(); // the older write never runs, and gets no reply
      await until(() => !store.redis.isReady());
      await write(2); // fails at once: on memory, kept for write-back
      await older; // fails later, at its deadline
      expect(store.state).toBe("fallback");
      if (kind === "set") expect(await store.get("k")).toBe("v2");

      await server.restart(); // empty: v0 and m0 went with the kill
      await whenState(store, "primary");
      const raw = new Redis(server.url);
      if (kind === "set") expect(await raw.get("order:k")).toBe('"v2"');
      else expect(await raw.lrange("order:k", 0, -1)).toEqual(['"m1"', '"m2"']);
      await raw.quit();
      await store.close();
      await proxy.close();
      await server.stop();
    });
  }
});

describeRedis("calls made in one tick", () => {
  for (const nearCache of [false, true]) {
    it(`reach Redis in the order they were made: a set, then a get and a delete (nearCache: ${nearCache})`, async () => {
      const shared = await sharedRedis();
      const store = resilientRedisStore({ url: shared.url, prefix: `${uniquePrefix("tick-order")}:`, nearCache });
      try {
        expect(await store.whenStarted()).toBe("primary");
        await store.set("k", "old", 60_000);
        await store.get("k"); // with a near cache, the copy now holds "old"
        const set = store.set("k", "new", 60_000);
        const got = store.get("k");
        const deleted = store.delete("k");
        await Promise.all([set, deleted]);
        // The set went out before the get and the delete called after it (it was one microtask late).
        expect(await got).toBe("new");
        expect(await store.get("k")).toBeUndefined();
      } finally {
        await store.close();
        await shared.stop();
      }
    });
  }
});
