import { isAcceptableId } from "../input/limits.js";
import { newId } from "../shared/new-id.js";
import type { AGUIEvent } from "@ag-ui/core";
import { tokenCount } from "./metrics.js";
import { ZoeError, toZoeError } from "../errors/zoe-error.js";
import { attempt, TIMED_OUT, withDeadline } from "../shared/deadline.js";
import { onAbort } from "../shared/on-abort.js";
import { TextBuilder } from "../shared/text-builder.js";
import { events } from "../events/factory.js";
import type { ChatChunk, ChatDoneInfo, ChatRequest, ModelBackend } from "../models/types.js";
import { createFenceDetector } from "../tools/code-fences.js";
import { capped, type ToolCallRecord } from "../tools/tool-runner.js";
import { MAX_TOOL_ARGUMENT_CHARS } from "../tools/argument-limit.js";
import type { CodeExecutor, CodeResult } from "../tools/types.js";
import { STREAM_BACKLOG, type RunStream } from "./run-stream.js";
import { MAX_TIMER_MS } from "../shared/timer.js";
import { errorMessage } from "../errors/error-message.js";

/** Messages a run has open, shared with the run so that a cancelled run can close them. */
export interface OpenMessages {
  text?: string;
  /**
   * The id of the run's first assistant message (its first text, or the message its first tool
   * calls belong to): the stored answer's id, so that a later `MESSAGES_SNAPSHOT` names it as the
   * stream did.
   */
  firstText?: string;
  reasoning?: { id: string; messageId: string };
  /**
   * The tool-call ids the run has sent, and those the conversation held before it
   * (`takenCallIds`): a model's repeated id gets a new one (results and clients key calls by id).
   */
  toolCallIds?: Set<string>;
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
  /** `maxIdLength`: a tool call id the model gives past it is replaced, as the next run's input would refuse it. */
  maxIdLength: number;
  /** A code block's result past this many characters is cut (`maxToolResultChars`). */
  maxResultChars: number;
  /** When the run's whole generation must end (`performance.now()` time; Infinity for never). */
  generationEndsAt: number;
  /** Called once the request has been handed to the backend (its first chunk asked for). */
  onRequest?: (() => void) | undefined;
  /** Told of each code block once it has run (for traces). */
  onCode?: ((language: string, ok: boolean, startedAt: number, endedAt: number) => void) | undefined;
}

/**
 * Before the first chunk, the timer wakes at least this far apart, whatever `idleMs` is: a tiny
 * idle deadline must not wake the process every millisecond while a model loads.
 */
const FIRST_WAKE_MIN_MS = 1_000;

/**
 * One timer per model call for its first-token, idle and generation deadlines: each chunk only
 * records its time, and the timer, when it fires, re-arms itself for whatever is left, or fails
 * the call's waits with a `MODEL_TIMEOUT`. While the consumer holds the model back (`hold` …
 * `release`), only the generation deadline counts: that wait is the consumer's, not the model's.
 * A class rather than closures: a model call in flight holds one object, not seven functions and
 * their contexts.
 */
class ModelWatch {
  private startedAt = performance.now();
  private lastChunkAt: number | undefined;
  private heldSince: number | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  /**
   * The timer's callback: one closure, made once. Not `setTimeout(fn, ms, this)`: a host (or a
   * test, or an instrumentation library) that wraps `setTimeout` may forward only `(fn, ms)`, and
   * the deadline would then never fire.
   */
  private readonly fire = (): void => this.arm();

  constructor(
    private readonly limits: StepLimits,
    private readonly waits: Waits,
  ) {
    this.arm();
  }

  private arm(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const { limits, lastChunkAt, heldSince } = this;
    const now = performance.now();
    const idleEnd =
      heldSince !== undefined
        ? Number.POSITIVE_INFINITY
        : lastChunkAt === undefined
          ? this.startedAt + limits.firstTokenMs
          : lastChunkAt + limits.idleMs;
    const end = Math.min(idleEnd, limits.generationEndsAt);
    if (now >= end) {
      const which =
        end === limits.generationEndsAt
          ? "the run's generation deadline (deadlines.generationMs)"
          : lastChunkAt === undefined
            ? `its first-token deadline of ${limits.firstTokenMs} ms (deadlines.firstTokenMs)`
            : `its idle deadline of ${limits.idleMs} ms between chunks (deadlines.idleMs)`;
      this.waits.fail(new ZoeError("MODEL_TIMEOUT", `The model did not answer within ${which}.`));
      return;
    }
    // Before the first chunk, wake no later than the idle deadline could fall (it starts with the
    // first chunk, at the earliest now): with the defaults, the first chunk then needs no timer of
    // its own. Chunks only record their time; the timer, when it fires, sets itself for what is left.
    const wake =
      lastChunkAt === undefined && heldSince === undefined ? Math.min(end, now + Math.max(limits.idleMs, FIRST_WAKE_MIN_MS)) : end;
    if (wake === Number.POSITIVE_INFINITY) return;
    // Whole milliseconds, rounded up: Node keeps one timer list per distinct delay, so a
    // fractional delay (every call's differs) would create and index a list per model call.
    this.timer = setTimeout(this.fire, Math.min(Math.ceil(wake - now), MAX_TIMER_MS));
  }

  private rearm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.arm();
  }

  /** A chunk arrived. */
  chunk(): void {
    const first = this.lastChunkAt === undefined;
    this.lastChunkAt = performance.now();
    // An idle deadline shorter than FIRST_WAKE_MIN_MS may fall before the pending wake.
    if (first && this.limits.idleMs < FIRST_WAKE_MIN_MS) this.rearm();
  }

  /** The consumer is holding the model back: its first-token and idle deadlines stop counting. */
  hold(): void {
    this.heldSince = performance.now();
  }

  /** The consumer reads again: the deadlines count on from where they stopped. */
  release(): void {
    if (this.heldSince === undefined) return;
    const held = performance.now() - this.heldSince;
    this.heldSince = undefined;
    if (this.lastChunkAt === undefined) this.startedAt += held;
    else this.lastChunkAt += held;
    // A timer that fired while the model was held back was set for the generation deadline alone.
    this.rearm();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

/**
 * What wakes the loop of {@link streamStep}: the model's stream ended, a failure (abort, deadline,
 * a backend error: mapped to the run's outcome), an invalid chunk (thrown as it is), a code result,
 * or a consumer that has fallen behind (the model is asked for more once it has caught up).
 * Chunks do not wake it: {@link ModelStream} takes each one in the reaction that brings it.
 */
type Wake =
  | { kind: "done" }
  | { kind: "fail"; error: unknown }
  | { kind: "throw"; error: unknown }
  | { kind: "code" }
  | { kind: "backlog" }
  | { kind: "drained" };
const CODE_READY: Wake = { kind: "code" };
const MODEL_DONE: Wake = { kind: "done" };
const BACKLOG: Wake = { kind: "backlog" };
const DRAINED: Wake = { kind: "drained" };

/**
 * The waits of one model call's loop, one at a time. Whatever ends a wait (the model's end, the
 * run's abort, a deadline, a code result, backlog) settles only the wait in progress, or is kept
 * for the next one: no promise lives longer than one wait, so nothing piles up over a long answer.
 */
class Waits {
  private waiter: ((wake: Wake) => void) | undefined;
  /** The first failure (or invalid chunk): every later wait ends with it. */
  private failure: Wake | undefined;
  private pending: Wake | undefined;
  private codeReady = false;

  /** True once a failure is kept: the call is over, whatever arrives later. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  fail(error: unknown): void {
    this.wake({ kind: "fail", error });
  }

  wake(w: Wake): void {
    if (this.failure) return;
    if (w.kind === "fail" || w.kind === "throw") this.failure = w;
    const resolve = this.waiter;
    if (resolve) {
      this.waiter = undefined;
      resolve(w);
    } else if (w.kind === "code") this.codeReady = true;
    else if (!this.failure) this.pending = w;
  }

  next(): Wake | Promise<Wake> {
    if (this.failure) return this.failure;
    const pending = this.pending;
    if (pending) {
      this.pending = undefined;
      return pending;
    }
    if (this.codeReady) {
      this.codeReady = false;
      return CODE_READY;
    }
    return new Promise<Wake>((resolve) => {
      this.waiter = resolve;
    });
  }
}

/**
 * The model's stream, read one chunk at a time: each chunk is taken (its events sent) in the
 * reaction that brings it, and the next one asked for then, unless the consumer has fallen behind
 * (the loop waits for it, then asks again). A promise and a resumed frame per wait cost a chunk
 * more than the chunk's own work; the loop now wakes only for what is not a chunk. One request for
 * a chunk is out at a time; none is taken once the call has failed or its loop has left.
 */
class ModelStream {
  /** Set when the step's loop leaves: a chunk that lands later is not taken. */
  stopped = false;

  constructor(
    private readonly iterator: AsyncIterator<ChatChunk>,
    private readonly waits: Waits,
    private readonly out: RunStream,
    private readonly take: (chunk: unknown) => void,
  ) {}

  /** Ask the backend for its next chunk. */
  ask(): void {
    nextChunk(this.iterator).then(this.onStep, this.onError);
  }

  private readonly onStep = (step: IteratorResult<ChatChunk>): void => {
    const { waits } = this;
    if (this.stopped || waits.failed) return;
    try {
      const { done, value } = readStep(step);
      if (done) {
        waits.wake(MODEL_DONE);
        return;
      }
      this.take(value);
    } catch (error) {
      waits.wake({ kind: "throw", error });
      return;
    }
    // A consumer that reads slowly holds the model back: more is asked for once it has taken what waits.
    if (this.out.backlog >= STREAM_BACKLOG) waits.wake(BACKLOG);
    else this.ask();
  };

  private readonly onError = (error: unknown): void => {
    if (!this.stopped) this.waits.fail(error);
  };
}

/**
 * An iterator result as the async-iterator protocol describes it, each field read once; anything
 * else (not an object, a getter that throws) is `MODEL_INVALID_CHUNK`.
 */
function readStep(step: unknown): { done: boolean; value: unknown } {
  if (typeof step !== "object" || step === null) {
    throw new ZoeError(
      "MODEL_INVALID_CHUNK",
      `The model backend's iterator gave ${step === null ? "null" : typeof step}, not an iterator result.`,
    );
  }
  try {
    const { done, value } = step as IteratorResult<unknown>;
    return { done: Boolean(done), value };
  } catch (error) {
    throw new ZoeError("MODEL_INVALID_CHUNK", `The model backend's iterator gave a result that cannot be read: ${errorMessage(error)}.`);
  }
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

const DONE_COUNTS = ["inputTokens", "promptEvalTokens", "outputTokens"] as const;
const DONE_DURATIONS = ["queueMs", "loadMs", "promptEvalMs", "evalMs"] as const;
const DONE_NAMES = ["doneReason", "model"] as const;

/**
 * The figures of a `done` chunk that hold what the contract says (counts: safe integers ≥ 0;
 * durations: finite ms ≥ 0; `doneReason`, `model`: strings); anything else is left out, as a
 * figure the backend did not give. A custom backend's figures reach the metrics, spans and
 * `RUN_FINISHED`: a BigInt or an object there would break the run's last events. A chunk whose
 * fields throw when read is `MODEL_INVALID_CHUNK`.
 */
function doneInfo(chunk: ChatDoneInfo): ChatDoneInfo {
  const info: ChatDoneInfo = {};
  try {
    for (const key of DONE_COUNTS) {
      const n = tokenCount(chunk[key]);
      if (n !== undefined) info[key] = n;
    }
    for (const key of DONE_DURATIONS) {
      const ms = chunk[key];
      if (typeof ms === "number" && ms >= 0 && ms < Number.POSITIVE_INFINITY) info[key] = ms;
    }
    for (const key of DONE_NAMES) {
      const name = chunk[key];
      if (typeof name === "string") info[key] = name;
    }
  } catch (error) {
    throw new ZoeError("MODEL_INVALID_CHUNK", `The model backend yielded a done chunk that cannot be read: ${errorMessage(error)}.`);
  }
  return info;
}

/**
 * A tool call's arguments as JSON text; arguments that JSON cannot hold (a BigInt, a cycle) are
 * `MODEL_INVALID_CHUNK`, arguments longer than {@link MAX_TOOL_ARGUMENT_CHARS} `TOOL_ARGUMENTS_TOO_LONG`.
 */
function toolArgumentsText(name: string, args: string | Record<string, unknown>): string {
  let text: string | undefined;
  if (typeof args === "string") text = args;
  else {
    try {
      text = JSON.stringify(args);
    } catch (error) {
      throw new ZoeError("MODEL_INVALID_CHUNK", `The model backend yielded tool-call arguments that are not JSON: ${errorMessage(error)}.`);
    }
    // A `toJSON` that gives undefined (or a function) leaves no JSON at all.
    if (typeof text !== "string")
      throw new ZoeError("MODEL_INVALID_CHUNK", "The model backend yielded tool-call arguments that JSON leaves out.");
  }
  if (text.length > MAX_TOOL_ARGUMENT_CHARS) {
    throw new ZoeError(
      "TOOL_ARGUMENTS_TOO_LONG",
      `The model called tool "${name.slice(0, 128)}" with more than ${MAX_TOOL_ARGUMENT_CHARS} characters of arguments; the run was stopped.`,
    );
  }
  return text;
}

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
        ? typeof c.call === "object" &&
          c.call !== null &&
          typeof c.call.name === "string" &&
          c.call.name.length > 0 &&
          (c.call.id === undefined || (typeof c.call.id === "string" && c.call.id.length > 0)) &&
          (typeof c.call.arguments === "string" || (typeof c.call.arguments === "object" && c.call.arguments !== null))
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
  const unhook = onAbort(signal, () => controller.abort(signal.reason));
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
    unhook();
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
 * The code blocks of one model call, with a code executor: each complete fenced block in an
 * allowed language runs at once, as a `run_code` tool call; its result waits in `ready` until the
 * step's loop sends it ({@link CodeRuns.sendReady}), woken by `CODE_READY`. Made only when the
 * pipeline has an executor: a chat without one holds none of this.
 */
class CodeRuns {
  private readonly fences = createFenceDetector();
  private readonly ready: AGUIEvent[] = [];
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly executor: CodeExecutor,
    private readonly userId: string | undefined,
    private readonly signal: AbortSignal,
    private readonly limits: StepLimits,
    private readonly out: RunStream,
    private readonly open: OpenMessages,
    private readonly result: StepResult,
    private readonly waits: Waits,
  ) {}

  /** Results wait to be sent. */
  get hasReady(): boolean {
    return this.ready.length > 0;
  }

  /** Blocks still run. */
  get busy(): boolean {
    return this.running.size > 0;
  }

  sendReady(): void {
    for (const event of this.ready.splice(0)) this.out.send(event);
  }

  /** A piece of the answer's text: the blocks it completes start. */
  push(text: string): void {
    this.start(this.fences.push(text));
  }

  /** The answer ended: a block left open starts. */
  end(): void {
    this.start(this.fences.end());
  }

  private start(blocks: ReturnType<ReturnType<typeof createFenceDetector>["push"]>): void {
    const { executor, limits, out, open, result, waits, ready, running } = this;
    for (const block of blocks) {
      if (!executor.languages.includes(block.language)) continue;
      const id = newId();
      result.codeRuns++;
      out.send(events.toolCallStart(id, "run_code", open.text));
      out.send(events.toolCallArgs(id, JSON.stringify({ language: block.language, code: block.code })));
      out.send(events.toolCallEnd(id));
      const startedAt = performance.now();
      const job: Promise<void> = runBlock(executor, block, this.signal, this.userId, limits.codeBlockMs)
        .then((r) => {
          limits.onCode?.(block.language, r.ok, startedAt, performance.now());
          return r;
        })
        .then(
          // Like a failed tool's result, a failure reads "Error: …" (then the error, e.g. "TypeError: …").
          (r) => (r.ok ? r.output : `${r.output ? `${r.output}\n` : ""}Error: ${r.error ?? "the code failed"}`),
          (error: unknown) => `Error: ${errorMessage(error)}`,
        )
        .then((content) => {
          // A host's executor may give any length; the client's SSE buffer and the prompt cannot take any.
          ready.push(events.toolCallResult(id, capped(content, limits.maxResultChars)));
          running.delete(job);
          waits.wake(CODE_READY);
        });
      running.add(job);
    }
  }
}

/** A message id for calls that no text came before; the run's stored answer's too, when it has no text yet. */
function ownParent(open: OpenMessages): string {
  const id = newId();
  open.firstText ??= id;
  return id;
}

/**
 * Stream one model call as AG-UI events. With a code executor, each complete fenced block in an
 * allowed language runs at once, as a `run_code` tool call whose result is sent when it is ready,
 * while the answer keeps streaming.
 */
export async function streamStep(
  backend: ModelBackend,
  request: ChatRequest,
  signal: AbortSignal,
  open: OpenMessages,
  executor: CodeExecutor | undefined,
  limits: StepLimits,
  out: RunStream,
  progress: { sent: boolean } = { sent: false },
): Promise<StepResult> {
  const result: StepResult = { text: "", thinking: "", toolCalls: [], done: {}, textChunks: 0, codeRuns: 0 };
  const answerText = new TextBuilder();
  /** The message the answer's current run of tool calls belongs to. */
  let callParent: string | undefined;
  const waits = new Waits();
  const watch = new ModelWatch(limits, waits);
  const code = executor ? new CodeRuns(executor, request.userId, signal, limits, out, open, result, waits) : undefined;
  if (signal.aborted) waits.fail(signal.reason);
  const unhookAbort = onAbort(signal, () => waits.fail(signal.reason));
  /** What a failure ends the call with: the run's abort reason when it was aborted, else a `ZoeError`. */
  const failure = (error: unknown): unknown => (signal.aborted ? signal.reason : toZoeError(error, "MODEL_ERROR"));
  /** The loop's next wake; a failure or an invalid chunk is thrown. Once per wake, not per chunk. */
  const nextWake = async (): Promise<Wake> => {
    const woke = await waits.next();
    if (woke.kind === "fail") throw failure(woke.error);
    if (woke.kind === "throw") throw woke.error;
    return woke;
  };
  /** Send the code results that have landed (they count as the call's output). */
  const sendCodeResults = (): void => {
    if (!code?.hasReady) return;
    progress.sent = true;
    code.sendReady();
  };
  /**
   * Hold the model back until the consumer has taken what waits, its first-token and idle
   * deadlines paused meanwhile. Code results that land are sent; a failure (abort, the generation
   * deadline) ends the wait at once and is thrown.
   */
  const waitForConsumer = async (): Promise<void> => {
    watch.hold();
    const drained = out.drained(signal);
    if (drained) {
      void drained.then(() => waits.wake(DRAINED));
      while ((await nextWake()).kind !== "drained") sendCodeResults();
    }
    watch.release();
    if (signal.aborted) throw failure(signal.reason);
  };

  let iterator: AsyncIterator<ChatChunk>;
  try {
    iterator = backend.chat(request, { signal })[Symbol.asyncIterator]();
  } catch (error) {
    watch.stop();
    unhookAbort();
    throw toZoeError(error, "MODEL_ERROR");
  }
  /** One chunk of the model's stream: its events, and what the call keeps of it. Throws `MODEL_INVALID_CHUNK`. */
  const take = (value: unknown): void => {
    // Code results that landed before this chunk go out before its events.
    sendCodeResults();
    watch.chunk();
    const chunk = checkChunk(value);
    // Set before the chunk's first event: from then on the call is never tried again.
    if (chunk.type === "tool_call" || ((chunk.type === "text" || chunk.type === "thinking") && chunk.text)) progress.sent = true;
    switch (chunk.type) {
      case "thinking":
        if (!chunk.text) break;
        result.firstTokenAt ??= performance.now();
        if (!open.reasoning) {
          open.reasoning = { id: newId(), messageId: newId() };
          out.send(events.reasoningStart(open.reasoning.id));
          out.send(events.reasoningMessageStart(open.reasoning.messageId));
        }
        result.thinking += chunk.text;
        out.send(events.reasoningContent(open.reasoning.messageId, chunk.text));
        break;
      case "text":
        if (!chunk.text) break;
        result.firstTokenAt ??= performance.now();
        if (open.reasoning) {
          out.send(events.reasoningMessageEnd(open.reasoning.messageId));
          out.send(events.reasoningEnd(open.reasoning.id));
          delete open.reasoning;
        }
        if (!open.text) {
          open.text = newId();
          open.firstText ??= open.text;
          // Calls after this text belong to it (see the tool_call case).
          callParent = undefined;
          out.send(events.textStart(open.text));
        }
        answerText.append(chunk.text);
        result.textChunks++;
        out.send(events.textContent(open.text, chunk.text));
        code?.push(chunk.text);
        break;
      case "tool_call": {
        result.firstTokenAt ??= performance.now();
        const args = toolArgumentsText(chunk.call.name, chunk.call.arguments);
        // Calls in a row name one parent message: the text just before them, or an id of their
        // own (then also the stored answer's, when no text came first, so that a later
        // MESSAGES_SNAPSHOT names the client's message). A client (`@ag-ui/client`) puts a call
        // without a parent in an assistant message of its own, with its result right after it,
        // between the answer's calls: the next run's prompt would no longer repeat the one the
        // calls' follow-up was given. Text between calls starts a message of its own, as the
        // model wrote it, and the calls after it belong to it.
        callParent ??= open.text ?? ownParent(open);
        const parent = callParent;
        for (const event of closeMessages(open)) out.send(event);
        const ids = (open.toolCallIds ??= new Set());
        const given = chunk.call.id;
        // A new id for one the input would refuse on the continuation (past `maxIdLength`, a lone
        // surrogate), or one already used: the client sends each call's id back with its result.
        const id = given === undefined || ids.has(given) || !isAcceptableId(given, limits.maxIdLength) ? newId() : given;
        ids.add(id);
        result.toolCalls.push({ id, name: chunk.call.name, arguments: args });
        out.send(events.toolCallStart(id, chunk.call.name, parent));
        out.send(events.toolCallArgs(id, args));
        out.send(events.toolCallEnd(id));
        break;
      }
      case "done": {
        result.done = doneInfo(chunk);
        break;
      }
    }
  };
  const stream = new ModelStream(iterator, waits, out, take);
  /** True once the backend's iterator said it is done: it then needs no `return()`. */
  let finished = false;
  try {
    // A later call of the run (after tools) waits for a consumer that has fallen behind before it
    // asks. Not the run's model request itself: what waits then is the run's own setup (an event
    // or two per provider, bounded), held back so that the request goes first.
    if (out.backlog >= STREAM_BACKLOG && !limits.onRequest) await waitForConsumer();
    stream.ask();
    if (limits.onRequest) {
      limits.onRequest();
      limits.onRequest = undefined;
    }
    for (;;) {
      const woke = await nextWake();
      sendCodeResults();
      if (woke.kind === "code") continue;
      if (woke.kind === "backlog") {
        await waitForConsumer();
        stream.ask();
        continue;
      }
      finished = true;
      break;
    }
    // The model is done: code blocks still running answer to their own deadline.
    watch.stop();
    if (code) {
      code.end();
      // The answer is complete; wait for code still running, sending each result as it lands.
      while (code.busy) {
        await nextWake();
        code.sendReady();
      }
      code.sendReady();
    }
    result.text = answerText.text;
    return result;
  } finally {
    stream.stopped = true;
    watch.stop();
    unhookAbort();
    // Leaving early (abort, error, consumer gone) must close the backend's request now.
    // Whatever `return()` does (throws, rejects, hangs) is the backend's: the run's outcome stands.
    if (!finished) void attempt(() => iterator.return?.()).catch(() => {});
  }
}
