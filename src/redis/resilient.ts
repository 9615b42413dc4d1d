import { FALLBACK_DEFAULTS, fallbackCacheStore, type FallbackCacheStore, type FallbackCacheStoreOptions } from "./fallback-store.js";
import { createRedisStore, type RedisCacheStore, type RedisCacheStoreOptions } from "./redis-store.js";

/** Options of {@link resilientRedisStore}: the Redis store's and the fallback's. */
export type ResilientRedisStoreOptions = RedisCacheStoreOptions & Omit<FallbackCacheStoreOptions, "primary" | "closePrimary">;

/** A {@link FallbackCacheStore} on Redis with an in-memory fallback. */
export interface ResilientRedisStore extends FallbackCacheStore {
  /** The Redis store behind it. */
  readonly redis: RedisCacheStore;
}

/**
 * The recommended production store: {@link redisCacheStore} wrapped in
 * {@link fallbackCacheStore} with a memory fallback. Redis errors and calls later than
 * `timeoutMs` (default 250) become misses and in-memory writes; after `failureThreshold`
 * (default 3) consecutive failures the store runs on memory and PINGs Redis every
 * `probeIntervalMs` (default 1,000) and on every reconnection, going back as soon as it answers.
 * A client created from `url`/`nodes` fails fast while disconnected and reconnects every
 * 50 ms up to half the probe interval (at most 500 ms); `close()` quits it.
 */
export function resilientRedisStore(options: ResilientRedisStoreOptions): ResilientRedisStore {
  const timeoutMs = options.timeoutMs ?? FALLBACK_DEFAULTS.timeoutMs;
  const probeIntervalMs = options.probeIntervalMs ?? FALLBACK_DEFAULTS.probeIntervalMs;
  const redis = createRedisStore({
    ...options,
    timeoutMs,
    maxReconnectDelayMs: Math.max(50, Math.min(500, probeIntervalMs / 2)),
  });
  const store = fallbackCacheStore({
    primary: redis,
    timeoutMs,
    probeIntervalMs,
    ...(options.fallback === undefined ? {} : { fallback: options.fallback }),
    ...(options.failureThreshold === undefined ? {} : { failureThreshold: options.failureThreshold }),
  });
  return Object.defineProperty(store, "redis", { value: redis, enumerable: true }) as ResilientRedisStore;
}
