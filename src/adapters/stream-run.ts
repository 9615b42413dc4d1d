import type { AGUIEvent } from "@ag-ui/core";
import { ENCODING_FAILED, isTerminal, runErrorChunk, type EncodedChunk, type EventEncoding } from "./encode-events.js";
import { httpError, type HttpError } from "./http-error.js";
import type { HttpFailureStage } from "./report.js";
import { closeQuietly } from "./start-run.js";

/** A started run, as an adapter streams it. */
export interface StartedRun {
  first: AGUIEvent[];
  rest: AsyncIterator<AGUIEvent>;
}

/**
 * Encode the run's first events before any header is sent: when one cannot be encoded the answer
 * is still a JSON error (and the caller returns the iterator).
 */
export function encodeFirst(run: StartedRun, encoding: EventEncoding): EncodedChunk[] | HttpError {
  try {
    return run.first.map((event) => ({ chunk: encoding.encode(event), event }));
  } catch (error) {
    return httpError(500, ENCODING_FAILED, "The run's first events could not be encoded.", { error, stage: "encode" });
  }
}

/** Read an iterator to its end in the background, ignoring what it yields or throws. */
async function drain(iterator: AsyncIterator<AGUIEvent>): Promise<void> {
  try {
    for (let next = await iterator.next(); !next.done; next = await iterator.next());
  } catch {
    // The run has already ended for the client.
  }
}

/**
 * The rest of a run as encoded chunks, ending after the terminal event. An event that cannot be
 * encoded, or a pipeline that throws, ends the stream with a RUN_ERROR frame (`EVENT_ENCODING_FAILED`
 * or `INTERNAL_ERROR`). Returning this generator early (the client left) returns the run's
 * iterator, which cancels the run: no run is left open, whatever happens.
 */
export async function* encodeRest(
  run: StartedRun,
  encoding: EventEncoding,
  report: (error: unknown, stage: HttpFailureStage) => void,
): AsyncGenerator<EncodedChunk, void, undefined> {
  let settled = run.first.some(isTerminal);
  try {
    if (settled) return void drain(run.rest);
    for (;;) {
      let next: IteratorResult<AGUIEvent>;
      try {
        next = await run.rest.next();
      } catch (error) {
        settled = true;
        report(error, "run");
        const frame = runErrorChunk(encoding, "The run failed on the server.", "INTERNAL_ERROR");
        if (frame) yield frame;
        return;
      }
      if (next.done) {
        settled = true;
        return;
      }
      const event = next.value;
      let chunk: string | Uint8Array;
      try {
        chunk = encoding.encode(event);
      } catch (error) {
        report(error, "encode");
        const frame = runErrorChunk(
          encoding,
          `A ${event.type} event of the run could not be encoded; the run was stopped.`,
          ENCODING_FAILED,
        );
        if (frame) yield frame;
        return;
      }
      yield { chunk, event };
      if (isTerminal(event)) {
        // The client has its answer; let the run finish its own way, off the response.
        settled = true;
        void drain(run.rest);
        return;
      }
    }
  } finally {
    if (!settled) await closeQuietly(run.rest);
  }
}
