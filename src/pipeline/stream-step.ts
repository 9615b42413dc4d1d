import { randomUUID } from "node:crypto";
import type { AGUIEvent } from "@ag-ui/core";
import { ZoeError, toZoeError } from "../errors/zoe-error.js";
import { attempt, TIMED_OUT, withDeadline } from "../shared/deadline.js";
import { events } from "../events/factory.js";
import type { ChatChunk, ChatDoneInfo, ChatRequest, ModelBackend } from "../models/types.js";
import { createFenceDetector } from "../tools/code-fences.js";
import type { ToolCallRecord } from "../tools/tool-runner.js";
import type { CodeExecutor, CodeResult } from "../tools/types.js";

/** Messages a run has open, shared with the run so that a cancelled run can close them. */
export interface OpenMessages {
  text?: string;
  reasoning?: { id: string; messageId: string };
}

/** What one model call produced. */
export interface StepResult {
  text: string;
  /** The model's reasoning, replayed with its tool calls on the next call. */
  thinking: string;
  toolCalls: ToolCallRecord[];
  done: ChatDoneInfo;
  firstTokenAt?: number;
  textChunks: number;
  codeRuns: number;
}

/** Deadlines of one model call (see `RunDeadlines`). */
export interface StepLimits {
  firstTokenMs: number;
  idleMs: number;
  codeBlockMs: number;
  /** When the run's whole generation must end (`performance.now()` time; Infinity for never). */
  generationEndsAt: number;
  /** Told of each code block once it has run (for traces). */
  onCode?: ((language: string, ok: boolean, startedAt: number, endedAt: number) => void) | undefined;
}

/** setTimeout takes at most 2^31 − 1 ms; a longer delay would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * One timer per model call for its first-token, idle and generation deadlines: each chunk only
 * records its time, and the timer, when it fires, re-arms itself for whatever is left.
 */
function watchModel(limits: StepLimits) {
  const startedAt = performance.now();
  let lastChunkAt: number | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let settle: (() => void) | undefined;
  const expired = new Promise<never>((resolve, reject) => {
    // Settled (and never read) when the watch stops, so no promise outlives the call.
    settle = resolve as () => void;
    const arm = () => {
      if (stopped) return;
      const now = performance.now();
      const idleEnd = lastChunkAt === undefined ? startedAt + limits.firstTokenMs : lastChunkAt + limits.idleMs;
      const end = Math.min(idleEnd, limits.generationEndsAt);
      if (end === Number.POSITIVE_INFINITY) return;
      if (now >= end) {
        const which =
          end === limits.generationEndsAt
            ? "the run's generation deadline (deadlines.generationMs)"
            : lastChunkAt === undefined
              ? `its first-token deadline of ${limits.firstTokenMs} ms (deadlines.firstTokenMs)`
              : `its idle deadline of ${limits.idleMs} ms between chunks (deadlines.idleMs)`;
        reject(new ZoeError("MODEL_TIMEOUT", `The model did not answer within ${which}.`));
        return;
      }
      timer = setTimeout(arm, Math.min(end - now, MAX_TIMER_MS));
    };
    arm();
  });
  expired.catch(() => {});
  return {
    expired,
    chunk: () => {
      lastChunkAt = performance.now();
    },
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      settle?.();
    },
  };
}

/** The iterator's next chunk; a synchronous throw becomes a rejection. */
function nextChunk(iterator: AsyncIterator<ChatChunk>): Promise<IteratorResult<ChatChunk>> {
  try {
    return Promise.resolve(iterator.next());
  } catch (error) {
    return Promise.reject(error);
  }
}

const CHUNK_TYPES = new Set(["text", "thinking", "tool_call", "done"]);

/** A chunk as the backend contract describes it, or `MODEL_INVALID_CHUNK`. */
function checkChunk(chunk: unknown): ChatChunk {
  const c = chunk as ChatChunk | null | undefined;
  const ok =
    typeof c === "object" &&
    c !== null &&
    CHUNK_TYPES.has(c.type) &&
    (c.type === "text" || c.type === "thinking"
      ? typeof c.text === "string"
      : c.type === "tool_call"
        ? typeof c.call === "object" && c.call !== null && typeof c.call.name === "string" && c.call.name.length > 0
        : true);
  if (!ok) {
    const shown = (() => {
      try {
        return JSON.stringify(chunk)?.slice(0, 120) ?? String(chunk);
      } catch {
        return typeof chunk;
      }
    })();
    throw new ZoeError("MODEL_INVALID_CHUNK", `The model backend yielded a chunk that is not a ChatChunk: ${shown}.`);
  }
  return c as ChatChunk;
}

/** Run one code block under its own deadline; a throw, a hang or a bad result is an error result. */
async function runBlock(
  executor: CodeExecutor,
  block: { code: string; language: string },
  signal: AbortSignal,
  userId: string | undefined,
  deadlineMs: number,
): Promise<CodeResult> {
  const controller = new AbortController();
  const forward = () => controller.abort(signal.reason);
  signal.addEventListener("abort", forward, { once: true });
  try {
    const context = { signal: controller.signal, language: block.language, ...(userId === undefined ? {} : { userId }) };
    const outcome = await withDeadline(
      attempt(() => executor.execute(block.code, context)),
      deadlineMs,
      signal,
    );
    if (outcome === TIMED_OUT) {
      controller.abort(new DOMException("The code block's deadline passed.", "TimeoutError"));
      return { ok: false, output: "", error: `the code block took longer than its ${deadlineMs} ms deadline` };
    }
    if (typeof outcome !== "object" || outcome === null || typeof outcome.ok !== "boolean") {
      return { ok: false, output: "", error: "the code executor gave no result" };
    }
    return {
      ok: outcome.ok,
      output: typeof outcome.output === "string" ? outcome.output : "",
      ...(outcome.error ? { error: String(outcome.error) } : {}),
    };
  } finally {
    signal.removeEventListener("abort", forward);
  }
}

/** The events that close whatever message is open. */
export function closeMessages(open: OpenMessages): AGUIEvent[] {
  const out: AGUIEvent[] = [];
  if (open.reasoning) {
    out.push(events.reasoningMessageEnd(open.reasoning.messageId), events.reasoningEnd(open.reasoning.id));
    delete open.reasoning;
  }
  if (open.text) out.push(events.textEnd(open.text));
  delete open.text;
  return out;
}

/**
 * Stream one model call as AG-UI events. With a code executor, each complete fenced block in an
 * allowed language runs at once, as a `run_code` tool call whose result is sent when it is ready,
 * while the answer keeps streaming.
 */
export async function* streamStep(
  backend: ModelBackend,
  request: ChatRequest,
  signal: AbortSignal,
  open: OpenMessages,
  executor: CodeExecutor | undefined,
  limits: StepLimits,
): AsyncGenerator<AGUIEvent, StepResult> {
  const result: StepResult = { text: "", thinking: "", toolCalls: [], done: {}, textChunks: 0, codeRuns: 0 };
  const watch = watchModel(limits);
  const fences = executor ? createFenceDetector() : undefined;
  const userId = request.userId;
  const ready: AGUIEvent[] = [];
  const running = new Set<Promise<void>>();
  let wake: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
  aborted.catch(() => {});

  const runCode = function* (blocks: ReturnType<NonNullable<typeof fences>["push"]>): Generator<AGUIEvent> {
    for (const block of blocks) {
      if (!executor?.languages.includes(block.language)) continue;
      const id = randomUUID();
      result.codeRuns++;
      yield events.toolCallStart(id, "run_code", open.text);
      yield events.toolCallArgs(id, JSON.stringify({ language: block.language, code: block.code }));
      yield events.toolCallEnd(id);
      const startedAt = performance.now();
      const job: Promise<void> = runBlock(executor, block, signal, userId, limits.codeBlockMs)
        .then((r) => {
          limits.onCode?.(block.language, r.ok, startedAt, performance.now());
          return r;
        })
        .then(
          // Like a failed tool's result, a failure reads "Error: …" (then the error, e.g. "TypeError: …").
          (r) => (r.ok ? r.output : `${r.output ? `${r.output}\n` : ""}Error: ${r.error ?? "the code failed"}`),
          (error: unknown) => `Error: ${error instanceof Error ? error.message : String(error)}`,
        )
        .then((content) => {
          ready.push(events.toolCallResult(id, content));
          running.delete(job);
          wake?.();
        });
      running.add(job);
    }
  };

  let iterator: AsyncIterator<ChatChunk>;
  try {
    iterator = backend.chat(request, { signal })[Symbol.asyncIterator]();
  } catch (error) {
    watch.stop();
    throw toZoeError(error, "MODEL_ERROR");
  }
  try {
    let next: Promise<IteratorResult<ChatChunk>> | undefined;
    for (;;) {
      next ??= nextChunk(iterator);
      const waits: Array<Promise<IteratorResult<ChatChunk> | "code">> = [next, aborted, watch.expired];
      if (running.size > 0) waits.push(new Promise<"code">((resolve) => (wake = () => resolve("code"))));
      let step: IteratorResult<ChatChunk> | "code";
      try {
        step = await Promise.race(waits);
      } catch (error) {
        if (signal.aborted) throw error;
        throw toZoeError(error, "MODEL_ERROR");
      }
      wake = undefined;
      if (ready.length) yield* ready.splice(0);
      if (step === "code") continue;
      next = undefined;
      if (step.done) break;
      watch.chunk();
      const chunk = checkChunk(step.value);
      switch (chunk.type) {
        case "thinking":
          if (!chunk.text) break;
          result.firstTokenAt ??= performance.now();
          if (!open.reasoning) {
            open.reasoning = { id: randomUUID(), messageId: randomUUID() };
            yield events.reasoningStart(open.reasoning.id);
            yield events.reasoningMessageStart(open.reasoning.messageId);
          }
          result.thinking += chunk.text;
          yield events.reasoningContent(open.reasoning.messageId, chunk.text);
          break;
        case "text":
          if (!chunk.text) break;
          result.firstTokenAt ??= performance.now();
          if (open.reasoning) {
            yield events.reasoningMessageEnd(open.reasoning.messageId);
            yield events.reasoningEnd(open.reasoning.id);
            delete open.reasoning;
          }
          if (!open.text) {
            open.text = randomUUID();
            yield events.textStart(open.text);
          }
          result.text += chunk.text;
          result.textChunks++;
          yield events.textContent(open.text, chunk.text);
          if (fences) yield* runCode(fences.push(chunk.text));
          break;
        case "tool_call": {
          result.firstTokenAt ??= performance.now();
          const parent = open.text;
          yield* closeMessages(open);
          const id = chunk.call.id ?? randomUUID();
          const args = typeof chunk.call.arguments === "string" ? chunk.call.arguments : JSON.stringify(chunk.call.arguments);
          result.toolCalls.push({ id, name: chunk.call.name, arguments: args });
          yield events.toolCallStart(id, chunk.call.name, parent);
          yield events.toolCallArgs(id, args);
          yield events.toolCallEnd(id);
          break;
        }
        case "done": {
          const { type: _type, ...info } = chunk;
          result.done = info;
          break;
        }
      }
    }
    // The model is done: code blocks still running answer to their own deadline.
    watch.stop();
    if (fences) yield* runCode(fences.end());
    // The answer is complete; wait for code still running, sending each result as it lands.
    while (running.size > 0) {
      await Promise.race([...running, aborted]);
      yield* ready.splice(0);
    }
    yield* ready.splice(0);
    return result;
  } finally {
    watch.stop();
    // Leaving early (abort, error, consumer gone) must close the backend's request now.
    void Promise.resolve(iterator.return?.()).catch(() => {});
  }
}
