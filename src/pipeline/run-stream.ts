import type { AGUIEvent } from "@ag-ui/core";
import { onAbort } from "../shared/on-abort.js";

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/**
 * How many events a streaming loop (the model's answer) may have waiting for the consumer before
 * it stops asking the backend for more: a consumer that reads slowly (an SSE client behind a full
 * socket) holds the model back instead of growing the queue.
 */
export const STREAM_BACKLOG = 32;

/**
 * The events of one run, from the stages that send them to the consumer that pulls them.
 *
 * The stages are plain async functions: each event is pushed here once and taken by the
 * consumer's `for await`, instead of crossing one async-generator layer per stage (each layer
 * cost about 0.3 µs per event, several per streamed token). The consumer drives the run as with a
 * generator: nothing starts before its first `next()`, and leaving (`return()`, `break`) stops
 * the run and waits for its stages to end.
 *
 * Order, backpressure and cancellation:
 * - events reach the consumer in the order they were sent;
 * - `hold()` keeps them back until `release()` (the model request goes out first: see
 *   {@link RunStream.hold}); the end of the run releases them;
 * - a streaming loop waits in {@link RunStream.drained} when {@link STREAM_BACKLOG} events are
 *   waiting, and the run waits there before it commits (history, the answer cache), so a
 *   consumer that left before the whole answer reached it leaves nothing stored;
 * - after the consumer left, events are dropped.
 */
export class RunStream implements AsyncIterableIterator<AGUIEvent> {
  private queue: AGUIEvent[] = [];
  private head = 0;
  private holding = false;
  private releaseOnTurn: ReturnType<typeof setImmediate> | undefined;
  private ended = false;
  private left = false;
  private failure: { error: unknown } | undefined;
  private running: Promise<void> | undefined;
  private pull: ((result: IteratorResult<AGUIEvent>) => void) | undefined;
  private pullFailed: ((error: unknown) => void) | undefined;
  private space: (() => void) | undefined;
  /** Called once when the consumer leaves a run in progress (the run aborts its signal). */
  onLeave: (() => void) | undefined = undefined;

  /** `start` runs the stages; it is called on the consumer's first `next()`. */
  constructor(private readonly start: (stream: RunStream) => Promise<void>) {}

  /** Events sent and not yet taken by the consumer. */
  get backlog(): number {
    return this.queue.length - this.head;
  }

  /** Queue an event for the consumer (dropped once it has left). */
  send(event: AGUIEvent): void {
    if (this.left) return;
    this.queue.push(event);
    const pull = this.pull;
    if (pull && !this.holding) {
      this.pull = undefined;
      this.pullFailed = undefined;
      pull({ value: this.take(), done: false });
    }
  }

  /**
   * Keep the events sent from now on back until {@link RunStream.release}, or until the event
   * loop turns: a run that waits on I/O still shows progress while it waits.
   */
  hold(): void {
    this.holding = true;
    this.releaseOnTurn = setImmediate(() => {
      this.releaseOnTurn = undefined;
      this.release();
    });
  }

  /** Let the held events (and every later one) through. */
  release(): void {
    if (!this.holding) return;
    this.holding = false;
    if (this.releaseOnTurn) clearImmediate(this.releaseOnTurn);
    this.releaseOnTurn = undefined;
    const pull = this.pull;
    if (pull && (this.backlog > 0 || this.ended)) {
      this.pull = undefined;
      this.pullFailed = undefined;
      pull(this.backlog > 0 ? { value: this.take(), done: false } : DONE);
    }
  }

  /**
   * Undefined when the consumer has taken every event (or left); otherwise a promise that settles
   * when it has, when it leaves, or when `signal` aborts (the caller then checks the signal).
   * Releases held events first: a run waiting for its consumer holds nothing back.
   */
  drained(signal: AbortSignal): Promise<void> | undefined {
    this.release();
    if (this.backlog === 0 || this.left || signal.aborted) return undefined;
    return new Promise<void>((resolve) => {
      const unhook = onAbort(signal, () => {
        this.space = undefined;
        resolve();
      });
      this.space = () => {
        this.space = undefined;
        unhook();
        resolve();
      };
    });
  }

  /** No more events: the consumer's loop ends once it has taken those queued. */
  end(): void {
    this.ended = true;
    this.release();
    const pull = this.pull;
    if (pull && this.backlog === 0) {
      this.pull = undefined;
      this.pullFailed = undefined;
      pull(DONE);
    }
  }

  next(): Promise<IteratorResult<AGUIEvent>> {
    if (!this.running) {
      if (this.left) return Promise.resolve(DONE);
      this.begin();
    }
    if (!this.holding && this.backlog > 0) return Promise.resolve({ value: this.take(), done: false });
    if (this.failure) {
      const { error } = this.failure;
      this.failure = undefined;
      this.ended = true;
      return Promise.reject(error);
    }
    if (this.ended && this.backlog === 0) return Promise.resolve(DONE);
    return new Promise<IteratorResult<AGUIEvent>>((resolve, reject) => {
      this.pull = resolve;
      this.pullFailed = reject;
    });
  }

  /** The consumer leaves: a run in progress is stopped, and this settles once its stages have ended. */
  async return(): Promise<IteratorResult<AGUIEvent>> {
    if (this.left) return DONE;
    this.left = true;
    this.queue = [];
    this.head = 0;
    this.space?.();
    const pull = this.pull;
    this.pull = undefined;
    this.pullFailed = undefined;
    pull?.(DONE);
    if (this.running && !this.ended) {
      this.onLeave?.();
      await this.running;
    }
    this.ended = true;
    return DONE;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private begin(): void {
    this.running = this.start(this).then(
      () => this.end(),
      (error: unknown) => {
        // The stages end every failure with a terminal event; this is a defect, passed on as is.
        const fail = this.pullFailed;
        this.pull = undefined;
        this.pullFailed = undefined;
        if (fail) fail(error);
        else this.failure = { error };
        this.end();
      },
    );
  }

  private take(): AGUIEvent {
    const event = this.queue[this.head] as AGUIEvent;
    this.queue[this.head] = undefined as unknown as AGUIEvent;
    this.head++;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
      this.space?.();
    }
    return event;
  }
}
