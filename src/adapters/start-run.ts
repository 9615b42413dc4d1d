import { EventType, type AGUIEvent } from "@ag-ui/core";
import { EventEncoder } from "@ag-ui/encoder";
import { INPUT_ERROR_CODES } from "../errors/input-error.js";
import type { ZoePipeline } from "../pipeline/types.js";

/** A JSON error body, as the adapters answer it. */
export interface HttpErrorBody {
  error: { code: string; message: string };
}

/** An HTTP error answer: a status and a JSON body. */
export interface HttpError {
  kind: "error";
  status: number;
  body: HttpErrorBody;
}

/** How an HTTP run starts: a JSON error (nothing streamed yet), or a stream to send. */
export type HttpRunStart = HttpError | { kind: "stream"; first: AGUIEvent[]; rest: AsyncIterator<AGUIEvent> };

/** The AG-UI protobuf media type; only a client that names it gets protobuf. */
export const AGUI_PROTO_MEDIA_TYPE = "application/vnd.ag-ui.event+proto";

/**
 * An encoder for a request's `Accept` header: SSE unless the client asks for protobuf by name
 * (`@ag-ui/encoder` would pick protobuf for `*\/*`).
 */
export function encoderFor(accept: string | null | undefined): EventEncoder {
  return new EventEncoder(accept?.includes(AGUI_PROTO_MEDIA_TYPE) ? { accept: AGUI_PROTO_MEDIA_TYPE } : {});
}

/** Errors a run reports before doing any work: answered as HTTP errors, not streamed. */
const BEFORE_WORK = new Set([...INPUT_ERROR_CODES, "PIPELINE_CLOSED"]);

export const httpError = (status: number, code: string, message: string): HttpError => ({
  kind: "error",
  status,
  body: { error: { code, message } },
});

/**
 * Start a run and read up to its first two events, so that bad input becomes a 4xx JSON answer
 * before any stream starts (the pipeline validates input before doing any work).
 */
export async function startHttpRun(
  pipeline: ZoePipeline,
  input: unknown,
  options: { userId?: string; signal: AbortSignal },
): Promise<HttpRunStart> {
  const iterator = pipeline.run(input as never, options)[Symbol.asyncIterator]();
  const first: AGUIEvent[] = [];
  for (let i = 0; i < 2; i++) {
    const next = await iterator.next();
    if (next.done) break;
    const event = next.value;
    if (event.type === EventType.RUN_ERROR && (i === 0 || BEFORE_WORK.has(event.code ?? ""))) {
      await iterator.return?.();
      const code = event.code ?? "INVALID_INPUT";
      const status = code === "MISSING_USER_ID" ? 401 : code === "PIPELINE_CLOSED" ? 503 : 400;
      return httpError(status, code, event.message);
    }
    first.push(event);
    if (event.type !== EventType.RUN_STARTED) break;
  }
  return { kind: "stream", first, rest: iterator };
}
