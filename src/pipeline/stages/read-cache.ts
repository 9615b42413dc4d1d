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

/** Everything a miss: no values, every list empty. */
function misses(batch: CacheBatch): CacheBatchResult {
  return { values: [], lists: batch.lists?.map(() => []) ?? [] };
}

/**
 * Read everything a run may need from the store in one round trip, under a deadline. The cache
 * speeds runs up and never breaks one: a failed, hung or malformed read is a miss everywhere.
 * Never rejects, so that it can be sent before the run's setup, which may fail before anything
 * awaits it: a run aborted while it reads gets `aborted`. Not an async function: the read's
 * outcome reaches the run in the same microtask as the store's answer, and a run waiting on the
 * store holds no suspended frame for it.
 */
export function readRunCache(store: CacheStore, batch: CacheBatch, deadlineMs: number, signal: AbortSignal): Promise<CacheRead> {
  const t0 = performance.now();
  return withDeadline(
    attempt(() => store.read(batch)),
    deadlineMs,
    signal,
  ).then(
    (read): CacheRead => {
      const ms = performance.now() - t0;
      if (read === TIMED_OUT) return { result: misses(batch), ms, status: "timeout" };
      try {
        if (!read) return { result: misses(batch), ms, status: "error" };
        // Each field read once: a custom store's result is handed on as plain arrays, never re-read.
        const values: unknown = read.values;
        const lists: unknown = read.lists;
        if (!Array.isArray(values) || !Array.isArray(lists)) return { result: misses(batch), ms, status: "error" };
        // Plain copies, every element read here once: an element that throws when read (a custom
        // store's getter or Proxy) makes the whole read a miss, not a failure later in the run. A list
        // that is not one is a miss (the others are kept).
        const copies: unknown[][] = [];
        for (let i = 0; i < lists.length; i++) {
          const list: unknown = lists[i];
          copies.push(Array.isArray(list) ? plainCopy(list) : []);
        }
        return { result: { values: plainCopy(values), lists: copies }, ms, status: "ok" };
      } catch {
        return { result: misses(batch), ms, status: "error" };
      }
    },
    (): CacheRead => ({ result: misses(batch), ms: performance.now() - t0, status: signal.aborted ? "aborted" : "error" }),
  );
}
