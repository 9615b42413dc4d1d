import type { ChatResponse, Options, Tool } from "ollama";
import pLimit from "p-limit";
import { abortReason } from "../shared/abort.js";
import type { ChatChunk, ChatDoneInfo, ChatRequest, ChatToolCall, ModelBackend, PrewarmResult } from "../models/types.js";
import { BackendClosedError, OllamaError, StreamIncompleteError } from "./errors.js";
import {
  OLLAMA_DEFAULTS,
  checkOptions,
  keepAliveMs,
  loadOptionsFor,
  requestOptions,
  settingsFor,
  type OllamaBackendOptions,
} from "./options.js";
import { KeepAliveRefresher, normaliseModelName, type LoadedModel } from "./refresher.js";
import { OllamaRequest, type RequestDeps } from "./request.js";
import { Slots } from "./slots.js";

/** The Ollama {@link ModelBackend}. */
export interface OllamaBackend extends ModelBackend {
  readonly name: "ollama";
  /** The server. */
  readonly host: string;
  /** Requests holding one of the `concurrency` slots. */
  readonly active: number;
  /** Requests waiting for a slot. */
  readonly queued: number;
  /**
   * Stream one answer from `/api/chat`. Yields `thinking`, `text` and `tool_call` chunks, then
   * one `done` chunk with Ollama's metrics in ms, `queueMs` and the `model` that answered.
   * Failures are thrown as {@link OllamaError} subclasses with stable codes. Aborting `signal`,
   * or leaving the loop, closes exactly this HTTP request.
   */
  chat(request: ChatRequest, context: { signal: AbortSignal }): AsyncIterable<ChatChunk>;
  /**
   * Load models ahead of use with an empty-messages `/api/chat`, with the same load-time
   * options and keep-alive as real requests (so the first real request does not reload).
   * At most `prewarmConcurrency` at once. Never throws: each model gets `{ ok, loadMs, error? }`.
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

function* chunksOf(response: ChatResponse): Generator<ChatChunk> {
  const message = response.message as Partial<ChatResponse["message"]> | undefined;
  if (!message) return;
  if (typeof message.thinking === "string" && message.thinking) yield { type: "thinking", text: message.thinking };
  if (typeof message.content === "string" && message.content) yield { type: "text", text: message.content };
  for (const raw of message.tool_calls ?? []) {
    const call = toolCall(raw);
    if (call) yield { type: "tool_call", call };
  }
}

function doneInfo(response: ChatResponse, queueMs: number, model: string): ChatDoneInfo {
  const info: ChatDoneInfo = { queueMs: round(queueMs), model };
  const set = <K extends keyof ChatDoneInfo>(key: K, value: ChatDoneInfo[K] | undefined) => {
    if (value !== undefined) info[key] = value;
  };
  const count = (n: unknown) => (typeof n === "number" && Number.isFinite(n) ? n : undefined);
  set("loadMs", ms(response.load_duration));
  set("promptEvalMs", ms(response.prompt_eval_duration));
  set("evalMs", ms(response.eval_duration));
  set("promptEvalTokens", count(response.prompt_eval_count));
  set("inputTokens", count(response.prompt_eval_count));
  set("outputTokens", count(response.eval_count));
  set("doneReason", typeof response.done_reason === "string" && response.done_reason ? response.done_reason : undefined);
  return info;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * A {@link ModelBackend} for an Ollama server, on the `ollama` npm client.
 *
 * - `keep_alive` goes with every request (default `"30m"`), so models stay loaded between turns.
 * - Load-time options (`num_ctx`, `num_batch`, `num_gpu`, `num_thread`, `use_mmap`, …) are fixed
 *   per model in these options and merged into every request; a route's `options` cannot change
 *   them, because other values make Ollama reload the model.
 * - Each request has its own abort signal: cancelling one run closes only its connection.
 * - Deadlines for the first chunk and between chunks; errors with stable codes.
 *
 * @example
 * const backend = ollamaBackend({ host: "http://127.0.0.1:11434", load: { num_ctx: 8192 } });
 * await backend.prewarm(["llama3.2"]);
 */
export function ollamaBackend(options: OllamaBackendOptions = {}): OllamaBackend {
  checkOptions(options);
  const host = (options.host ?? OLLAMA_DEFAULTS.host).replace(/\/+$/, "");
  const inflight = new Set<OllamaRequest>();
  const deps: RequestDeps = {
    host,
    headers: options.headers,
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    firstTokenTimeoutMs: options.firstTokenTimeoutMs ?? OLLAMA_DEFAULTS.firstTokenTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs ?? OLLAMA_DEFAULTS.idleTimeoutMs,
    inflight,
  };
  const slots = new Slots(options.concurrency ?? OLLAMA_DEFAULTS.concurrency);
  const warmLimit = pLimit(options.prewarmConcurrency ?? OLLAMA_DEFAULTS.prewarmConcurrency);
  let closed = false;

  const refresher = options.refresh?.enabled
    ? new KeepAliveRefresher({
        marginMs: options.refresh.marginMs ?? OLLAMA_DEFAULTS.refreshMarginMs,
        models: options.refresh.models ? new Set(options.refresh.models.map(normaliseModelName)) : undefined,
        keepAliveMs: (model) => keepAliveMs(settingsFor(options, model).keepAlive),
        ps: () => listLoaded(),
        warm: (model) => warmLimit(() => warmOne(model)),
      })
    : undefined;

  /** Run one metadata call under a short deadline. */
  async function metadata<T>(call: (request: OllamaRequest) => Promise<T>): Promise<T> {
    if (closed) throw new BackendClosedError({ host });
    const request = new OllamaRequest(deps, undefined);
    try {
      return await request.within("deadline", deps.idleTimeoutMs, () => call(request));
    } finally {
      request.dispose();
    }
  }

  async function listLoaded(): Promise<LoadedModel[]> {
    const response = await metadata((r) => r.client().ps());
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
      request = new OllamaRequest(deps, model);
      const settings = settingsFor(options, model);
      const client = request.client();
      await request.within("first-token", deps.firstTokenTimeoutMs, () =>
        client.chat({
          model,
          messages: [],
          stream: false,
          keep_alive: settings.keepAlive,
          options: requestOptions(undefined, loadOptionsFor(settings)) as Partial<Options>,
        }),
      );
      refresher?.touch(model);
      return { model, ok: true, loadMs: round(performance.now() - t0) };
    } catch (error) {
      return { model, ok: false, loadMs: round(performance.now() - t0), error: messageOf(error) };
    } finally {
      request?.dispose();
    }
  }

  function start(request: ChatRequest, model: string, signal: AbortSignal): { http: OllamaRequest; first: Promise<IteratorResult<ChatResponse>>; next: () => Promise<IteratorResult<ChatResponse>> } {
    const http = new OllamaRequest(deps, model, signal);
    const settings = settingsFor(options, model);
    const client = http.client();
    let iterator: AsyncIterator<ChatResponse> | undefined;
    const first = http.within("first-token", deps.firstTokenTimeoutMs, async () => {
      const stream = await client.chat({
        model,
        messages: request.messages,
        stream: true,
        keep_alive: settings.keepAlive,
        options: requestOptions(request.options, loadOptionsFor(settings, request)) as Partial<Options>,
        ...(request.tools && request.tools.length > 0 ? { tools: request.tools as Tool[] } : {}),
        ...(request.think === undefined ? {} : { think: request.think }),
      });
      iterator = stream[Symbol.asyncIterator]();
      return iterator.next();
    });
    // A failed first read is handled by the caller; never an unhandled rejection meanwhile.
    first.catch(() => {});
    const next = () => http.within("idle", deps.idleTimeoutMs, () => (iterator as AsyncIterator<ChatResponse>).next());
    return { http, first, next };
  }

  async function* chat(request: ChatRequest, { signal }: { signal: AbortSignal }): AsyncGenerator<ChatChunk> {
    if (closed) throw new BackendClosedError({ host, model: request.model });
    if (signal.aborted) throw abortReason(signal);
    const queuedAt = performance.now();
    const release = await slots.acquire(signal);
    const queueMs = performance.now() - queuedAt;
    let attempt: ReturnType<typeof start> | undefined;
    try {
      if (closed) throw new BackendClosedError({ host, model: request.model });
      attempt = start(request, request.model, signal);
      let step: IteratorResult<ChatResponse>;
      try {
        step = await attempt.first;
      } catch (error) {
        const fallback = settingsFor(options, request.model).fallbackModel;
        const eligible = error instanceof OllamaError && FALLBACK_CODES.has(error.code);
        if (!fallback || fallback === request.model || !eligible || signal.aborted || closed) throw error;
        attempt.http.dispose();
        attempt = start(request, fallback, signal);
        step = await attempt.first;
      }
      const model = attempt.http.model as string;
      while (!step.done) {
        const response = step.value;
        yield* chunksOf(response);
        if (response.done) {
          refresher?.touch(model);
          yield { type: "done", ...doneInfo(response, queueMs, model) };
          return;
        }
        step = await attempt.next();
      }
      // The client throws when a stream ends without `done`; this is a second guard.
      throw new StreamIncompleteError({ host, model });
    } finally {
      // Closes the HTTP request when the answer was not read to its end (abort, error, early exit).
      attempt?.http.dispose();
      release();
    }
  }

  async function warmEmbed(model: string): Promise<PrewarmResult> {
    const t0 = performance.now();
    if (closed) return { model, ok: false, loadMs: 0, error: new BackendClosedError({ host, model }).message };
    const request = new OllamaRequest(deps, model);
    try {
      const client = request.client();
      await request.within("first-token", deps.firstTokenTimeoutMs, () =>
        client.embed({ model, input: [], keep_alive: settingsFor(options, model).keepAlive }),
      );
      return { model, ok: true, loadMs: round(performance.now() - t0) };
    } catch (error) {
      return { model, ok: false, loadMs: round(performance.now() - t0), error: messageOf(error) };
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
      const client = request.client();
      const response = await request.within("deadline", deps.idleTimeoutMs, () =>
        client.embed({ model, input, keep_alive: settingsFor(options, model).keepAlive }),
      );
      const embeddings = (response as { embeddings?: unknown }).embeddings;
      if (!Array.isArray(embeddings) || embeddings.length !== input.length) {
        throw new OllamaError("BACKEND_ERROR", `/api/embed answered ${Array.isArray(embeddings) ? embeddings.length : "no"} embeddings for ${input.length} inputs`, { host, model });
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
      return slots.active;
    },
    get queued() {
      return slots.queued;
    },
    chat,
    async prewarm(models: string[]): Promise<PrewarmResult[]> {
      try {
        const unique = new Map<string, Promise<PrewarmResult>>();
        for (const model of models) if (!unique.has(model)) unique.set(model, warmLimit(() => warmOne(model)));
        // The embedding model too (an empty `/api/embed` loads it): a cold load would miss every
        // short embedding deadline (the semantic response cache's 150 ms).
        const embedModel = options.embedModel;
        const embedWarm = embedModel && !unique.has(embedModel) ? [warmLimit(() => warmEmbed(embedModel))] : [];
        const results = await Promise.all([...models.map((model) => unique.get(model) as Promise<PrewarmResult>), ...embedWarm]);
        return results;
      } catch (error) {
        return models.map((model) => ({ model, ok: false, loadMs: 0, error: messageOf(error) }));
      }
    },
    async loaded(): Promise<string[]> {
      return (await listLoaded()).map((m) => m.name);
    },
    async available(): Promise<string[]> {
      const response = await metadata((r) => r.client().list());
      return (response.models ?? []).map((m) => m.name);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      refresher?.stop();
      slots.rejectWaiting(new BackendClosedError({ host }));
      for (const request of [...inflight]) request.abort("closed");
    },
  };
}
