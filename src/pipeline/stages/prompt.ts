import { sortedBy } from "../../shared/sorted.js";
import { writeQuietly } from "../../cache/write-quietly.js";
import type { ProviderOutcome } from "../../context/types.js";
import { events } from "../../events/factory.js";
import type { ChatMessage, ChatRequest, ChatToolDefinition, ModelBackend } from "../../models/types.js";
import { buildPrompt, type BuiltPrompt } from "../../prompt/build-prompt.js";
import { fitFollowUp, memoCounter } from "../../prompt/fit-follow-up.js";
import { conversationToMessages, historyToMessages, windowEntries } from "../../prompt/conversation.js";
import { safeCounter, type TokenCounter } from "../../prompt/token-count.js";
import type { ToolRegistry, ToolRoute } from "../../tools/tool-runner.js";
import type { ToolCatalogueProvider, ToolSpec } from "../../tools/types.js";
import { beginStage, countCache, endStage, type RunContext } from "../run-context.js";
import type { SystemPromptFn } from "../types.js";
import type { ContextOutcome } from "./context.js";
import type { Routed } from "./route.js";
import { buildSystemPrompt, readySystemPrompt } from "./system-prompt.js";
import { takenCallIds } from "../../tools/taken-call-ids.js";

/** The prompt stage's outcome: the first model request of the run and what went into it. */
export interface Prompted {
  prompt: BuiltPrompt;
  /** The first model request (messages, options, tools, thinking, ids, counted tokens). */
  request: ChatRequest;
  /** Every tool of the run by name, and where it runs. */
  registry: ToolRegistry;
  /** The system prompt the run used (the host's, or the default it fell back to), without context. */
  systemPrompt: string;
  /** The history came from the input's messages (AG-UI), not from the store. */
  fromInput: boolean;
  /** Past messages in the prompt. */
  historyMessages: number;
  counter: "tokenizer" | "estimate";
  /** The run's token counter (the backend's tokenizer, else the estimate). */
  count: TokenCounter;
  /** Tokens of the tool definitions sent with every model call of the run. */
  toolTokens: number;
  /** The most tokens each model call of the run may take: `promptTokens`, or less when the backend's model has less room ({@link budgetOf}). */
  budget: number;
  /**
   * The first request's messages before results the client sent back were cut to fit, and the
   * past messages among them: a call after a tool step is fitted from these, so that each result
   * is cut from its whole text. Undefined when nothing was cut.
   */
  whole?: { messages: ChatMessage[]; historyMessages: number };
  ms: number;
}

/**
 * The prompt stage: the system prompt (static, cached, or built under its deadline with the
 * default as fallback), the history window, the context by priority within the token budget, and
 * the tools, assembled most-stable first so the model server reuses its KV prefix.
 */
export async function promptStage(ctx: RunContext, routed: Routed, context: ContextOutcome): Promise<Prompted> {
  const { deps, turn, signal } = ctx;
  const { decision } = routed;
  const t0 = performance.now();
  beginStage(ctx, "prompt");
  // A static or cached prompt needs no wait: only the host's function is awaited.
  let system = readySystemPrompt(deps.systemPrompt, routed.cachedSystemPrompt);
  if (!system) {
    system = await buildSystemPrompt(
      deps.systemPrompt as SystemPromptFn,
      { kind: decision.kind, userId: turn.userId },
      deps.defaultSystemPrompt,
      deps.deadlines.systemPromptMs,
      signal,
    );
    ctx.out.hold();
  }
  if (system.source === "cache" || system.source === "built") countCache(ctx, "system", system.source === "cache");
  if (system.source === "built" && routed.systemKey && deps.systemPromptTtlMs > 0) {
    writeQuietly(deps.store, routed.systemKey, system.text, deps.systemPromptTtlMs);
  }
  if (system.fallback) {
    deps.emitter.emit("systemPrompt:fallback", { userId: turn.userId, reason: system.fallback });
    ctx.out.send(events.stateDelta([{ op: "add", path: "/zoe/systemPrompt", value: { fallback: system.fallback } }]));
  }

  // The model's calls get ids the conversation does not hold yet (read before the stored history is released).
  const taken = takenCallIds(turn.messages, routed.storedHistory);
  if (taken) ctx.open.toolCallIds = taken;

  const settings = deps.history.settings;
  const fromInput = turn.messages.length > 1;
  countCache(ctx, "history", routed.storedHistory.length > 0);
  const { history, trailing } = fromInput
    ? conversationToMessages(turn.messages, turn.userMessageId, routed.storedHistory, settings.load, settings.step, deps.maxInputChars)
    : { history: historyToMessages(windowEntries(routed.storedHistory, settings.load, settings.step)), trailing: [] };
  // The backend's tokenizer when it has the model loaded (llama.cpp), else the documented estimate.
  const tokenizer = tokenizerOf(deps.backend, decision.model);
  // A tokenizer's counts are kept for the run's later calls (a call after a tool step counts the
  // same messages again); the estimate costs less than keeping it.
  const count = tokenizer ? memoCounter(safeCounter(tokenizer)) : safeCounter(undefined);
  const budget = budgetOf(deps.backend, decision.model, deps.promptTokens);
  const registry = toolRegistry(ctx, context.outcomes);
  const tools = toolDefinitions(registry);
  // The model server renders the tool definitions into the prompt: they take their share of the budget.
  const toolTokens = tools.length > 0 ? count(JSON.stringify(tools)) : 0;
  const built = buildPrompt({
    systemPrompt: system.text,
    context: context.outcomes,
    clientContext: turn.context,
    history,
    userText: turn.text,
    trailing,
    contextTokens: deps.contextTokens,
    promptTokens: budget,
    step: settings.step,
    count,
    reservedTokens: toolTokens,
  });
  // A run continued with tool results: the history window moved first; results that still do not
  // fit are cut as those of a call after a tool step are.
  const prompt = built.tokens > budget && trailing.length > 0 ? fitTrailing(built, history.length, budget, toolTokens, count) : built;
  const whole = prompt === built ? undefined : { messages: built.messages, historyMessages: history.length - built.droppedHistory };
  const request: ChatRequest = {
    model: decision.model,
    messages: prompt.messages,
    // The generation options of every model call of this run (auto-tuned when that is on).
    options: deps.tune ? deps.tune.options(decision) : decision.options,
    // Sent even when false: Ollama ≥ 0.12.4 thinks by default on models that can.
    think: deps.think,
    userId: turn.userId,
    threadId: turn.threadId,
    promptTokens: prompt.tokens,
  };
  if (tools.length) request.tools = tools;
  endStage(ctx, () => ({
    "zoe.prompt.tokens": prompt.tokens,
    "zoe.prompt.counter": tokenizer ? "tokenizer" : "estimate",
    "zoe.prompt.history_messages": history.length - prompt.droppedHistory,
    ...(system.fallbackKind ? { "zoe.system_prompt.fallback": system.fallbackKind } : {}),
  }));
  return {
    prompt,
    request,
    registry,
    systemPrompt: system.text,
    fromInput,
    historyMessages: history.length - prompt.droppedHistory,
    counter: tokenizer ? "tokenizer" : "estimate",
    count,
    toolTokens,
    budget,
    ms: performance.now() - t0,
    ...(whole ? { whole } : {}),
  };
}

/** A built prompt whose tool results after the user's message are cut to fit `promptTokens` (see {@link fitFollowUp}). */
function fitTrailing(
  built: BuiltPrompt,
  historyLength: number,
  promptTokens: number,
  toolTokens: number,
  count: TokenCounter,
): BuiltPrompt {
  const kept = historyLength - built.droppedHistory;
  const fitted = fitFollowUp(built.messages, { history: [1, 1 + kept], resultsFrom: 2 + kept }, promptTokens - toolTokens, count);
  return {
    ...built,
    messages: fitted.messages,
    tokens: fitted.tokens + toolTokens,
    droppedHistory: built.droppedHistory + fitted.droppedHistory,
    cutToolResults: fitted.cutResults,
  };
}

/**
 * The run's prompt budget: `promptTokens`, or the backend's own for the model when it is smaller
 * (`promptBudget`: a llama.cpp context smaller than the default budget). A backend's answer that
 * is not a positive number, or that throws, is ignored.
 */
function budgetOf(backend: ModelBackend, model: string, promptTokens: number): number {
  try {
    const own: unknown = backend.promptBudget?.(model);
    return typeof own === "number" && own >= 1 && own < promptTokens ? Math.floor(own) : promptTokens;
  } catch {
    return promptTokens;
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

/**
 * The tools of a run by name: server tools, then tool catalogues' tools, then the client's
 * frontend tools (the first one of a name wins).
 */
function toolRegistry(ctx: RunContext, outcomes: readonly ProviderOutcome[]): ToolRegistry {
  const { deps, turn } = ctx;
  // No tool anywhere (the common chat): one shared empty registry, not a Map per run.
  if (deps.tools.length === 0 && turn.tools.length === 0 && !hasToolCatalogue(deps.providers)) return NO_TOOLS;
  const registry = new Map<string, ToolRoute>();
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

function hasToolCatalogue(providers: RunContext["deps"]["providers"]): boolean {
  for (const provider of providers) if (provider.provides === "tools") return true;
  return false;
}

/** The registry of a run without tools. */
const NO_TOOLS: ToolRegistry = new Map();

/** Every tool's definition for the model, sorted by name: the same tools always give the same prompt prefix. */
function toolDefinitions(registry: ToolRegistry): ChatToolDefinition[] {
  if (registry.size === 0) return [];
  return sortedBy(
    [...registry.values()].map((route) => route.spec),
    (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  ).map((t) => ({
    type: "function" as const,
    function: {
      name: t.name,
      ...(t.description ? { description: t.description } : {}),
      ...(t.parameters ? { parameters: t.parameters } : {}),
    },
  }));
}
