import pLimit from "p-limit";
import type { ChatChunk, ChatRequest, ModelBackend, PrewarmResult } from "../models/types.js";
import { abortReason } from "../shared/abort.js";
import { OpenAiCompatibleError, serverErrorOf, type ServerError } from "./errors.js";
import { HttpCall, type CallDeps, type OnDeadline } from "./http-call.js";
import { OPENAI_COMPATIBLE_DEFAULTS, checkOptions, type OpenAiCompatibleBackendOptions } from "./options.js";
import { chatBody, type BodySettings } from "./request-body.js";
import { bodyStart, isNotAStream, notAStreamError } from "./not-a-stream.js";
import { MAX_EVENT_CHARS, type SseItem, sseEvents } from "./sse.js";
import { StreamChunks } from "./stream-chunks.js";
import { errorMessage } from "../errors/error-message.js";

/** The OpenAI-compatible {@link ModelBackend}. */
export interface OpenAiCompatibleBackend extends ModelBackend {
  readonly name: "openai-compatible";
  /** The server's API root, as given (without a trailing slash). */
  readonly baseURL: string;
  /** The same as `baseURL` (what `backendPool` shows as the host's name). */
  readonly host: string;
  /**
   * Stream one answer from `POST {baseURL}/chat/completions` (`stream: true`). Yields `thinking`,
   * `text` and `tool_call` chunks, then one `done` chunk with the token counts of the usage chunk.
   * Failures are thrown as {@link OpenAiCompatibleError} with a stable `code`. Aborting `signal`,
   * or leaving the loop, closes exactly this HTTP request.
   */
  chat(request: ChatRequest, context: { signal: AbortSignal }): AsyncIterable<ChatChunk>;
  /**
   * Warm each model with a one-token request (`max_tokens: 1`, not streamed, thinking off) under
   * `loadTimeoutMs`, one model at a time, and the `embedModel` with a one-input `/embeddings`.
   * Never throws: each model gets `{ ok, loadMs, error? }`; `loadMs` is the time the request took.
   */
  prewarm(models: string[]): Promise<PrewarmResult[]>;
  /**
   * The models `GET {baseURL}/models` lists: for vLLM and a single-model llama.cpp server the
   * served models; for the llama.cpp router only those whose `status` is `"loaded"`; for Ollama's
   * `/v1` and LM Studio the models the server can load.
   */
  loaded(): Promise<string[]>;
  /** Embeddings of `input` from `POST {baseURL}/embeddings` (present only with `embedModel`). */
  embed?(input: string[], context: { signal: AbortSignal }): Promise<number[][]>;
  /** Abort the requests in flight (`BACKEND_CLOSED`) and refuse new ones. */
  close(): Promise<void>;
}

const round = (n: number) => Math.round(n * 1_000) / 1_000;
/** The longest wait for `GET /models` when a warm model's first token is late, ms (at most `firstTokenTimeoutMs`). */
const STATUS_PROBE_MS = 1_000;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/**
 * A {@link ModelBackend} for any server that speaks the OpenAI chat-completions protocol: vLLM,
 * the llama.cpp server, SGLang, LM Studio, LocalAI, Ollama's `/v1`.
 *
 * - Streams over SSE (parsed by `eventsource-parser`), asks for the usage chunk, reads reasoning
 *   (`reasoning_content` / `reasoning`) and tool calls streamed by index.
 * - Sends the route's sampling options under their OpenAI names (`num_predict` → `max_tokens`),
 *   the `think` setting as `chat_template_kwargs.enable_thinking` (configurable), tool results
 *   with their `tool_call_id`.
 * - Deadlines for the first token (a longer one for a model not seen answering yet: it may be
 *   loading) and between events; errors with the same stable codes as the Ollama backend.
 * - Each request has its own connection and abort signal: cancelling one run closes only it.
 *
 * @example
 * const backend = openAiCompatibleBackend({ baseURL: "http://127.0.0.1:8000/v1" });
 * await backend.prewarm(["Qwen/Qwen3-8B"]);
 */
export function openAiCompatibleBackend(options: OpenAiCompatibleBackendOptions): OpenAiCompatibleBackend {
  checkOptions(options);
  const baseURL = options.baseURL.trim().replace(/\/+$/, "");
  const firstTokenTimeoutMs = options.firstTokenTimeoutMs ?? OPENAI_COMPATIBLE_DEFAULTS.firstTokenTimeoutMs;
  const loadTimeoutMs = options.loadTimeoutMs ?? OPENAI_COMPATIBLE_DEFAULTS.loadTimeoutMs;
  const idleTimeoutMs = options.idleTimeoutMs ?? OPENAI_COMPATIBLE_DEFAULTS.idleTimeoutMs;
  const inflight = new Set<HttpCall>();
  const deps: CallDeps = {
    baseURL,
    headers: { ...(options.apiKey ? { Authorization: `Bearer ${options.apiKey}` } : {}), ...options.headers },
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    inflight,
  };
  const body: BodySettings = {
    think: options.think ?? OPENAI_COMPATIBLE_DEFAULTS.think,
    includeUsage: options.includeUsage ?? OPENAI_COMPATIBLE_DEFAULTS.includeUsage,
    extraBody: options.extraBody,
  };
  /** Models that answered (or were pre-warmed): their first token gets `firstTokenTimeoutMs`. */
  const warm = new Set<string>();
  const warmLimit = pLimit(1);
  let closed = false;

  const closedError = (model?: string) =>
    new OpenAiCompatibleError("BACKEND_CLOSED", { baseURL, ...(model === undefined ? {} : { model }) });
  const streamError = (call: HttpCall, error: ServerError) =>
    new OpenAiCompatibleError("STREAM_ERROR", {
      ...call.context,
      serverMessage: error.message,
      ...(error.type ? { serverType: error.type } : {}),
      ...(typeof error.code === "number" ? { status: error.code } : {}),
    });

  async function* chat(request: ChatRequest, { signal }: { signal: AbortSignal }): AsyncGenerator<ChatChunk> {
    if (closed) throw closedError(request.model);
    if (signal.aborted) throw abortReason(signal);
    const model = request.model;
    const call = new HttpCall(deps, model, signal);
    /** The answer is whole and its body's end is read in the background, which disposes the call. */
    let endsLater = false;
    try {
      // A model not seen answering yet may be loading: its first token gets the load deadline.
      const cold = !warm.has(model);
      let kind: "load" | "first-token" = cold ? "load" : "first-token";
      const firstMs = cold ? loadTimeoutMs : firstTokenTimeoutMs;
      let firstBy = performance.now() + firstMs;
      const first: { deadlineMs: number; onDeadline?: OnDeadline } = { deadlineMs: firstMs };
      // A warm model the server has since unloaded (llama.cpp's router past `--models-max`, a
      // server asleep) is loading again: it gets the load deadline once the server says so.
      if (!cold) {
        first.onDeadline = async () => {
          if ((await modelStatus(model)) !== "not-loaded") return undefined;
          warm.delete(model);
          kind = "load";
          firstBy = performance.now() + loadTimeoutMs;
          first.deadlineMs = loadTimeoutMs;
          return { kind, by: firstBy, deadlineMs: loadTimeoutMs };
        };
      }
      const response = await call.within(
        kind,
        firstMs,
        () => call.send("/chat/completions", chatBody(request, body), "text/event-stream"),
        first,
      );
      if (isNotAStream(response)) {
        throw await call.within(kind, firstBy - performance.now(), () => notAStreamError(response, call.context), first);
      }
      if (!response.body) throw new OpenAiCompatibleError("STREAM_INCOMPLETE", call.context);
      const reader = sseEvents(
        response.body,
        () =>
          new OpenAiCompatibleError("UNEXPECTED_RESPONSE", {
            ...call.context,
            reason: `more than ${MAX_EVENT_CHARS} characters without the end of an event`,
          }),
      ).getReader();
      const chunks = new StreamChunks();
      let started = false;
      let sawDone = false;
      let ended = false;
      /** The first line that is not SSE, while no event came: a body that may not be an event stream at all. */
      let other: string | undefined;
      let sawEvent = false;
      for (;;) {
        let step: Awaited<ReturnType<ReadableStreamDefaultReader<SseItem>["read"]>>;
        try {
          step = started
            ? await call.within("idle", idleTimeoutMs, () => reader.read())
            : await call.within(kind, firstBy - performance.now(), () => reader.read(), first);
        } catch (error) {
          // An answer with its finish_reason is whole: a body that stalls after it (no usage, no
          // [DONE]) ends it at the idle deadline rather than failing it, and one whose connection
          // drops after it (a proxy) ends it there, as a clean end without [DONE] does.
          if (chunks.complete && error instanceof OpenAiCompatibleError) {
            if (error.code === "IDLE_TIMEOUT") break;
            if (error.code === "CONNECTION_LOST") {
              ended = true;
              break;
            }
          }
          throw error;
        }
        if (step.done) {
          ended = true;
          break;
        }
        const item = step.value;
        if (item.kind === "other") {
          if (!sawEvent) other = item.line; // sseEvents reports the first such line only
          continue;
        }
        sawEvent = true;
        if (item.kind === "error-field") {
          let parsed: unknown;
          try {
            parsed = JSON.parse(item.data);
          } catch {
            parsed = item.data;
          }
          throw streamError(call, serverErrorOf(parsed) ?? serverErrorOf({ error: parsed }) ?? { message: item.data });
        }
        if (item.data.trim() === "[DONE]") {
          sawDone = true;
          break;
        }
        let value: unknown;
        try {
          value = JSON.parse(item.data);
        } catch {
          continue; // not a chunk (a keep-alive): ignored
        }
        const result = chunks.push(value);
        if (result.error) throw streamError(call, result.error);
        if (result.progressed && !started) {
          started = true;
          warm.add(model);
        }
        for (const chunk of result.chunks) {
          yield chunk;
          // Several chunks can come from one event: none after an abort.
          if (signal.aborted) throw abortReason(signal);
        }
      }
      // A clean end without [DONE] is accepted once the answer has its finish_reason.
      if (!sawDone && !chunks.complete) {
        // Not one event, but text: not an event stream (a page or a body of another kind, under no content type that says so).
        if (!sawEvent && other !== undefined) {
          throw new OpenAiCompatibleError("UNEXPECTED_RESPONSE", {
            ...call.context,
            reason: `text that is not an event stream (${bodyStart(other)})`,
          });
        }
        throw new OpenAiCompatibleError("STREAM_INCOMPLETE", call.context);
      }
      for (const chunk of chunks.flush()) yield chunk;
      warm.add(model);
      yield { type: "done", ...chunks.done(model) };
      // The body ends right after [DONE]: that end is read in the background, so that the
      // connection can be reused, while the run goes on (a server or a proxy may keep it open).
      if (!ended) {
        endsLater = true;
        void call
          .within("idle", idleTimeoutMs, () => reader.read())
          .catch(() => {})
          .finally(() => call.dispose());
      }
    } finally {
      // Closes the HTTP request when the answer was not read to its end (abort, error, early exit).
      if (!endsLater) call.dispose();
    }
  }

  /**
   * The server's models (`GET /models`) and whether each is loaded: llama.cpp's router gives each
   * a `status.value` (`get_router_models`, tools/server/server-models.cpp); a server that does not
   * (vLLM, a single llama-server) serves only loaded models.
   */
  async function listModels(ms: number): Promise<Array<{ id: string; loaded: boolean }>> {
    const call = new HttpCall(deps, undefined);
    try {
      const answer = await call.within("deadline", ms, async () => (await call.send("/models")).json());
      const data = isObject(answer) && Array.isArray(answer.data) ? answer.data : [];
      return data.filter(isObject).flatMap((m) => {
        if (typeof m.id !== "string") return [];
        const status = isObject(m.status) ? m.status.value : undefined;
        return [{ id: m.id, loaded: status === undefined || status === "loaded" }];
      });
    } finally {
      call.dispose();
    }
  }

  /**
   * Whether the server lists `model` as not loaded (unloaded, loading), asked when a warm model's
   * first token is late; `unknown` when it does not say (or does not answer within {@link STATUS_PROBE_MS}).
   */
  async function modelStatus(model: string): Promise<"not-loaded" | "unknown"> {
    if (closed) return "unknown";
    try {
      const listed = (await listModels(Math.min(STATUS_PROBE_MS, firstTokenTimeoutMs))).find((m) => m.id === model);
      return listed && !listed.loaded ? "not-loaded" : "unknown";
    } catch {
      return "unknown";
    }
  }

  async function json(call: HttpCall, kind: "load" | "deadline", path: string, payload: unknown, ms: number): Promise<unknown> {
    return call.within(kind, ms, async () => (await call.send(path, payload)).json());
  }

  async function warmOne(model: string): Promise<PrewarmResult> {
    const t0 = performance.now();
    if (closed) return { model, ok: false, loadMs: 0, error: closedError(model).message };
    const call = new HttpCall(deps, model);
    try {
      const payload = chatBody(
        {
          model,
          messages: [{ role: "user", content: OPENAI_COMPATIBLE_DEFAULTS.prewarmPrompt }],
          options: { num_predict: 1 },
          think: false,
        },
        body,
      );
      payload.stream = false;
      delete payload.stream_options; // vLLM refuses stream_options without stream
      const answer = await json(call, "load", "/chat/completions", payload, loadTimeoutMs);
      if (!isObject(answer) || !Array.isArray(answer.choices)) {
        throw new OpenAiCompatibleError("BACKEND_ERROR", { ...call.context, status: 200, serverMessage: "the answer has no `choices`" });
      }
      warm.add(model);
      return { model, ok: true, loadMs: round(performance.now() - t0) };
    } catch (error) {
      return { model, ok: false, loadMs: round(performance.now() - t0), error: errorMessage(error) };
    } finally {
      call.dispose();
    }
  }

  async function embedWith(
    input: string[],
    model: string,
    signal: AbortSignal | undefined,
    kind: "load" | "deadline",
    ms: number,
  ): Promise<number[][]> {
    if (closed) throw closedError(model);
    if (signal?.aborted) throw abortReason(signal);
    const call = new HttpCall(deps, model, signal);
    try {
      const answer = await json(call, kind, "/embeddings", { model, input, encoding_format: "float" }, ms);
      const data = isObject(answer) && Array.isArray(answer.data) ? (answer.data as unknown[]) : undefined;
      const rows = (data ?? [])
        .filter(isObject)
        .map((row, i) => ({ index: typeof row.index === "number" ? row.index : i, embedding: row.embedding }))
        .sort((a, b) => a.index - b.index);
      if (
        !data ||
        rows.length !== input.length ||
        !rows.every((r) => Array.isArray(r.embedding) && r.embedding.every((x) => typeof x === "number"))
      ) {
        throw new OpenAiCompatibleError("BACKEND_ERROR", {
          ...call.context,
          status: 200,
          serverMessage: `/embeddings answered ${data ? rows.length : "no"} float vectors for ${input.length} inputs`,
        });
      }
      return rows.map((r) => r.embedding as number[]);
    } finally {
      call.dispose();
    }
  }

  async function warmEmbed(model: string): Promise<PrewarmResult> {
    const t0 = performance.now();
    try {
      await embedWith([OPENAI_COMPATIBLE_DEFAULTS.prewarmEmbedInput], model, undefined, "load", loadTimeoutMs);
      return { model, ok: true, loadMs: round(performance.now() - t0) };
    } catch (error) {
      return { model, ok: false, loadMs: round(performance.now() - t0), error: errorMessage(error) };
    }
  }

  const embedModel = options.embedModel;
  return {
    name: "openai-compatible",
    baseURL,
    host: baseURL,
    chat,
    ...(embedModel
      ? { embed: (input: string[], { signal }: { signal: AbortSignal }) => embedWith(input, embedModel, signal, "deadline", idleTimeoutMs) }
      : {}),
    async prewarm(models: string[]): Promise<PrewarmResult[]> {
      const unique = new Map<string, Promise<PrewarmResult>>();
      for (const model of models)
        if (!unique.has(model))
          unique.set(
            model,
            warmLimit(() => warmOne(model)),
          );
      const extra = embedModel && !unique.has(embedModel) ? [warmLimit(() => warmEmbed(embedModel))] : [];
      return Promise.all([...models.map((m) => unique.get(m) as Promise<PrewarmResult>), ...extra]);
    },
    async loaded(): Promise<string[]> {
      if (closed) throw closedError();
      return (await listModels(idleTimeoutMs)).flatMap((m) => (m.loaded ? [m.id] : []));
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const call of [...inflight]) call.abort("closed");
    },
  };
}
