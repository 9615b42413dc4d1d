import { events } from "../../events/factory.js";
import { setEntry } from "../../shared/own-entry.js";
import type { ChatDoneInfo } from "../../models/types.js";
import { round, tokenCount, type RunMetrics } from "../metrics.js";
import type { RunContext } from "../run-context.js";
import type { Answer } from "./answer.js";
import type { ContextOutcome } from "./context.js";
import type { Prompted } from "./prompt.js";
import type { Remembered } from "./remember.js";
import type { Routed } from "./route.js";
import type { Attributes } from "@opentelemetry/api";

/** Everything the stages produced, for the run's metrics. */
export interface RunOutcome {
  routed: Routed;
  context: ContextOutcome;
  prompted: Prompted;
  answer: Answer;
  remembered: Remembered;
}

/** The listed keys of `source` whose values are defined. */
function pickDefined<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}

const BACKEND_FIGURES: ReadonlyArray<keyof ChatDoneInfo> = [
  "model",
  "queueMs",
  "loadMs",
  "promptEvalMs",
  "promptEvalTokens",
  "evalMs",
  "doneReason",
];

/** The run's metrics from what each stage reported. */
export function runMetrics(ctx: RunContext, outcome: RunOutcome): RunMetrics {
  const { routed, context, prompted, answer, remembered } = outcome;
  const { done } = answer;
  // A custom backend's counts are not trusted: NaN or a negative count would reach the client
  // (whose `runResult()` then refuses the result), `metrics()` and Prometheus (a counter stuck at NaN).
  const outputTokens = tokenCount(done.outputTokens) ?? answer.textChunks;
  const inputTokens = tokenCount(done.inputTokens);
  const generatingMs = done.evalMs ?? (answer.firstTokenAt === undefined ? 0 : answer.endedAt - answer.firstTokenAt);
  let hits = 0;
  let misses = 0;
  const { byPart } = ctx.run;
  for (const part in byPart) {
    const counts = byPart[part as keyof typeof byPart];
    hits += counts.hits;
    misses += counts.misses;
  }
  const providers: RunMetrics["providers"] = {};
  for (const o of context.outcomes) setEntry(providers, o.name, { status: o.status, ms: round(o.ms) });
  const { prompt } = prompted;
  const answers = ctx.deps.answers;
  // Optional figures are added after the object is built: a spread followed by more fields is a
  // slow path in V8 (microseconds per field), and this object is built once per run.
  const metrics: RunMetrics = {
    totalMs: round(performance.now() - ctx.t0),
    stages: {
      cacheReadMs: round(routed.readMs),
      routeMs: round(routed.ms),
      contextMs: round(context.ms),
      promptMs: round(prompted.ms),
      generateMs: round(answer.ms),
    },
    providers,
    tokens: inputTokens === undefined ? { output: outputTokens } : { input: inputTokens, output: outputTokens },
    cache: { hits, misses, byPart },
    fastPath: routed.decision.fastPath,
    kind: routed.decision.kind,
    model: routed.decision.model,
    backend: pickDefined(done, BACKEND_FIGURES),
    tools: { calls: answer.toolCalls.length, steps: answer.toolSteps, codeRuns: answer.codeRuns },
    historySource: prompted.fromInput ? "input" : "store",
    historyMessages: prompted.historyMessages,
    prompt: { tokens: prompt.tokens, counter: prompted.counter },
  };
  if (prompt.cutContext.length) metrics.prompt.cutContext = prompt.cutContext;
  const dropped = prompt.droppedHistory + (answer.followUpFit?.droppedHistory ?? 0);
  if (dropped) metrics.prompt.droppedHistory = dropped;
  const cut = Math.max(prompt.cutToolResults ?? 0, answer.followUpFit?.cutResults ?? 0);
  if (cut) metrics.prompt.cutToolResults = cut;
  if (answer.firstTokenAt !== undefined) metrics.ttftMs = round(answer.firstTokenAt - ctx.t0);
  // An answer replayed from the response cache was not generated: no speed to report.
  if (!answer.fromCache && generatingMs > 0 && outputTokens > 0) metrics.tokensPerSecond = round((outputTokens * 1000) / generatingMs);
  if (answer.retries) metrics.retries = answer.retries;
  if (answer.lookup && answers) metrics.answerCache = answers.metrics(answer.lookup, remembered.answerStored);
  return metrics;
}

/**
 * What the run's span says of a run that finished. Usage is the backend's own counts only (the
 * metrics' fallback, the chunks counted, is no usage); an answer replayed from the response cache
 * called no model: it has no model nor usage, and `zoe.answer_cache.hit` says so.
 */
function rootAttributes(metrics: RunMetrics, answer: Answer): Attributes {
  const attributes: Attributes = {
    "zoe.outcome": "success",
    "zoe.route.kind": metrics.kind,
    "zoe.route.fast_path": metrics.fastPath,
    "zoe.cache.hits": metrics.cache.hits,
    "zoe.cache.misses": metrics.cache.misses,
  };
  if (answer.lookup) attributes["zoe.answer_cache.hit"] = answer.fromCache;
  if (!answer.fromCache) {
    attributes["gen_ai.request.model"] = metrics.model;
    const output = tokenCount(answer.done.outputTokens);
    if (output !== undefined) attributes["gen_ai.usage.output_tokens"] = output;
    if (metrics.tokens.input !== undefined) attributes["gen_ai.usage.input_tokens"] = metrics.tokens.input;
  }
  if (metrics.ttftMs !== undefined) attributes["zoe.ttft_ms"] = metrics.ttftMs;
  return attributes;
}

/**
 * The finish stage: the metrics as a `zoe.metrics` custom event, `run:finished` for the host,
 * then `RUN_FINISHED` with the metrics, any pending frontend tool calls and the token usage.
 */
export function finish(ctx: RunContext, outcome: RunOutcome): void {
  const { deps, turn, out } = ctx;
  const metrics = runMetrics(ctx, outcome);
  if (ctx.trace.enabled) ctx.trace.root.set(rootAttributes(metrics, outcome.answer));
  out.send(events.custom("zoe.metrics", metrics));
  const { pending } = outcome.answer;
  const { input: inputTokens, output: outputTokens } = metrics.tokens;
  const usage = [
    {
      provider: deps.backend.name,
      model: outcome.routed.decision.model,
      outputTokens,
      ...(inputTokens === undefined ? {} : { inputTokens, totalTokens: inputTokens + outputTokens }),
    },
  ];
  const pendingIds = pending.map((c) => c.id);
  deps.reports.finished(ctx.run, metrics);
  out.send(
    events.runFinished(
      turn.threadId,
      turn.runId,
      { metrics, ...(pending.length ? { pendingToolCalls: pending } : {}) },
      { type: "success", ...(pendingIds.length ? { pendingToolCallIds: pendingIds } : {}) },
      usage,
    ),
  );
}
