import { events } from "../../events/factory.js";
import type { ChatDoneInfo, ChatMessage } from "../../models/types.js";
import type { AnswerLookup, SemanticProbe } from "../../response-cache/answer-cache.js";
import { replayAnswer, semanticText } from "../../response-cache/run-helpers.js";
import { toolArgumentsOrEmpty } from "../../tools/tool-args.js";
import { runToolCalls, type ToolCallRecord } from "../../tools/tool-runner.js";
import { beginStage, endStage, type RunContext } from "../run-context.js";
import { closeMessages, streamStep, type StepLimits, type StepResult } from "../stream-step.js";
import { toZoeError } from "../../errors/zoe-error.js";
import { delay } from "../../shared/abort.js";
import type { ChatRequest } from "../../models/types.js";
import type { Prompted } from "./prompt.js";
import type { Routed } from "./route.js";
import { tokenCount } from "../metrics.js";
import { CANCELLED, type SpanKindName } from "../../telemetry/trace.js";
import type { Attributes } from "@opentelemetry/api";
import { errorMessage } from "../../errors/error-message.js";
import { fitFollowUp } from "../../prompt/fit-follow-up.js";

/** The answer of a run, from the model (with its tool steps) or from the response cache. */
export interface Answer {
  text: string;
  textChunks: number;
  /** The backend's figures, added up over the model calls. */
  done: ChatDoneInfo;
  /** Every tool call the model made. */
  toolCalls: ToolCallRecord[];
  /** Calls of frontend tools: the client runs them and continues the conversation. */
  pending: ToolCallRecord[];
  toolSteps: number;
  /** The model calls after a tool step that had to be fitted into `promptTokens`: the most past messages dropped, and tool results cut. */
  followUpFit?: { droppedHistory: number; cutResults: number };
  codeRuns: number;
  /** Model calls tried again after failing before their first chunk (the `retry` option). */
  retries: number;
  firstTokenAt?: number;
  /** When the answer ended, and how long it took from the first model call or replay. */
  endedAt: number;
  ms: number;
  /** The response cache's lookup, when the cache is on. */
  lookup?: AnswerLookup;
  fromCache: boolean;
}

/**
 * Start the semantic response cache's embedding right after the route is known, so that it runs
 * alongside the context stage (under its own deadline). Undefined when the semantic cache is off.
 */
export function startAnswerProbe(ctx: RunContext, routed: Routed): SemanticProbe | undefined {
  const { deps, turn, signal } = ctx;
  const answers = deps.answers;
  if (!answers?.semantic) return undefined;
  const text = semanticText(turn, routed.storedHistory, deps.history.settings, answers.includeHistory);
  return answers.startProbe({ userId: turn.userId, kind: routed.decision.kind, model: routed.decision.model }, text, signal);
}

/**
 * The response cache stage: one store read for this exact prompt, then the semantic probe. A hit
 * is replayed as a text message and is the run's answer; a miss (or the cache off) leaves the
 * answer to the model, and the lookup to `remember`.
 */
export async function answerFromCache(
  ctx: RunContext,
  prompted: Prompted,
  probe: SemanticProbe | undefined,
): Promise<{ lookup?: AnswerLookup; answer?: Answer }> {
  const { deps, turn, signal, out } = ctx;
  if (!deps.answers) return {};
  const t0 = performance.now();
  beginStage(ctx, "answer_cache");
  const { promptTokens: _counted, ...request } = prompted.request;
  const scope = { systemPrompt: prompted.systemPrompt, clientContext: turn.context };
  const lookup = await deps.answers.lookup(turn.userId, request, probe, scope, signal);
  out.hold();
  const { hit } = lookup;
  endStage(ctx, () => ({ "zoe.answer_cache.hit": hit ? hit.kind : "miss" }));
  out.send(
    events.stateDelta([
      {
        op: "add",
        path: "/zoe/answerCache",
        value: hit
          ? { hit: true, kind: hit.kind, ...(hit.similarity === undefined ? {} : { similarity: hit.similarity }) }
          : { hit: false },
      },
    ]),
  );
  if (!hit) return { lookup };
  // The answer starts: nothing is held back any more.
  out.release();
  const replayed = replayAnswer(hit.text, ctx.open, signal, out);
  for (const event of closeMessages(ctx.open)) out.send(event);
  const endedAt = performance.now();
  return {
    lookup,
    answer: {
      text: hit.text,
      textChunks: replayed.chunks,
      done: {},
      toolCalls: [],
      pending: [],
      toolSteps: 0,
      codeRuns: 0,
      retries: 0,
      firstTokenAt: replayed.firstTokenAt,
      endedAt,
      ms: endedAt - t0,
      lookup,
      fromCache: true,
    },
  };
}

/**
 * Whether an answer may go into the response cache: a complete text answer of the model the run
 * asked for, without tool calls or code runs. Its finish reason must be `stop` (or not reported):
 * never an answer cut by its token limit (`length`), stopped by the server (vLLM's and
 * node-llama-cpp's `abort`) or by a filter (`content_filter`). Nor one a fallback model gave (the
 * backend's `done.model`), which would otherwise be served for `ttlMs` after the model asked for
 * is back.
 */
export function cacheableAnswer(answer: Answer, model: string): boolean {
  const { done } = answer;
  return (
    !answer.fromCache &&
    answer.toolCalls.length === 0 &&
    answer.pending.length === 0 &&
    answer.codeRuns === 0 &&
    (done.doneReason === undefined || done.doneReason === "stop") &&
    (done.model === undefined || done.model === model)
  );
}

/** Add up the backend's figures over the model calls of a run (the last call's reason wins). */
function mergeDone(a: ChatDoneInfo, b: ChatDoneInfo): ChatDoneInfo {
  const out: ChatDoneInfo = { ...a, ...b };
  for (const key of ["inputTokens", "promptEvalTokens", "outputTokens", "queueMs", "loadMs", "promptEvalMs", "evalMs"] as const) {
    if (a[key] !== undefined && b[key] !== undefined) out[key] = a[key] + b[key];
  }
  return out;
}

/** Calls beyond the step limit are not run: each gets an error result. */
function refuseToolCalls(ctx: RunContext, calls: readonly ToolCallRecord[], maxSteps: number): { messages: ChatMessage[] } {
  const content = `Error: not run, the limit of ${maxSteps} tool steps per run was reached.`;
  for (const call of calls) ctx.out.send(events.toolCallResult(call.id, content));
  return { messages: [] };
}

/**
 * The generate stage: stream the model's answer (text, reasoning, tool calls, code blocks run as
 * they complete), run server-side tools between model calls up to `maxToolSteps`, and stop at
 * frontend tools, which the client answers. Every model call is under the run's model deadlines.
 *
 * Not an async function: most runs make one model call, and a run streaming its answer then holds
 * no suspended frame here, only the reaction that takes the call's result. Runs whose model calls
 * tools go on in {@link toolSteps}.
 */
export function generate(ctx: RunContext, prompted: Prompted, lookup: AnswerLookup | undefined): Promise<Answer> {
  const { deps, out } = ctx;
  const t0 = performance.now();
  const trace = ctx.trace;
  const limits: StepLimits = {
    // The events held back go out once the request is on its way (see RunStream.hold).
    onRequest: () => out.release(),
    firstTokenMs: deps.deadlines.firstTokenMs,
    idleMs: deps.deadlines.idleMs,
    codeBlockMs: deps.deadlines.codeBlockMs,
    maxResultChars: deps.toolRunner.maxResultChars,
    maxIdLength: deps.inputLimits.maxIdLength,
    generationEndsAt: t0 + deps.deadlines.generationMs,
    onCode: trace.enabled
      ? (language: string, ok: boolean, startedAt: number, endedAt: number) =>
          trace.record(
            `zoe.code ${language}`,
            startedAt,
            endedAt,
            { "zoe.code.language": language, "zoe.code.ok": ok },
            undefined,
            ok ? undefined : "code_error",
          )
      : undefined,
  };
  const answer: Answer = {
    text: "",
    textChunks: 0,
    done: {},
    toolCalls: [],
    pending: [],
    toolSteps: 0,
    codeRuns: 0,
    retries: 0,
    endedAt: t0,
    ms: 0,
    fromCache: false,
    ...(lookup ? { lookup } : {}),
  };
  return callModel(ctx, prompted.request, limits, answer).then((step) => {
    addStep(answer, step, true);
    return step.toolCalls.length === 0 ? endAnswer(ctx, answer, t0) : toolSteps(ctx, prompted, limits, answer, step, t0);
  });
}

/** One model call: in a span with retries when those are on, else the step itself. */
function callModel(ctx: RunContext, request: ChatRequest, limits: StepLimits, answer: Answer): Promise<StepResult> {
  const { deps } = ctx;
  return deps.retry.attempts > 0 || ctx.trace.enabled
    ? modelCall(ctx, request, limits, answer)
    : streamStep(deps.backend, request, ctx.signal, ctx.open, deps.codeExecutor, limits, ctx.out);
}

/** Add a model call's result to the answer (`first`: the run's first call, whose `done` needs no copy). */
function addStep(answer: Answer, step: StepResult, first: boolean): void {
  if (answer.firstTokenAt === undefined && step.firstTokenAt !== undefined) answer.firstTokenAt = step.firstTokenAt;
  answer.text += step.text;
  answer.textChunks += step.textChunks;
  answer.codeRuns += step.codeRuns;
  answer.done = first ? step.done : mergeDone(answer.done, step.done);
}

/** The answer is complete: its open messages closed, its end timed. */
function endAnswer(ctx: RunContext, answer: Answer, t0: number): Answer {
  for (const event of closeMessages(ctx.open)) ctx.out.send(event);
  answer.endedAt = performance.now();
  answer.ms = answer.endedAt - t0;
  return answer;
}

/**
 * The model asked for tools: run the server-side ones (up to `maxToolSteps` steps) and call the
 * model again with their results, until it answers without tools or asks for a frontend tool,
 * which the client runs.
 */
async function toolSteps(
  ctx: RunContext,
  prompted: Prompted,
  limits: StepLimits,
  answer: Answer,
  first: StepResult,
  t0: number,
): Promise<Answer> {
  const { deps, turn, signal, out, trace } = ctx;
  // The messages of the calls after a tool step: the prompt's, then each step's calls and results,
  // whole; each call gets them fitted into the budget (the first request's were already).
  const start = prompted.whole ?? { messages: prompted.request.messages, historyMessages: prompted.historyMessages };
  const messages: ChatMessage[] = [...start.messages];
  // system, history, the user's message, then results: the client's (a continued run) and the run's.
  const layout = { history: [1, 1 + start.historyMessages], resultsFrom: 2 + start.historyMessages } as const;

  for (let step = first; step.toolCalls.length > 0; ) {
    answer.toolCalls.push(...step.toolCalls);
    const where = (name: string) => prompted.registry.get(name)?.where;
    const serverCalls = step.toolCalls.filter((c) => where(c.name) !== "frontend");
    answer.pending.push(...step.toolCalls.filter((c) => where(c.name) === "frontend"));
    if (serverCalls.length === 0) break;
    answer.toolSteps++;
    const limited = answer.toolSteps > deps.maxToolSteps;
    const results = limited
      ? refuseToolCalls(ctx, serverCalls, deps.maxToolSteps)
      : await runToolCalls(
          deps.toolRunner,
          serverCalls,
          prompted.registry,
          { userId: turn.userId, threadId: turn.threadId },
          signal,
          (event) => out.send(event),
          trace,
        );
    // The model continues only when it has every result it asked for.
    if (limited || answer.pending.length > 0) break;
    messages.push(
      {
        role: "assistant",
        content: step.text,
        // Its reasoning and each call's id go back with it, as Ollama's tool-calling docs and the
        // OpenAI protocol ask: the results below answer these ids.
        ...(step.thinking ? { thinking: step.thinking } : {}),
        tool_calls: step.toolCalls.map((c) => ({ id: c.id, function: { name: c.name, arguments: toolArgumentsOrEmpty(c.arguments) } })),
      },
      ...results.messages,
    );
    const fitted = fitFollowUp(messages, layout, prompted.budget - prompted.toolTokens, prompted.count);
    if (fitted.droppedHistory > 0 || fitted.cutResults > 0) {
      const seen = answer.followUpFit;
      answer.followUpFit = {
        droppedHistory: Math.max(seen?.droppedHistory ?? 0, fitted.droppedHistory),
        cutResults: Math.max(seen?.cutResults ?? 0, fitted.cutResults),
      };
    }
    step = await callModel(ctx, followUpRequest(prompted.request, fitted.messages), limits, answer);
    addStep(answer, step, false);
  }
  return endAnswer(ctx, answer, t0);
}

/** The request of a call after a tool step: the first's, with the messages so far (fitted, a list of their own) and without its counted prompt size (which counted the first call's messages only). */
function followUpRequest(first: ChatRequest, messages: ChatMessage[]): ChatRequest {
  const { promptTokens: _counted, ...rest } = first;
  return { ...rest, messages };
}

/** Codes of failures before the first chunk that another try may not meet: the server was busy or unreachable. */
const RETRYABLE = new Set(["BACKEND_BUSY", "BACKEND_UNREACHABLE", "CONNECTION_LOST", "STREAM_INCOMPLETE"]);

/** `gen_ai.request.max_tokens`: a non-negative integer. */
const maxTokens = (n: unknown): number | undefined => (typeof n === "number" && Number.isInteger(n) && n >= 0 ? n : undefined);

/** `gen_ai.request.temperature`, `top_p`: a finite number. */
const finite = (n: unknown): number | undefined => (typeof n === "number" && Number.isFinite(n) ? n : undefined);

/**
 * The model call's span kind. GenAI semantic conventions: `CLIENT` for a model in another process
 * (Ollama, an OpenAI-compatible server); `INTERNAL` may be used for one in this process, as the
 * llama.cpp engine (`zoe-pipeline/llama-cpp`, whose backend is named `llama-cpp` by default) is.
 */
const chatKind = (backendName: string): SpanKindName => (backendName === "llama-cpp" ? "internal" : "client");

/** The attributes of a `chat {model}` span when it starts: only figures that are valid numbers. */
function chatAttributes(provider: string, request: ChatRequest): Attributes {
  const attributes: Attributes = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": provider,
    "gen_ai.request.model": request.model,
  };
  const options = request.options;
  if (options) {
    const max = maxTokens(options.num_predict);
    if (max !== undefined) attributes["gen_ai.request.max_tokens"] = max;
    const temperature = finite(options.temperature);
    if (temperature !== undefined) attributes["gen_ai.request.temperature"] = temperature;
    const topP = finite(options.top_p);
    if (topP !== undefined) attributes["gen_ai.request.top_p"] = topP;
  }
  return attributes;
}

/**
 * What a model call's span says of its result: the backend's own figures when they are valid
 * counts (never the chunks counted: that is the run's metrics' fallback, not usage), and the
 * retries it took.
 */
function chatResult(done: ChatDoneInfo, retries: number): Attributes {
  const attributes: Attributes = {};
  const output = tokenCount(done.outputTokens);
  if (output !== undefined) attributes["gen_ai.usage.output_tokens"] = output;
  const input = tokenCount(done.inputTokens);
  if (input !== undefined) attributes["gen_ai.usage.input_tokens"] = input;
  if (typeof done.doneReason === "string" && done.doneReason) attributes["gen_ai.response.finish_reasons"] = [done.doneReason];
  if (typeof done.model === "string" && done.model) attributes["gen_ai.response.model"] = done.model;
  if (retries > 0) attributes["zoe.retries"] = retries;
  return attributes;
}

/**
 * One model call in a `chat {model}` span (OpenTelemetry GenAI conventions), the backend's request
 * made with that span active (a backend's HTTP client span is its child). With the `retry`
 * option, a call that fails with a transient error before sending anything is tried again after
 * a backoff that doubles each time.
 */
async function modelCall(ctx: RunContext, request: ChatRequest, limits: StepLimits, answer: Answer): Promise<StepResult> {
  const { deps, signal, trace } = ctx;
  const span = trace.enabled
    ? trace.start(`chat ${request.model}`, chatAttributes(deps.backend.name, request), undefined, chatKind(deps.backend.name))
    : undefined;
  for (let attempt = 0; ; attempt++) {
    // `progress` says whether the call has sent anything on, after which it is never retried.
    const progress = { sent: false };
    let failed: unknown;
    try {
      const result = span
        ? await trace.within(span, () => streamStep(deps.backend, request, signal, ctx.open, deps.codeExecutor, limits, ctx.out, progress))
        : await streamStep(deps.backend, request, signal, ctx.open, deps.codeExecutor, limits, ctx.out, progress);
      if (span) {
        span.set(chatResult(result.done, attempt));
        span.end();
      }
      return result;
    } catch (error) {
      failed = error;
    }
    const code = toZoeError(failed, "MODEL_ERROR").code;
    if (!signal.aborted && !progress.sent && attempt < deps.retry.attempts && RETRYABLE.has(code)) {
      answer.retries++;
      // A run cancelled during the backoff ends the call below, like any cancelled call.
      const backoff = await delay(deps.retry.backoffMs * 2 ** attempt, signal).then(
        () => undefined,
        (cancelled: unknown) => ({ cancelled }),
      );
      if (!backoff) continue;
      failed = backoff.cancelled;
    }
    if (span) {
      if (attempt > 0) span.set({ "zoe.retries": attempt });
      // A cancelled run's call did not fail: it was stopped.
      if (signal.aborted) span.set(CANCELLED);
      else span.fail(code, errorMessage(failed));
      span.end();
    }
    throw failed;
  }
}
