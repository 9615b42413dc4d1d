import { onAbort } from "../shared/on-abort.js";

/**
 * Concurrent loads of one key share one execution (single-flight). Each caller waits with its
 * own abort signal; the shared work is aborted only when every caller has left.
 */
export class SharedFlights<T> {
  readonly #flights = new Map<string, { promise: Promise<T>; controller: AbortController; waiters: number }>();

  /** Number of keys being loaded right now. */
  get size(): number {
    return this.#flights.size;
  }

  /**
   * Wait for the load of `key`, starting it with `start` when none is running.
   * Rejects with `signal.reason` when `signal` aborts first.
   */
  join(key: string, start: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    let flight = this.#flights.get(key);
    if (!flight) {
      const controller = new AbortController();
      const created = { controller, waiters: 0, promise: Promise.resolve() as unknown as Promise<T> };
      created.promise = start(controller.signal).finally(() => {
        if (this.#flights.get(key) === created) this.#flights.delete(key);
      });
      this.#flights.set(key, created);
      flight = created;
    }
    const current = flight;
    current.waiters++;
    return new Promise<T>((resolve, reject) => {
      const leave = () => {
        unhook();
        current.waiters--;
      };
      const unhook = onAbort(signal, () => {
        leave();
        if (current.waiters === 0) {
          current.controller.abort(signal.reason);
          if (this.#flights.get(key) === current) this.#flights.delete(key);
        }
        reject(signal.reason);
      });
      current.promise.then(
        (value) => {
          if (signal.aborted) return;
          leave();
          resolve(value);
        },
        (error: unknown) => {
          if (signal.aborted) return;
          leave();
          reject(error);
        },
      );
    });
  }
}
