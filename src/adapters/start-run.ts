import { EventType, type AGUIEvent } from "@ag-ui/core";
import { INPUT_ERROR_CODES } from "../errors/input-error.js";
import type { ZoePipeline } from "../pipeline/types.js";
import { isEventLike, notAnEvent } from "./encode-events.js";
import { httpError, statusOfRunError, type HttpError } from "./http-error.js";

export { AGUI_PROTO_MEDIA_TYPE } from "./encode-events.js";
export { httpError, type HttpError, type HttpErrorBody } from "./http-error.js";

/** How an HTTP run starts: a JSON error (nothing streamed yet), or a stream to send. */
export type HttpRunStart = HttpError | { kind: "stream"; first: AGUIEvent[]; rest: AsyncIterator<AGUIEvent> };

/** Errors a run reports before doing any work: answered as HTTP errors, not streamed. */
const BEFORE_WORK = new Set([...INPUT_ERROR_CODES, "PIPELINE_CLOSED"]);

/** Return an iterator, ignoring whatever it throws. */
export async function closeQuietly(iterator: AsyncIterator<AGUIEvent> | undefined): Promise<void> {
  try {
    await iterator?.return?.();
  } catch {
    // The run is over either way.
  }
}

/** A run's options from the request: its user, and the signal of its controller (a pipeline that is not `createZoePipeline`'s). */
export function runOptions(userId: string | undefined, controller: AbortController | undefined): { userId?: string; signal?: AbortSignal } {
  const options: { userId?: string; signal?: AbortSignal } = {};
  if (userId !== undefined) options.userId = userId;
  if (controller) options.signal = controller.signal;
  return options;
}

/**
 * Start a run and read up to its first two events, so that bad input becomes a 4xx JSON answer
 * before any stream starts (the pipeline validates input before doing any work). Never throws: a
 * pipeline that throws is a 500 `INTERNAL_ERROR`, and its iterator is returned. `onIterator` is
 * given the run's iterator as soon as it exists (to cancel the run by returning it).
 */
export async function startHttpRun(
  pipeline: ZoePipeline,
  input: unknown,
  options: { userId?: string; signal?: AbortSignal },
  onIterator?: (iterator: AsyncIterator<AGUIEvent>) => void,
): Promise<HttpRunStart> {
  let iterator: AsyncIterator<AGUIEvent> | undefined;
  try {
    iterator = pipeline.run(input as never, options)[Symbol.asyncIterator]();
    onIterator?.(iterator);
    const first: AGUIEvent[] = [];
    for (let i = 0; i < 2; i++) {
      const next = await iterator.next();
      if (next.done) break;
      const event: unknown = next.value;
      if (!isEventLike(event)) {
        await closeQuietly(iterator);
        return httpError(500, "INTERNAL_ERROR", "The run failed on the server.", { error: notAnEvent(event), stage: "run" });
      }
      if (event.type === EventType.RUN_ERROR && (i === 0 || BEFORE_WORK.has(event.code ?? ""))) {
        await closeQuietly(iterator);
        const code = event.code ?? "INVALID_INPUT";
        // The pipeline checks `userId` first and names it: one the host's getUserId returned is the host's failure, not the client's.
        if (code === "INVALID_ID" && options.userId !== undefined && event.message.startsWith("userId ")) {
          return httpError(500, "GET_USER_ID_FAILED", "The server could not tell who you are (getUserId failed).", {
            error: new TypeError(`getUserId returned an id the pipeline refuses: ${event.message}`),
            stage: "getUserId",
          });
        }
        return httpError(statusOfRunError(code), code, event.message);
      }
      first.push(event);
      if (event.type !== EventType.RUN_STARTED) break;
    }
    if (first.length === 0)
      return httpError(500, "INTERNAL_ERROR", "The run ended without any event.", {
        error: new Error("pipeline.run() yielded nothing"),
        stage: "run",
      });
    return { kind: "stream", first, rest: iterator };
  } catch (error) {
    await closeQuietly(iterator);
    return httpError(500, "INTERNAL_ERROR", "The run could not start.", { error, stage: "run" });
  }
}
