import type { CacheBatch, CacheBatchResult, CacheStore } from "../../cache/types.js";
import { attempt, TIMED_OUT, withDeadline } from "../../shared/deadline.js";

/** The run's one batched cache read, and how it went. */
export interface CacheRead {
  result: CacheBatchResult;
  ms: number;
  /** `ok`, why everything counts as a miss, or `aborted` (the run was, while it read). */
  status: "ok" | "timeout" | "error" | "aborted";
}

/**
 * Read everything a run may need from the store in one round trip, under a deadline. The cache
 * speeds runs up and never breaks one: a failed, hung or malformed read is a miss everywhere.
 * Never rejects, so that it can be sent before the run's setup, which may fail before anything
 * awaits it: a run aborted while it reads gets `aborted`.
 */
export async function readRunCache(store: CacheStore, batch: CacheBatch, deadlineMs: number, signal: AbortSignal): Promise<CacheRead> {
  const t0 = performance.now();
  const misses = { values: [], lists: batch.lists?.map(() => []) ?? [] };
  try {
    const read = await withDeadline(
      attempt(() => store.read(batch)),
      deadlineMs,
      signal,
    );
    const ms = performance.now() - t0;
    if (read === TIMED_OUT) return { result: misses, ms, status: "timeout" };
    if (!read) return { result: misses, ms, status: "error" };
    // Each field read once: a custom store's result is handed on as plain arrays, never re-read.
    const values: unknown = read.values;
    const lists: unknown = read.lists;
    if (!Array.isArray(values) || !Array.isArray(lists)) return { result: misses, ms, status: "error" };
    // A list that is not one is a miss (the others are kept).
    if (!lists.every((l) => Array.isArray(l))) {
      return { result: { values, lists: lists.map((l) => (Array.isArray(l) ? (l as unknown[]) : [])) }, ms, status: "ok" };
    }
    return { result: { values, lists: lists as unknown[][] }, ms, status: "ok" };
  } catch {
    return { result: misses, ms: performance.now() - t0, status: signal.aborted ? "aborted" : "error" };
  }
}
