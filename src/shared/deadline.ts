import { abortable, abortReason } from "./abort.js";

/** What {@link withDeadline} resolves to when the deadline passes first. */
export const TIMED_OUT: unique symbol = Symbol("zoe.timedOut");

/**
 * Wait for `work` at most `ms` milliseconds: its value, or {@link TIMED_OUT} when the deadline
 * passes first; rejects with the signal's reason as soon as `signal` aborts. The work itself is
 * not stopped (a dependency that ignores its signal keeps running, unawaited: its late outcome is
 * dropped). Unlike p-timeout, nothing captures a stack trace per call: this runs several times in
 * every run.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, signal: AbortSignal): Promise<T | typeof TIMED_OUT> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(abortReason(signal));
  }
  if (!(ms > 0) || ms === Number.POSITIVE_INFINITY) {
    return abortable(work, signal);
  }
  return new Promise<T | typeof TIMED_OUT>((resolve, reject) => {
    const finish = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      finish();
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      work.catch(() => {});
      resolve(TIMED_OUT);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        finish();
        resolve(value);
      },
      (error: unknown) => {
        finish();
        reject(error);
      },
    );
  });
}

/**
 * Call `fn` and give its outcome as a promise: a synchronous throw becomes a rejection, so a
 * misbehaving hook can never escape the run's error handling.
 */
export function attempt<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}
