import { FALLBACK_DEFAULTS, fallbackCacheStore, type FallbackCacheStore, type FallbackCacheStoreOptions } from "./fallback-store.js";
import { createRedisStore, REDIS_STORE_DEFAULTS, type RedisCacheStore, type RedisCacheStoreOptions } from "./redis-store.js";

/**
 * Options of {@link resilientRedisStore}: the Redis store's (`timeoutMs` defaults to 250 here)
 * and the fallback's. The start deadline is `connectTimeoutMs + timeoutMs`.
 */
export type ResilientRedisStoreOptions = RedisCacheStoreOptions &
  Omit<FallbackCacheStoreOptions, "primary" | "closePrimary" | "startTimeoutMs">;

/** A {@link FallbackCacheStore} on Redis with an in-memory fallback. */
export interface ResilientRedisStore extends FallbackCacheStore {
  /** The Redis store behind it. */
  readonly redis: RedisCacheStore;
}

/**
 * The recommended production store: {@link redisCacheStore} wrapped in
 * {@link fallbackCacheStore} with a memory fallback.
 *
 * - Calls made while the client connects wait for it (at most `connectTimeoutMs`, 2,000).
 * - Every Redis call has a deadline of `timeoutMs` (250), whatever the client's options; time the
 *   event loop was blocked does not count. A failed or late call is a miss or a memory write.
 * - After `failureThreshold` (3) failures in a row and a PING that fails too, or at once when the
 *   connection drops, the store runs on memory and PINGs Redis every `probeIntervalMs` (1,000)
 *   and on every reconnection.
 * - Writes made on memory meanwhile are written back to Redis (history in order, exactly once)
 *   before the store switches back (`writeBack`, default on).
 *
 * A client created from `url`/`nodes` fails fast while disconnected and reconnects every 50 ms
 * up to half the probe interval (at most 500 ms); `close()` quits it. See docs/redis.md.
 */
export function resilientRedisStore(options: ResilientRedisStoreOptions): ResilientRedisStore {
  const timeoutMs = options.timeoutMs ?? FALLBACK_DEFAULTS.timeoutMs;
  const connectTimeoutMs = options.connectTimeoutMs ?? REDIS_STORE_DEFAULTS.connectTimeoutMs;
  const probeIntervalMs = options.probeIntervalMs ?? FALLBACK_DEFAULTS.probeIntervalMs;
  const redis = createRedisStore({
    ...options,
    timeoutMs,
    connectTimeoutMs,
    maxReconnectDelayMs: Math.max(50, Math.min(500, probeIntervalMs / 2)),
  });
  const store = fallbackCacheStore({
    primary: redis,
    timeoutMs,
    startTimeoutMs: connectTimeoutMs + timeoutMs,
    probeIntervalMs,
    ...(options.fallback === undefined ? {} : { fallback: options.fallback }),
    ...(options.failureThreshold === undefined ? {} : { failureThreshold: options.failureThreshold }),
    ...(options.writeBack === undefined ? {} : { writeBack: options.writeBack }),
  });
  return Object.defineProperty(store, "redis", { value: redis, enumerable: true }) as ResilientRedisStore;
}
