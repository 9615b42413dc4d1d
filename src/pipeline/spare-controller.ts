import { ownedAbortController } from "../shared/on-abort.js";

/**
 * The next run's AbortController, made ahead: at the pipeline's creation, then at the end of each
 * run for the one after it. On Node 20 making an `AbortSignal` costs about 4 µs (Node builds it
 * as an `EventTarget`, then changes its prototype, which V8 makes slow; see `bench/floor.ts`'s
 * platform table), the largest single step of a warm run before its first token. Made here, that
 * step is done after the previous run's last event, off the next run's path to its first token;
 * a run pays for one signal as before. A run that finds none (runs at the same time) makes its own.
 */
export class SpareController {
  private spare: AbortController | undefined = ownedAbortController();

  /** An unused owned controller: the spare, or a new one. */
  take(): AbortController {
    const controller = this.spare ?? ownedAbortController();
    this.spare = undefined;
    return controller;
  }

  /** Make the next run's controller, if none is waiting. */
  refill(): void {
    this.spare ??= ownedAbortController();
  }
}
