import { timerMs } from "../shared/timer.js";

/** A timer that fires later than this is jitter, not an event-loop stall, ms. */
const JITTER_MS = 5;
/** A deadline gives back the time of at most this many stalls, so it always ends. */
const MAX_STALLS_CREDITED = 4;

/**
 * `work`'s outcome, or a rejection with `timeout()` once `ms` ms have passed without one, NOT
 * counting the time the event loop was blocked (a model load, a long synchronous parse):
 *
 * - when the deadline's timer fires late, it was held up by a stall; the lateness (at most `ms`)
 *   is given back and the timer re-armed, so a reply that arrived during the stall is handled
 *   first (a deadline is extended for at most 4 stalls);
 * - when the timer fires on time, the decision still waits for one turn of the event loop
 *   (`setImmediate`, after the I/O poll), so a reply already in the socket wins.
 *
 * The work itself is not cancelled; its late outcome is ignored. The timer is `unref()`ed.
 */
export function loopDeadline<T>(work: Promise<T>, ms: number, timeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let immediate: ReturnType<typeof setImmediate> | undefined;
    let due = 0;
    let stalls = 0;
    const arm = (delay: number) => {
      due = performance.now() + delay;
      timer = setTimeout(onTimer, timerMs(delay));
      timer.unref?.();
    };
    const onTimer = () => {
      timer = undefined;
      const late = performance.now() - due;
      if (late > JITTER_MS && stalls < MAX_STALLS_CREDITED) {
        stalls++;
        arm(Math.min(late, ms));
        return;
      }
      immediate = setImmediate(() => {
        immediate = undefined;
        if (settled) return;
        settled = true;
        reject(timeout());
      });
      // Not unref()ed: an unref()ed immediate lets the loop block in its I/O poll until some
      // other event wakes it.
    };
    const finish = () => {
      settled = true;
      if (timer) clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
    };
    arm(ms);
    work.then(
      (value) => {
        if (settled) return;
        finish();
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        finish();
        reject(error);
      },
    );
  });
}

/** Call `fn`; a synchronous throw becomes a rejected promise. */
export function attempt<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}
