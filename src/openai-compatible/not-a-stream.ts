import { readErrorBody } from "../shared/error-body.js";
import { OpenAiCompatibleError, httpFailure, serverErrorOf, type OpenAiCompatibleErrorContext } from "./errors.js";

/** Content types that are never an event stream: JSON (`application/json`, `…+json`) and web pages. */
const NOT_A_STREAM = /^\s*(?:application\/(?:[\w.-]+\+)?json|text\/html)\s*(?:;|$)/i;

/** The start of a body, on one line, for an error message. */
export const bodyStart = (text: string): string => {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
};

/**
 * True when a 2xx answer to a streamed request says by its content type that it is no event
 * stream (JSON or HTML). A server that names no type, or another one, is read as SSE.
 */
export const isNotAStream = (response: Response): boolean => NOT_A_STREAM.test(response.headers.get("content-type") ?? "");

/** A whole (not streamed) chat completion: `choices[0].message`. */
function isCompletion(value: unknown): boolean {
  const choices = (value as { choices?: unknown } | null)?.choices;
  return Array.isArray(choices) && typeof (choices[0] as { message?: unknown } | undefined)?.message === "object";
}

/**
 * The error for a 2xx answer that {@link isNotAStream}, its body read as an error body (at most
 * 64 KiB, 2 s) so that what the server said is kept. Some gateways and proxies answer an error
 * with 200 and JSON, a server or proxy that ignores `stream: true` answers a whole completion, and
 * a portal or a wrong `baseURL` answers a web page:
 * - a JSON error (`{"error": …}` and the other shapes of `serverErrorOf`) → `BACKEND_ERROR` with
 *   the server's message;
 * - a whole completion → `UNEXPECTED_RESPONSE`, saying that `stream: true` was ignored;
 * - anything else → `UNEXPECTED_RESPONSE` with the content type and the start of the body.
 * Rejects as reading the body does (an abort, a dropped connection).
 */
export async function notAStreamError(response: Response, context: OpenAiCompatibleErrorContext): Promise<OpenAiCompatibleError> {
  const type = response.headers.get("content-type") ?? "";
  const text = await readErrorBody(response);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (serverErrorOf(value)) return httpFailure(response.status, text, context);
  const reason = isCompletion(value)
    ? "a whole JSON completion rather than an event stream (the server, or a proxy in between, ignored `stream: true`)"
    : `a ${type} body rather than an event stream (${bodyStart(text) || "empty"})`;
  return new OpenAiCompatibleError("UNEXPECTED_RESPONSE", { ...context, status: response.status, reason });
}
