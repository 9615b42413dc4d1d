import { ZoeError } from "../errors/zoe-error.js";

/**
 * A cache call got no answer within its deadline (`code: "CACHE_TIMEOUT"`). The fallback store
 * treats it as a miss (reads) or keeps the write for write-back (writes); it never fails a run.
 */
export class CacheTimeoutError extends ZoeError {
  /** What was late: `get`, `listAppend`, `ping`, `connect`, `writeBack`... */
  readonly op: string;
  /** The deadline that passed, ms (event-loop stalls not counted). */
  readonly timeoutMs: number;

  constructor(source: string, op: string, timeoutMs: number) {
    super(
      "CACHE_TIMEOUT",
      `${source}: ${op} got no answer within ${timeoutMs} ms (event-loop stalls not counted). ` +
        "Check that the server is up and not overloaded, or raise timeoutMs.",
    );
    this.name = "CacheTimeoutError";
    this.op = op;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A failure of the call's arguments, not of Redis: a `TypeError` (a value that cannot be stored)
 * or a `RangeError` (too much for one call). Trying again cannot help, and it never counts as
 * Redis failing.
 */
export const isArgumentError = (error: unknown): error is TypeError | RangeError =>
  error instanceof TypeError || error instanceof RangeError;
