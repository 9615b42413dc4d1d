import { newId } from "../../shared/new-id.js";
import type { HistoryStore } from "../../history/history-store.js";
import type { HistoryEntry } from "../../history/types.js";
import { TIMED_OUT, withDeadline } from "../../shared/deadline.js";
import { beginStage, endStage, type RunContext } from "../run-context.js";
import { cacheableAnswer, type Answer } from "./answer.js";
import type { Prompted } from "./prompt.js";
import type { Routed } from "./route.js";

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
    const done = await withDeadline(history.write(userId, threadId, entries), deadlineMs, signal);
    const ms = performance.now() - t0;
    return done === TIMED_OUT
      ? { status: "timeout", ms, error: `the history write took longer than its ${deadlineMs} ms deadline` }
      : { status: "ok", ms };
  } catch (error) {
    if (signal.aborted) throw error;
    return { status: "error", ms: performance.now() - t0, error: error instanceof Error ? error.message : String(error) };
  }
}

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
  const seq = routed.nextSeq;
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
    id: newId(),
    role: "assistant",
    content: answer.text,
    seq: continuation ? seq : seq + 1,
    at,
    ...(answer.toolCalls.length ? { toolCalls: answer.toolCalls } : {}),
  };
  const entries = continuation ? [answerEntry] : [userEntry, answerEntry];
  const history = await writeHistory(deps.history, turn.userId, turn.threadId, entries, deps.deadlines.historyWriteMs, signal);
  // Built only for a host that listens: every run writes its history.
  if (deps.emitter.listenerCount("history:write") > 0) deps.emitter.emit("history:write", Object.assign({}, ctx.run.who, history));
  const { lookup } = answer;
  const answerStored =
    lookup !== undefined && cacheableAnswer(answer, prompted.request.model) && deps.answers?.remember(lookup, answer.text) === true;
  endStage(ctx, () => ({ "zoe.history.write": history.status, "zoe.answer_cache.stored": answerStored }));
  return { history, answerStored };
}
