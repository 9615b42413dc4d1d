import type { AGUIEvent } from "@ag-ui/core";
import type { CacheStore } from "../cache/types.js";
import type { ContextProvider } from "../context/types.js";
import type { ZoeError } from "../errors/zoe-error.js";
import type { HistoryEntry, HistoryOptions } from "../history/types.js";
import type { ModelBackend, PrewarmResult, ThinkSetting } from "../models/types.js";
import type { RunInput } from "../input/types.js";
import type { RouteKind, Router } from "../routing/types.js";
import type { CodeExecutor, ServerTool } from "../tools/types.js";
import type { CachePart, RunMetrics } from "./metrics.js";
import type { ResponseCacheOptions } from "../response-cache/types.js";
import type { AutoTuneOptions } from "../metrics/auto-tune.js";
import type { PipelineMetricsSnapshot } from "../metrics/aggregator.js";
import type { RunDeadlines } from "./deadlines.js";
import type { TelemetryOption } from "../telemetry/trace.js";
import type { ZoeLogger } from "../telemetry/logger.js";

/** Builds the system prompt for a route kind and user. */
export type SystemPromptFn = (context: { kind: RouteKind; userId: string }) => string | Promise<string>;

/** Options of {@link createZoePipeline}. */
export interface ZoePipelineOptions {
  /** The model server or engine. */
  backend: ModelBackend;
  /** Picks the model and kind of each turn. */
  router: Router;
  /** Where caches and history live. Default: `memoryCacheStore()`. */
  cache?: CacheStore;
  /** Context providers, fetched in parallel with deadlines. */
  providers?: ContextProvider[];
  /**
   * The system prompt, or a function that builds it per route kind and user (its result is
   * cached for `ttl.systemPromptMs`). Default: a short assistant prompt.
   */
  systemPrompt?: string | SystemPromptFn;
  history?: HistoryOptions;
  ttl?: {
    /** Routing decisions, by normalised text. `0`: never cached, nor read from the store. Default 60,000. */
    routeMs?: number;
    /** Built system prompts, by route kind and user. Default 3,600,000. */
    systemPromptMs?: number;
  };
  /** Longest accepted user message, in characters (past messages the client sends are cut to it too). Default 16,000. */
  maxInputChars?: number;
  /** Longest accepted `userId`, `threadId`, `runId`, message id or tool call id (UTF-16 code units); ids must also be well-formed UTF-16. Default 256. */
  maxIdLength?: number;
  /** Deepest accepted nesting of objects and arrays in a run input. Default 64. */
  maxInputDepth?: number;
  /** Most values (objects, arrays, scalars) in a run input. Default 100,000. */
  maxInputNodes?: number;
  /**
   * Deadlines of everything a run waits for, each with a fallback: router, system prompt
   * function, cache read, history write, code blocks, and the model (first token, idle, whole
   * generation). See {@link RunDeadlines} for the defaults.
   */
  deadlines?: RunDeadlines;
  /**
   * Decides when `router` times out, throws or gives no decision. Default: the heuristic
   * classifier with the models `router` chose before (the route state says `fallback`).
   */
  fallbackRouter?: Router;
  /**
   * OpenTelemetry spans: one per run (`invoke_agent zoe`) with a span per stage, provider, model
   * call (`chat {model}`, GenAI semantic conventions), tool and code run. Default: the global
   * tracer of `@opentelemetry/api` when that optional peer is installed (spans are recorded only
   * when the host registers a tracer provider); `false` turns tracing off; `{ tracer }` uses yours.
   */
  telemetry?: TelemetryOption;
  /**
   * A pino-compatible logger (`info`, `warn`, `error`, each `(object, message)`): one line per run
   * with its outcome and timings, warnings for provider timeouts, fallbacks, cache and history
   * failures, errors with their codes. The user's text is never logged.
   */
  logger?: ZoeLogger;
  /**
   * Retry a model call that failed before its first chunk with a transient error (busy,
   * unreachable, connection lost): `attempts` more tries, waiting `backoffMs` × 2^n. Off by
   * default (`attempts: 0`); backoff default 200 ms.
   */
  retry?: { attempts?: number; backoffMs?: number };
  /**
   * Budget of all context sections in a prompt (providers' and the client's), in tokens; what
   * does not fit is cut by provider `priority`, stable before volatile. Default 1,500.
   */
  contextTokens?: number;
  /**
   * Budget of the whole prompt (system, context, history, turn), in tokens counted with the
   * backend's tokenizer when it has one (llama.cpp), else estimated (characters / 3.5). When a
   * prompt would exceed it, the history window moves forward by `history.step` messages until it
   * fits. Default 3,072 (a 4,096-token context with room for the answer).
   */
  promptTokens?: number;
  /** Cache key prefix. Default `"zoe"`. */
  keyPrefix?: string;
  /**
   * Thinking for models that support it: `false` (sent explicitly, as Ollama ≥ 0.12.4 thinks by
   * default), `true`, or a level (`"low" | "medium" | "high"`). Default false.
   */
  think?: ThinkSetting;
  /** Tools the pipeline runs on the server when the model calls them. */
  tools?: ServerTool[];
  /** Deadline of a server-side tool call, ms, counted from when the model made it (its wait for a free `toolConcurrency` slot included). Default 10,000. */
  toolTimeoutMs?: number;
  /** Longest result of a server-side tool or a code block given to the model and the client, characters; a longer one is cut (and says so). Default 100,000. */
  maxToolResultChars?: number;
  /**
   * Server-side tool calls of one model answer that are run; each call past it gets an error
   * result (the model sees why) and is not run. Default 32.
   */
  maxToolCallsPerStep?: number;
  /** Server-side tool calls running at once, per pipeline. Default 4. */
  toolConcurrency?: number;
  /** Model calls that may follow tool results in one run. Default 4. */
  maxToolSteps?: number;
  /**
   * Runs fenced code blocks of the answer as soon as they are complete (a `run_code` tool call
   * with its result), in the languages it supports. Off unless given.
   */
  codeExecutor?: CodeExecutor;
  /**
   * Opt-in auto-tuning from observed runs: provider deadlines (`providers`) and `num_predict` per
   * route kind (`numPredict`). Each part is off unless given; `{}` turns it on with its defaults.
   */
  autoTune?: AutoTuneOptions;
  /**
   * Serve repeated questions from a cache of complete answers: exact (keyed by the whole prompt,
   * in `cache`) and optionally semantic (embeddings, in process). Off unless given.
   */
  responseCache?: ResponseCacheOptions;
}

/** Options of one run. */
export interface RunOptions {
  /** Aborting it cancels the run and the model request at once. */
  signal?: AbortSignal;
  /** The user the run is for (an HTTP adapter's authenticated user); wins over `input.userId`. */
  userId?: string;
}

/** Events the pipeline emits for hosts (logging, metrics). */
export interface PipelineEvents {
  "run:started": (info: { threadId: string; runId: string; userId: string }) => void;
  "run:finished": (info: { threadId: string; runId: string; userId: string; metrics: RunMetrics }) => void;
  "run:cancelled": (info: { threadId: string; runId: string; userId: string }) => void;
  "run:error": (info: { threadId?: string; runId?: string; userId?: string; error: ZoeError }) => void;
  "provider:timeout": (info: { name: string; userId: string; ms: number }) => void;
  "provider:error": (info: { name: string; userId: string; ms: number; error: string }) => void;
  /** The run's batched cache read failed or passed its deadline: everything was a miss. */
  "cache:error": (info: { userId: string; status: "timeout" | "error"; ms: number }) => void;
  /** The router timed out, failed or gave no decision: the fallback decided (`reason` says why). */
  "route:fallback": (info: { userId: string; reason: string }) => void;
  /** The `systemPrompt` function timed out, failed or gave no string: the default prompt was used. */
  "systemPrompt:fallback": (info: { userId: string; reason: string }) => void;
  /** How a run's history write went; a failed or late write never fails the run. */
  "history:write": (info: {
    threadId: string;
    runId: string;
    userId: string;
    /** `cleared`: the thread was cleared while the run was in flight; nothing was written. */
    status: "ok" | "timeout" | "error" | "cleared";
    ms: number;
    error?: string;
  }) => void;
  "cache:hit": (info: { part: CachePart }) => void;
  "cache:miss": (info: { part: CachePart }) => void;
}

/** History helpers of a pipeline. */
export interface PipelineHistory {
  /** The stored messages of a thread, oldest first. */
  get(userId: string, threadId: string): Promise<HistoryEntry[]>;
  /** Append messages to a thread. */
  append(userId: string, threadId: string, entries: HistoryEntry[]): Promise<void>;
  /** Forget a thread. */
  clear(userId: string, threadId: string): Promise<void>;
}

/** A pipeline: run chat turns as AG-UI event streams. */
export interface ZoePipeline {
  /**
   * Run one chat turn. Yields AG-UI events: `RUN_STARTED` first, `RUN_FINISHED` or `RUN_ERROR`
   * last. Never throws for bad input: that is a `RUN_ERROR` with a code (alone, without
   * `RUN_STARTED`, when the input has no usable ids). Leaving the loop early cancels the run.
   */
  run(input: RunInput, options?: RunOptions): AsyncIterable<AGUIEvent>;
  /**
   * Load every model the router can pick (the backend's `prewarm`), one result per model. Never
   * rejects: a failure is a result with `ok: false` and its `error`.
   */
  prewarm(): Promise<PrewarmResult[]>;
  readonly history: PipelineHistory;
  on<E extends keyof PipelineEvents>(event: E, listener: PipelineEvents[E]): ZoePipeline;
  off<E extends keyof PipelineEvents>(event: E, listener: PipelineEvents[E]): ZoePipeline;
  /** Runs in progress. */
  readonly activeRuns: number;
  /**
   * Counts since the start and latency percentiles over recent runs (the last 2,048 per series),
   * cache hit rates by part, and the auto-tuned values when `autoTune` is on. Cheap to keep; the
   * percentiles are computed when this is called.
   */
  metrics(): PipelineMetricsSnapshot;
  /**
   * Cancel runs in progress (each is reported with `run:cancelled` before listeners are removed)
   * and release the cache store, backend and code executor.
   */
  close(): Promise<void>;
}
