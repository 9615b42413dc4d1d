import { afterAll, beforeAll } from "vitest";
import { redisCacheStore, resilientRedisStore } from "../../src/redis/index.js";
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

  cacheStoreConformance("redis+memory fallback", () => resilientRedisStore({ url: shared.url, prefix: `${uniquePrefix("conf-fb")}:` }));

  cacheStoreConformance("redis+memory fallback, Redis down", async () =>
    resilientRedisStore({ url: `redis://127.0.0.1:${await sparePort()}`, probeIntervalMs: 200 }),
  );
});
