import { constants as fsConstants } from "node:fs";
import { access } from "node:fs/promises";
import pLimit, { type LimitFunction } from "p-limit";
import type {
  ChatHistoryItem,
  ChatModelFunctions,
  ChatWrapper,
  Llama,
  LlamaChat,
  LlamaChatResponse,
  LlamaContext,
  LlamaContextSequence,
  LlamaModel,
  LLamaChatGenerateResponseOptions,
  SpecializedChatWrapperTypeName,
  Token,
} from "node-llama-cpp";
import type { ChatChunk, ChatDoneInfo, ChatRequest, ModelBackend, PrewarmResult, ThinkSetting } from "../models/types.js";
import { abortable, abortReason } from "../shared/abort.js";
import { ChunkQueue } from "./chunk-queue.js";
import { importNodeLlamaCpp, loadModule, startLlama, type ModuleImporter, type NodeLlamaCpp } from "./engine.js";
import { LlamaCppError } from "./errors.js";
import { toChatHistory, toFunctions, toGenerationSettings, type GenerationSettings } from "./messages.js";
import { resolveOptions, type LlamaCppBackendOptions, type ResolvedOptions } from "./options.js";
import { SequencePool, type PoolLease, type PoolPick } from "./sequence-pool.js";
import { errorMessage } from "../errors/error-message.js";

/** What one kept sequence holds, for {@link LlamaCppBackend.stats}. */
export interface LlamaCppSequenceStats {
  /** Tokens in its KV cache. */
  tokens: number;
  busy: boolean;
}

/** A snapshot of the backend's state. */
export interface LlamaCppStats {
  /** Requests holding a concurrency slot. */
  active: number;
  /** Requests waiting for one. */
  queued: number;
  /** Loaded models. */
  models: Array<{ names: string[]; path: string; contextSize: number; sequences: LlamaCppSequenceStats[] }>;
}

/** The llama.cpp backend: a {@link ModelBackend} running GGUF models in this process. */
export interface LlamaCppBackend extends ModelBackend {
  /** Load the models and create their contexts. Never throws: failures are `{ ok: false, error }`. */
  prewarm(models: string[]): Promise<PrewarmResult[]>;
  /** Names of the models loaded (as they were requested). */
  loaded(): Promise<string[]>;
  /** Stop every request, then free the contexts, models and llama.cpp. */
  close(): Promise<void>;
  /** Loaded models, their sequences, and the concurrency queue. */
  stats(): LlamaCppStats;
}

/** How the sequence for the latest request was chosen (for tests and debugging). */
export interface LlamaCppRequestTrace {
  model: string;
  pick: PoolPick;
  /** Prompt tokens reused from the sequence's KV cache. */
  reused: number;
  inputTokens: number;
}

type Sequence = LlamaContextSequence;

interface LoadedModel {
  mod: NodeLlamaCpp;
  model: LlamaModel;
  context: LlamaContext;
  wrapper: ChatWrapper;
  pool: SequencePool<Sequence, LlamaChat>;
}

interface ModelEntry {
  path: string;
  names: Set<string>;
  ready: boolean;
  promise: Promise<LoadedModel>;
  /** Set once loaded. */
  loaded?: LoadedModel;
}

/** Internal hooks (tests). */
export interface LlamaCppInternals {
  importer?: ModuleImporter;
  /** Called with how each request's sequence was picked. */
  onTrace?: (trace: LlamaCppRequestTrace) => void;
}

const now = () => performance.now();
const round = (ms: number) => Math.round(ms * 100) / 100;

const DONE_REASONS: Record<string, string> = {
  eogToken: "stop",
  stopGenerationTrigger: "stop",
  customStopTrigger: "stop",
  maxTokens: "length",
  functionCalls: "tool_calls",
  abort: "abort",
};

/**
 * A backend that runs GGUF models in-process with node-llama-cpp (an optional peer dependency,
 * imported on first use). It streams text as it is generated, stops at once when the request's
 * signal aborts, and keeps one context sequence per conversation so that the next turn only
 * evaluates its new tokens.
 */
export function llamaCppBackend(options: LlamaCppBackendOptions): LlamaCppBackend {
  return createLlamaCppBackend(options, {});
}

/** {@link llamaCppBackend} with internal hooks. */
export function createLlamaCppBackend(options: LlamaCppBackendOptions, internals: LlamaCppInternals): LlamaCppBackend {
  const settings: ResolvedOptions = resolveOptions(options);
  const importer = internals.importer ?? importNodeLlamaCpp;
  const limit: LimitFunction = pLimit(settings.concurrency);
  const entries = new Map<string, ModelEntry>();
  /** The model loaded under `name`, when it is ready (its tokenizer and context can be asked). */
  const loadedModel = (name: string): LoadedModel | undefined => {
    for (const entry of entries.values()) if (entry.ready && entry.loaded && entry.names.has(name)) return entry.loaded;
    return undefined;
  };
  /** Controllers of requests in progress (aborted by `close()`). */
  const requests = new Set<AbortController>();
  /** Engine work of requests in progress (awaited by `close()` before freeing memory). */
  const runs = new Set<Promise<unknown>>();
  let enginePromise: Promise<{ mod: NodeLlamaCpp; llama: Llama }> | undefined;
  let closed = false;
  let closing: Promise<void> | undefined;
  let queued = 0;

  const closedError = () => new LlamaCppError("BACKEND_CLOSED", "The llama.cpp backend is closed: create a new one.");

  let modulePromise: Promise<NodeLlamaCpp> | undefined;
  /** The node-llama-cpp module, imported once (a failed import is retried on the next use). */
  function nodeLlamaCpp(): Promise<NodeLlamaCpp> {
    if (!modulePromise) {
      const promise = loadModule(importer);
      modulePromise = promise;
      promise.catch(() => {
        if (modulePromise === promise) modulePromise = undefined;
      });
    }
    return modulePromise;
  }

  function engine(): Promise<{ mod: NodeLlamaCpp; llama: Llama }> {
    if (!enginePromise) {
      const promise = (async () => {
        const mod = await nodeLlamaCpp();
        const llama = await startLlama(mod, { gpu: settings.gpu, threads: settings.threads, logLevel: settings.logLevel });
        return { mod, llama };
      })();
      enginePromise = promise;
      promise.catch(() => {
        if (enginePromise === promise) enginePromise = undefined; // retry on the next request
      });
    }
    return enginePromise;
  }

  function pathOf(name: string): string {
    const path = settings.models.get(name) ?? settings.modelPath;
    if (path === undefined) {
      throw new LlamaCppError(
        "MODEL_NOT_FOUND",
        `Model "${name}" is not configured: add it to \`models\` (known: ${[...settings.models.keys()].join(", ") || "none"}) or set \`modelPath\`.`,
      );
    }
    return path;
  }

  async function load(path: string, name: string): Promise<LoadedModel> {
    await nodeLlamaCpp(); // "install node-llama-cpp" comes before any other advice
    try {
      await access(path, fsConstants.R_OK);
    } catch (error) {
      throw new LlamaCppError("MODEL_LOAD_FAILED", `Model file of "${name}" not found or not readable: ${path}`, { cause: error });
    }
    const { mod, llama } = await engine();
    if (closed) throw closedError();
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath: path });
    } catch (error) {
      throw new LlamaCppError("MODEL_LOAD_FAILED", `Could not load model "${name}" from ${path}: ${errorMessage(error)}`, { cause: error });
    }
    try {
      const context = await model.createContext({
        contextSize: settings.contextSize,
        sequences: settings.sequences,
        threads: settings.threads,
      });
      let wrapper: ChatWrapper;
      try {
        wrapper = resolveWrapper(mod, model);
      } catch (error) {
        await context.dispose();
        throw error;
      }
      const pool = new SequencePool<Sequence, LlamaChat>(settings.sequences, () => {
        const sequence = context.getSequence();
        return { sequence, data: new mod.LlamaChat({ contextSequence: sequence, chatWrapper: wrapper }) };
      });
      const loaded = { mod, model, context, wrapper, pool };
      if (closed) {
        await context.dispose();
        throw closedError();
      }
      return loaded;
    } catch (error) {
      await model.dispose().catch(() => {});
      if (error instanceof LlamaCppError) throw error;
      throw new LlamaCppError(
        "CONTEXT_CREATE_FAILED",
        `Could not create a context for "${name}" (${settings.sequences} × ${settings.contextSize} tokens): ${errorMessage(error)}. ` +
          "Lower `contextSize` or `sequences`.",
        { cause: error },
      );
    }
  }

  function resolveWrapper(mod: NodeLlamaCpp, model: LlamaModel): ChatWrapper {
    const type = settings.chatWrapper;
    if (type !== "auto" && !(mod.specializedChatWrapperTypeNames as readonly string[]).includes(type)) {
      throw new LlamaCppError(
        "INVALID_OPTIONS",
        `llamaCppBackend: unknown \`chatWrapper\` "${type}"; use "auto" or one of ${mod.specializedChatWrapperTypeNames.join(", ")}.`,
      );
    }
    return mod.resolveChatWrapper(model, { type: type as "auto" | SpecializedChatWrapperTypeName });
  }

  /** The entry of a model name, loading it (once) when needed. */
  function entryOf(name: string): ModelEntry {
    const path = pathOf(name);
    let entry = entries.get(path);
    if (!entry) {
      const created: ModelEntry = { path, names: new Set(), ready: false, promise: load(path, name) };
      created.promise.then(
        (loaded) => {
          created.ready = true;
          created.loaded = loaded;
        },
        () => {
          if (entries.get(path) === created) entries.delete(path); // a later request tries again
        },
      );
      entries.set(path, created);
      entry = created;
    }
    entry.names.add(name);
    return entry;
  }

  /** Wait for a slot of the concurrency limit; resolves to its release function. */
  function acquireSlot(signal: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      let settled = false;
      queued++;
      const onAbort = () => {
        if (settled) return;
        settled = true;
        queued--;
        reject(abortReason(signal));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      void limit(
        () =>
          new Promise<void>((release) => {
            signal.removeEventListener("abort", onAbort);
            if (settled) return release(); // aborted while waiting: hand the slot on
            settled = true;
            queued--;
            let released = false;
            resolve(() => {
              if (released) return;
              released = true;
              release();
            });
          }),
      );
    });
  }

  function render(loaded: LoadedModel, history: ChatHistoryItem[], functions: ChatModelFunctions | undefined): Token[] {
    // Exactly what LlamaChat renders for a first evaluation: the history ending with an open model turn.
    const chatHistory: ChatHistoryItem[] = history.at(-1)?.type === "model" ? history : [...history, { type: "model", response: [] }];
    const { contextText } = loaded.wrapper.generateContextState({
      chatHistory,
      ...(functions ? { availableFunctions: functions } : {}),
    });
    return contextText.tokenize(loaded.model.tokenizer);
  }

  interface Run {
    queue: ChunkQueue<ChatChunk>;
    done: Promise<LlamaChatResponse<ChatModelFunctions>>;
    firstTokenAt(): number | undefined;
    /** Prompt tokens evaluated, known once the first token is generated. */
    promptEvalTokens(): number | undefined;
    /** The sequence's tokens used by this run and when it ended, known once `done` has resolved. */
    ended(): { used: ReturnType<Sequence["tokenMeter"]["diff"]>; at: number } | undefined;
  }

  /** Align the sequence with the prompt, evaluate what is new in batches (abortable), then generate. */
  function startRun(
    loaded: LoadedModel,
    lease: PoolLease<Sequence, LlamaChat>,
    prompt: Token[],
    history: ChatHistoryItem[],
    functions: ChatModelFunctions | undefined,
    generation: GenerationSettings,
    think: ThinkSetting | undefined,
    signal: AbortSignal,
  ): Run {
    const queue = new ChunkQueue<ChatChunk>();
    const sequence = lease.slot.sequence;
    const chat = lease.slot.data;
    const meterStart = sequence.tokenMeter.getState();
    let firstAt: number | undefined;
    let promptEvalTokens: number | undefined;
    let ended: ReturnType<Run["ended"]>;
    const first = () => {
      if (firstAt !== undefined) return;
      firstAt = now();
      // Input tokens metered up to the first generated token: the prompt evaluation (later ones
      // would be context shifts). The last prompt token is metered as output: it yields the first
      // token's logits.
      promptEvalTokens = sequence.tokenMeter.diff(meterStart).usedInputTokens + 1;
    };
    const done = (async () => {
      // LlamaChat would do this in one go; doing it here lets an abort stop a long prompt between
      // batches. The prompt fits the sequence (checked before the run).
      await sequence.eraseContextTokenRanges([{ start: lease.reuse, end: sequence.nextTokenIndex }]);
      const body = prompt.slice(sequence.nextTokenIndex, -1);
      const batch = Math.max(1, loaded.context.batchSize);
      for (let i = 0; i < body.length; i += batch) {
        signal.throwIfAborted();
        await sequence.evaluateWithoutGeneratingNewTokens(body.slice(i, i + batch));
      }
      signal.throwIfAborted();
      const options: LLamaChatGenerateResponseOptions<ChatModelFunctions> = {
        signal,
        stopOnAbortSignal: true,
        maxTokens: generation.maxTokens,
        ...(generation.temperature === undefined ? {} : { temperature: generation.temperature }),
        ...(generation.topK === undefined ? {} : { topK: generation.topK }),
        ...(generation.topP === undefined ? {} : { topP: generation.topP }),
        ...(generation.minP === undefined ? {} : { minP: generation.minP }),
        ...(generation.seed === undefined ? {} : { seed: generation.seed }),
        ...(generation.stop ? { customStopTriggers: generation.stop } : {}),
        ...(generation.repeatPenalty ? { repeatPenalty: generation.repeatPenalty } : {}),
        ...(think === false ? { budgets: { thoughtTokens: 0 } } : {}),
        ...(functions ? { functions, onFunctionCallParamsChunk: first } : {}),
        onResponseChunk(chunk) {
          if (chunk.tokens.length > 0) first();
          if (!chunk.text) return;
          queue.push(chunk.type === "segment" ? { type: "thinking", text: chunk.text } : { type: "text", text: chunk.text });
        },
      };
      const response = await chat.generateResponse(history, options);
      // Read now: the sequence goes back to the pool as soon as this resolves, before the consumer reads the rest.
      ended = { used: sequence.tokenMeter.diff(meterStart), at: now() };
      for (const call of response.functionCalls ?? []) {
        queue.push({
          type: "tool_call",
          call: { name: call.functionName, arguments: (call.params ?? {}) as Record<string, unknown> },
        });
      }
      return response;
    })();
    done.then(
      () => queue.end(),
      (error: unknown) => queue.end({ error }),
    );
    return { queue, done, firstTokenAt: () => firstAt, promptEvalTokens: () => promptEvalTokens, ended: () => ended };
  }

  async function* chat(request: ChatRequest, { signal: outer }: { signal: AbortSignal }): AsyncGenerator<ChatChunk> {
    if (closed) throw closedError();
    if (outer.aborted) throw abortReason(outer);
    const controller = new AbortController();
    const signal = controller.signal;
    const onOuterAbort = () => controller.abort(abortReason(outer));
    outer.addEventListener("abort", onOuterAbort, { once: true });
    requests.add(controller);

    let release: (() => void) | undefined;
    let loaded: LoadedModel | undefined;
    let lease: PoolLease<Sequence, LlamaChat> | undefined;
    let run: Run | undefined;
    let failed = false;
    let finished = false;
    /**
     * Give the sequence back to the pool and the slot to the next request (once): when the run's
     * generation settles, even if the consumer has not read its chunks yet (they are queued), or
     * when the request ends before a run started. `forget` after a failure (unknown state).
     */
    let freed = false;
    const free = async (forget: boolean) => {
      if (freed) return;
      freed = true;
      if (lease && loaded) {
        if (forget && !lease.slot.sequence.disposed) await lease.slot.sequence.clearHistory().catch(() => {});
        loaded.pool.release(lease.slot, { forget });
      }
      release?.();
    };
    try {
      const tLoad = now();
      const entry = entryOf(request.model);
      const hadToLoad = !entry.ready;
      loaded = await abortable(entry.promise, signal);
      const loadMs = hadToLoad ? now() - tLoad : undefined;

      const tQueue = now();
      release = await acquireSlot(signal);
      const queueMs = now() - tQueue;

      const history = toChatHistory(request.messages);
      const functions = toFunctions(request.tools);
      const generation = toGenerationSettings({ ...settings.defaultOptions, ...request.options }, settings.maxTokens);
      const prompt = render(loaded, history, functions);
      // At least one token of answer must fit after the prompt; past that, node-llama-cpp would
      // shift the context over the prompt itself and drop part of it (the question, even) without
      // a word, and in one step no abort can stop.
      const contextSize = loaded.context.contextSize;
      if (prompt.length + 1 >= contextSize) {
        throw new LlamaCppError(
          "PROMPT_TOO_LONG",
          `The prompt of "${request.model}" has ${prompt.length} tokens, more than its context of ${contextSize} tokens holds with room for an answer: ` +
            "raise `contextSize`, or send less (a shorter message, fewer history messages to load, fewer tools).",
        );
      }
      // The answer stops where the context ends (`doneReason: "length"`): past it, node-llama-cpp
      // would shift the context over the conversation and drop part of it without a word.
      generation.maxTokens = Math.min(generation.maxTokens, contextSize - prompt.length - 1);
      // The thread's own sequence is kept for its next turn (a request without ids has no owner).
      const owner = request.threadId === undefined ? undefined : `${request.userId ?? ""}\u0000${request.threadId}`;
      lease = loaded.pool.acquire(prompt, owner);
      if (!lease) throw new LlamaCppError("GENERATION_FAILED", "No free context sequence (this is a bug: concurrency exceeds sequences).");
      internals.onTrace?.({ model: request.model, pick: lease.pick, reused: lease.reuse, inputTokens: prompt.length });

      const tStart = now();
      run = startRun(loaded, lease, prompt, history, functions, generation, request.think, signal);
      // An abort by this request leaves the sequence consistent (what was evaluated stays valid); anything else does not.
      const tracked = run.done.then(
        () => free(false),
        (error: unknown) => free(!(signal.aborted && error === signal.reason)),
      );
      runs.add(tracked);
      void tracked.finally(() => runs.delete(tracked));

      for (;;) {
        const step = await abortable(run.queue.next(), signal);
        if (step.done) break;
        yield step.value;
      }
      const response = await run.done;
      if (signal.aborted) throw abortReason(signal);
      const { used, at: tEnd } = run.ended() as NonNullable<ReturnType<Run["ended"]>>;
      const firstAt = run.firstTokenAt();
      const info: ChatDoneInfo = {
        inputTokens: prompt.length,
        promptEvalTokens: run.promptEvalTokens() ?? used.usedInputTokens + 1,
        outputTokens: used.usedOutputTokens,
        queueMs: round(queueMs),
        ...(loadMs === undefined ? {} : { loadMs: round(loadMs) }),
        promptEvalMs: round((firstAt ?? tEnd) - tStart),
        evalMs: round(firstAt === undefined ? 0 : tEnd - firstAt),
        doneReason: DONE_REASONS[response.metadata.stopReason] ?? response.metadata.stopReason,
      };
      finished = true;
      yield { type: "done", ...info };
    } catch (error) {
      if (signal.aborted) {
        if (outer.aborted) throw abortReason(outer);
        throw closed ? closedError() : abortReason(signal);
      }
      failed = true;
      if (error instanceof LlamaCppError) throw error;
      throw new LlamaCppError("GENERATION_FAILED", `llama.cpp failed: ${errorMessage(error)}`, { cause: error });
    } finally {
      outer.removeEventListener("abort", onOuterAbort);
      if (!finished && !signal.aborted) controller.abort(new DOMException("The request ended.", "AbortError"));
      if (run) {
        try {
          await run.done; // stops within a batch of prompt tokens, or a token of the answer
        } catch (error) {
          // An abort leaves the sequence consistent (what was evaluated stays valid); anything else does not.
          if (!(signal.aborted && error === signal.reason)) failed = true;
        }
      }
      // Unknown state after a failure: the sequence starts afresh (a run's own settling freed it already).
      await free(failed);
      requests.delete(controller);
    }
  }

  async function prewarmOne(model: string): Promise<PrewarmResult> {
    const t0 = now();
    try {
      if (closed) throw closedError();
      await entryOf(model).promise;
      return { model, ok: true, loadMs: round(now() - t0) };
    } catch (error) {
      return { model, ok: false, loadMs: round(now() - t0), error: errorMessage(error) };
    }
  }

  return {
    name: settings.name,
    chat,
    async prewarm(models: string[]): Promise<PrewarmResult[]> {
      return Promise.all(models.map(prewarmOne));
    },
    tokenCounter(model: string) {
      const loaded = loadedModel(model);
      return loaded ? (text: string) => loaded.model.tokenize(text).length : undefined;
    },
    promptBudget(model: string) {
      if (!settings.models.has(model) && settings.modelPath === undefined) return undefined;
      // The context (as created, once loaded; else as configured) less the answer's share: at
      // most `maxTokens`, at most a quarter of the context (4,096 − 1,024 = 3,072 by default), at
      // least a sixteenth, which the chat template's own tokens take (the pipeline counts a few
      // per message; llama-2's template costs more), when `maxTokens` is small.
      const contextSize = loadedModel(model)?.context.contextSize ?? settings.contextSize;
      return contextSize - Math.max(Math.min(settings.maxTokens, Math.floor(contextSize / 4)), Math.ceil(contextSize / 16));
    },
    async loaded(): Promise<string[]> {
      const names: string[] = [];
      for (const entry of entries.values()) if (entry.ready) names.push(...entry.names);
      return names;
    },
    stats(): LlamaCppStats {
      const models: LlamaCppStats["models"] = [];
      for (const entry of entries.values()) {
        const loaded = entry.loaded;
        if (!loaded) continue;
        models.push({
          names: [...entry.names],
          path: entry.path,
          contextSize: loaded.context.contextSize,
          sequences: loaded.pool.slots.map((s) => ({
            tokens: s.sequence.disposed ? 0 : s.sequence.nextTokenIndex,
            busy: s.busy,
          })),
        });
      }
      return { active: limit.activeCount, queued, models };
    },
    close(): Promise<void> {
      closing ??= (async () => {
        closed = true;
        for (const controller of requests) controller.abort(closedError());
        limit.clearQueue();
        await Promise.all([...runs]);
        const settled = await Promise.allSettled([...entries.values()].map((e) => e.promise));
        entries.clear();
        for (const result of settled) {
          if (result.status !== "fulfilled") continue;
          const { context, model, pool } = result.value;
          for (const slot of pool.slots) slot.data.dispose();
          await context.dispose().catch(() => {});
          await model.dispose().catch(() => {});
        }
        const engineState = await enginePromise?.catch(() => undefined);
        enginePromise = undefined;
        await engineState?.llama.dispose().catch(() => {});
      })();
      return closing;
    },
  };
}
