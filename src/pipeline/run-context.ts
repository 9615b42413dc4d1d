import type { EventEmitter } from "eventemitter3";
import type { AGUIEvent } from "@ag-ui/core";
import type { KeyBuilder } from "../cache/keys.js";
import type { SharedFlights } from "../cache/shared-flights.js";
import type { CacheStore } from "../cache/types.js";
import type { ContextProvider } from "../context/types.js";
import { events, type JsonPatchOp } from "../events/factory.js";
import type { HistoryStore } from "../history/history-store.js";
import type { Turn } from "../input/types.js";
import type { RunTuning } from "../metrics/auto-tune.js";
import type { ModelBackend, ThinkSetting } from "../models/types.js";
import type { AnswerCache } from "../response-cache/answer-cache.js";
import type { Router } from "../routing/types.js";
import type { ToolRunner } from "../tools/tool-runner.js";
import type { CodeExecutor, ServerTool } from "../tools/types.js";
import type { ResolvedDeadlines } from "./deadlines.js";
import type { CachePart } from "./metrics.js";
import type { RouteFallback } from "./route-fallback.js";
import type { ActiveRun, RunReports } from "./reports.js";
import type { RunStream } from "./run-stream.js";
import type { SpareController } from "./spare-controller.js";
import { closeMessages, type OpenMessages } from "./stream-step.js";
import type { PipelineEvents, SystemPromptFn } from "./types.js";
import { NO_TRACE, type RunTrace, type SpanHandle, type Tracing } from "../telemetry/trace.js";
import type { Attributes } from "@opentelemetry/api";

/** Everything a run needs from its pipeline. */
export interface RunDeps {
  backend: ModelBackend;
  router: Router;
  store: CacheStore;
  providers: readonly ContextProvider[];
  keys: KeyBuilder;
  history: HistoryStore;
  flights: SharedFlights<unknown>;
  emitter: EventEmitter<PipelineEvents>;
  /** Runs' starts and ends, for `pipeline.metrics()` and the host events. */
  reports: RunReports;
  systemPrompt: string | SystemPromptFn;
  routeTtlMs: number;
  systemPromptTtlMs: number;
  maxInputChars: number;
  /** Bounds of ids and of the input's shape. */
  inputLimits: { maxIdLength: number; maxDepth: number; maxNodes: number };
  contextTokens: number;
  promptTokens: number;
  think: ThinkSetting;
  tools: readonly ServerTool[];
  toolRunner: ToolRunner;
  maxToolSteps: number;
  codeExecutor: CodeExecutor | undefined;
  /** Runs in progress: `close()` aborts them and reports them cancelled. */
  runs: Set<ActiveRun>;
  /** The next run's signal, made ahead (see {@link SpareController}). */
  controllers: SpareController;
  deadlines: ResolvedDeadlines;
  /** Decides when the router cannot. */
  routeFallback: RouteFallback;
  /** The system prompt used when a `systemPrompt` function fails. */
  defaultSystemPrompt: string;
  isClosed(): boolean;
  /** Creates each run's OpenTelemetry spans (or none). */
  tracing: Tracing;
  /** Opt-in retries of a model call that failed before its first chunk. */
  retry: { attempts: number; backoffMs: number };
  /** The response cache (the `responseCache` option). */
  answers?: AnswerCache | undefined;
  /** Auto-tuned provider deadlines and num_predict (the `autoTune` option). */
  tune?: RunTuning;
}

export type { ActiveRun, RunIds } from "./reports.js";

/**
 * What the stages of one run share: its pipeline, its turn, its signal, what it has open (so a
 * cancelled run can close it) and its cache hit counts. Each stage reads it and owns its events.
 */
export interface RunContext {
  readonly deps: RunDeps;
  readonly turn: Turn;
  /** Aborts when the run is cancelled, and when it ends (everything it started stops). */
  readonly signal: AbortSignal;
  /** When the run started (`performance.now()`). */
  readonly t0: number;
  /** Messages open in the stream (text, reasoning). */
  readonly open: OpenMessages;
  /** The step open in the stream, if any. */
  openStep: string | undefined;
  /** The run as the pipeline tracks it: its ids, its cache counts by part, what it has reported. */
  readonly run: ActiveRun;
  /** The run's spans (a no-op when tracing is off). */
  trace: RunTrace;
  /** The span of the stage in progress. */
  stageSpan: SpanHandle | undefined;
  /** Where the stages send their events (the consumer's iterator). */
  readonly out: RunStream;
}

/** A fresh context for a run. */
export function createRunContext(deps: RunDeps, turn: Turn, run: ActiveRun, signal: AbortSignal, t0: number, out: RunStream): RunContext {
  return {
    deps,
    turn,
    signal,
    t0,
    open: {},
    openStep: undefined,
    trace: NO_TRACE,
    stageSpan: undefined,
    out,
    run,
  };
}

/** Start a stage's span (`zoe.<stage>`), under the run's span. */
export function beginStage(ctx: RunContext, name: string): SpanHandle {
  const span = ctx.trace.enabled ? ctx.trace.start(`zoe.${name}`) : ctx.trace.root;
  ctx.stageSpan = ctx.trace.enabled ? span : undefined;
  return span;
}

/** End the stage's span with what it found (`attributes` is called only when tracing is on). */
export function endStage(ctx: RunContext, attributes?: () => Attributes): void {
  const span = ctx.stageSpan;
  if (!span) return;
  if (attributes) span.set(attributes());
  span.end();
  ctx.stageSpan = undefined;
}

/** Count a cache hit or miss of one part, and tell the host. */
export function countCache(ctx: RunContext, part: CachePart, hit: boolean): void {
  ctx.run.byPart[part][hit ? "hits" : "misses"]++;
  ctx.deps.reports.cacheRead(ctx.run, part, hit);
}

/** Open a step of the stream. */
export function startStep(ctx: RunContext, name: string): AGUIEvent {
  ctx.openStep = name;
  return events.stepStarted(name);
}

/** Close the open step, with the state's next stage (added to `ops`, which the delta takes over). */
export function finishStep(ctx: RunContext, name: string, nextStage: string, ops: JsonPatchOp[] = []): AGUIEvent[] {
  ctx.openStep = undefined;
  ops.push({ op: "add", path: "/zoe/stage", value: nextStage });
  return [events.stateDelta(ops), events.stepFinished(name)];
}

/** The events that close whatever a cancelled run left open. */
export function closeOpen(ctx: RunContext): AGUIEvent[] {
  const out = closeMessages(ctx.open);
  if (ctx.openStep) out.push(events.stepFinished(ctx.openStep));
  ctx.openStep = undefined;
  return out;
}
