import pLimit, { type LimitFunction } from "p-limit";

/**
 * Request slots on top of p-limit: a slot is held for a whole stream, not one promise.
 * A request aborted while it waits leaves the queue at once (its p-limit turn, when it comes,
 * is handed back immediately).
 */
export class Slots {
  private readonly limit: LimitFunction;
  private readonly waiting = new Set<(error: unknown) => void>();

  constructor(concurrency: number) {
    this.limit = pLimit(concurrency);
  }

  /** Requests holding a slot. */
  get active(): number {
    return this.limit.activeCount;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiting.size;
  }

  /** Wait for a slot; resolves with its release function. Rejects with the signal's reason on abort. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        this.waiting.delete(fail);
        signal?.removeEventListener("abort", onAbort);
        reject(error);
      };
      const onAbort = () => fail(signal?.reason);
      if (signal?.aborted) return fail(signal.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.add(fail);
      void this.limit(
        () =>
          new Promise<void>((release) => {
            if (settled) return release();
            settled = true;
            this.waiting.delete(fail);
            signal?.removeEventListener("abort", onAbort);
            let released = false;
            resolve(() => {
              if (released) return;
              released = true;
              release();
            });
          }),
      );
    });
  }

  /** Fail every waiting request with `error`. */
  rejectWaiting(error: unknown): void {
    for (const fail of [...this.waiting]) fail(error);
  }
}
