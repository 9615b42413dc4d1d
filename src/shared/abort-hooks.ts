import { hookAborted, runHooks } from "./on-abort.js";

/**
 * Something a wait can stop on without an `AbortSignal`: what may abort, told by hooks. A signal
 * costs an `AbortController` (several microseconds in Node 20, and far more when the process has
 * just woken) and an `abort` listener to hook a wait to it; a wait that only needs to end when
 * the work is given up needs neither. {@link withDeadline} takes one in place of a signal.
 */
export interface AbortHooks {
  /** True once it has aborted. */
  readonly aborted: boolean;
  /** What it aborted with; undefined before. */
  readonly reason: unknown;
  /** Call `fn` once when it aborts (from a microtask when it already has); returns the function that unhooks it. */
  onAbort(fn: () => void): () => void;
}

/** {@link AbortHooks} kept in a set that {@link HookedAbort.fire} runs once. */
export abstract class HookedAbort implements AbortHooks {
  #reason: { value: unknown } | undefined = undefined;
  #hooks: Set<() => void> | undefined = undefined;

  get aborted(): boolean {
    return this.#reason !== undefined;
  }

  get reason(): unknown {
    return this.#reason?.value;
  }

  onAbort(fn: () => void): () => void {
    if (this.#reason !== undefined) return hookAborted(fn);
    const hooks = (this.#hooks ??= new Set());
    hooks.add(fn);
    return () => {
      hooks.delete(fn);
    };
  }

  /**
   * Abort, the first call only: record `reason`, run `first` (what aborts along, a signal whose
   * listeners then run before the hooks), then every hook once. A hook that throws has its error
   * thrown again from a microtask. A call from within `first` or a hook changes nothing.
   */
  protected fire(reason: unknown, first?: () => void): void {
    if (this.#reason !== undefined) return;
    this.#reason = { value: reason };
    const hooks = this.#hooks;
    this.#hooks = undefined;
    first?.();
    if (hooks) runHooks(hooks);
  }
}
