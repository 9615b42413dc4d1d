/** Options of a list append: the list keeps the last `maxLength` items and expires `ttlMs` after the last write. */
export interface ListAppendOptions {
  maxLength: number;
  ttlMs: number;
}

/** One batched read: plain keys and list tails, served in one round trip to the store. */
export interface CacheBatch {
  keys: readonly string[];
  lists?: ReadonlyArray<{ key: string; last: number }>;
}

/** The answer to a {@link CacheBatch}, in the same order. `undefined` is a miss. */
export interface CacheBatchResult {
  values: unknown[];
  lists: unknown[][];
}

/**
 * A key-value store with TTLs and capped lists. Values are JSON-serialisable.
 * Every implementation passes the shared conformance suite (test/conformance/).
 */
export interface CacheStore {
  /** A short name for metrics and logs ("memory", "redis"). */
  readonly name: string;
  get(key: string): Promise<unknown>;
  /** Many keys in one call (one round trip for remote stores). */
  getMany(keys: readonly string[]): Promise<unknown[]>;
  /** Keys and list tails in one call (one round trip for remote stores). */
  read(batch: CacheBatch): Promise<CacheBatchResult>;
  /** Store `value` for `ttlMs` milliseconds (> 0). */
  set(key: string, value: unknown, ttlMs: number): Promise<void>;
  delete(key: string): Promise<void>;
  /** Append items to a list, keep its last `maxLength` items and refresh its TTL, atomically. */
  listAppend(key: string, items: readonly unknown[], options: ListAppendOptions): Promise<void>;
  /** The last `last` items of a list, oldest first (empty when missing). */
  listTail(key: string, last: number): Promise<unknown[]>;
  close(): Promise<void>;
}
