import { bodyTooLarge } from "./content-type.js";
import { httpError } from "./http-error.js";
import type { Limits } from "./limits.js";
import { parseBody, type BodyResult } from "./parse-body.js";
import { timerMs } from "../shared/timer.js";

/**
 * The JSON body of a fetch-style `Request`, read with a size limit and a deadline. Never throws:
 * a body that fails to arrive is a 400 `BODY_READ_FAILED`, a slow one a 408, one read already
 * by the framework a 500 `BODY_ALREADY_READ` (hand it over with the `body` option instead).
 */
export async function readWebBody(request: Request, limits: Limits): Promise<BodyResult> {
  // A body being read by someone else (locked to their reader) is as good as read.
  if (request.bodyUsed || request.body?.locked) {
    return httpError(
      500,
      "BODY_ALREADY_READ",
      "The request body was read before the AG-UI adapter saw it: pass the parsed body as the `body` option.",
      {
        error: new Error(`Request.${request.bodyUsed ? "bodyUsed" : "body.locked"} is true and no \`body\` option was given.`),
        stage: "internal",
      },
    );
  }
  if (!request.body) return parseBody("", limits.maxDepth);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timerMs(limits.bodyTimeoutMs))));
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), timeout]);
      if (next === "timeout")
        return httpError(408, "BODY_TIMEOUT", `The request body did not arrive within ${limits.bodyTimeoutMs} ms (option bodyTimeoutMs).`);
      if (next.done) break;
      size += next.value.byteLength;
      if (size > limits.maxBodyBytes) return bodyTooLarge(limits.maxBodyBytes);
      chunks.push(next.value);
    }
  } catch {
    return httpError(400, "BODY_READ_FAILED", "The request body could not be read (the client went away, or sent a broken body).");
  } finally {
    clearTimeout(timer);
    // Stop a body we no longer want; a failed cancel changes nothing.
    reader.cancel().catch(() => {});
  }
  return parseBody(Buffer.concat(chunks, size), limits.maxDepth);
}
