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
  const set = signal.aborted ? undefined : (hooks.get(signal) ?? hookSet(signal));
  if (!set) return hookAborted(fn);
  set.add(fn);
  return () => {
    set.delete(fn);
  };
}

/** The hook of something that has already aborted: `fn` runs from a microtask, unless unhooked first. */
export function hookAborted(fn: () => void): () => void {
  let live = true;
  queueMicrotask(() => {
    if (live) fn();
  });
  return () => {
    live = false;
  };
}

/**
 * A new set of hooks for a signal that is not owned, with its one `abort` listener (an owned
 * signal has its set from the start, and `abortOwned` runs it). Undefined when the listener ran
 * at once, from `addEventListener` itself: the signal has aborted, and `fn` runs from a microtask
 * instead.
 * Nothing is kept when `addEventListener` throws, so the next call tries again.
 */
function hookSet(signal: AbortSignal): Set<() => void> | undefined {
  const created = new Set<() => void>();
  let ran = false;
  signal.addEventListener(
    "abort",
    () => {
      ran = true;
      if (hooks.get(signal) === created) hooks.delete(signal);
      runHooks(created);
    },
    { once: true },
  );
  if (ran) return undefined;
  hooks.set(signal, created);
  return created;
}

/** Run every hook of a set once, each isolated: a hook that throws has its error thrown again from a microtask. */
export function runHooks(set: Set<() => void>): void {
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
 * The hooks of an owned signal, which {@link abortOwned} runs: it needs no `abort` listener of its
 * own. Set when the controller is made, so that an owned signal costs one weak-map entry (each
 * entry keyed by an `AbortSignal` cost a run about a microsecond).
 */
class OwnedHooks extends Set<() => void> {}

/**
 * An AbortController that is aborted only through {@link abortOwned}, so that hooks on its signal
 * need no `abort` listener (adding one cost a run about a microsecond). A run's own controller is
 * one: the run is the only code that aborts it. Listeners others add to its signal (a backend's
 * `fetch`, `AbortSignal.any`) work as usual.
 */
export function ownedAbortController(): AbortController {
  const controller = new AbortController();
  hooks.set(controller.signal, new OwnedHooks());
  return controller;
}

/** Abort an {@link ownedAbortController} and run its signal's hooks. */
export function abortOwned(controller: AbortController, reason: unknown): void {
  const signal = controller.signal;
  if (signal.aborted) return;
  controller.abort(reason);
  // A signal that is not owned has run its hooks from its listener, which also dropped the set.
  const set = hooks.get(signal);
  if (!set) return;
  hooks.delete(signal);
  runHooks(set);
}

/** Whether aborting `signal` would reach anything: a hook, or a listener added directly. */
export function hasAbortListeners(signal: AbortSignal): boolean {
  const set = hooks.get(signal);
  if (set && set.size > 0) return true;
  return abortListenerCount(signal) > (set && !(set instanceof OwnedHooks) ? 1 : 0);
}

/** What Node's EventTarget keeps per event type under its listener map: at least their number. */
type ListenerRoot = { size: number };

/**
 * The internal symbol under which Node's EventTarget keeps its listeners by type (a `Map` of
 * type → `{ size, … }`, the entry deleted when its last listener goes), if this runtime has it.
 * `getEventListeners` reaches that map through three property lookups on the signal, and on
 * Node 20 every `AbortSignal` has a hidden class of its own (it is made as an `EventTarget`, then
 * given its prototype and fields), so each lookup misses V8's caches: 0.6 to 0.9 µs at the end of
 * every run, against one lookup here. Found once, on a real signal, and kept only if the map
 * behaves as described; otherwise (another runtime, a later Node) `getEventListeners` is used.
 */
const LISTENERS: symbol | undefined = (() => {
  try {
    const signal = new AbortController().signal;
    const key = Object.getOwnPropertySymbols(signal).find((k) => k.description === "kEvents");
    if (key === undefined) return undefined;
    const roots = () => (signal as unknown as Record<symbol, unknown>)[key];
    const root = () => (roots() as Map<string, ListenerRoot>).get("abort");
    // Node's own Map class (`SafeMap`, from its primordials) is not `instanceof Map` here: a map is what answers `get`.
    const map = roots() as { get?: unknown } | undefined;
    if (typeof map?.get !== "function" || root() !== undefined) return undefined;
    const a = () => {};
    const b = () => {};
    signal.addEventListener("abort", a);
    signal.addEventListener("abort", b);
    if (root()?.size !== 2 || getEventListeners(signal, "abort").length !== 2) return undefined;
    signal.removeEventListener("abort", a);
    signal.removeEventListener("abort", b);
    return root() === undefined ? key : undefined;
  } catch {
    return undefined;
  }
})();

/** Whether {@link abortListenerCount} reads the listener map directly on this runtime (for tests). */
export const readsListenerMap: boolean = LISTENERS !== undefined;

/** How many `abort` listeners `signal` has. */
export function abortListenerCount(signal: AbortSignal): number {
  if (LISTENERS === undefined) return getEventListeners(signal, "abort").length;
  const roots = (signal as unknown as Record<symbol, Map<string, ListenerRoot> | undefined>)[LISTENERS];
  return roots?.get("abort")?.size ?? 0;
}

/** Hooks waiting on `signal` (for tests: a signal that outlives many runs must not gather them). */
export function abortHookCount(signal: AbortSignal): number {
  return hooks.get(signal)?.size ?? 0;
}
