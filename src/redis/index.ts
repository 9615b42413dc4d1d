/**
 * `zoe-pipeline/redis`: cache stores on Redis (ioredis, single server or Cluster), with an
 * in-memory fallback, a circuit breaker and write-back of the writes made during an outage. Needs the optional peer dependency `ioredis`.
 */
export {
  cacheClientOptions,
  redisCacheStore,
  REDIS_STORE_DEFAULTS,
  type InvalidValueEvent,
  type RedisCacheStore,
  type RedisCacheStoreEvents,
  type RedisCacheStoreOptions,
  type RedisClient,
  type RedisConnection,
} from "./redis-store.js";
export {
  FALLBACK_DEFAULTS,
  fallbackCacheStore,
  type FallbackCacheStore,
  type FallbackCacheStoreEvents,
  type FallbackCacheStoreOptions,
  type FallbackState,
  type ProbeablePrimary,
  type WriteBackEvent,
} from "./fallback-store.js";
export { CacheTimeoutError } from "./errors.js";
export { NEAR_CACHE_DEFAULTS, type NearCacheOptions, type NearCacheStats } from "./near-cache.js";
export { WRITE_BACK_DEFAULTS, type WriteBackOptions } from "./journal.js";
export type { ListAppendOnceOptions } from "./write-back.js";
export { resilientRedisStore, type ResilientRedisStore, type ResilientRedisStoreOptions } from "./resilient.js";
export { clusterSlot } from "./slot.js";
