import { LRUCache } from "lru-cache";
import type { CacheBatch, CacheBatchResult, CacheStore, ListAppendOptions } from "./types.js";
import { copyJson } from "./json-copy.js";
import { assertTtl } from "./validate.js";

/** Options of {@link memoryCacheStore}. */
export interface MemoryCacheStoreOptions {
  /** Most entries (keys and lists) kept; the least recently used go first. Default 10,000. */
  maxEntries?: number;
  /**
   * Most bytes of keys and serialised values kept (approximate: UTF-16 length × 2). Default 64 MiB.
   * Values are kept parsed, so the heap they take depends on their shape: about 1.3× this for
   * history entries, 1.7× for values made of many small objects.
   */
  maxBytes?: number;
}

/**
 * What a value is kept as: its JSON parsed back (what Redis would give), and the size of that JSON.
 * Reads return a copy ({@link copyJson}), never this object.
 */
type Snapshot = { value: unknown; bytes: number };

/** A stored value, or a list with the running size of its items (kept as it changes, never recounted). */
type Entry = { kind: "value"; item: Snapshot } | { kind: "list"; items: Snapshot[]; bytes: number };

/** A value as it would come back from Redis: through JSON (which also refuses a BigInt or a cycle). */
function snapshot(value: unknown): Snapshot {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError("memoryCacheStore: the value cannot be serialised as JSON.");
  return { value: JSON.parse(json) as unknown, bytes: json.length * 2 + 16 };
}

/** An entry's approximate size in bytes, its key included (a long key costs as much as a long value). */
const entrySize = (entry: Entry, key: string): number => key.length * 2 + (entry.kind === "value" ? entry.item.bytes + 48 : entry.bytes);

/**
 * An in-process {@link CacheStore} on lru-cache: bounded by entries and bytes, TTL per entry.
 * Values go through JSON when they are written, so they behave exactly as in Redis: what JSON
 * drops is dropped, what it cannot hold is refused, and a value read back is a fresh copy, never
 * the object that was written nor one another reader holds.
 */
export function memoryCacheStore(options: MemoryCacheStoreOptions = {}): CacheStore {
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  const lru = new LRUCache<string, Entry>({
    max: options.maxEntries ?? 10_000,
    maxSize: maxBytes,
    sizeCalculation: entrySize,
    ttlAutopurge: false,
    // lru-cache's default (1 ms) keeps the clock for 1 ms and arms a timer to forget it: a read
    // after the process has waited (every chat turn) arms a timer and later runs it. Reading the
    // clock on each TTL check costs less.
    ttlResolution: 0,
  });
  let closed = false;

  const value = (key: string): unknown => {
    const entry = lru.get(key);
    return entry?.kind === "value" ? copyJson(entry.item.value) : undefined;
  };
  const tail = (key: string, last: number): unknown[] => {
    const entry = lru.get(key);
    // Whole items, as Redis counts them: a fractional `last` is rounded down, NaN is nothing.
    const count = Math.floor(last);
    if (entry?.kind !== "list" || !(count >= 1)) return [];
    const from = Math.max(0, entry.items.length - count);
    const out: unknown[] = [];
    for (let i = from; i < entry.items.length; i++) out.push(copyJson((entry.items[i] as Snapshot).value));
    return out;
  };
  const ensureOpen = () => {
    if (closed) throw new Error("memoryCacheStore: the store is closed.");
  };

  return {
    name: "memory",
    async get(key) {
      ensureOpen();
      return value(key);
    },
    async getMany(keys) {
      ensureOpen();
      return keys.map(value);
    },
    async read(batch: CacheBatch): Promise<CacheBatchResult> {
      ensureOpen();
      return { values: batch.keys.map(value), lists: (batch.lists ?? []).map((l) => tail(l.key, l.last)) };
    },
    async set(key, v, ttlMs) {
      ensureOpen();
      assertTtl(ttlMs);
      if (v === undefined) throw new TypeError("memoryCacheStore.set: value must not be undefined (use delete).");
      lru.set(key, { kind: "value", item: snapshot(v) }, { ttl: ttlMs });
    },
    async delete(key) {
      ensureOpen();
      lru.delete(key);
    },
    async listAppend(key, items, { maxLength, ttlMs }: ListAppendOptions) {
      ensureOpen();
      assertTtl(ttlMs);
      const snapshots = items.map(snapshot);
      // lru-cache drops an entry larger than `maxBytes` whole: a list that would be is refused
      // (its newest items alone too large), or loses its oldest items until it fits.
      const added = snapshots.reduce((n, s) => n + s.bytes, 0);
      if (key.length * 2 + 64 + added > maxBytes) {
        throw new RangeError(`memoryCacheStore.listAppend: the items (${added} bytes) are larger than maxBytes (${maxBytes}).`);
      }
      const found = lru.get(key);
      // The items change in place (no copy of what the list holds), under a new entry object:
      // lru-cache counts a value's size again only when it is set to another object, so setting
      // the same entry again would leave the list counted at its first size, past `maxBytes`.
      const list = found?.kind === "list" ? found : undefined;
      const entry: Entry = { kind: "list", items: list?.items ?? [], bytes: list?.bytes ?? 64 };
      for (const s of snapshots) {
        entry.items.push(s);
        entry.bytes += s.bytes;
      }
      const excess = entry.items.length - Math.max(1, maxLength);
      if (excess > 0) for (const s of entry.items.splice(0, excess)) entry.bytes -= s.bytes;
      while (entrySize(entry, key) > maxBytes) entry.bytes -= (entry.items.shift() as Snapshot).bytes;
      lru.set(key, entry, { ttl: ttlMs });
    },
    async listTail(key, last) {
      ensureOpen();
      return tail(key, last);
    },
    async close() {
      closed = true;
      lru.clear();
    },
  };
}
