import { httpError, type HttpError } from "./http-error.js";

/** `application/json` and the structured-syntax `application/<name>+json` types (RFC 6839). */
const JSON_TYPE = /^application\/(?:[a-z0-9!#$&^_.-]+\+)?json$/;

/**
 * Check the media type of a request with a body: `application/json` or any `application/*+json`,
 * in UTF-8 (no charset, or `charset=utf-8`), not compressed. Anything else is a 415: a form or
 * `text/plain` post, which a cross-site page can send without a CORS preflight, never starts a run.
 */
export function checkJsonRequest(
  contentType: string | null | undefined,
  contentEncoding: string | null | undefined,
): HttpError | undefined {
  const [essence = "", ...params] = (contentType ?? "").split(";");
  const type = essence.trim().toLowerCase();
  if (!JSON_TYPE.test(type)) {
    return httpError(
      415,
      "UNSUPPORTED_MEDIA_TYPE",
      `Send the run input as application/json (the request's content-type is ${contentType ? `"${contentType.slice(0, 100)}"` : "missing"}).`,
    );
  }
  for (const param of params) {
    const [name = "", value = ""] = param.split("=");
    if (name.trim().toLowerCase() !== "charset") continue;
    const charset = value.trim().replace(/^"|"$/g, "").toLowerCase();
    if (charset !== "utf-8" && charset !== "utf8") {
      return httpError(415, "UNSUPPORTED_MEDIA_TYPE", `Send the run input in UTF-8 (the request says charset=${charset.slice(0, 40)}).`);
    }
  }
  const encoding = (contentEncoding ?? "").trim().toLowerCase();
  if (encoding !== "" && encoding !== "identity") {
    return httpError(
      415,
      "UNSUPPORTED_MEDIA_TYPE",
      `Compressed request bodies are not accepted (content-encoding: ${encoding.slice(0, 40)}).`,
    );
  }
  return undefined;
}

/** A 413 when a declared `content-length` is over the limit (the body is then not read at all). */
export function checkDeclaredLength(contentLength: string | null | undefined, maxBodyBytes: number): HttpError | undefined {
  if (contentLength === null || contentLength === undefined) return undefined;
  const length = Number(contentLength);
  return Number.isFinite(length) && length > maxBodyBytes ? bodyTooLarge(maxBodyBytes) : undefined;
}

export const bodyTooLarge = (maxBodyBytes: number) =>
  httpError(413, "BODY_TOO_LARGE", `The request body is over ${maxBodyBytes} bytes (option maxBodyBytes).`);
