import { getEventListeners } from "node:events";

/**
 * Abort hooks without an event listener each: the first hook on a signal adds one `abort`
 * listener, which runs every hook registered at that moment; later hooks only join a set.
 * `addEventListener` with `once` and its removal cost several microseconds in Node, and a run
 * waits on its signal many times.
 *
 * The set lives on the signal, under a symbol, not in a WeakMap: every run has its own signal,
 * and a WeakMap (or WeakSet) keyed by short-lived objects keeps their entries until a full GC,
 * while each young-generation collection must visit them (measured: ~500 KB of tables after
 * 20,000 runs, and every run's signal and hooks promoted to the old generation).
 */
const HOOKS: unique symbol = Symbol("zoe.abortHooks");
/** Marks a signal whose hooks {@link abortOwned} runs: it needs no `abort` listener of its own. */
const OWNED: unique symbol = Symbol("zoe.ownedSignal");

type Hooked = AbortSignal & { [HOOKS]?: Set<() => void> | undefined; [OWNED]?: true };

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
  const hooked = signal as Hooked;
  let set = hooked[HOOKS];
  if (!set) {
    // A signal that takes no new property (frozen, sealed): a listener per hook, as it is rare.
    if (!Object.isExtensible(signal)) return listen(signal, fn);
    const created = new Set<() => void>();
    set = created;
    hooked[HOOKS] = created;
    // An owned signal's hooks are run by `abortOwned`, without a listener.
    if (!hooked[OWNED]) {
      signal.addEventListener(
        "abort",
        () => {
          hooked[HOOKS] = undefined;
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

/** `fn` as an `abort` listener of its own; returns the function that removes it. */
function listen(signal: AbortSignal, fn: () => void): () => void {
  const listener = () => fn();
  signal.addEventListener("abort", listener, { once: true });
  return () => signal.removeEventListener("abort", listener);
}

/** Run every hook of a set once, each isolated: a hook that throws has its error thrown again from a microtask. */
function runHooks(set: Set<() => void>): void {
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
  (controller.signal as Hooked)[OWNED] = true;
  return controller;
}

/** Abort an {@link ownedAbortController} and run its signal's hooks. */
export function abortOwned(controller: AbortController, reason: unknown): void {
  const signal = controller.signal as Hooked;
  if (signal.aborted) return;
  controller.abort(reason);
  // A signal that is not owned has run its hooks from its listener, which also dropped the set.
  const set = signal[HOOKS];
  if (!set) return;
  signal[HOOKS] = undefined;
  runHooks(set);
}

/** Whether aborting `signal` would reach anything: a hook, or a listener added directly. */
export function hasAbortListeners(signal: AbortSignal): boolean {
  const hooked = signal as Hooked;
  const set = hooked[HOOKS];
  if (set && set.size > 0) return true;
  return getEventListeners(signal, "abort").length > (set && !hooked[OWNED] ? 1 : 0);
}

/** Hooks waiting on `signal` (for tests: a signal that outlives many runs must not gather them). */
export function abortHookCount(signal: AbortSignal): number {
  return (signal as Hooked)[HOOKS]?.size ?? 0;
}
