import { ModelError } from "../errors/model-error.js";

/** Where an Ollama error happened. */
export interface OllamaErrorContext {
  /** The server. */
  host: string;
  /** The model of the request, when there was one. */
  model?: string;
  /** The HTTP status, when the server answered with one. */
  status?: number;
  cause?: unknown;
}

/** Base class of the Ollama backend's errors: a {@link ModelError} with the host, model and status. */
export class OllamaError extends ModelError {
  readonly host: string;
  readonly model: string | undefined;
  readonly status: number | undefined;

  constructor(code: string, message: string, context: OllamaErrorContext) {
    super(message, { code, cause: context.cause });
    this.name = "OllamaError";
    this.host = context.host;
    this.model = context.model;
    this.status = context.status;
  }
}

const q = (model: string | undefined) => (model === undefined ? "the model" : `model "${model}"`);

/** `MODEL_NOT_FOUND`: the server has no such model (HTTP 404). */
export class ModelNotFoundError extends OllamaError {
  constructor(context: OllamaErrorContext & { serverMessage?: string }) {
    const m = context.model ?? "?";
    super(
      "MODEL_NOT_FOUND",
      `Model "${m}" is not pulled on ${context.host}: run \`ollama pull ${m}\`, or pick one that \`ollama list\` shows` +
        (context.serverMessage ? ` (Ollama said: ${context.serverMessage}).` : "."),
      context,
    );
    this.name = "ModelNotFoundError";
  }
}

/** `BACKEND_UNREACHABLE`: no connection to the server (refused, DNS, unreachable network). */
export class BackendUnreachableError extends OllamaError {
  constructor(context: OllamaErrorContext & { reason?: string }) {
    super(
      "BACKEND_UNREACHABLE",
      `Ollama is not reachable at ${context.host}${context.reason ? ` (${context.reason})` : ""}: start it (\`ollama serve\`) or fix the backend's \`host\`.`,
      context,
    );
    this.name = "BackendUnreachableError";
  }
}

/** `BACKEND_BUSY`: the server's queue is full (HTTP 503), or a rate limit (HTTP 429). */
export class BackendBusyError extends OllamaError {
  constructor(context: OllamaErrorContext & { serverMessage?: string }) {
    super(
      "BACKEND_BUSY",
      `Ollama at ${context.host} is busy${context.serverMessage ? ` (${context.serverMessage})` : ""}: retry later, lower the backend's \`concurrency\`, or raise OLLAMA_MAX_QUEUE / OLLAMA_NUM_PARALLEL on the server.`,
      context,
    );
    this.name = "BackendBusyError";
  }
}

/** `BACKEND_ERROR`: any other 4xx/5xx answer; the message carries the server's own text. */
export class BackendResponseError extends OllamaError {
  constructor(context: OllamaErrorContext & { status: number; serverMessage: string }) {
    const hint =
      context.status >= 500
        ? "check the Ollama server log (it may be out of memory or the model file may be damaged)"
        : "the request was rejected: check the model supports what was asked (tools, thinking) and the options";
    super(
      "BACKEND_ERROR",
      `Ollama at ${context.host} answered HTTP ${context.status} for ${q(context.model)}: ${context.serverMessage || "(no message)"}. ${hint[0]?.toUpperCase()}${hint.slice(1)}.`,
      context,
    );
    this.name = "BackendResponseError";
  }
}

/** `STREAM_ERROR`: the server sent an `{"error": ...}` line in the middle of the answer. */
export class StreamError extends OllamaError {
  constructor(context: OllamaErrorContext & { serverMessage: string }) {
    super(
      "STREAM_ERROR",
      `Ollama at ${context.host} failed while ${q(context.model)} was answering: ${context.serverMessage}. Retry; if it repeats, check the server log.`,
      context,
    );
    this.name = "StreamError";
  }
}

/** `CONNECTION_LOST`: the connection dropped before the answer was complete. */
export class ConnectionLostError extends OllamaError {
  constructor(context: OllamaErrorContext & { reason?: string }) {
    super(
      "CONNECTION_LOST",
      `The connection to Ollama at ${context.host} was lost while ${q(context.model)} was answering${context.reason ? ` (${context.reason})` : ""}: the server may have crashed or restarted; check its log and retry.`,
      context,
    );
    this.name = "ConnectionLostError";
  }
}

/** `STREAM_INCOMPLETE`: the answer ended cleanly but without its final `done: true` chunk. */
export class StreamIncompleteError extends OllamaError {
  constructor(context: OllamaErrorContext) {
    super(
      "STREAM_INCOMPLETE",
      `The answer of ${q(context.model)} from Ollama at ${context.host} ended without its final "done" chunk, so it may be cut short: check the server (or a proxy in between) and retry.`,
      context,
    );
    this.name = "StreamIncompleteError";
  }
}

/** `FIRST_TOKEN_TIMEOUT`: a loaded model sent nothing within `firstTokenTimeoutMs`. */
export class FirstTokenTimeoutError extends OllamaError {
  readonly timeoutMs: number;

  constructor(context: OllamaErrorContext & { timeoutMs: number }) {
    super(
      "FIRST_TOKEN_TIMEOUT",
      `${q(context.model).replace(/^m/, "M")} on ${context.host} is loaded but sent nothing within ${context.timeoutMs} ms (firstTokenTimeoutMs): the server is overloaded (requests beyond OLLAMA_NUM_PARALLEL wait inside it: match the backend's \`concurrency\` to it) or the prompt is very long; raise firstTokenTimeoutMs if it is expected.`,
      context,
    );
    this.name = "FirstTokenTimeoutError";
    this.timeoutMs = context.timeoutMs;
  }
}

/** `LOAD_TIMEOUT`: a model that was not loaded did not load within `loadTimeoutMs`. */
export class LoadTimeoutError extends OllamaError {
  readonly timeoutMs: number;

  constructor(context: OllamaErrorContext & { timeoutMs: number }) {
    super(
      "LOAD_TIMEOUT",
      `${q(context.model).replace(/^m/, "M")} on ${context.host} did not load within ${context.timeoutMs} ms (loadTimeoutMs), so the request was cancelled and Ollama discarded the load: raise loadTimeoutMs (default 5 minutes, as OLLAMA_LOAD_TIMEOUT), pre-warm the model, or use a smaller one.`,
      context,
    );
    this.name = "LoadTimeoutError";
    this.timeoutMs = context.timeoutMs;
  }
}

/**
 * `UNEXPECTED_RESPONSE`: the server answered lines that are not `/api/chat` chunks (no `message`,
 * no `/api/generate`-style `response`), so the answer cannot be read.
 */
export class UnexpectedResponseError extends OllamaError {
  constructor(context: OllamaErrorContext & { line: string }) {
    super(
      "UNEXPECTED_RESPONSE",
      `The server at ${context.host} answered ${q(context.model)} with a line that is not an Ollama /api/chat chunk (${context.line.slice(0, 200)}): check that \`host\` is an Ollama server (for an OpenAI-compatible server, use openAiCompatibleBackend).`,
      context,
    );
    this.name = "UnexpectedResponseError";
  }
}

/** `IDLE_TIMEOUT`: the answer stalled for `idleTimeoutMs` between two chunks. */
export class IdleTimeoutError extends OllamaError {
  readonly timeoutMs: number;

  constructor(context: OllamaErrorContext & { timeoutMs: number }) {
    super(
      "IDLE_TIMEOUT",
      `${q(context.model).replace(/^m/, "M")} on ${context.host} stopped sending for ${context.timeoutMs} ms in the middle of its answer (idleTimeoutMs): the server may be stuck or overloaded; retry, or raise idleTimeoutMs.`,
      context,
    );
    this.name = "IdleTimeoutError";
    this.timeoutMs = context.timeoutMs;
  }
}

/** `BACKEND_CLOSED`: the backend was closed; requests in flight were aborted. */
export class BackendClosedError extends OllamaError {
  constructor(context: OllamaErrorContext) {
    super("BACKEND_CLOSED", `The Ollama backend for ${context.host} is closed: create a new one to send more requests.`, context);
    this.name = "BackendClosedError";
  }
}

/** The stable codes of the Ollama backend's errors. */
export const OLLAMA_ERROR_CODES = [
  "MODEL_NOT_FOUND",
  "BACKEND_UNREACHABLE",
  "BACKEND_BUSY",
  "BACKEND_ERROR",
  "STREAM_ERROR",
  "CONNECTION_LOST",
  "STREAM_INCOMPLETE",
  "FIRST_TOKEN_TIMEOUT",
  "LOAD_TIMEOUT",
  "IDLE_TIMEOUT",
  "UNEXPECTED_RESPONSE",
  "BACKEND_CLOSED",
] as const;

/** One of {@link OLLAMA_ERROR_CODES}. */
export type OllamaErrorCode = (typeof OLLAMA_ERROR_CODES)[number];

// ---- classification (internal) ----

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
export function errorCode(error: unknown, depth = 0): string | undefined {
  if (depth > 5 || typeof error !== "object" || error === null) return undefined;
  const e = error as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === "string" && e.code !== "ABORT_ERR") return e.code;
  const inner = errorCode(e.cause, depth + 1);
  if (inner) return inner;
  if (Array.isArray(e.errors))
    for (const sub of e.errors) {
      const code = errorCode(sub, depth + 1);
      if (code) return code;
    }
  return undefined;
}

function describe(error: unknown): string | undefined {
  const code = errorCode(error);
  if (code) return code;
  return error instanceof Error && error.message ? error.message : undefined;
}

/** A failure before any response: could not connect, or the connection dropped before the headers. */
export function requestFailure(error: unknown, context: OllamaErrorContext): OllamaError {
  const code = errorCode(error);
  const reason = describe(error);
  const withReason = reason === undefined ? {} : { reason };
  if (code === undefined || CONNECT_CODES.has(code)) return new BackendUnreachableError({ ...context, ...withReason, cause: error });
  return new ConnectionLostError({ ...context, ...withReason, cause: error });
}

/** A connection lost while the answer streamed. */
export function streamFailure(error: unknown, context: OllamaErrorContext): OllamaError {
  const reason = describe(error);
  return new ConnectionLostError({ ...context, ...(reason === undefined ? {} : { reason }), cause: error });
}

/** The server's `{"error": "..."}` text, or the body itself (trimmed) when it is not that JSON. */
export function serverMessage(body: string): { text: string; json: boolean } {
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === "object" && parsed !== null && typeof (parsed as { error?: unknown }).error === "string") {
      return { text: (parsed as { error: string }).error, json: true };
    }
  } catch {
    // not JSON
  }
  return { text: body.trim().slice(0, 500), json: false };
}

/** An HTTP error answer as a typed error. */
export function httpFailure(status: number, body: string, context: OllamaErrorContext): OllamaError {
  const { text, json } = serverMessage(body);
  const ctx = { ...context, status };
  if (status === 404 && json) return new ModelNotFoundError({ ...ctx, serverMessage: text });
  // 503: the server's queue is full (OLLAMA_MAX_QUEUE); 429: a rate limit (ollama.com, a proxy in front of the server).
  if (status === 503 || status === 429) return new BackendBusyError({ ...ctx, serverMessage: text });
  if (status === 404) {
    return new BackendResponseError({ ...ctx, serverMessage: `${text || "not found"} (is ${context.host} an Ollama server?)` });
  }
  return new BackendResponseError({ ...ctx, serverMessage: text });
}
