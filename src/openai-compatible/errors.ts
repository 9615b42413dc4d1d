import { ModelError } from "../errors/model-error.js";

/**
 * The stable codes of the OpenAI-compatible backend's errors: the same codes as the Ollama
 * backend's, so that `backendPool`, fallbacks and dashboards treat both alike.
 */
export const OPENAI_COMPATIBLE_ERROR_CODES = [
  /** The server has no such model (HTTP 404 naming the model, or llama.cpp's router "model not found"). */
  "MODEL_NOT_FOUND",
  /** No connection (refused, DNS, unreachable), or no answer at all within the deadline. */
  "BACKEND_UNREACHABLE",
  /** The server is loading its model or its queue is full (HTTP 503, 429). */
  "BACKEND_BUSY",
  /** Any other HTTP error answer, or a 200 JSON error body instead of a stream (the server's own message is kept). */
  "BACKEND_ERROR",
  /** The server reported an error in the middle of the stream. */
  "STREAM_ERROR",
  /** The connection dropped before the answer was complete. */
  "CONNECTION_LOST",
  /** The stream ended cleanly but without `[DONE]` and without a `finish_reason`. */
  "STREAM_INCOMPLETE",
  /** The answer is not an event stream this backend can read: a 200 body that is JSON, a page or other text, or an event longer than `MAX_EVENT_CHARS`. */
  "UNEXPECTED_RESPONSE",
  /** A model this backend has seen answer sent nothing within `firstTokenTimeoutMs`. */
  "FIRST_TOKEN_TIMEOUT",
  /** A model not seen answering yet (it may have been loading) sent nothing within `loadTimeoutMs`; also a pre-warm. */
  "LOAD_TIMEOUT",
  /** The stream stalled between two events for `idleTimeoutMs`. */
  "IDLE_TIMEOUT",
  /** The backend was closed; requests in flight were aborted. */
  "BACKEND_CLOSED",
] as const;

/** One of {@link OPENAI_COMPATIBLE_ERROR_CODES}. */
export type OpenAiCompatibleErrorCode = (typeof OPENAI_COMPATIBLE_ERROR_CODES)[number];

/** Where an error happened, and what the server said. */
export interface OpenAiCompatibleErrorContext {
  /** The server's base URL (`…/v1`). */
  baseURL: string;
  /** The model of the request, when there was one. */
  model?: string;
  /** The HTTP status, when the server answered with one. */
  status?: number;
  /** The server's own message (`error.message`), when it sent one. */
  serverMessage?: string;
  /** The server's error type (`error.type`: `"NotFoundError"`, `"invalid_request_error"`, …). */
  serverType?: string;
  /** The deadline that passed, ms (timeouts only). */
  timeoutMs?: number;
  /** Extra detail: the system error code of a failed connection, a hint. */
  reason?: string;
  cause?: unknown;
}

const q = (model: string | undefined) => (model === undefined ? "the model" : `model "${model}"`);
const said = (m: string | undefined) => (m ? ` (the server said: ${m})` : "");

function describe(code: OpenAiCompatibleErrorCode, c: OpenAiCompatibleErrorContext): string {
  const at = c.baseURL;
  switch (code) {
    case "MODEL_NOT_FOUND":
      return `The server at ${at} does not serve ${q(c.model)}${said(c.serverMessage)}: use a name that GET ${at}/models lists (vLLM: --served-model-name; llama.cpp router: a model of its preset), or load it.`;
    case "BACKEND_UNREACHABLE":
      return `The OpenAI-compatible server at ${at} is not reachable${c.reason ? ` (${c.reason})` : ""}: start it, or fix the backend's \`baseURL\` (it usually ends in /v1).`;
    case "BACKEND_BUSY":
      return `The server at ${at} is busy${said(c.serverMessage)}: it may still be loading its model, or its queue is full; retry later.`;
    case "BACKEND_ERROR": {
      const status = c.status ?? 0;
      const hint =
        status === 401 || status === 403
          ? "Check the backend's `apiKey` (sent as `Authorization: Bearer …`)."
          : status === 404
            ? `Check \`baseURL\`: ${at}/chat/completions does not exist (it usually ends in /v1).`
            : status >= 500
              ? "Check the server's log."
              : "The request was rejected: check the model supports what was asked (tools need e.g. vLLM's --enable-auto-tool-choice) and the options.";
      return `The server at ${at} answered HTTP ${status} for ${q(c.model)}: ${c.serverMessage || "(no message)"}. ${hint}`;
    }
    case "STREAM_ERROR":
      return `The server at ${at} failed while ${q(c.model)} was answering: ${c.serverMessage ?? "(no message)"}. Retry; if it repeats, check the server's log.`;
    case "CONNECTION_LOST":
      return `The connection to ${at} was lost while ${q(c.model)} was answering${c.reason ? ` (${c.reason})` : ""}: the server may have crashed or restarted; check its log and retry.`;
    case "UNEXPECTED_RESPONSE":
      return `The server at ${at} answered ${q(c.model)} with ${c.reason ?? "a stream this backend cannot read"}: check that \`baseURL\` is an OpenAI-compatible server (it usually ends in /v1).`;
    case "STREAM_INCOMPLETE":
      return `The answer of ${q(c.model)} from ${at} ended without "data: [DONE]" or a finish_reason, so it may be cut short: check the server (or a proxy in between) and retry.`;
    case "FIRST_TOKEN_TIMEOUT":
      return `${q(c.model).replace(/^m/, "M")} on ${at} answered before but sent nothing within ${c.timeoutMs} ms (firstTokenTimeoutMs): the server is overloaded (requests beyond its parallel slots wait inside it) or the prompt is very long; raise firstTokenTimeoutMs if it is expected.`;
    case "LOAD_TIMEOUT":
      return `${q(c.model).replace(/^m/, "M")} on ${at} sent nothing within ${c.timeoutMs} ms (loadTimeoutMs; it had not answered this backend yet, so it may have been loading), and the request was cancelled: raise loadTimeoutMs, pre-warm the model, or check that the server can load it.`;
    case "IDLE_TIMEOUT":
      return `${q(c.model).replace(/^m/, "M")} on ${at} stopped sending for ${c.timeoutMs} ms in the middle of its answer (idleTimeoutMs): the server may be stuck or overloaded; retry, or raise idleTimeoutMs.`;
    case "BACKEND_CLOSED":
      return `The OpenAI-compatible backend for ${at} is closed: create a new one to send more requests.`;
  }
}

/**
 * An error of the OpenAI-compatible backend: a {@link ModelError} with a stable `code` (one of
 * {@link OPENAI_COMPATIBLE_ERROR_CODES}), the server, the model, the HTTP status and the server's
 * own message and error type when it sent them.
 */
export class OpenAiCompatibleError extends ModelError {
  declare readonly code: OpenAiCompatibleErrorCode;
  readonly baseURL: string;
  readonly model: string | undefined;
  readonly status: number | undefined;
  readonly serverMessage: string | undefined;
  readonly serverType: string | undefined;
  readonly timeoutMs: number | undefined;

  constructor(code: OpenAiCompatibleErrorCode, context: OpenAiCompatibleErrorContext) {
    super(describe(code, context), { code, ...(context.cause === undefined ? {} : { cause: context.cause }) });
    this.name = "OpenAiCompatibleError";
    this.baseURL = context.baseURL;
    this.model = context.model;
    this.status = context.status;
    this.serverMessage = context.serverMessage;
    this.serverType = context.serverType;
    this.timeoutMs = context.timeoutMs;
  }
}

// ---- classification (internal) ----

/** What a server said in an error body or an error event. */
export interface ServerError {
  message: string;
  type?: string;
  param?: string;
  /** OpenAI and Ollama send a string or null; vLLM and llama.cpp send the HTTP status as a number. */
  code?: string | number;
}

const str = (v: unknown) => (typeof v === "string" && v ? v : undefined);

/**
 * The error a JSON value describes, in the shapes the servers use:
 * - `{"error": {"message", "type", "param", "code"}}`: OpenAI; vLLM `ErrorResponse(error=ErrorInfo)`
 *   (vllm/entrypoints/openai/engine/serving.py `create_error_response`); llama.cpp
 *   `format_error_response` wrapped by `res_error` (tools/server/server-common.cpp); Ollama /v1
 *   `NewError` (openai/openai.go);
 * - `{"object": "error", "message", "type", "code"}`: vLLM before `ErrorInfo`;
 * - `{"error": "text"}` and `{"detail": "text"}` (FastAPI's default 404).
 * `undefined` when the value is none of these.
 */
export function serverErrorOf(value: unknown): ServerError | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const from = (o: Record<string, unknown>): ServerError => {
    const code = o.code;
    return {
      message: str(o.message) ?? JSON.stringify(o),
      ...(str(o.type) ? { type: o.type as string } : {}),
      ...(str(o.param) ? { param: o.param as string } : {}),
      ...(typeof code === "string" || typeof code === "number" ? { code } : {}),
    };
  };
  if (typeof v.error === "object" && v.error !== null) return from(v.error as Record<string, unknown>);
  if (str(v.error)) return { message: v.error as string };
  if (v.object === "error") return from(v);
  if (str(v.detail)) return { message: v.detail as string };
  return undefined;
}

/** The error of an HTTP error body (JSON or text). */
export function parseErrorBody(body: string): { error: ServerError; json: boolean } {
  try {
    const parsed = serverErrorOf(JSON.parse(body));
    if (parsed) return { error: parsed, json: true };
  } catch {
    // not JSON
  }
  return { error: { message: body.trim().slice(0, 500) }, json: false };
}

/** "model `x` does not exist", "model \"x\" not found", llama.cpp router's "model not found". */
const MODEL_MISSING = /\bmodel\b.*\b(not found|does not exist)\b/i;

/** An HTTP error answer as a typed error. */
export function httpFailure(status: number, body: string, context: OpenAiCompatibleErrorContext): OpenAiCompatibleError {
  const { error, json } = parseErrorBody(body);
  const ctx: OpenAiCompatibleErrorContext = {
    ...context,
    status,
    serverMessage: error.message,
    ...(error.type ? { serverType: error.type } : {}),
  };
  const aboutModel = error.param === "model" || MODEL_MISSING.test(error.message);
  // vLLM `_check_model`: 404 NotFoundError, param "model"; Ollama /v1: 404 not_found_error.
  // llama.cpp router (`router_validate_model`, tools/server/server-models.cpp): 400 "model not found".
  if (json && aboutModel && (status === 404 || status === 400)) return new OpenAiCompatibleError("MODEL_NOT_FOUND", ctx);
  // llama.cpp's "Loading model" (503 unavailable_error) and full queues.
  if (status === 503 || status === 429) return new OpenAiCompatibleError("BACKEND_BUSY", ctx);
  return new OpenAiCompatibleError("BACKEND_ERROR", ctx);
}

const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ENETDOWN",
  "EADDRNOTAVAIL",
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** The system error code somewhere in an error's cause chain (undici wraps them). */
export function systemCode(error: unknown, depth = 0): string | undefined {
  if (depth > 5 || typeof error !== "object" || error === null) return undefined;
  const e = error as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === "string" && e.code !== "ABORT_ERR") return e.code;
  const inner = systemCode(e.cause, depth + 1);
  if (inner) return inner;
  if (Array.isArray(e.errors)) {
    for (const sub of e.errors) {
      const code = systemCode(sub, depth + 1);
      if (code) return code;
    }
  }
  return undefined;
}

const reasonOf = (error: unknown) => systemCode(error) ?? (error instanceof Error && error.message ? error.message : undefined);

/** A failure before any response: could not connect, or the connection dropped before the headers. */
export function requestFailure(error: unknown, context: OpenAiCompatibleErrorContext): OpenAiCompatibleError {
  const code = systemCode(error);
  const reason = reasonOf(error);
  const ctx = { ...context, ...(reason === undefined ? {} : { reason }), cause: error };
  if (code === undefined || CONNECT_CODES.has(code)) return new OpenAiCompatibleError("BACKEND_UNREACHABLE", ctx);
  return new OpenAiCompatibleError("CONNECTION_LOST", ctx);
}

/** A connection lost while the answer streamed. */
export function streamFailure(error: unknown, context: OpenAiCompatibleErrorContext): OpenAiCompatibleError {
  const reason = reasonOf(error);
  return new OpenAiCompatibleError("CONNECTION_LOST", { ...context, ...(reason === undefined ? {} : { reason }), cause: error });
}
