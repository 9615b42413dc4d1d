import { timerMs } from "../shared/timer.js";

/** An error that says a time limit passed (the name p-timeout and DOM use). */
export function timeoutError(message: string): Error {
  const error = new Error(message);
  error.name = "TimeoutError";
  return error;
}

/**
 * A signal that aborts when `parent` aborts (with its reason) or after `ms` (with `reason()`).
 * Call `dispose` when done, so that neither the timer nor the listener outlives the work.
 */
export function withDeadline(parent: AbortSignal, ms: number, reason: () => Error): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onAbort = () => controller.abort(parent.reason);
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => controller.abort(reason()), timerMs(ms));
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      parent.removeEventListener("abort", onAbort);
    },
  };
}
