/** A request waiting for a slot. */
interface Waiter {
  grant: () => void;
  fail: (error: unknown) => void;
}

/**
 * Request slots: a slot is held for a whole stream, not one promise. A free slot is taken at once
 * (`tryAcquire`, no promise); the others wait in order. A request aborted while it waits leaves
 * the queue at once.
 */
export class Slots {
  private running = 0;
  /** In arrival order (a Set keeps insertion order and removes in O(1)). */
  private readonly waiting = new Set<Waiter>();

  constructor(private readonly concurrency: number) {}

  /** Requests holding a slot. */
  get active(): number {
    return this.running;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiting.size;
  }

  /** A slot now, as its release function, when one is free and nobody waits; else `undefined`. */
  tryAcquire(): (() => void) | undefined {
    if (this.running >= this.concurrency || this.waiting.size > 0) return undefined;
    this.running++;
    return this.releaser();
  }

  /** Wait for a slot; resolves with its release function. Rejects with the signal's reason on abort. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    const now = this.tryAcquire();
    if (now) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => waiter.fail(signal?.reason);
      const waiter: Waiter = {
        grant: () => {
          this.waiting.delete(waiter);
          signal?.removeEventListener("abort", onAbort);
          this.running++;
          resolve(this.releaser());
        },
        fail: (error) => {
          this.waiting.delete(waiter);
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.add(waiter);
    });
  }

  /** Fail every waiting request with `error`. */
  rejectWaiting(error: unknown): void {
    for (const waiter of [...this.waiting]) waiter.fail(error);
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      const next = this.waiting.values().next();
      if (!next.done && this.running < this.concurrency) next.value.grant();
    };
  }
}
