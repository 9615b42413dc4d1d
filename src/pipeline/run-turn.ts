import { randomUUID } from "node:crypto";
import type { AGUIEvent } from "@ag-ui/core";
import type { EventEmitter } from "eventemitter3";
import type { KeyBuilder } from "../cache/keys.js";
import type { SharedFlights } from "../cache/shared-flights.js";
import type { CacheBatchResult, CacheStore } from "../cache/types.js";
import { fetchContext, type ProviderJob } from "../context/fetch-context.js";
import type { ContextProvider, ContextRequest, ProviderOutcome } from "../context/types.js";
import { ZoeError, toZoeError } from "../errors/zoe-error.js";
import { events, pointer, type JsonPatchOp } from "../events/factory.js";
import { HistoryStore } from "../history/history-store.js";
import type { HistoryEntry } from "../history/types.js";
import { parseRunInput } from "../input/parse-input.js";
import type { Turn } from "../input/types.js";
import type { ChatDoneInfo, ChatMessage, ChatToolDefinition, ModelBackend, ThinkSetting } from "../models/types.js";
import { toolArgumentsOrEmpty } from "../tools/tool-args.js";
import { runToolCalls, type ToolCallRecord, type ToolRegistry, type ToolRunner } from "../tools/tool-runner.js";
import type { CodeExecutor, ServerTool, ToolCatalogueProvider, ToolSpec } from "../tools/types.js";
import { closeMessages, streamStep, type OpenMessages } from "./stream-step.js";
import { buildPrompt } from "../prompt/build-prompt.js";
import { safeCounter, type TokenCounter } from "../prompt/token-count.js";
import { conversationToMessages, historyToMessages, windowEntries } from "../prompt/conversation.js";
import { ROUTE_KINDS, type RouteDecision, type RouteKind, type Router } from "../routing/types.js";
import { abortReason } from "../shared/abort.js";
import { writeQuietly } from "../cache/write-quietly.js";
import type { ResolvedDeadlines } from "./deadlines.js";
import type { RouteFallback } from "./route-fallback.js";
import { readRunCache } from "./stages/read-cache.js";
import { decideRoute } from "./stages/route.js";
import { resolveSystemPrompt } from "./stages/system-prompt.js";
import { writeHistory } from "./stages/remember.js";
import { round, type CachePart, type HitMiss, type RunMetrics } from "./metrics.js";
import type { PipelineEvents, RunOptions, SystemPromptFn } from "./types.js";
import type { RunTuning } from "../metrics/auto-tune.js";
import type { AnswerCache, AnswerLookup } from "../response-cache/answer-cache.js";
import { replayAnswer, semanticText } from "../response-cache/run-helpers.js";

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
  deadlines: ResolvedDeadlines;
  /** Decides when the router cannot. */
  routeFallback: RouteFallback;
  /** The system prompt used when a `systemPrompt` function fails. */
  defaultSystemPrompt: string;
  isClosed(): boolean;
  /** The response cache (the `responseCache` option). */
  answers?: AnswerCache | undefined;
  /** Auto-tuned provider deadlines and num_predict (the `autoTune` option). */
  tune?: RunTuning;
}

/** A run in progress, as `close()` sees it. */
export interface ActiveRun {
  controller: AbortController;
  who: { threadId: string; runId: string; userId: string };
  /** True from `run:started` until a terminal host event has been emitted for the run. */
  hostOpen: boolean;
}

/** The abort reason of a run that ended: one shared object, as building a DOMException per run costs a stack trace. */
const RUN_ENDED = new DOMException("The run ended.", "AbortError");

/** Lower-case, collapse whitespace, drop trailing punctuation: equal questions share a route. */
export const normaliseText = (text: string): string =>
  text.toLowerCase().replace(/\s+/g, " ").trim().replace(/[\s.!?…]+$/u, "");

/**
 * The tools of a run by name: server tools, then tool catalogues' tools, then the client's
 * frontend tools (the first one of a name wins).
 */
function toolRegistry(deps: RunDeps, turn: Turn, outcomes: readonly ProviderOutcome[]): ToolRegistry {
  const registry: ToolRegistry = new Map();
  for (const tool of deps.tools) registry.set(tool.name, { where: "server", tool, spec: tool });
  for (const outcome of outcomes) {
    if (!Array.isArray(outcome.value)) continue;
    const provider = deps.providers.find((p) => p.name === outcome.name);
    if (provider?.provides !== "tools") continue;
    for (const spec of outcome.value as ToolSpec[]) {
      if (!registry.has(spec.name)) registry.set(spec.name, { where: "catalogue", provider: provider as ToolCatalogueProvider, spec });
    }
  }
  for (const tool of turn.tools) if (!registry.has(tool.name)) registry.set(tool.name, { where: "frontend", spec: tool });
  return registry;
}

/** Every tool's definition for the model, sorted by name: the same tools always give the same prompt prefix. */
function toolDefinitions(registry: ToolRegistry): ChatToolDefinition[] {
  return [...registry.values()]
    .map((route) => route.spec)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((t) => ({
      type: "function" as const,
      function: {
        name: t.name,
        ...(t.description ? { description: t.description } : {}),
        ...(t.parameters ? { parameters: t.parameters } : {}),
      },
    }));
}

/** Calls beyond the step limit are not run: each gets an error result. */
async function* refuseToolCalls(calls: readonly ToolCallRecord[], maxSteps: number): AsyncGenerator<AGUIEvent, { messages: ChatMessage[] }> {
  const content = `Error: not run, the limit of ${maxSteps} tool steps per run was reached.`;
  for (const call of calls) yield events.toolCallResult(call.id, content);
  return { messages: [] };
}

/** Add up the backend's figures over the model calls of a run (the last call's reason wins). */
function mergeDone(a: ChatDoneInfo, b: ChatDoneInfo): ChatDoneInfo {
  const out: ChatDoneInfo = { ...a, ...b };
  for (const key of ["inputTokens", "promptEvalTokens", "outputTokens", "queueMs", "loadMs", "promptEvalMs", "evalMs"] as const) {
    if (a[key] !== undefined && b[key] !== undefined) out[key] = a[key] + b[key];
  }
  return out;
}

/**
 * One chat turn as a stream of AG-UI events. Never throws: bad input, failures and
 * cancellation all end the stream with a well-formed terminal event.
 */
export async function* runTurn(deps: RunDeps, rawInput: unknown, options: RunOptions): AsyncGenerator<AGUIEvent> {
  const t0 = performance.now();
  const parsed = parseRunInput(rawInput, { maxInputChars: deps.maxInputChars, userId: options.userId, ...deps.inputLimits });
  if (!parsed.ok) {
    if (parsed.ids) yield events.runStarted(parsed.ids.threadId, parsed.ids.runId);
    deps.emitter.emit("run:error", { ...parsed.ids, error: parsed.error });
    yield events.runError(parsed.error.message, parsed.error.code);
    return;
  }
  const turn = parsed.turn;
  const who = { threadId: turn.threadId, runId: turn.runId, userId: turn.userId };
  if (deps.isClosed()) {
    yield events.runStarted(turn.threadId, turn.runId);
    const error = new ZoeError("PIPELINE_CLOSED", "The pipeline is closed: create a new one to run more turns.");
    deps.emitter.emit("run:error", { ...who, error });
    yield events.runError(error.message, error.code);
    return;
  }

  const controller = new AbortController();
  const signal = controller.signal;
  const outer = options.signal;
  const forwardAbort = () => controller.abort(outer?.reason);
  if (outer?.aborted) controller.abort(outer.reason);
  else outer?.addEventListener("abort", forwardAbort, { once: true });
  // `hostOpen` is true from `run:started` until a terminal host event: a run abandoned in between,
  // or interrupted by `close()`, reports `run:cancelled` exactly once.
  const run: ActiveRun = { controller, who, hostOpen: false };
  deps.runs.add(run);
  /** Emit the run's terminal host event, unless `close()` already reported the run. */
  const endForHost = (emit: () => void) => {
    if (!run.hostOpen) return;
    run.hostOpen = false;
    emit();
  };

  // What is open, so that a cancelled run can close it before RUN_FINISHED.
  let openStep: string | undefined;
  const open: OpenMessages = {};
  const closeOpen = (): AGUIEvent[] => {
    const out = closeMessages(open);
    if (openStep) out.push(events.stepFinished(openStep));
    openStep = undefined;
    return out;
  };

  try {
    yield events.runStarted(turn.threadId, turn.runId);
    run.hostOpen = true;
    deps.emitter.emit("run:started", who);
    yield events.stateSnapshot({
      ...turn.state,
      zoe: {
        runId: turn.runId,
        stage: "route",
        providers: Object.fromEntries(deps.providers.map((p) => [p.name, { status: "pending" }])),
      },
    });

    // ---- route (one batched cache read serves route, system prompt, context and history) ----
    openStep = "route";
    yield events.stepStarted("route");
    const byPart: Record<CachePart, HitMiss> = {
      route: { hits: 0, misses: 0 },
      system: { hits: 0, misses: 0 },
      context: { hits: 0, misses: 0 },
      history: { hits: 0, misses: 0 },
    };
    const count = (part: CachePart, hit: boolean) => {
      byPart[part][hit ? "hits" : "misses"]++;
      deps.emitter.emit(hit ? "cache:hit" : "cache:miss", { part });
    };
    const normalised = normaliseText(turn.text);
    const routeKey = deps.keys.key("route", turn.userId, normalised);
    const systemKeys =
      typeof deps.systemPrompt === "function" ? ROUTE_KINDS.map((k) => deps.keys.key("system", turn.userId, k)) : [];
    const keyRequest = { userId: turn.userId, threadId: turn.threadId, text: turn.text };
    const providerKeys = deps.providers.map((p) => providerKey(deps.keys, turn.userId, p, keyRequest));
    const historyKey = deps.history.key(turn.userId, turn.threadId);
    const historySettings = deps.history.settings;
    const read = await readRunCache(
      deps.store,
      {
        keys: [routeKey, ...systemKeys, ...providerKeys.filter((k): k is string => typeof k === "string")],
        lists: [{ key: historyKey, last: historySettings.keep }],
      },
      deps.deadlines.cacheReadMs,
      signal,
    );
    const batch = read.result;
    const cacheReadMs = read.ms;
    const storedHistory = HistoryStore.clean(batch.lists[0] ?? []);
    if (read.status !== "ok") deps.emitter.emit("cache:error", { userId: turn.userId, status: read.status, ms: read.ms });

    const route = await decideRoute(
      deps.router,
      deps.routeFallback,
      batch.values[0],
      { text: turn.text, userId: turn.userId, threadId: turn.threadId },
      deps.deadlines.routerMs,
      signal,
    );
    const decision = route.decision;
    const routeCached = route.cached;
    count("route", routeCached);
    // A fallback decision is not cached: the router gets the next turn.
    if (!routeCached && !route.fallback && deps.routeTtlMs > 0) writeQuietly(deps.store, routeKey, decision, deps.routeTtlMs);
    if (route.fallback) deps.emitter.emit("route:fallback", { userId: turn.userId, reason: route.fallback });
    const routeMs = route.ms;
    yield events.stateDelta([
      {
        op: "add",
        path: "/zoe/route",
        value: { ...decision, cached: routeCached, ...(route.fallback ? { fallback: route.fallback } : {}) },
      },
      { op: "add", path: "/zoe/stage", value: "context" },
    ]);
    openStep = undefined;
    yield events.stepFinished("route");
    // The semantic answer cache's embedding runs alongside the context step, under its own deadline.
    const probe = deps.answers?.semantic
      ? deps.answers.startProbe(
          { userId: turn.userId, kind: decision.kind, model: decision.model },
          semanticText(turn, storedHistory, historySettings, deps.answers.includeHistory),
          signal,
        )
      : undefined;

    // ---- context ----
    openStep = "context";
    yield events.stepStarted("context");
    const tContext = performance.now();
    const outcomes: ProviderOutcome[] = [];
    const request = requestFor(turn, decision.kind);
    const runsOnFastPath = (p: ContextProvider) => p.fastPath ?? p.provides === "tools";
    // Values of the providers whose key could be computed follow the route and system prompt keys.
    const cachedByProvider = new Map<number, unknown>();
    let valueIndex = 1 + systemKeys.length;
    providerKeys.forEach((key, i) => {
      if (typeof key === "string") cachedByProvider.set(i, batch.values[valueIndex++]);
    });
    const jobs: ProviderJob[] = [];
    const skipped: JsonPatchOp[] = [];
    deps.providers.forEach((provider, i) => {
      if (decision.fastPath && !runsOnFastPath(provider)) {
        outcomes.push({ name: provider.name, status: "skipped", ms: 0, placement: provider.placement ?? "volatile" });
        skipped.push({ op: "add", path: pointer("zoe", "providers", provider.name), value: { status: "skipped", ms: 0 } });
        return;
      }
      const cached = provider.ttlMs === 0 ? undefined : cachedByProvider.get(i);
      count("context", cached !== undefined);
      jobs.push({ provider, key: providerKeys[i] as ProviderJob["key"], cached, timeoutMs: deps.tune?.deadline(provider.name) });
    });
    if (skipped.length > 0) yield events.stateDelta(skipped);
    for await (const outcome of fetchContext(jobs, request, deps.store, deps.flights, signal)) {
      outcomes.push(outcome);
      if (outcome.status === "timeout") deps.emitter.emit("provider:timeout", { name: outcome.name, userId: turn.userId, ms: outcome.ms });
      if (outcome.status === "error") {
        deps.emitter.emit("provider:error", { name: outcome.name, userId: turn.userId, ms: outcome.ms, error: outcome.error ?? "" });
      }
      yield events.stateDelta([
        {
          op: "add",
          path: pointer("zoe", "providers", outcome.name),
          value: { status: outcome.status, ms: round(outcome.ms), ...(outcome.error ? { error: outcome.error } : {}) },
        },
      ]);
    }
    if (signal.aborted) throw abortReason(signal);
    const contextMs = performance.now() - tContext;
    yield events.stateDelta([{ op: "add", path: "/zoe/stage", value: "generate" }]);
    openStep = undefined;
    yield events.stepFinished("context");

    // ---- prompt ----
    openStep = "generate";
    yield events.stepStarted("generate");
    const tPrompt = performance.now();
    const kindIndex = ROUTE_KINDS.indexOf(decision.kind);
    const system = await resolveSystemPrompt(
      deps.systemPrompt,
      batch.values[1 + kindIndex],
      { kind: decision.kind, userId: turn.userId },
      deps.defaultSystemPrompt,
      deps.deadlines.systemPromptMs,
      signal,
    );
    if (system.source === "cache" || system.source === "built") count("system", system.source === "cache");
    const systemKey = systemKeys[kindIndex];
    if (system.source === "built" && systemKey && deps.systemPromptTtlMs > 0) writeQuietly(deps.store, systemKey, system.text, deps.systemPromptTtlMs);
    if (system.fallback) {
      deps.emitter.emit("systemPrompt:fallback", { userId: turn.userId, reason: system.fallback });
      yield events.stateDelta([{ op: "add", path: "/zoe/systemPrompt", value: { fallback: system.fallback } }]);
    }
    const systemPrompt = system.text;
    const fromInput = turn.messages.length > 1;
    count("history", storedHistory.length > 0);
    const { history, trailing } = fromInput
      ? conversationToMessages(turn.messages, turn.userMessageId, storedHistory, historySettings.load, historySettings.step, deps.maxInputChars)
      : { history: historyToMessages(windowEntries(storedHistory, historySettings.load, historySettings.step)), trailing: [] };
    // The backend's tokenizer when it has the model loaded (llama.cpp), else the documented estimate.
    const tokenizer = tokenizerOf(deps.backend, decision.model);
    const countTokens = safeCounter(tokenizer);
    const prompt = buildPrompt({
      systemPrompt,
      context: outcomes,
      clientContext: turn.context,
      history,
      userText: turn.text,
      trailing,
      contextTokens: deps.contextTokens,
      promptTokens: deps.promptTokens,
      step: historySettings.step,
      count: countTokens,
    });
    const registry = toolRegistry(deps, turn, outcomes);
    const tools = toolDefinitions(registry);
    // The generation options of every model call of this run (auto-tuned when that is on).
    const modelOptions = deps.tune ? deps.tune.options(decision) : decision.options;
    const promptMs = performance.now() - tPrompt;

    // ---- response cache: one store read for this exact prompt, then the semantic probe ----
    let lookup: AnswerLookup | undefined;
    if (deps.answers) {
      const first = {
        model: decision.model,
        messages: prompt.messages,
        options: modelOptions,
        ...(tools.length ? { tools } : {}),
        think: deps.think,
        userId: turn.userId,
        threadId: turn.threadId,
      };
      lookup = await deps.answers.lookup(turn.userId, first, probe, signal);
      const { hit } = lookup;
      yield events.stateDelta([
        {
          op: "add",
          path: "/zoe/answerCache",
          value: hit ? { hit: true, kind: hit.kind, ...(hit.similarity === undefined ? {} : { similarity: hit.similarity }) } : { hit: false },
        },
      ]);
    }

    // ---- generate, running server-side tools between model calls ----
    const tGenerate = performance.now();
    const stepLimits = {
      firstTokenMs: deps.deadlines.firstTokenMs,
      idleMs: deps.deadlines.idleMs,
      codeBlockMs: deps.deadlines.codeBlockMs,
      generationEndsAt: tGenerate + deps.deadlines.generationMs,
    };
    let firstTokenAt: number | undefined;
    let answer = "";
    let textChunks = 0;
    let done: ChatDoneInfo = {};
    let toolSteps = 0;
    let codeRuns = 0;
    const toolCalls: ToolCallRecord[] = [];
    const pending: ToolCallRecord[] = [];
    const messages: ChatMessage[] = [...prompt.messages];
    const replayed = lookup?.hit ? yield* replayAnswer(lookup.hit.text, open, signal) : undefined;
    if (lookup?.hit && replayed) {
      firstTokenAt = replayed.firstTokenAt;
      answer = lookup.hit.text;
      textChunks = replayed.chunks;
    } else for (;;) {
      const step = yield* streamStep(
        deps.backend,
        {
          model: decision.model,
          messages,
          options: modelOptions,
          ...(tools.length ? { tools } : {}),
          // Sent even when false: Ollama ≥ 0.12.4 thinks by default on models that can.
          think: deps.think,
          userId: turn.userId,
          threadId: turn.threadId,
          ...(messages.length === prompt.messages.length ? { promptTokens: prompt.tokens } : {}),
        },
        signal,
        open,
        deps.codeExecutor,
        stepLimits,
      );
      firstTokenAt ??= step.firstTokenAt;
      answer += step.text;
      textChunks += step.textChunks;
      codeRuns += step.codeRuns;
      done = mergeDone(done, step.done);
      toolCalls.push(...step.toolCalls);
      const serverCalls = step.toolCalls.filter((c) => registry.get(c.name)?.where !== "frontend");
      pending.push(...step.toolCalls.filter((c) => registry.get(c.name)?.where === "frontend"));
      if (serverCalls.length === 0) break;
      toolSteps++;
      const context = { userId: turn.userId, threadId: turn.threadId };
      const limited = toolSteps > deps.maxToolSteps;
      const results = limited
        ? yield* refuseToolCalls(serverCalls, deps.maxToolSteps)
        : yield* runToolCalls(deps.toolRunner, serverCalls, registry, context, signal);
      // The model continues only when it has every result it asked for.
      if (limited || pending.length > 0) break;
      messages.push(
        {
          role: "assistant",
          content: step.text,
          tool_calls: step.toolCalls.map((c) => ({ function: { name: c.name, arguments: toolArgumentsOrEmpty(c.arguments) } })),
        },
        ...results.messages,
      );
    }
    for (const e of closeMessages(open)) yield e;
    const tEnd = performance.now();
    const generateMs = tEnd - tGenerate;
    openStep = undefined;
    yield events.stateDelta([{ op: "add", path: "/zoe/stage", value: "done" }]);
    yield events.stepFinished("generate");

    // ---- history: the user turn and the complete answer ----
    const seq = (storedHistory[storedHistory.length - 1]?.seq ?? -1) + 1;
    const at = Date.now();
    // A run that continues after the client answered a frontend tool stores only its answer:
    // its user turn was stored by the run that called the tool.
    const continuation = turn.messages.length > 0 && turn.messages.at(-1)?.role !== "user";
    const userEntry: HistoryEntry = {
      id: turn.userMessageId,
      role: "user",
      content: turn.text,
      ...(prompt.userContent !== turn.text ? { sent: prompt.userContent } : {}),
      seq,
      at,
    };
    const answerEntry: HistoryEntry = {
      id: randomUUID(),
      role: "assistant",
      content: answer,
      ...(toolCalls.length ? { toolCalls } : {}),
      seq: continuation ? seq : seq + 1,
      at,
    };
    const entries = continuation ? [answerEntry] : [userEntry, answerEntry];
    // A failed or hung history write never fails the run; the host hears how it went.
    const written = await writeHistory(deps.history, turn.userId, turn.threadId, entries, deps.deadlines.historyWriteMs, signal);
    deps.emitter.emit("history:write", { ...who, ...written });
    // Only a complete, successful text answer without tool calls is kept for later runs.
    const answerStored =
      lookup !== undefined &&
      toolCalls.length === 0 &&
      pending.length === 0 &&
      codeRuns === 0 &&
      done.doneReason !== "length" &&
      deps.answers?.remember(lookup, answer) === true;

    // ---- metrics and finish ----
    const outputTokens = done.outputTokens ?? textChunks;
    const generatingMs = done.evalMs ?? (firstTokenAt === undefined ? 0 : tEnd - firstTokenAt);
    const hits = Object.values(byPart).reduce((n, p) => n + p.hits, 0);
    const misses = Object.values(byPart).reduce((n, p) => n + p.misses, 0);
    const metrics: RunMetrics = {
      ...(firstTokenAt === undefined ? {} : { ttftMs: round(firstTokenAt - t0) }),
      totalMs: round(performance.now() - t0),
      stages: {
        cacheReadMs: round(cacheReadMs),
        routeMs: round(routeMs),
        contextMs: round(contextMs),
        promptMs: round(promptMs),
        generateMs: round(generateMs),
      },
      providers: Object.fromEntries(outcomes.map((o) => [o.name, { status: o.status, ms: round(o.ms) }])),
      tokens: { ...(done.inputTokens === undefined ? {} : { input: done.inputTokens }), output: outputTokens },
      ...(generatingMs > 0 && outputTokens > 0 ? { tokensPerSecond: round((outputTokens * 1000) / generatingMs) } : {}),
      cache: { hits, misses, byPart },
      fastPath: decision.fastPath,
      kind: decision.kind,
      model: decision.model,
      backend: pickDefined(done, ["model", "queueMs", "loadMs", "promptEvalMs", "promptEvalTokens", "evalMs", "doneReason"]),
      tools: { calls: toolCalls.length, steps: toolSteps, codeRuns },
      historySource: fromInput ? "input" : "store",
      historyMessages: history.length - prompt.droppedHistory,
      prompt: {
        tokens: prompt.tokens,
        counter: tokenizer ? "tokenizer" : "estimate",
        ...(prompt.cutContext.length ? { cutContext: prompt.cutContext } : {}),
        ...(prompt.droppedHistory ? { droppedHistory: prompt.droppedHistory } : {}),
      },
      ...(lookup && deps.answers ? { answerCache: deps.answers.metrics(lookup, answerStored) } : {}),
    };
    yield events.custom("zoe.metrics", metrics);
    const usage = [
      {
        provider: deps.backend.name,
        model: decision.model,
        outputTokens,
        ...(done.inputTokens === undefined ? {} : { inputTokens: done.inputTokens, totalTokens: done.inputTokens + outputTokens }),
      },
    ];
    const pendingIds = pending.map((c) => c.id);
    endForHost(() => deps.emitter.emit("run:finished", { ...who, metrics }));
    yield events.runFinished(
      turn.threadId,
      turn.runId,
      { metrics, ...(pending.length ? { pendingToolCalls: pending } : {}) },
      { type: "success", ...(pendingIds.length ? { pendingToolCallIds: pendingIds } : {}) },
      usage,
    );
  } catch (error) {
    if (signal.aborted) {
      for (const e of closeOpen()) yield e;
      endForHost(() => deps.emitter.emit("run:cancelled", who));
      yield events.runFinished(turn.threadId, turn.runId, { cancelled: true }, { type: "cancelled" });
    } else {
      const zoeError = toZoeError(error);
      endForHost(() => deps.emitter.emit("run:error", { ...who, error: zoeError }));
      yield events.runError(zoeError.message, zoeError.code);
    }
  } finally {
    outer?.removeEventListener("abort", forwardAbort);
    // Whatever is still running for this run (providers, the model request) stops now.
    if (!signal.aborted) controller.abort(RUN_ENDED);
    deps.runs.delete(run);
    endForHost(() => deps.emitter.emit("run:cancelled", who));
  }

}

/** The listed keys of `source` whose values are defined. */
function pickDefined<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}

function requestFor(turn: Turn, kind: RouteKind): ContextRequest {
  return { userId: turn.userId, threadId: turn.threadId, text: turn.text, kind };
}

/** A provider's cache key; a `cacheKey()` that throws or gives no string fails that provider alone. */
function providerKey(
  keys: KeyBuilder,
  userId: string,
  provider: ContextProvider,
  request: { userId: string; threadId: string; text: string },
): string | { error: string } {
  if (!provider.cacheKey) return keys.key("context", userId, provider.name);
  try {
    const id = provider.cacheKey(request);
    if (typeof id !== "string") return { error: "cacheKey() did not return a string" };
    return keys.key("context", userId, provider.name, id);
  } catch (error) {
    return { error: `cacheKey() failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** The backend's token counter for a model, if it has one; a throwing backend has none. */
function tokenizerOf(backend: ModelBackend, model: string): TokenCounter | undefined {
  try {
    const counter = backend.tokenCounter?.(model);
    return typeof counter === "function" ? counter : undefined;
  } catch {
    return undefined;
  }
}
