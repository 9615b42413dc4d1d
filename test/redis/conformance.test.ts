import { afterAll, beforeAll, expect, vi } from "vitest";
import { redisCacheStore, resilientRedisStore, type RedisCacheStore } from "../../src/redis/index.js";
import { cacheStoreConformance } from "../conformance/cache-store.js";
import { describeRedis, sharedRedis, sparePort, uniquePrefix } from "./redis-servers.js";

describeRedis("Redis stores pass the CacheStore conformance suite", () => {
  let shared: Awaited<ReturnType<typeof sharedRedis>>;
  beforeAll(async () => {
    shared = await sharedRedis();
  });
  afterAll(async () => {
    await shared?.stop();
  });

  cacheStoreConformance("redis", () => redisCacheStore({ url: shared.url, prefix: `${uniquePrefix("conf")}:` }));

  // With the copy in use from the first call.
  const nearActive = async (redis: RedisCacheStore) => {
    await vi.waitFor(() => expect(redis.nearCacheStats()?.active).toBe(true), { timeout: 5_000 });
  };
  cacheStoreConformance("redis, near cache", async () => {
    const store = redisCacheStore({ url: shared.url, prefix: `${uniquePrefix("conf-near")}:`, nearCache: true });
    await nearActive(store);
    return store;
  });

  cacheStoreConformance("redis+memory fallback, near cache", async () => {
    const store = resilientRedisStore({ url: shared.url, prefix: `${uniquePrefix("conf-fb-near")}:`, nearCache: true });
    await nearActive(store.redis);
    return store;
  });

  cacheStoreConformance("redis+memory fallback", () => resilientRedisStore({ url: shared.url, prefix: `${uniquePrefix("conf-fb")}:` }));

  cacheStoreConformance("redis+memory fallback, Redis down", async () =>
    resilientRedisStore({ url: `redis://127.0.0.1:${await sparePort()}`, probeIntervalMs: 200 }),
  );
});
