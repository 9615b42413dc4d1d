import { onAbort } from "../shared/on-abort.js";

/**
 * The shared work of one flight: its abort signal, created only when the work asks for it (most
 * loads answer at once and never do; an AbortController costs microseconds), and a way to abort it.
 */
export interface FlightControl {
  /** Aborted when every caller has left (or by `abort`). */
  readonly signal: AbortSignal;
  /** Abort the flight's signal (its deadline passed, it failed). */
  abort(reason: unknown): void;
}

interface Flight<T> {
  promise: Promise<T>;
  waiters: number;
  control: FlightControl;
}

/** A {@link FlightControl} whose AbortController exists only once its signal is read. */
function lazyControl(): FlightControl {
  let controller: AbortController | undefined;
  let aborted: { reason: unknown } | undefined;
  return {
    get signal(): AbortSignal {
      if (!controller) {
        controller = new AbortController();
        if (aborted) controller.abort(aborted.reason);
      }
      return controller.signal;
    },
    abort(reason: unknown): void {
      if (controller) controller.abort(reason);
      else aborted ??= { reason };
    },
  };
}

/**
 * Concurrent loads of one key share one execution (single-flight). Each caller waits with its
 * own abort signal; the shared work is aborted only when every caller has left.
 */
export class SharedFlights<T> {
  readonly #flights = new Map<string, Flight<T>>();

  /** Number of keys being loaded right now. */
  get size(): number {
    return this.#flights.size;
  }

  /**
   * Wait for the load of `key`, starting it with `start` when none is running.
   * Rejects with `signal.reason` when `signal` aborts first.
   */
  join(key: string, start: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
    return this.joinControlled(key, (flight) => start(flight.signal), signal);
  }

  /**
   * {@link join}, with the flight's control instead of its signal: the work reads `signal` only
   * when it needs one, and can abort the flight itself.
   */
  joinControlled(key: string, start: (flight: FlightControl) => Promise<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    let flight = this.#flights.get(key);
    if (!flight) {
      const control = lazyControl();
      const created: Flight<T> = { control, waiters: 0, promise: Promise.resolve() as unknown as Promise<T> };
      created.promise = start(control).finally(() => {
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
          current.control.abort(signal.reason);
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
