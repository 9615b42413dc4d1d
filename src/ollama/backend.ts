import type { ChatResponse, Message } from "ollama";
import pLimit from "p-limit";
import { abortReason } from "../shared/abort.js";
import type {
  ChatChunk,
  ChatDoneInfo,
  ChatMessage,
  ChatRequest,
  ChatToolCall,
  ModelBackend,
  PrewarmResult,
  ThinkSetting,
} from "../models/types.js";
import {
  BackendClosedError,
  BackendResponseError,
  OllamaError,
  StreamIncompleteError,
  UnexpectedResponseError,
  type OllamaErrorContext,
} from "./errors.js";
import {
  OLLAMA_DEFAULTS,
  checkOptions,
  keepAliveMs,
  loadOptionsFor,
  needsReload,
  requestOptions,
  settingsFor,
  type ResolvedModelSettings,
  type OllamaBackendOptions,
  type OllamaLoadOptions,
} from "./options.js";
import { KeepAliveRefresher, normaliseModelName, type LoadedModel } from "./refresher.js";
import { OllamaRequest, formatHost, requestHeaders, type Deadline, type Line, type OnDeadline, type RequestDeps } from "./request.js";
import { Slots } from "./slots.js";
import { errorMessage } from "../errors/error-message.js";

/** The Ollama {@link ModelBackend}. */
export interface OllamaBackend extends ModelBackend {
  readonly name: "ollama";
  /** The server. */
  readonly host: string;
  /** Requests holding one of the `concurrency` slots (all models). */
  readonly active: number;
  /** Requests waiting for a slot (all models). */
  readonly queued: number;
  /**
   * Stream one answer from `/api/chat`. Yields `thinking`, `text` and `tool_call` chunks, then
   * one `done` chunk with Ollama's metrics in ms (`loadMs` is Ollama's `load_duration`: the load,
   * or the wait for one in progress), `queueMs` (the wait for a `concurrency` slot) and the
   * `model` that answered. `think` is always sent (the model's `think` setting when the request
   * has none). Failures are thrown as {@link OllamaError} subclasses with stable codes. Aborting
   * `signal`, or leaving the loop, closes exactly this HTTP request.
   */
  chat(request: ChatRequest, context: { signal: AbortSignal }): AsyncIterable<ChatChunk>;
  /**
   * Load models ahead of use with an empty-messages `/api/chat`, with the same load-time
   * options as the model's last request (or its settings) and its keep-alive, so the first real
   * request does not reload. Each load has `loadTimeoutMs`. At most `prewarmConcurrency` at once.
   * Only an answer with `done_reason: "load"` is a success; a model whose keep-alive is 0 is not
   * pre-warmed (that request would unload it). Never throws: each model gets `{ ok, loadMs, error? }`.
   */
  prewarm(models: string[]): Promise<PrewarmResult[]>;
  /** Models loaded in the server's memory now (`/api/ps`). */
  loaded(): Promise<string[]>;
  /** Models pulled on the server (`/api/tags`). */
  available(): Promise<string[]>;
  /**
   * Embeddings of `input` from `/api/embed` with the `embedModel` option (present only when it is
   * set). Aborting `signal` closes the HTTP request; `idleTimeoutMs` bounds it.
   */
  embed?(input: string[], context: { signal: AbortSignal }): Promise<number[][]>;
  /** Stop the refresher, fail waiting requests and abort those in flight (`BACKEND_CLOSED`). */
  close(): Promise<void>;
}

const ms = (ns: unknown): number | undefined =>
  typeof ns === "number" && Number.isFinite(ns) ? Math.round(ns / 1_000) / 1_000 : undefined;
const round = (n: number) => Math.round(n * 1_000) / 1_000;

/** Failures of the first attempt that a fallback model may fix (the server itself answered). */
const FALLBACK_CODES = new Set([
  "MODEL_NOT_FOUND",
  "BACKEND_ERROR",
  "STREAM_ERROR",
  "CONNECTION_LOST",
  "STREAM_INCOMPLETE",
  "FIRST_TOKEN_TIMEOUT",
  "LOAD_TIMEOUT",
  "UNEXPECTED_RESPONSE",
]);

function toolCall(raw: unknown): ChatToolCall | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const { id, function: fn } = raw as { id?: unknown; function?: { name?: unknown; arguments?: unknown } };
  if (!fn || typeof fn.name !== "string") return undefined;
  const args = fn.arguments;
  return {
    ...(typeof id === "string" && id ? { id } : {}),
    name: fn.name,
    arguments: typeof args === "string" ? args : typeof args === "object" && args !== null ? (args as Record<string, unknown>) : {},
  };
}

/** Push the tool calls of a line, in order. */
function pushToolCalls(out: ChatChunk[], calls: unknown): void {
  if (!Array.isArray(calls)) return;
  for (const raw of calls) {
    const call = toolCall(raw);
    if (call) out.push({ type: "tool_call", call });
  }
}

/**
 * The chunks of one line of the answer, into `out`. An `/api/chat` line has `message`
 * (`api/types.go` `ChatResponse`); an `/api/generate`-style line (`GenerateResponse`, from a proxy
 * or an old server) has `response` and a top-level `thinking` and `tool_calls`, and is read too.
 * Any other line cannot be read: an `UNEXPECTED_RESPONSE` error, never an empty answer.
 */
function chunksOf(line: Line, out: ChatChunk[], context: OllamaErrorContext): void {
  const message = line.message as Partial<ChatResponse["message"]> | undefined;
  if (typeof message === "object" && message !== null) {
    if (typeof message.thinking === "string" && message.thinking) out.push({ type: "thinking", text: message.thinking });
    if (typeof message.content === "string" && message.content) out.push({ type: "text", text: message.content });
    if (message.tool_calls !== undefined) pushToolCalls(out, message.tool_calls);
    return;
  }
  if (typeof line.response === "string") {
    if (typeof line.thinking === "string" && line.thinking) out.push({ type: "thinking", text: line.thinking });
    if (line.response) out.push({ type: "text", text: line.response });
    if (line.tool_calls !== undefined) pushToolCalls(out, line.tool_calls);
    return;
  }
  throw new UnexpectedResponseError({ ...context, line: JSON.stringify(line) });
}

/** The prompt in Ollama's `api.Message` shape: ids, tool names and thinking kept, nothing else. */
function toOllamaMessages(messages: readonly ChatMessage[]): Message[] {
  return messages.map((m) => {
    const out: Record<string, unknown> = { role: m.role, content: m.content };
    if (m.thinking) out.thinking = m.thinking;
    if (m.tool_calls?.length) {
      out.tool_calls = m.tool_calls.map((c) => ({
        ...(c.id ? { id: c.id } : {}),
        function: { name: c.function.name, arguments: c.function.arguments },
      }));
    }
    if (m.tool_name) out.tool_name = m.tool_name;
    if (m.tool_call_id) out.tool_call_id = m.tool_call_id;
    return out as unknown as Message;
  });
}

/** Ollama's 400 for `think` on a model without the capability (`server/routes.go` `ChatHandler`). */
const cannotThink = (error: unknown) =>
  error instanceof BackendResponseError && error.status === 400 && error.message.includes("does not support thinking");

function doneInfo(response: Line, queueMs: number, model: string): ChatDoneInfo {
  const info: ChatDoneInfo = { queueMs: round(queueMs), model };
  const set = <K extends keyof ChatDoneInfo>(key: K, value: ChatDoneInfo[K] | undefined) => {
    if (value !== undefined) info[key] = value;
  };
  const count = (n: unknown) => (typeof n === "number" && Number.isFinite(n) ? n : undefined);
  set("loadMs", ms(response.load_duration));
  set("promptEvalMs", ms(response.prompt_eval_duration));
  set("evalMs", ms(response.eval_duration));
  // Not `promptEvalTokens`: Ollama's `prompt_eval_count` counts the whole prompt, its cached
  // prefix too (`llm/llama_server.go` `promptEvalCount`: `CacheN + PromptN`, kept so since 0.30.1
  // to match the runners before 0.30), so it cannot tell how much was evaluated.
  set("inputTokens", count(response.prompt_eval_count));
  set("outputTokens", count(response.eval_count));
  set("doneReason", typeof response.done_reason === "string" && response.done_reason ? response.done_reason : undefined);
  return info;
}

/**
 * How long a first-chunk deadline that has passed waits for `/api/ps` to say whether the model is
 * loading: the server answers it from memory, so one that takes longer is stuck, not loading.
 */
const PS_PROBE_MS = 1_000;

/**
 * A {@link ModelBackend} for an Ollama server. It speaks Ollama's HTTP API itself (`fetch`,
 * sending what the `ollama` npm client sends) and reads the NDJSON answer line by line.
 *
 * - `keep_alive` goes with every request (default `"30m"`), so models stay loaded between turns.
 * - Load-time options (`num_ctx`, `num_batch`, `num_gpu`, `num_thread`, `use_mmap`, …) are fixed
 *   per model in these options and merged into every request; a route's `options` cannot change
 *   them, because other values make Ollama reload the model.
 * - `think` goes with every request (default `false`: Ollama ≥ 0.12.4 would otherwise think on
 *   models that can).
 * - At most `concurrency` requests per model at once (default 1, as `OLLAMA_NUM_PARALLEL`); the
 *   others wait here, reported as `queueMs`.
 * - Each request has its own abort signal: cancelling one run closes only its connection. An
 *   answer read to its last line is never aborted, so its keep-alive connection is reused.
 * - One deadline timer per request, re-armed as chunks come (none for an infinite deadline).
 * - A load deadline (`loadTimeoutMs`, 5 min) for models that are not loaded, a first-chunk
 *   deadline for loaded ones, an idle deadline between chunks; errors with stable codes.
 *
 * @example
 * const backend = ollamaBackend({ host: "http://127.0.0.1:11434", load: { num_ctx: 8192 } });
 * await backend.prewarm(["llama3.2"]);
 */
export function ollamaBackend(options: OllamaBackendOptions = {}): OllamaBackend {
  checkOptions(options);
  const host = (options.host ?? OLLAMA_DEFAULTS.host).replace(/\/+$/, "");
  const inflight = new Set<OllamaRequest>();
  let baseUrl: string;
  try {
    baseUrl = formatHost(host);
  } catch {
    throw new RangeError(`ollamaBackend: \`host\` ${JSON.stringify(host)} is not a URL (e.g. "http://127.0.0.1:11434").`);
  }
  const deps: RequestDeps = {
    host,
    baseUrl,
    headers: requestHeaders(baseUrl, options.headers),
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    firstTokenTimeoutMs: options.firstTokenTimeoutMs ?? OLLAMA_DEFAULTS.firstTokenTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs ?? OLLAMA_DEFAULTS.idleTimeoutMs,
    inflight,
  };
  const loadTimeoutMs = options.loadTimeoutMs ?? OLLAMA_DEFAULTS.loadTimeoutMs;
  const concurrency = options.concurrency ?? OLLAMA_DEFAULTS.concurrency;
  const warmLimit = pLimit(options.prewarmConcurrency ?? OLLAMA_DEFAULTS.prewarmConcurrency);
  let closed = false;

  /** What the backend knows of each model (by its normalised name). */
  interface ModelState {
    /** `concurrency` slots: Ollama's `OLLAMA_NUM_PARALLEL` is per model. */
    slots: Slots;
    /** Load options of the last request that got an answer: what the model is loaded with. */
    lastLoad?: OllamaLoadOptions;
    /** Loaded with `load` until `until` (ms since the epoch), as far as this backend knows. */
    warm?: { load: OllamaLoadOptions; until: number } | undefined;
    /** The model answered 400 "does not support thinking": never ask it to think again. */
    cannotThink?: boolean;
  }
  const modelStates = new Map<string, ModelState>();
  /** Per model name as requested: its normalised name and its settings, worked out once (the options are fixed at creation). */
  const known = new Map<string, { name: string; settings: ResolvedModelSettings; keepAliveMs: number }>();
  const modelOf = (model: string) => {
    let entry = known.get(model);
    if (!entry) {
      const settings = settingsFor(options, model);
      entry = { name: normaliseModelName(model), settings, keepAliveMs: keepAliveMs(settings.keepAlive) };
      // a bound for routers that make up names: the entries are cheap to work out again
      if (known.size >= 1_024) known.clear();
      known.set(model, entry);
    }
    return entry;
  };
  const nameOf = (model: string) => modelOf(model).name;
  const settingsOf = (model: string) => modelOf(model).settings;
  const stateOf = (model: string): ModelState => {
    const name = nameOf(model);
    let state = modelStates.get(name);
    if (!state) modelStates.set(name, (state = { slots: new Slots(concurrency) }));
    return state;
  };

  const refresher = options.refresh?.enabled
    ? new KeepAliveRefresher({
        marginMs: options.refresh.marginMs ?? OLLAMA_DEFAULTS.refreshMarginMs,
        models: options.refresh.models ? new Set(options.refresh.models.map(normaliseModelName)) : undefined,
        keepAliveMs: (model) => modelOf(model).keepAliveMs,
        ps: () => listLoaded(),
        warm: (model) => warmLimit(() => warmOne(model)),
      })
    : undefined;

  /** The model is loaded with `load` now (an answer or a load came back). */
  function markWarm(model: string, load: OllamaLoadOptions): void {
    const state = stateOf(model);
    const ms = modelOf(model).keepAliveMs;
    state.lastLoad = load;
    state.warm = ms > 0 ? { load, until: Date.now() + ms } : undefined;
  }

  /** Whether the model is listed by `/api/ps` (asked for at most `ms`); `undefined` when the server does not say. */
  async function listedByServer(model: string, ms: number): Promise<boolean | undefined> {
    try {
      const name = nameOf(model);
      return (await listLoaded(ms)).some(
        (m) => normaliseModelName(m.name) === name || (m.model !== undefined && normaliseModelName(m.model) === name),
      );
    } catch {
      return undefined;
    }
  }

  /**
   * The deadlines of the wait for the first chunk. A model this backend knows is loaded with these
   * load options gets `firstTokenTimeoutMs`; when that passes and `/api/ps` does not list the
   * model, something unloaded it and it is loading again, so it is treated as cold from then on.
   * A cold model gets up to `loadTimeoutMs` for its load (a load cut short is discarded by
   * Ollama, so it must not be cut early): `/api/ps` is read every `firstTokenTimeoutMs`, and once
   * it lists the model the answer gets `firstTokenTimeoutMs` more for its first chunk.
   */
  function firstChunkDeadline(model: string, load: OllamaLoadOptions): Deadline & { onDeadline: OnDeadline } {
    const firstToken = deps.firstTokenTimeoutMs;
    const warm = stateOf(model).warm;
    const isWarm = warm !== undefined && warm.until > Date.now() && !needsReload(warm.load, load);
    let loadEnds = isWarm ? 0 : Date.now() + loadTimeoutMs;
    let sawLoaded = false;
    const loading = (): Deadline => ({
      kind: "load",
      ms: Math.max(1, Math.min(firstToken, loadEnds - Date.now())),
      reportMs: loadTimeoutMs,
    });
    const onDeadline: OnDeadline = async (kind) => {
      if (closed || sawLoaded) return undefined;
      if (kind === "load" && Date.now() >= loadEnds - 1) return undefined;
      // The request's deadline has passed: the question to `/api/ps` gets a short wait of its own,
      // within what is left of the load, so that a server that hangs fails near the deadline.
      const probeMs = Math.max(1, Math.min(PS_PROBE_MS, firstToken, kind === "load" ? loadEnds - Date.now() : PS_PROBE_MS));
      const listed = await listedByServer(model, probeMs);
      if (listed === true) {
        // loaded: one first-token window; a warm model that is listed has had it
        if (kind === "first-token") return undefined;
        sawLoaded = true;
        return { kind: "first-token", ms: firstToken };
      }
      if (kind === "first-token") {
        if (listed === undefined) return undefined;
        stateOf(model).warm = undefined;
        loadEnds = Date.now() + loadTimeoutMs;
      }
      return loading();
    };
    return isWarm ? { kind: "first-token", ms: firstToken, onDeadline } : { ...loading(), onDeadline };
  }

  /** One metadata call (`GET` `/api/ps`, `/api/tags`) under a deadline (default the idle deadline). */
  async function metadata<T>(path: string, ms = deps.idleTimeoutMs): Promise<T> {
    if (closed) throw new BackendClosedError({ host });
    const request = new OllamaRequest(deps, undefined);
    try {
      return await request.json<T>("GET", path, undefined, { kind: "deadline", ms });
    } finally {
      request.dispose();
    }
  }

  async function listLoaded(ms?: number): Promise<LoadedModel[]> {
    const response = await metadata<{ models?: Array<{ name: string; model?: string; expires_at?: string }> }>("/api/ps", ms);
    return (response.models ?? []).map((m) => {
      const expires = m.expires_at ? new Date(m.expires_at).getTime() : NaN;
      return { name: m.name, ...(m.model ? { model: m.model } : {}), ...(Number.isFinite(expires) ? { expiresAt: expires } : {}) };
    });
  }

  async function warmOne(model: string): Promise<PrewarmResult> {
    const t0 = performance.now();
    if (closed) return { model, ok: false, loadMs: 0, error: new BackendClosedError({ host, model }).message };
    let request: OllamaRequest | undefined;
    try {
      const settings = settingsOf(model);
      if (modelOf(model).keepAliveMs === 0) {
        return {
          model,
          ok: false,
          loadMs: 0,
          error: `Not pre-warmed: the keepAlive of "${model}" is 0, so Ollama unloads it after every request (a load request with keep_alive 0 is an unload). Set a keepAlive above 0 to keep it loaded.`,
        };
      }
      // The options of the model's last request: a re-warm must not reload it at another size.
      const load = stateOf(model).lastLoad ?? loadOptionsFor(settings);
      request = new OllamaRequest(deps, model);
      const response = await request.json<{ done_reason?: unknown }>(
        "POST",
        "/api/chat",
        { model, messages: [], stream: false, keep_alive: settings.keepAlive, options: requestOptions(undefined, load) },
        { kind: "load", ms: loadTimeoutMs },
      );
      const reason = response.done_reason;
      if (reason !== "load") {
        return {
          model,
          ok: false,
          loadMs: round(performance.now() - t0),
          error: `Ollama at ${host} answered the pre-warm of "${model}" with done_reason ${JSON.stringify(reason ?? null)}, not "load": the model was not loaded.`,
        };
      }
      markWarm(model, load);
      refresher?.touch(model);
      return { model, ok: true, loadMs: round(performance.now() - t0) };
    } catch (error) {
      return { model, ok: false, loadMs: round(performance.now() - t0), error: errorMessage(error) };
    } finally {
      request?.dispose();
    }
  }

  interface Attempt {
    http: OllamaRequest;
    model: string;
    load: OllamaLoadOptions;
  }

  /**
   * Send the request to `model` and read its first line under the first-chunk deadline. `think`
   * is the request's, else the model's setting; a model that answers 400 "does not support
   * thinking" is asked once more without, and never asked to think again.
   */
  async function begin(request: ChatRequest, model: string, signal: AbortSignal): Promise<{ attempt: Attempt; first: Line | undefined }> {
    const state = stateOf(model);
    const settings = settingsOf(model);
    const load = loadOptionsFor(settings, request);
    const think = state.cannotThink ? false : (request.think ?? settings.think);
    const messages = toOllamaMessages(request.messages);
    const requestOpts = requestOptions(request.options, load);
    const tools = request.tools && request.tools.length > 0 ? request.tools : undefined;
    const send = async (think: ThinkSetting) => {
      const http = new OllamaRequest(deps, model, signal);
      // the body as the `ollama` client sends it (`chat({ stream: true })`)
      const body = JSON.stringify({
        model,
        messages,
        stream: true,
        keep_alive: settings.keepAlive,
        options: requestOpts,
        ...(tools ? { tools } : {}),
        think,
      });
      const deadline = firstChunkDeadline(model, load);
      try {
        const first = await http.open("/api/chat", body, deadline, deadline.onDeadline);
        return { attempt: { http, model, load }, first };
      } catch (error) {
        http.dispose();
        throw error;
      }
    };
    try {
      return await send(think);
    } catch (error) {
      if (think === false || !cannotThink(error) || signal.aborted || closed) throw error;
      state.cannotThink = true;
    }
    return send(false);
  }

  async function* chat(request: ChatRequest, { signal }: { signal: AbortSignal }): AsyncGenerator<ChatChunk> {
    if (closed) throw new BackendClosedError({ host, model: request.model });
    if (signal.aborted) throw abortReason(signal);
    let queueMs = 0;
    let release: (() => void) | undefined;
    /** A free slot is taken at once (no promise); otherwise the wait, counted as `queueMs`. */
    const acquire = (model: string): Promise<void> | undefined => {
      const slots = stateOf(model).slots;
      release = slots.tryAcquire();
      if (release) return undefined;
      const queuedAt = performance.now();
      return slots.acquire(signal).then((r) => {
        release = r;
        queueMs += performance.now() - queuedAt;
      });
    };
    let attempt: Attempt | undefined;
    try {
      const waiting = acquire(request.model);
      if (waiting) await waiting;
      if (closed) throw new BackendClosedError({ host, model: request.model });
      let begun: Awaited<ReturnType<typeof begin>>;
      try {
        begun = await begin(request, request.model, signal);
      } catch (error) {
        const fallback = settingsOf(request.model).fallbackModel;
        const eligible = error instanceof OllamaError && FALLBACK_CODES.has(error.code);
        if (!fallback || fallback === request.model || !eligible || signal.aborted || closed) throw error;
        if (nameOf(fallback) !== nameOf(request.model)) {
          release?.();
          release = undefined;
          await acquire(fallback);
        }
        begun = await begin(request, fallback, signal);
      }
      attempt = begun.attempt;
      const { http, model } = attempt;
      const context = { host, model };
      markWarm(model, attempt.load);
      const chunks: ChatChunk[] = [];
      let line = begun.first;
      while (line !== undefined) {
        chunksOf(line, chunks, context);
        for (let i = 0; i < chunks.length; i++) yield chunks[i] as ChatChunk;
        chunks.length = 0;
        if (line.done === true) {
          markWarm(model, attempt.load);
          refresher?.touch(model);
          yield { type: "done", ...doneInfo(line, queueMs, model) };
          // The answer is whole: the run goes on now. The body's end is read in the background
          // (`dispose()`, never an abort), so that its connection is reused, however long a server
          // or a proxy keeps it open.
          return;
        }
        const next = http.next();
        line = next instanceof Promise ? await next : next;
      }
      throw http.unreadable() ?? new StreamIncompleteError(context);
    } finally {
      // An answer left before its last line is aborted (closing its connection); a finished one is not.
      attempt?.http.dispose();
      release?.();
    }
  }

  async function warmEmbed(model: string): Promise<PrewarmResult> {
    const t0 = performance.now();
    if (closed) return { model, ok: false, loadMs: 0, error: new BackendClosedError({ host, model }).message };
    const request = new OllamaRequest(deps, model);
    try {
      await request.json(
        "POST",
        "/api/embed",
        { model, input: [], keep_alive: settingsOf(model).keepAlive },
        { kind: "load", ms: loadTimeoutMs },
      );
      return { model, ok: true, loadMs: round(performance.now() - t0) };
    } catch (error) {
      return { model, ok: false, loadMs: round(performance.now() - t0), error: errorMessage(error) };
    } finally {
      request.dispose();
    }
  }

  async function embed(input: string[], { signal }: { signal: AbortSignal }): Promise<number[][]> {
    const model = options.embedModel as string;
    if (closed) throw new BackendClosedError({ host, model });
    if (signal.aborted) throw abortReason(signal);
    const request = new OllamaRequest(deps, model, signal);
    try {
      const response = await request.json<{ embeddings?: unknown }>(
        "POST",
        "/api/embed",
        { model, input, keep_alive: settingsOf(model).keepAlive },
        { kind: "deadline", ms: deps.idleTimeoutMs },
      );
      const embeddings = response.embeddings;
      if (!Array.isArray(embeddings) || embeddings.length !== input.length) {
        throw new OllamaError(
          "BACKEND_ERROR",
          `/api/embed answered ${Array.isArray(embeddings) ? embeddings.length : "no"} embeddings for ${input.length} inputs`,
          { host, model },
        );
      }
      return embeddings as number[][];
    } finally {
      request.dispose();
    }
  }

  return {
    name: "ollama",
    host,
    ...(options.embedModel ? { embed } : {}),
    get active() {
      let n = 0;
      for (const state of modelStates.values()) n += state.slots.active;
      return n;
    },
    get queued() {
      let n = 0;
      for (const state of modelStates.values()) n += state.slots.queued;
      return n;
    },
    chat,
    async prewarm(models: string[]): Promise<PrewarmResult[]> {
      try {
        // One load per model, however it is spelled (`llama3.2` and `llama3.2:latest` are one).
        const unique = new Map<string, Promise<PrewarmResult>>();
        for (const model of models) {
          const name = normaliseModelName(model);
          if (!unique.has(name))
            unique.set(
              name,
              warmLimit(() => warmOne(model)),
            );
        }
        // The embedding model too (an empty `/api/embed` loads it): a cold load would miss every
        // short embedding deadline (the semantic response cache's 150 ms).
        const embedModel = options.embedModel;
        const embedWarm = embedModel && !unique.has(normaliseModelName(embedModel)) ? [warmLimit(() => warmEmbed(embedModel))] : [];
        const warmed = models.map(async (model) => ({
          ...(await (unique.get(normaliseModelName(model)) as Promise<PrewarmResult>)),
          model,
        }));
        return await Promise.all([...warmed, ...embedWarm]);
      } catch (error) {
        return models.map((model) => ({ model, ok: false, loadMs: 0, error: errorMessage(error) }));
      }
    },
    async loaded(): Promise<string[]> {
      return (await listLoaded()).map((m) => m.name);
    },
    async available(): Promise<string[]> {
      const response = await metadata<{ models?: Array<{ name: string }> }>("/api/tags");
      return (response.models ?? []).map((m) => m.name);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      refresher?.stop();
      for (const state of modelStates.values()) state.slots.rejectWaiting(new BackendClosedError({ host }));
      for (const request of [...inflight]) request.abort("closed");
    },
  };
}
