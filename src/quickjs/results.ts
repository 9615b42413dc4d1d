import type { CodeResult } from "../tools/types.js";

/**
 * Why a block did not run to the end, stable across versions (the `error` text may change):
 *
 * - `QUEUE_FULL`: refused at once, the queue (all users, or this user's) is at its bound;
 * - `QUEUE_TIMEOUT`: waited `queueTimeoutMs` in all without a free sandbox (it never started, or
 *   never got its second run);
 * - `TIMEOUT`: ran past `timeoutMs` and was stopped;
 * - `MEMORY_LIMIT`, `OUTPUT_LIMIT`: passed `memoryLimitBytes` / `maxOutputChars`;
 * - `ABORTED`: the caller's signal aborted (queued: removed; running: stopped);
 * - `CLOSED`: the executor was closed (before or while the block waited or ran);
 * - `CODE_ERROR`: the code threw, did not parse, overflowed its stack, or left a promise that
 *   never settles;
 * - `SANDBOX_ERROR`: the sandbox itself failed (quickjs-emscripten missing, a worker that could
 *   not start or died);
 * - `UNSUPPORTED_LANGUAGE`: not JavaScript.
 */
export type QuickJSErrorCode =
  | "QUEUE_FULL"
  | "QUEUE_TIMEOUT"
  | "TIMEOUT"
  | "MEMORY_LIMIT"
  | "OUTPUT_LIMIT"
  | "ABORTED"
  | "CLOSED"
  | "CODE_ERROR"
  | "SANDBOX_ERROR"
  | "UNSUPPORTED_LANGUAGE";

/** A {@link CodeResult} whose failures carry a stable {@link QuickJSErrorCode}. */
export interface QuickJSCodeResult extends CodeResult {
  /** Set exactly when `ok` is false. */
  code?: QuickJSErrorCode;
}

export const CLOSED_MESSAGE = "the QuickJS executor is closed";
export const ABORTED_MESSAGE = "execution aborted";

export function failure(code: QuickJSErrorCode, error: string, output = ""): QuickJSCodeResult {
  return { ok: false, output, error, code };
}

export const closed = (output = ""): QuickJSCodeResult => failure("CLOSED", CLOSED_MESSAGE, output);
export const aborted = (output = ""): QuickJSCodeResult => failure("ABORTED", ABORTED_MESSAGE, output);

export function queueFull(waiting: number, perUser: boolean): QuickJSCodeResult {
  const where = perUser
    ? `this user's code queue is full (${waiting} blocks waiting)`
    : `the code queue is full (${waiting} blocks waiting)`;
  return failure("QUEUE_FULL", `${where}; try again when earlier blocks have finished`);
}

/** `sliceMs`: the block ran its first slice of that many ms and waited for its second run. */
export function queueTimeout(ms: number, sliceMs?: number): QuickJSCodeResult {
  const what = sliceMs === undefined ? "the code did not run" : `the code did not finish in its first ${sliceMs} ms and was not run again`;
  return failure("QUEUE_TIMEOUT", `queue time limit of ${ms} ms exceeded: every sandbox stayed busy, ${what}`);
}
