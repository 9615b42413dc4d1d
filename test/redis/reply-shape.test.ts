import { expect, it } from "vitest";
import { redisCacheStore, resilientRedisStore } from "../../src/redis/index.js";
import { describeRedis, startRedis } from "./redis-servers.js";
import { gateProxy } from "./gate-proxy.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A null array for every MGET (and -2 for the PTTLs a near-cache read sends with it): no Redis answers so. */
const nullMget = (commands: string[][]) =>
  commands[0]?.[0]?.toUpperCase() === "MGET"
    ? commands.map((c) => (c[0]?.toUpperCase() === "MGET" ? "*-1\r\n" : ":-2\r\n")).join("")
    : undefined;

describeRedis("a reply of the wrong shape", () => {
  for (const nearCache of [false, true]) {
    it(`is a failure of Redis, served from memory, never a TypeError${nearCache ? " (near cache)" : ""}`, async () => {
      const server = await startRedis();
      const proxy = await gateProxy(server.port);
      proxy.answer(nullMget);
      const store = resilientRedisStore({ url: proxy.url, prefix: "shape:", nearCache });
      const errors: unknown[] = [];
      store.on("error", ({ error }) => errors.push(error));
      expect(await store.whenStarted()).toBe("primary");
      if (nearCache) while (store.redis.nearCacheStats()?.active !== true) await sleep(5);

      expect(await store.read({ keys: ["a", "b"], lists: [] })).toEqual({ values: [undefined, undefined], lists: [] });
      expect(await store.getMany(["a"])).toEqual([undefined]);
      expect(errors).toHaveLength(2);
      for (const error of errors) expect(error).not.toBeInstanceOf(TypeError);

      // The Redis store alone rejects with an error of Redis, not an argument error.
      const redis = redisCacheStore({ url: proxy.url, nearCache });
      const reason = await redis.getMany(["a"]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(reason).toBeInstanceOf(Error);
      expect(reason).not.toBeInstanceOf(TypeError);

      await redis.close();
      await store.close();
      await proxy.close();
      await server.stop();
    });
  }
});
