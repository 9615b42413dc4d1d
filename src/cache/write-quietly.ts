import type { CacheStore } from "./types.js";

/**
 * Write a cache entry without waiting and without failing: a store that throws (synchronously or
 * not) or cannot serialise the value costs a later miss, never the run that wrote.
 */
export function writeQuietly(store: CacheStore, key: string, value: unknown, ttlMs: number): void {
  try {
    store.set(key, value, ttlMs).catch(() => {});
  } catch {
    // A synchronous throw is as harmless as a rejection.
  }
}
