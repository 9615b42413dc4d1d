import { getEventListeners } from "node:events";

/**
 * Abort hooks without an event listener each: the first hook on a signal adds one `abort`
 * listener, which runs every hook registered at that moment; later hooks only join a set.
 * `addEventListener` with `once` and its removal cost several microseconds in Node, and a run
 * waits on its signal many times.
 */
const hooks = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Call `fn` once when `signal` aborts (in a microtask when it already has); returns the function
 * that unhooks it. A hook that throws does not keep the others from running: its error is thrown
 * again from a microtask, as an `abort` listener's would be.
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    let live = true;
    queueMicrotask(() => {
      if (live) fn();
    });
    return () => {
      live = false;
    };
  }
  let set = hooks.get(signal);
  if (!set) {
    const created = new Set<() => void>();
    set = created;
    hooks.set(signal, created);
    signal.addEventListener(
      "abort",
      () => {
        hooks.delete(signal);
        for (const hook of [...created]) {
          try {
            hook();
          } catch (error) {
            queueMicrotask(() => {
              throw error;
            });
          }
        }
        created.clear();
      },
      { once: true },
    );
  }
  set.add(fn);
  const hooked = set;
  return () => {
    hooked.delete(fn);
  };
}

/** Whether aborting `signal` would reach anything: a hook, or a listener added directly. */
export function hasAbortListeners(signal: AbortSignal): boolean {
  const set = hooks.get(signal);
  if (set && set.size > 0) return true;
  return getEventListeners(signal, "abort").length > (set ? 1 : 0);
}

/** Hooks waiting on `signal` (for tests: a signal that outlives many runs must not gather them). */
export function abortHookCount(signal: AbortSignal): number {
  return hooks.get(signal)?.size ?? 0;
}
