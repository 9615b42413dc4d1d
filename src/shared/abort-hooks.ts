import { runHooks } from "./on-abort.js";

/**
 * Something a wait can stop on without an `AbortSignal`: what may abort, told by hooks. A signal
 * costs an `AbortController` (several microseconds in Node 20, and far more when the process has
 * just woken) and an `abort` listener to hook a wait to it; a wait that only needs to end when
 * the work is given up needs neither. {@link withDeadline} takes one in place of a signal.
 */
export abstract class AbortHooks {
  #reason: { value: unknown } | undefined = undefined;
  #hooks: Set<() => void> | undefined = undefined;

  /** True once {@link AbortHooks.fire} has run. */
  get aborted(): boolean {
    return this.#reason !== undefined;
  }

  /** What it aborted with; undefined before. */
  get reason(): unknown {
    return this.#reason?.value;
  }

  /**
   * Call `fn` once when this aborts (from a microtask when it already has); returns the function
   * that unhooks it.
   */
  onAbort(fn: () => void): () => void {
    if (this.#reason !== undefined) {
      let live = true;
      queueMicrotask(() => {
        if (live) fn();
      });
      return () => {
        live = false;
      };
    }
    const hooks = (this.#hooks ??= new Set());
    hooks.add(fn);
    return () => {
      hooks.delete(fn);
    };
  }

  /** Abort: record `reason` and run every hook once (the first call only). A hook that throws has its error thrown again from a microtask. */
  protected fire(reason: unknown): boolean {
    if (this.#reason !== undefined) return false;
    this.#reason = { value: reason };
    const hooks = this.#hooks;
    this.#hooks = undefined;
    if (hooks) runHooks(hooks);
    return true;
  }
}
