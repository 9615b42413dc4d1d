import type { AGUIEvent } from "@ag-ui/core";
import { createKeyBuilder } from "../cache/keys.js";
import { memoryCacheStore } from "../cache/memory-store.js";
import { SharedFlights } from "../cache/shared-flights.js";
import { isTtlOption } from "../cache/validate.js";
import { HistoryStore } from "../history/history-store.js";
import { isToolName, TOOL_NAME_RULE } from "../tools/tool-spec.js";
import { MAX_TOOL_CALLS_PER_STEP, MAX_TOOL_RESULT_CHARS, ToolRunner } from "../tools/tool-runner.js";
import type { RunInput } from "../input/types.js";
import type { PrewarmResult } from "../models/types.js";
import { runTurn, type ActiveRun, type RunDeps } from "./run-turn.js";
import { RunReports } from "./reports.js";
import { resolveDeadlines } from "./deadlines.js";
import { RouteFallback } from "./route-fallback.js";
import { INPUT_LIMITS } from "../input/limits.js";
import { createTracing } from "../telemetry/trace.js";
import { attachLogger } from "../telemetry/logger.js";
import { HostEvents } from "./host-events.js";
import { AnswerCache } from "../response-cache/answer-cache.js";
import type { RunOptions, ZoePipeline, ZoePipelineOptions } from "./types.js";
import { MetricsAggregator } from "../metrics/aggregator.js";
import { abortOwned } from "../shared/on-abort.js";
import { AutoTuner } from "../metrics/auto-tune.js";
import { markReturnCancels } from "./return-cancels.js";
import { prewarmModels } from "./prewarm.js";
import { SpareController } from "./spare-controller.js";

/** The system prompt used when none is given. */
export const DEFAULT_SYSTEM_PROMPT = "You are Zoe, a helpful assistant. Answer clearly and concisely. Use the context when it is relevant.";

/** Defaults of {@link ZoePipelineOptions}. */
export const PIPELINE_DEFAULTS = {
  maxInputChars: 16_000,
  contextTokens: 1_500,
  promptTokens: 3_072,
  routeTtlMs: 60_000,
  systemPromptTtlMs: 3_600_000,
  keyPrefix: "zoe",
  toolTimeoutMs: 10_000,
  toolConcurrency: 4,
  maxToolResultChars: MAX_TOOL_RESULT_CHARS,
  maxToolCallsPerStep: MAX_TOOL_CALLS_PER_STEP,
  maxToolSteps: 4,
} as const;

function checkOptions(options: ZoePipelineOptions): void {
  if (!options?.backend || typeof options.backend.chat !== "function") {
    throw new TypeError("createZoePipeline: `backend` must be a ModelBackend (an object with a chat() method).");
  }
  if (!options.router || typeof options.router.route !== "function") {
    throw new TypeError("createZoePipeline: `router` must be a Router (an object with a route() method).");
  }
  if (options.fallbackRouter !== undefined && typeof options.fallbackRouter?.route !== "function") {
    throw new TypeError("createZoePipeline: `fallbackRouter` must be a Router (an object with a route() method).");
  }
  const names = new Set<string>();
  for (const p of options.providers ?? []) {
    if (!p || typeof p.name !== "string" || p.name.length === 0 || typeof p.fetch !== "function") {
      throw new TypeError("createZoePipeline: every provider needs a non-empty `name` and a fetch() function.");
    }
    if (names.has(p.name)) throw new TypeError(`createZoePipeline: two providers are named "${p.name}".`);
    // Compared when context must be cut: NaN or an infinity would make that order depend on the sort.
    const priority: unknown = p.priority;
    if (priority !== undefined && !(typeof priority === "number" && Number.isFinite(priority))) {
      const got = typeof priority === "number" ? String(priority) : typeof priority;
      throw new TypeError(`createZoePipeline: provider "${p.name}" needs a finite number as its \`priority\`, got ${got}.`);
    }
    // A deadline of 0, a negative one or NaN would arm no timer at all: a hung provider would hold the run.
    const timeoutMs: unknown = p.timeoutMs;
    if (timeoutMs !== undefined && !(typeof timeoutMs === "number" && timeoutMs > 0)) {
      const got = typeof timeoutMs === "number" ? String(timeoutMs) : typeof timeoutMs;
      throw new TypeError(
        `createZoePipeline: provider "${p.name}" needs a positive number of milliseconds as its \`timeoutMs\` (Infinity for none), got ${got}.`,
      );
    }
    // A TTL the store would refuse (Infinity, a string) made every write fail quietly: fetched on every run.
    const ttlMs: unknown = p.ttlMs;
    if (ttlMs !== undefined && !isTtlOption(ttlMs)) {
      throw new TypeError(
        `createZoePipeline: provider "${p.name}" needs a finite number of milliseconds, or 0 (never cached), as its \`ttlMs\`, got ${described(ttlMs)}.`,
      );
    }
    names.add(p.name);
    if (p.provides === "tools" && typeof (p as { callTool?: unknown }).callTool !== "function") {
      throw new TypeError(`createZoePipeline: provider "${p.name}" provides tools but has no callTool() function.`);
    }
  }
  for (const [name, ttlMs] of [
    ["ttl.routeMs", options.ttl?.routeMs],
    ["ttl.systemPromptMs", options.ttl?.systemPromptMs],
  ] as const) {
    if (ttlMs !== undefined && !isTtlOption(ttlMs)) {
      throw new TypeError(
        `createZoePipeline: \`${name}\` must be a finite number of milliseconds, or 0 (never cached), got ${described(ttlMs)}.`,
      );
    }
  }
  for (const t of options.tools ?? []) {
    if (!t || !isToolName(t.name) || typeof t.execute !== "function") {
      throw new TypeError(`createZoePipeline: every tool needs a \`name\` (${TOOL_NAME_RULE}) and an execute() function.`);
    }
  }
}

/** A value as an error message shows it: a number as written, anything else by its type. */
const described = (value: unknown): string => (typeof value === "number" ? String(value) : typeof value);

/** A non-negative integer option, or undefined when not given. */
function nonNegative(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 0)
    throw new TypeError(`createZoePipeline: \`${name}\` must be a non-negative integer, got ${String(value)}.`);
  return value;
}

/** A positive integer option, or undefined when not given. */
function positive(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value <= 0)
    throw new TypeError(`createZoePipeline: \`${name}\` must be a positive integer, got ${String(value)}.`);
  return value;
}

function wholeAtLeastZero(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 0)
    throw new TypeError(`createZoePipeline: \`${name}\` must be a whole number of at least 0, got ${String(value)}.`);
  return value;
}

/** A deadline in ms: above 0 (`Infinity`: none). */
function deadlineMs(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !(value > 0))
    throw new TypeError(`createZoePipeline: \`${name}\` must be a number of ms above 0, got ${String(value)}.`);
  return value;
}

/**
 * Create a pipeline: plug in a backend, a router, a cache store and context providers, then
 * iterate `pipeline.run(input)` for each chat turn.
 */
export function createZoePipeline(options: ZoePipelineOptions): ZoePipeline {
  checkOptions(options);
  const deadlines = resolveDeadlines(options.deadlines);
  const emitter = new HostEvents();
  const store = options.cache ?? memoryCacheStore();
  const keys = createKeyBuilder(options.keyPrefix ?? PIPELINE_DEFAULTS.keyPrefix);
  const history = new HistoryStore(store, keys, options.history);
  const runs = new Set<ActiveRun>();
  // Always-on aggregates for pipeline.metrics() (O(1) per run, fed by `reports`), and the opt-in tuner.
  const aggregator = new MetricsAggregator();
  const reports = new RunReports(emitter, aggregator);
  const tuner = options.autoTune ? new AutoTuner(options.autoTune, options.providers ?? []) : undefined;
  if (options.logger) attachLogger(options.logger, emitter, store);
  if (tuner) emitter.on("run:finished", ({ metrics }) => tuner.observe(metrics));
  let closed = false;
  /** The one close in progress or done: every `close()` call waits for it. */
  let closing: Promise<void> | undefined;

  const deps: RunDeps = {
    backend: options.backend,
    router: options.router,
    store,
    providers: [...(options.providers ?? [])],
    keys,
    history,
    flights: new SharedFlights<unknown>(),
    emitter,
    reports,
    systemPrompt: options.systemPrompt ?? DEFAULT_SYSTEM_PROMPT,
    routeTtlMs: options.ttl?.routeMs ?? PIPELINE_DEFAULTS.routeTtlMs,
    systemPromptTtlMs: options.ttl?.systemPromptMs ?? PIPELINE_DEFAULTS.systemPromptTtlMs,
    maxInputChars: options.maxInputChars ?? PIPELINE_DEFAULTS.maxInputChars,
    inputLimits: {
      maxIdLength: options.maxIdLength ?? INPUT_LIMITS.maxIdLength,
      maxDepth: options.maxInputDepth ?? INPUT_LIMITS.maxDepth,
      maxNodes: options.maxInputNodes ?? INPUT_LIMITS.maxNodes,
    },
    deadlines,
    routeFallback: new RouteFallback(options.router, options.fallbackRouter),
    defaultSystemPrompt: DEFAULT_SYSTEM_PROMPT,
    contextTokens: positive(options.contextTokens, "contextTokens") ?? PIPELINE_DEFAULTS.contextTokens,
    promptTokens: positive(options.promptTokens, "promptTokens") ?? PIPELINE_DEFAULTS.promptTokens,
    think: options.think ?? false,
    tools: [...(options.tools ?? [])],
    toolRunner: new ToolRunner(
      positive(options.toolConcurrency, "toolConcurrency") ?? PIPELINE_DEFAULTS.toolConcurrency,
      deadlineMs(options.toolTimeoutMs, "toolTimeoutMs") ?? PIPELINE_DEFAULTS.toolTimeoutMs,
      positive(options.maxToolResultChars, "maxToolResultChars") ?? PIPELINE_DEFAULTS.maxToolResultChars,
      positive(options.maxToolCallsPerStep, "maxToolCallsPerStep") ?? PIPELINE_DEFAULTS.maxToolCallsPerStep,
    ),
    maxToolSteps: wholeAtLeastZero(options.maxToolSteps, "maxToolSteps") ?? PIPELINE_DEFAULTS.maxToolSteps,
    codeExecutor: options.codeExecutor,
    answers: options.responseCache
      ? new AnswerCache(options.responseCache, { store, keys, backend: options.backend, readTimeoutMs: deadlines.cacheReadMs })
      : undefined,
    runs,
    controllers: new SpareController(),
    isClosed: () => closed,
    tracing: createTracing(options.telemetry),
    retry: {
      attempts: nonNegative(options.retry?.attempts, "retry.attempts") ?? 0,
      backoffMs: nonNegative(options.retry?.backoffMs, "retry.backoffMs") ?? 200,
    },
    ...(tuner ? { tune: tuner } : {}),
  };

  const pipeline: ZoePipeline = {
    run(input: RunInput, runOptions?: RunOptions): AsyncIterable<AGUIEvent> {
      // `null` (from untyped callers) is no options, like `undefined`.
      return runTurn(deps, input, runOptions ?? {});
    },
    prewarm: (): Promise<PrewarmResult[]> => prewarmModels(options.router, options.backend),
    history: {
      get: (userId, threadId) => history.get(userId, threadId),
      append: (userId, threadId, entries) => history.append(userId, threadId, entries),
      clear: (userId, threadId) => history.clear(userId, threadId),
    },
    on(event, listener) {
      emitter.on(event, listener as never);
      return pipeline;
    },
    off(event, listener) {
      emitter.off(event, listener as never);
      return pipeline;
    },
    get activeRuns() {
      return runs.size;
    },
    metrics() {
      const snapshot = aggregator.snapshot();
      return tuner ? { ...snapshot, autoTune: tuner.snapshot() } : snapshot;
    },
    close() {
      // Every call waits for the parts: a second caller (a signal handler and a shutdown path) too.
      closing ??= (async () => {
        closed = true;
        const reason = new DOMException("The pipeline was closed.", "AbortError");
        for (const run of runs) {
          abortOwned(run.controller, reason);
          // Reported now: a run whose consumer never pulls again would otherwise never say so.
          reports.cancelled(run);
        }
        runs.clear();
        await Promise.allSettled([
          store.close(),
          options.backend.close?.(),
          options.codeExecutor?.close?.(),
          // A provider's close that throws at once is settled like one that rejects.
          ...(options.providers ?? []).map((provider) => Promise.resolve().then(() => provider.close?.())),
        ]);
        emitter.removeAllListeners();
        reports.detach();
      })();
      return closing;
    },
  };
  markReturnCancels(pipeline.run);
  return pipeline;
}
