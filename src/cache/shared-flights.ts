import { abortable } from "../shared/abort.js";
import { HookedAbort, type AbortHooks } from "../shared/abort-hooks.js";
import { onAbort } from "../shared/on-abort.js";

/**
 * The shared work of one flight: its abort signal, created only when the work asks for it (most
 * loads answer at once and never do; an AbortController costs microseconds), a way to abort it,
 * and hooks that wait on it without a signal (`onAbort`, `aborted`, `reason`).
 */
export interface FlightControl extends AbortHooks {
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

/**
 * A {@link FlightControl} whose AbortController exists only once its signal is read. Waits on the
 * flight (its deadline's, see `withDeadline`) hook to it directly: a provider that takes a few
 * milliseconds and never reads its signal makes no controller and no `abort` listener. A class,
 * not an object literal with a getter: V8 builds such a literal's accessor at run time, about
 * 0.6 µs per object, against a few tens of ns for an instance whose getter is on the prototype.
 */
class LazyControl extends HookedAbort implements FlightControl {
  #controller: AbortController | undefined = undefined;

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.aborted) this.#controller.abort(this.reason);
    }
    return this.#controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    // As an AbortController does: no reason is an AbortError, the one object every party sees.
    const given = reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason;
    // The signal's listeners run first (a hook sees it aborted), then the waits' hooks.
    this.fire(given, () => this.#controller?.abort(given));
  }
}

/** The work of a flight started: a synchronous throw is its rejection, as an async function's would be. */
function begin<T>(start: (flight: FlightControl) => Promise<T>, control: FlightControl): Promise<T> {
  try {
    return start(control);
  } catch (error) {
    return Promise.reject(error);
  }
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
   * {@link joinControlled} for work that no other caller may share (a provider that is not
   * cached, whose value may depend on the whole request): nothing is recorded under a key, and
   * the work is aborted when `signal` aborts.
   */
  alone(start: (flight: FlightControl) => Promise<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const control = new LazyControl();
    return abortable(begin(start, control), signal, () => control.abort(signal.reason));
  }

  /**
   * {@link join}, with the flight's control instead of its signal: the work reads `signal` only
   * when it needs one, and can abort the flight itself.
   */
  joinControlled(key: string, start: (flight: FlightControl) => Promise<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    let flight = this.#flights.get(key);
    // A flight that is aborting (every caller left, its deadline passed, it failed) takes no new callers.
    if (!flight || flight.control.aborted) {
      const control = new LazyControl();
      const created: Flight<T> = { control, waiters: 0, promise: Promise.resolve() as unknown as Promise<T> };
      created.promise = begin(start, control).finally(() => {
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
          if (this.#flights.get(key) === current) this.#flights.delete(key);
          current.control.abort(signal.reason);
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
