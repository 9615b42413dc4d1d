import { abortReason } from "./abort.js";
import type { AbortHooks } from "./abort-hooks.js";
import { onAbort } from "./on-abort.js";
import { timerMs } from "./timer.js";

/** A settled promise: its reactions are the cheapest way to run something one microtask later. */
const SETTLED = Promise.resolve();

/** What {@link withDeadline} resolves to when the deadline passes first. */
export const TIMED_OUT: unique symbol = Symbol("zoe.timedOut");

/**
 * Wait for `work` at most `ms` milliseconds: its value, or {@link TIMED_OUT} when the deadline
 * passes first; rejects with the signal's reason as soon as `signal` aborts. The work itself is
 * not stopped (a dependency that ignores its signal keeps running, unawaited: its late outcome is
 * dropped). Unlike p-timeout, nothing captures a stack trace per call: this runs several times in
 * every run.
 *
 * `signal` may instead be {@link AbortHooks} (a shared flight's control), hooked without an
 * `AbortSignal`; or a function that gives a signal, called only when the work is still waiting
 * one microtask later, so work that answers at once never makes a signal that is made on demand.
 */
export function withDeadline<T>(
  work: Promise<T>,
  ms: number,
  signal: AbortSignal | AbortHooks | (() => AbortSignal),
): Promise<T | typeof TIMED_OUT> {
  if (typeof signal !== "function" && signal.aborted) {
    work.catch(() => {});
    return Promise.reject(abortReason(signal));
  }
  const timed = ms > 0 && ms !== Number.POSITIVE_INFINITY;
  return new Promise<T | typeof TIMED_OUT>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let unhook: (() => void) | undefined;
    let settled = false;
    work.then(
      (value) => {
        if (settled) return;
        settled = true;
        unhook?.();
        if (timer) clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        unhook?.();
        if (timer) clearTimeout(timer);
        reject(error);
      },
    );
    // Work that has already settled (a cached value, an in-memory store) answers in this
    // microtask: the abort hook and the timer are set one microtask later, and only if it is
    // still waiting (`onAbort` also runs the hook of a signal that aborted in between).
    // A reaction of a settled promise, not `queueMicrotask`: Node wraps each queued microtask in
    // an `AsyncResource` (an async id and its hooks), about twice the cost of the reaction.
    SETTLED.then(() => {
      if (settled) return;
      const waitedOn = typeof signal === "function" ? signal() : signal;
      const aborted = () => {
        settled = true;
        if (timer) clearTimeout(timer);
        reject(abortReason(waitedOn));
      };
      unhook = "onAbort" in waitedOn ? waitedOn.onAbort(aborted) : onAbort(waitedOn, aborted);
      if (timed) {
        timer = setTimeout(() => {
          if (settled) return;
          settled = true;
          unhook?.();
          work.catch(() => {});
          resolve(TIMED_OUT);
        }, timerMs(ms));
      }
    });
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
