import type { HistoryStore } from "../../history/history-store.js";
import type { HistoryEntry } from "../../history/types.js";
import { attempt, TIMED_OUT, withDeadline } from "../../shared/deadline.js";

/** How a run's history write went (the `history:write` host event). */
export interface HistoryWriteOutcome {
  status: "ok" | "timeout" | "error";
  ms: number;
  error?: string;
}

/**
 * Append the turn to the thread's history under a deadline. A failed or hung write never fails
 * the run: its outcome is reported to the host. Rejects only when the run is aborted.
 */
export async function writeHistory(
  history: HistoryStore,
  userId: string,
  threadId: string,
  entries: readonly HistoryEntry[],
  deadlineMs: number,
  signal: AbortSignal,
): Promise<HistoryWriteOutcome> {
  const t0 = performance.now();
  try {
    const done = await withDeadline(attempt(() => history.append(userId, threadId, entries)), deadlineMs, signal);
    const ms = performance.now() - t0;
    return done === TIMED_OUT ? { status: "timeout", ms, error: `the history write took longer than its ${deadlineMs} ms deadline` } : { status: "ok", ms };
  } catch (error) {
    if (signal.aborted) throw error;
    return { status: "error", ms: performance.now() - t0, error: error instanceof Error ? error.message : String(error) };
  }
}
