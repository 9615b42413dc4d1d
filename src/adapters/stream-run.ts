import type { AGUIEvent } from "@ag-ui/core";
import {
  ENCODING_FAILED,
  isEventLike,
  isTerminal,
  notAnEvent,
  runErrorChunk,
  type EncodedChunk,
  type EventEncoding,
} from "./encode-events.js";
import { httpError, type HttpError } from "./http-error.js";
import { readyTaker } from "../pipeline/take-ready.js";
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

/** One encoded chunk of a run; `last` when the stream ends with it. */
export interface RunStep extends EncodedChunk {
  last: boolean;
}

/**
 * The rest of a run, one encoded chunk at a time, the last one after the terminal event. An event
 * that cannot be encoded, or a pipeline that throws, ends the stream with a RUN_ERROR frame
 * (`EVENT_ENCODING_FAILED` or `INTERNAL_ERROR`). {@link RunReader.close} must be called once the
 * adapter stops reading (at the end, or because the client left): it returns the run's iterator,
 * which cancels a run still going, so no run is left open whatever happens. After a terminal event
 * the run finishes its own way, off the response.
 */
export class RunReader {
  /** True once the run's iterator needs no closing: it ended, threw, or is read to its end in the background. */
  private settled: boolean;
  private ended = false;
  /** The run's way to hand over a ready event without a promise, when it has one. */
  private readonly take: (() => AGUIEvent | undefined) | undefined;

  constructor(
    private readonly run: StartedRun,
    private readonly encoding: EventEncoding,
    private readonly report: (error: unknown, stage: HttpFailureStage) => void,
  ) {
    this.take = readyTaker(run.rest);
    this.settled = run.first.some(isTerminal);
    if (this.settled) this.finish();
  }

  /** Let the run go on to its end in the background; the stream has its last chunk. */
  private finish(): void {
    this.ended = true;
    void drain(this.run.rest);
  }

  /**
   * The next chunk when the run has its event ready (a `createZoePipeline` run, see
   * `TAKE_READY`), without a promise; undefined when none is ready: then call {@link next}.
   */
  ready(): RunStep | undefined {
    if (this.ended || !this.take) return undefined;
    const event = this.take();
    return event === undefined ? undefined : this.step(event);
  }

  /** The next chunk, or undefined when the stream has ended. Never rejects. */
  async next(): Promise<RunStep | undefined> {
    if (this.ended) return undefined;
    let next: IteratorResult<AGUIEvent>;
    let answered = false;
    try {
      next = await this.run.rest.next();
      answered = true;
      // A host pipeline's iterator may answer anything: what is not an iterator result is its failure.
      if (typeof next !== "object" || next === null)
        throw new TypeError(`The run's iterator answered ${String(next)}, not an iterator result.`);
    } catch (error) {
      // An iterator that threw is done; one that answered nonsense is still going: close() returns it.
      this.settled = !answered;
      this.ended = true;
      this.report(error, "run");
      const frame = runErrorChunk(this.encoding, "The run failed on the server.", "INTERNAL_ERROR");
      return frame && { ...frame, last: true };
    }
    if (next.done) {
      this.settled = this.ended = true;
      return undefined;
    }
    return this.step(next.value);
  }

  /** Encode one event of the run: its chunk, or the RUN_ERROR that ends the stream when it cannot be encoded. */
  private step(event: AGUIEvent): RunStep | undefined {
    let chunk: string | Uint8Array;
    try {
      // A host pipeline may yield anything: what is not an event cannot be encoded as one.
      if (!isEventLike(event)) throw notAnEvent(event);
      chunk = this.encoding.encode(event);
    } catch (error) {
      // The run is left unsettled: close() cancels it.
      this.ended = true;
      this.report(error, "encode");
      const what = isEventLike(event) ? `A ${event.type} event` : "A value";
      const frame = runErrorChunk(this.encoding, `${what} of the run could not be encoded; the run was stopped.`, ENCODING_FAILED);
      return frame && { ...frame, last: true };
    }
    if (isTerminal(event)) {
      // The client has its answer; let the run finish its own way.
      this.settled = true;
      this.finish();
      return { chunk, event, last: true };
    }
    return { chunk, event, last: false };
  }

  /** Stop reading: a run that has not settled is returned (cancelled). Undefined when there is nothing to wait for. */
  close(): Promise<void> | undefined {
    this.ended = true;
    if (this.settled) return undefined;
    this.settled = true;
    return closeQuietly(this.run.rest);
  }
}
