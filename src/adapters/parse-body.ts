import { shapeProblem } from "../input/limits.js";
import { bodyTooLarge } from "./content-type.js";
import { httpError, type HttpError } from "./http-error.js";
import type { Limits } from "./limits.js";

/** A parsed JSON body, or why there is none. */
export type BodyResult = { kind: "json"; value: unknown } | HttpError;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Decode (strict UTF-8) and parse a body, then check its depth. */
export function parseBody(bytes: Uint8Array | string, maxDepth: number): BodyResult {
  let text: string;
  if (typeof bytes === "string") text = bytes;
  else {
    try {
      text = utf8.decode(bytes);
    } catch {
      return httpError(400, "INVALID_JSON", "The request body is not valid UTF-8.");
    }
  }
  if (text.trim() === "") return httpError(400, "INVALID_JSON", "The request body is empty: send an AG-UI RunAgentInput as JSON.");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return httpError(400, "INVALID_JSON", `The request body is not valid JSON: ${(error as Error).message.slice(0, 200)}`);
  }
  return checkParsed(value, maxDepth);
}

/** Check the depth of a body that is already parsed (by this adapter or by the host's framework). */
export function checkParsed(value: unknown, maxDepth: number): BodyResult {
  if (value === undefined) return httpError(400, "INVALID_JSON", "The request has no body: send an AG-UI RunAgentInput as JSON.");
  // The pipeline's own iterative check (no recursion: a deep body cannot overflow the stack here).
  if (shapeProblem(value, maxDepth, Number.POSITIVE_INFINITY) === "deep") {
    return httpError(
      400,
      "INPUT_TOO_DEEP",
      `The request body nests objects and arrays more than ${maxDepth} levels deep (option maxDepth).`,
    );
  }
  return { kind: "json", value };
}

/**
 * A body the host or its framework already produced: a parsed value, or JSON text or bytes
 * (`express.text()`, `express.raw()`, Hono's `await c.req.text()`), held to `maxBodyBytes` as a
 * body the adapter reads itself.
 */
export function givenBody(body: unknown, limits: Limits): BodyResult {
  if (typeof body === "string" || body instanceof Uint8Array) {
    const size = typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
    return size > limits.maxBodyBytes ? bodyTooLarge(limits.maxBodyBytes) : parseBody(body, limits.maxDepth);
  }
  return checkParsed(body, limits.maxDepth);
}
