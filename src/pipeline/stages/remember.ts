import { newId } from "../../shared/new-id.js";
import type { HistoryStore } from "../../history/history-store.js";
import type { HistoryEntry } from "../../history/types.js";
import { TIMED_OUT, withDeadline } from "../../shared/deadline.js";
import { beginStage, endStage, type RunContext } from "../run-context.js";
import { cacheableAnswer, type Answer } from "./answer.js";
import type { Prompted } from "./prompt.js";
import type { Routed } from "./route.js";
import { errorMessage } from "../../errors/error-message.js";

/** How a run's history write went (the `history:write` host event); `cleared`: the thread was cleared while the run was in flight, and nothing was written. */
export interface HistoryWriteOutcome {
  status: "ok" | "timeout" | "error" | "cleared";
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
    const done = await withDeadline(history.write(userId, threadId, entries), deadlineMs, signal);
    const ms = performance.now() - t0;
    return done === TIMED_OUT
      ? { status: "timeout", ms, error: `the history write took longer than its ${deadlineMs} ms deadline` }
      : { status: "ok", ms };
  } catch (error) {
    if (signal.aborted) throw error;
    return { status: "error", ms: performance.now() - t0, error: errorMessage(error) };
  }
}

/** The number of a thread's next entry, read from the store under `deadlineMs`; 0 when it cannot be read. Rejects only when the run is aborted. */
async function nextSeqAfter(
  history: HistoryStore,
  userId: string,
  threadId: string,
  deadlineMs: number,
  signal: AbortSignal,
): Promise<number> {
  try {
    const tail = await withDeadline(history.get(userId, threadId, 1), deadlineMs, signal);
    const last = tail === TIMED_OUT ? undefined : tail[tail.length - 1];
    return last ? last.seq + 1 : 0;
  } catch (error) {
    if (signal.aborted) throw error;
    return 0;
  }
}

/**
 * The least a write is given after the thread's number took the rest of `historyWriteMs`: it is
 * still sent (it may land), and the run goes on about at once (`history:write` says `timeout`).
 */
const MIN_WRITE_MS = 1;

/** What the remember stage did. */
export interface Remembered {
  history: HistoryWriteOutcome;
  /** The answer went into the response cache. */
  answerStored: boolean;
}

/**
 * The remember stage: the user turn (with the exact bytes the model saw) and the complete answer
 * go into the thread's history, under a deadline; a complete text answer of the model asked for,
 * without tool calls, goes into the response cache ({@link cacheableAnswer}). Neither can fail the run.
 */
export async function remember(ctx: RunContext, routed: Routed, prompted: Prompted, answer: Answer): Promise<Remembered> {
  const { deps, turn, signal } = ctx;
  beginStage(ctx, "remember");
  let seq = routed.nextSeq;
  let writeMs = deps.deadlines.historyWriteMs;
  let t0 = 0;
  if (routed.readFailed) {
    // A run whose batched read failed does not know the thread's last number: it asks for it now,
    // rather than numbering from 0 (a thread whose numbers start again loses its earlier turns
    // from the prompt window). The question and the write share the one `historyWriteMs`: a store
    // that hangs costs the run that deadline once, not twice.
    t0 = performance.now();
    seq = await nextSeqAfter(deps.history, turn.userId, turn.threadId, writeMs, signal);
    writeMs = Math.max(writeMs - (performance.now() - t0), MIN_WRITE_MS);
  }
  const at = Date.now();
  // A run that continues after the client answered a frontend tool stores only its answer:
  // its user turn was stored by the run that called the tool.
  const continuation = turn.messages.length > 0 && turn.messages.at(-1)?.role !== "user";
  const userEntry: HistoryEntry = {
    id: turn.userMessageId,
    role: "user",
    content: turn.text,
    seq,
    at,
    ...(prompted.prompt.userContent !== turn.text ? { sent: prompted.prompt.userContent } : {}),
  };
  const answerEntry: HistoryEntry = {
    // The id the client saw streamed (its first text message), so that a later snapshot names it alike.
    id: ctx.open.firstText ?? newId(),
    role: "assistant",
    content: answer.text,
    seq: continuation ? seq : seq + 1,
    at,
    ...(answer.toolCalls.length ? { toolCalls: answer.toolCalls } : {}),
  };
  const entries = continuation ? [answerEntry] : [userEntry, answerEntry];
  // A thread cleared while the run was in flight stays cleared.
  const history: HistoryWriteOutcome = deps.history.clearedSince(turn.userId, turn.threadId, ctx.t0)
    ? { status: "cleared", ms: 0 }
    : await writeHistory(deps.history, turn.userId, turn.threadId, entries, writeMs, signal);
  if (routed.readFailed && history.status !== "cleared") {
    // What the host is told covers the question for the number too.
    history.ms = performance.now() - t0;
    if (history.status === "timeout") {
      history.error = `the thread's last number and the history write took longer than their ${deps.deadlines.historyWriteMs} ms deadline`;
    }
  }
  // Built only for a host that listens: every run writes its history.
  if (deps.emitter.listenerCount("history:write") > 0) deps.emitter.emit("history:write", Object.assign({}, ctx.run.who, history));
  const { lookup } = answer;
  const answerStored =
    lookup !== undefined && cacheableAnswer(answer, prompted.request.model) && deps.answers?.remember(lookup, answer.text) === true;
  endStage(ctx, () => ({ "zoe.history.write": history.status, "zoe.answer_cache.stored": answerStored }));
  return { history, answerStored };
}
