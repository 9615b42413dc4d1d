import { setTimeout as sleep } from "node:timers/promises";
import { onAbort } from "./on-abort.js";

/** The reason a signal (or a flight's abort hooks) aborted, as an Error. */
export function abortReason(signal: { readonly reason: unknown }): unknown {
  return signal.reason ?? abortError();
}

/** The `AbortError` of a run aborted without a reason it can give. */
export const abortError = (): DOMException => new DOMException("The run was aborted.", "AbortError");

/**
 * Wait for `promise`, or reject as soon as `signal` aborts; the work itself is not stopped, unless
 * `stop` (called then) stops it.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal, stop?: () => void): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const unhook = onAbort(signal, () => {
      stop?.();
      reject(abortReason(signal));
    });
    promise.then(
      (value) => {
        unhook();
        resolve(value);
      },
      (error: unknown) => {
        unhook();
        reject(error);
      },
    );
  });
}

/**
 * Wait `ms`, or reject with the signal's reason as soon as it aborts (the timer is cleared).
 * The timer is Node's own (`node:timers/promises`); its rejection, an `AbortError` whose `cause`
 * is the reason, is turned back into the reason itself, which is what every caller (and a
 * `ModelBackend`'s consumer) expects to see.
 */
export async function delay(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : undefined);
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw error;
  }
}
