import { getEventListeners } from "node:events";

/**
 * Abort hooks without an event listener each: the first hook on a signal adds one `abort`
 * listener, which runs every hook registered at that moment; later hooks only join a set.
 * `addEventListener` with `once` and its removal cost several microseconds in Node, and a run
 * waits on its signal many times.
 */
type Hooks = Set<() => void>;

/**
 * The signals of runs in progress ({@link ownedAbortController}) and their hooks (null before the
 * first). A Map emptied as each run ends ({@link abortOwned}, {@link releaseOwned}), not a
 * WeakMap: a WeakMap keyed by one short-lived signal per run kept its entries until a full GC
 * (about 500 KB of tables after 20,000 runs), and nothing is written onto the signal itself.
 */
const owned = new Map<AbortSignal, Hooks | null>();
/** The hooks of other signals (a host's, often long-lived), behind their one listener. */
const foreign = new WeakMap<AbortSignal, Hooks>();

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
  const mine = owned.get(signal);
  let set: Hooks | undefined;
  if (mine !== undefined) {
    // An owned signal's hooks are run by `abortOwned`, without a listener.
    set = mine ?? new Set();
    if (!mine) owned.set(signal, set);
  } else {
    set = foreign.get(signal);
    if (!set) {
      const created: Hooks = new Set();
      set = created;
      foreign.set(signal, created);
      signal.addEventListener(
        "abort",
        () => {
          foreign.delete(signal);
          runHooks(created);
        },
        { once: true },
      );
    }
  }
  set.add(fn);
  const inSet = set;
  return () => {
    inSet.delete(fn);
  };
}

/** Run every hook of a set once, each isolated: a hook that throws has its error thrown again from a microtask. */
function runHooks(set: Hooks): void {
  for (const hook of [...set]) {
    try {
      hook();
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
  set.clear();
}

/**
 * An AbortController that is aborted only through {@link abortOwned}, so that hooks on its signal
 * need no `abort` listener (adding one cost a run about a microsecond). A run's own controller is
 * one: the run is the only code that aborts it. Listeners others add to its signal (a backend's
 * `fetch`, `AbortSignal.any`) work as usual.
 */
export function ownedAbortController(): AbortController {
  const controller = new AbortController();
  owned.set(controller.signal, null);
  return controller;
}

/** Abort an {@link ownedAbortController} and run its signal's hooks; it is owned no more. */
export function abortOwned(controller: AbortController, reason: unknown): void {
  const signal = controller.signal;
  if (signal.aborted) return;
  controller.abort(reason);
  // A released signal's hooks are foreign ones: their listener has run them.
  const set = owned.get(signal);
  owned.delete(signal);
  if (set) runHooks(set);
}

/**
 * The run is over without an abort: its signal is owned no more (a hook added later gets a
 * listener, as on any signal). Call it once the run will not call {@link abortOwned}.
 */
export function releaseOwned(controller: AbortController): void {
  owned.delete(controller.signal);
}

/** Whether aborting `signal` would reach anything: a hook, or a listener added directly. */
export function hasAbortListeners(signal: AbortSignal): boolean {
  if ((owned.get(signal)?.size ?? 0) > 0) return true;
  const set = foreign.get(signal);
  if (set && set.size > 0) return true;
  // A foreign set's own listener does not count.
  return getEventListeners(signal, "abort").length > (set ? 1 : 0);
}

/** Hooks waiting on `signal` (for tests: a signal that outlives many runs must not gather them). */
export function abortHookCount(signal: AbortSignal): number {
  return owned.get(signal)?.size ?? foreign.get(signal)?.size ?? 0;
}

/** Signals owned by runs in progress (for tests: every run lets its signal go when it ends). */
export function ownedSignalCount(): number {
  return owned.size;
}
