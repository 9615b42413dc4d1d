import type { CacheBatch, CacheBatchResult, CacheStore } from "../../cache/types.js";
import { attempt, TIMED_OUT, withDeadline } from "../../shared/deadline.js";

/** A plain array holding what `list` holds, each element read once (a getter or a Proxy trap that throws, throws here). */
function plainCopy(list: readonly unknown[]): unknown[] {
  const n = list.length;
  const copy = new Array<unknown>(n);
  for (let i = 0; i < n; i++) copy[i] = list[i];
  return copy;
}

/** The run's one batched cache read, and how it went. */
export interface CacheRead {
  result: CacheBatchResult;
  ms: number;
  /** `ok`, why everything counts as a miss, or `aborted` (the run was, while it read). */
  status: "ok" | "timeout" | "error" | "aborted";
}

/** A read that is a miss everywhere: no values, `lists` empty lists, `status` why. */
function missed(lists: number, t0: number, status: CacheRead["status"]): CacheRead {
  const empty: unknown[][] = [];
  for (let i = 0; i < lists; i++) empty.push([]);
  return { result: { values: [], lists: empty }, ms: performance.now() - t0, status };
}

/**
 * Read everything a run may need from the store in one round trip, under a deadline. The cache
 * speeds runs up and never breaks one: a failed, hung or malformed read is a miss everywhere.
 * Never rejects and never throws, so that it can be sent before the run's setup, which may fail
 * before anything awaits it: a run aborted while it reads gets `aborted`. Not an async function:
 * the read's outcome reaches the run in the same microtask as the store's answer, and a run
 * waiting on the store holds no suspended frame for it.
 */
export function readRunCache(store: CacheStore, batch: CacheBatch, deadlineMs: number, signal: AbortSignal): Promise<CacheRead> {
  const t0 = performance.now();
  // Counted before the store sees the batch: a store that changes it cannot change the misses.
  const listCount = batch.lists?.length ?? 0;
  let reading: Promise<CacheBatchResult | typeof TIMED_OUT>;
  try {
    reading = withDeadline(
      attempt(() => store.read(batch)),
      deadlineMs,
      signal,
    );
  } catch {
    // A store's promise whose own `catch` throws, met by a run aborted before it read.
    return Promise.resolve(missed(listCount, t0, signal.aborted ? "aborted" : "error"));
  }
  return reading.then(
    (read): CacheRead => {
      if (read === TIMED_OUT) return missed(listCount, t0, "timeout");
      try {
        if (!read) return missed(listCount, t0, "error");
        // Each field read once: a custom store's result is handed on as plain arrays, never re-read.
        const values: unknown = read.values;
        const lists: unknown = read.lists;
        if (!Array.isArray(values) || !Array.isArray(lists)) return missed(listCount, t0, "error");
        // Plain copies, every element read here once: an element that throws when read (a custom
        // store's getter or Proxy) makes the whole read a miss, not a failure later in the run. A list
        // that is not one is a miss (the others are kept).
        const copies: unknown[][] = [];
        for (let i = 0; i < lists.length; i++) {
          const list: unknown = lists[i];
          copies.push(Array.isArray(list) ? plainCopy(list) : []);
        }
        return { result: { values: plainCopy(values), lists: copies }, ms: performance.now() - t0, status: "ok" };
      } catch {
        return missed(listCount, t0, "error");
      }
    },
    () => missed(listCount, t0, signal.aborted ? "aborted" : "error"),
  );
}
