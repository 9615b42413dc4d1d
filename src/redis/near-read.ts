import type { ChainableCommander } from "ioredis";
import { copyJson } from "../cache/json-copy.js";
import type { CacheBatch, CacheBatchResult } from "../cache/types.js";
import { MISS, type NearCacheState, type NearEntry, type NearRead } from "./near-cache.js";

/** What the near read needs of its store. */
export interface NearReadDeps {
  state: NearCacheState;
  /** The key as Redis knows it (prefix included). */
  full(key: string): string;
  /** A pipeline on the data connection. */
  pipeline(): ChainableCommander;
  /** Run `work` as one of the store's calls (deadline, connection wait). */
  call<T>(op: string, work: () => Promise<T>): Promise<T>;
  parse(key: string, raw: unknown): unknown;
  parseList(key: string, raw: unknown): unknown[];
  /** How many values the store reported invalid so far: a read that found one keeps nothing. */
  invalidCount(): number;
  /** Report a WRONGTYPE reply as invalid (the read is a miss); throw any other error. */
  wrongType(key: string, error: unknown): void;
}

/** LRANGE bounds of the last `last` items; undefined when nothing is asked for. */
export function tailRange(last: number): [number, number] | undefined {
  const count = Math.floor(last);
  // Past 2^53 (Infinity included) there is no exact integer to send: LRANGE would refuse it.
  if (count > Number.MAX_SAFE_INTEGER) return [0, -1];
  return count >= 1 ? [-count, -1] : undefined;
}

/**
 * An MGET reply: one value per key. Anything else (a null array from a faulty proxy, say) is a
 * failure of the server, never a `TypeError`, which a fallback store would take for a bad argument.
 */
export function mgetReply(raw: unknown, count: number): unknown[] {
  if (!Array.isArray(raw) || raw.length !== count) throw new Error(`redisCacheStore: the MGET reply is not ${count} values.`);
  return raw;
}

/**
 * `performance.now()` when a key read at `sentAt` with this PTTL expires: missing keys (-2) and
 * keys without a TTL (-1) never do. Undefined when the key held something but had gone by its
 * PTTL (it expired between the two; Redis sends no invalidation of an expiry this store's own
 * PTTL found, so the value must not be kept).
 */
const expiresAt = (sentAt: number, pttl: unknown, held: boolean): number | undefined => {
  if (typeof pttl !== "number" || pttl === -1) return Number.POSITIVE_INFINITY;
  if (pttl >= 0) return sentAt + pttl;
  return held ? undefined : Number.POSITIVE_INFINITY;
};

/** Bytes a held value takes: its JSON text as UTF-16, plus the entry. */
const bytesOf = (raw: unknown): number => (typeof raw === "string" ? raw.length * 2 : 0) + 64;

/**
 * A batched read served from the near cache where it can: what it holds comes back at once (a
 * copy), the rest in one pipeline (MGET, LRANGEs and a PTTL per key, so a copy also ends when
 * the key's TTL does). What the pipeline returns is kept unless an invalidation of its key
 * overtook it. A batch the cache holds whole makes no call and has no deadline to wait for.
 */
export function nearRead(deps: NearReadDeps, batch: CacheBatch): Promise<CacheBatchResult> {
  const { state, full } = deps;
  const now = performance.now();
  const keys = batch.keys;
  const lists = batch.lists ?? [];
  const values: unknown[] = new Array<unknown>(keys.length);
  const tails: unknown[][] = new Array<unknown[]>(lists.length);
  let missingKeys: number[] | undefined;
  let missingLists: number[] | undefined;
  for (let i = 0; i < keys.length; i++) {
    const held = state.value(full(keys[i] as string), now);
    if (held === MISS) (missingKeys ??= []).push(i);
    else values[i] = copyJson(held);
  }
  for (let i = 0; i < lists.length; i++) {
    const list = lists[i] as { key: string; last: number };
    const range = tailRange(list.last);
    if (range === undefined) {
      tails[i] = [];
      continue;
    }
    const held = state.tail(full(list.key), range[0] === 0 ? Number.POSITIVE_INFINITY : -range[0], now);
    if (held === MISS) (missingLists ??= []).push(i);
    else tails[i] = copyJson(held) as unknown[];
  }
  if (missingKeys === undefined && missingLists === undefined) return Promise.resolve({ values, lists: tails });
  const wantedKeys = missingKeys ?? [];
  const wantedLists = missingLists ?? [];
  const fullKeys = wantedKeys.map((i) => full(keys[i] as string));
  const listKeys = wantedLists.map((i) => full((lists[i] as { key: string }).key));
  // Registered now, before any own write called after this read can drop its keys: a write
  // called later is sent later, so what this read brings back would be older than it.
  const read = state.begin(fullKeys.concat(listKeys));
  return deps
    .call("read", async () => {
      const pipeline = deps.pipeline();
      if (fullKeys.length > 0) pipeline.mget(fullKeys);
      for (const k of fullKeys) pipeline.pttl(k);
      for (let j = 0; j < listKeys.length; j++) {
        const [start, stop] = tailRange((lists[wantedLists[j] as number] as { last: number }).last) as [number, number];
        pipeline.lrange(listKeys[j] as string, start, stop);
        pipeline.pttl(listKeys[j] as string);
      }
      const sentAt = performance.now();
      const result = (await pipeline.exec()) ?? [];
      let at = 0;
      const reply = (what: string): unknown => {
        const [error, value] = result[at++] ?? [new Error(`redisCacheStore: missing ${what} reply.`), null];
        if (error) throw error;
        return value;
      };
      if (fullKeys.length > 0) {
        const found = mgetReply(reply("MGET"), fullKeys.length);
        const ttls = fullKeys.map(() => reply("PTTL"));
        wantedKeys.forEach((index, j) => {
          const key = keys[index] as string;
          const invalidBefore = deps.invalidCount();
          const value = deps.parse(key, found[j]);
          values[index] = value;
          const expires = expiresAt(sentAt, ttls[j], found[j] !== null && found[j] !== undefined);
          if (deps.invalidCount() !== invalidBefore || expires === undefined) return;
          keepValue(state, read, fullKeys[j] as string, value, found[j], expires);
        });
      }
      wantedLists.forEach((index, j) => {
        const { key, last } = lists[index] as { key: string; last: number };
        const [error, raw] = result[at++] ?? [new Error("redisCacheStore: missing LRANGE reply."), null];
        const ttl = reply("PTTL");
        if (error) {
          deps.wrongType(key, error);
          tails[index] = [];
          return;
        }
        const invalidBefore = deps.invalidCount();
        const items = deps.parseList(key, raw);
        tails[index] = items;
        const expires = expiresAt(sentAt, ttl, Array.isArray(raw) && raw.length > 0);
        if (deps.invalidCount() !== invalidBefore || expires === undefined) return;
        const asked = (tailRange(last) as [number, number])[0];
        const whole = asked === 0 || items.length < -asked;
        keepList(state, read, listKeys[j] as string, copyJson(items) as unknown[], raw, whole, expires);
      });
      return { values, lists: tails };
    })
    .finally(() => state.end(read));
}

/** Keep a value read from Redis (the caller gets `value`, the copy keeps its own). */
function keepValue(state: NearCacheState, read: NearRead | undefined, key: string, value: unknown, raw: unknown, expires: number): void {
  if (read === undefined) return;
  const entry: NearEntry = { kind: "value", value: copyJson(value), expiresAt: expires, bytes: bytesOf(raw) };
  state.keep(read, key, entry);
}

/** Keep a list, or a tail of it, read from Redis; the copy takes `items` as they are. */
function keepList(
  state: NearCacheState,
  read: NearRead | undefined,
  key: string,
  items: unknown[],
  raw: unknown,
  whole: boolean,
  expires: number,
): void {
  if (read === undefined) return;
  let bytes = 64;
  if (Array.isArray(raw)) for (const item of raw) bytes += bytesOf(item);
  state.keep(read, key, { kind: "list", items, whole, expiresAt: expires, bytes });
}

/** Keep the value the store's own SET wrote and its MULTI read back (so Redis tracks it). */
export function keepWritten(state: NearCacheState, read: NearRead, key: string, json: string, expires: number): void {
  state.keep(read, key, { kind: "value", value: JSON.parse(json) as unknown, expiresAt: expires, bytes: bytesOf(json) });
}

/**
 * Keep the list the store's own append left: the whole list the copy held before it, plus the
 * items, trimmed to `keep` (0: all), when Redis counts as many items (LLEN in the append's MULTI).
 */
export function keepAppended(
  state: NearCacheState,
  read: NearRead,
  key: string,
  base: NearEntry & { kind: "list" },
  json: readonly string[],
  keep: number,
  length: unknown,
  expires: number,
): void {
  let items = base.items.slice();
  let bytes = base.bytes;
  for (const text of json) {
    items.push(JSON.parse(text) as unknown);
    bytes += bytesOf(text);
  }
  if (keep > 0 && items.length > keep) {
    bytes = Math.ceil((bytes * keep) / items.length);
    items = items.slice(items.length - keep);
  }
  if (length !== items.length) return;
  state.keep(read, key, { kind: "list", items, whole: true, expiresAt: expires, bytes });
}

/**
 * Keep the whole list the store's own append read back in its MULTI (after its writes, so exact),
 * unless an item is not JSON: the next read then reports it.
 */
export function keepReadBack(state: NearCacheState, read: NearRead, key: string, raw: unknown, ttl: unknown, sentAt: number): void {
  if (!Array.isArray(raw)) return;
  const items: unknown[] = [];
  for (const item of raw) {
    try {
      items.push(JSON.parse(String(item)));
    } catch {
      return;
    }
  }
  const expires = expiresAt(sentAt, ttl, true);
  if (expires !== undefined) keepList(state, read, key, items, raw, true, expires);
}
