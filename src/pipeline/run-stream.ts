import type { AGUIEvent } from "@ag-ui/core";
import { Fifo } from "../shared/fifo.js";
import { onAbort } from "../shared/on-abort.js";
import { TAKE_READY } from "./take-ready.js";

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
 *   waiting, and the run waits there before it commits (history, the answer cache): the wait
 *   ends when the consumer asks for the event after the last one sent, as a generator resumes
 *   only then, so a consumer that left anywhere in the answer leaves nothing stored;
 * - calls of `next()` that overlap are answered in order, as a generator queues them;
 * - after the consumer left, events are dropped.
 */
export class RunStream implements AsyncIterableIterator<AGUIEvent> {
  private readonly queue = new Fifo<AGUIEvent>();
  private holding = false;
  /** The immediate set to release what is held when the loop turns, while it is pending. */
  private turn: ReturnType<typeof setImmediate> | undefined;
  private ended = false;
  private left = false;
  private leaving: Promise<IteratorResult<AGUIEvent>> | undefined;
  private failure: { error: unknown } | undefined;
  private running: Promise<void> | undefined;
  /** Calls of `next()` waiting for an event, oldest first (almost always one). */
  private readonly pulls = new Fifo<{ resolve: (result: IteratorResult<AGUIEvent>) => void; reject: (error: unknown) => void }>();
  private space: (() => void) | undefined;
  /** Called once when the consumer leaves a run in progress (the run aborts its signal). */
  onLeave: (() => void) | undefined = undefined;

  /** `start` runs the stages; it is called on the consumer's first `next()`, then let go (it holds the run's raw input). */
  constructor(private start: ((stream: RunStream) => Promise<void>) | undefined) {}

  /** Events sent and not yet taken by the consumer. */
  get backlog(): number {
    return this.queue.size;
  }

  /** Queue an event for the consumer (dropped once it has left). */
  send(event: AGUIEvent): void {
    if (this.left) return;
    this.queue.push(event);
    if (this.pulls.size > 0 && !this.holding) this.serve();
  }

  /**
   * Keep the events sent from now on back until {@link RunStream.release}, or until the event
   * loop turns: a run that waits on I/O still shows progress while it waits. The stages hold
   * again each time they come back from I/O before the model request (the cache read, the
   * router, a provider, the system prompt, the response cache): otherwise the consumer would
   * take each event sent after the wait between the stages' own steps, and the model request
   * would go out only after all of them. Holding while already held changes nothing.
   */
  hold(): void {
    if (this.holding) return;
    this.holding = true;
    // One immediate at a time: one still pending from an earlier hold (released since) serves
    // this one too, as both fire when the loop turns.
    this.turn ??= setImmediate(this.onTurn);
  }

  /** The loop turned: held events go. A closure made once per run, not `setImmediate(fn, this)`: a host that wraps setImmediate may forward only `fn`. */
  private readonly onTurn = (): void => {
    this.turn = undefined;
    this.release();
  };

  /** Let the held events (and every later one) through. */
  release(): void {
    if (!this.holding) return;
    this.holding = false;
    if (this.pulls.size > 0) this.serve();
  }

  /**
   * Undefined when the consumer has taken every event and is waiting for the next (or has left);
   * otherwise a promise that settles when it asks for the event after the last one sent, when it
   * leaves, or when `signal` aborts (the caller then checks the signal). Releases held events
   * first: a run waiting for its consumer holds nothing back.
   */
  drained(signal: AbortSignal): Promise<void> | undefined {
    this.release();
    if (this.left || signal.aborted || (this.backlog === 0 && this.pulls.size > 0)) return undefined;
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
    // A run that ended without waiting for the loop (an in-memory store, an instant model) has no
    // use for its immediate: cleared, it does not keep the stream (and through `onLeave` the run's
    // signal) alive until the loop turns, which a host running turns back to back may never let it do.
    if (this.turn !== undefined) {
      clearImmediate(this.turn);
      this.turn = undefined;
    }
    if (this.pulls.size > 0) this.serve();
  }

  next(): Promise<IteratorResult<AGUIEvent>> {
    if (!this.running) {
      if (this.left) return Promise.resolve(DONE);
      this.begin();
    }
    // Nobody waiting before this call: answered at once, as `serve` would, without a waiting entry.
    if (this.pulls.size === 0) {
      if (!this.holding && this.backlog > 0) return Promise.resolve({ value: this.queue.shift() as AGUIEvent, done: false });
      if (this.backlog === 0) {
        if (this.failure) return Promise.reject(this.fail());
        if (this.ended) return Promise.resolve(DONE);
      }
    }
    const pending = new Promise<IteratorResult<AGUIEvent>>((resolve, reject) => {
      this.pulls.push({ resolve, reject });
    });
    // The consumer has taken everything and asks for more: a run waiting for that goes on.
    if (this.backlog === 0) this.space?.();
    return pending;
  }

  /**
   * The consumer leaves: a run in progress is stopped, and this settles (every call of it) once
   * its stages have ended.
   */
  return(): Promise<IteratorResult<AGUIEvent>> {
    this.leaving ??= this.leave();
    return this.leaving;
  }

  /** Like a generator that does not catch it: the run is left, then `error` is thrown. */
  async throw(error: unknown): Promise<IteratorResult<AGUIEvent>> {
    await this.return();
    throw error;
  }

  /**
   * The next event, when `next()` would answer with it at once (see {@link TAKE_READY}); undefined
   * otherwise (nothing queued, events held back, a `next()` waiting, the end or a failure), and
   * the consumer then calls `next()`. `holder` is the object the consumer iterates: only when it
   * is this stream itself with its own `next()` is anything handed over. A host that wraps the
   * stream (a `Proxy`, `Object.create`, a patched `next`) sees every event in its `next()`.
   */
  [TAKE_READY](holder: unknown): AGUIEvent | undefined {
    if (holder !== this || this.next !== RunStream.prototype.next) return undefined;
    if (this.holding || this.pulls.size > 0) return undefined;
    return this.queue.shift();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private async leave(): Promise<IteratorResult<AGUIEvent>> {
    this.left = true;
    this.queue.clear();
    this.space?.();
    for (let pull = this.pulls.shift(); pull; pull = this.pulls.shift()) pull.resolve(DONE);
    if (this.running && !this.ended) {
      this.onLeave?.();
      await this.running;
    }
    this.ended = true;
    return DONE;
  }

  private begin(): void {
    const start = this.start as (stream: RunStream) => Promise<void>;
    this.start = undefined;
    this.running = start(this).then(
      () => this.end(),
      (error: unknown) => {
        // The stages end every failure with a terminal event; this is a defect, passed on as is,
        // after the events sent before it.
        this.failure = { error };
        this.end();
      },
    );
  }

  /** Answer the waiting calls of `next()` in order, with what is queued, the failure or the end. */
  private serve(): void {
    for (let pull = this.pulls.peek(); pull; pull = this.pulls.peek()) {
      if (this.backlog > 0) {
        if (this.holding) return;
        pull.resolve({ value: this.queue.shift() as AGUIEvent, done: false });
      } else if (this.failure) pull.reject(this.fail());
      else if (this.ended) pull.resolve(DONE);
      else return;
      this.pulls.shift();
    }
  }

  /** The failure, once: later calls of `next()` are done. */
  private fail(): unknown {
    const { error } = this.failure as { error: unknown };
    this.failure = undefined;
    this.ended = true;
    return error;
  }
}
