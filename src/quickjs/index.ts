import { QuickJSExecutor, type QuickJSCodeExecutor, type QuickJSExecutorOptions } from "./executor.js";

export type { QuickJSCodeExecutor, QuickJSExecutorOptions, QuickJSExecutorStatus } from "./executor.js";
export type { QuickJSCodeResult, QuickJSErrorCode } from "./results.js";
export {
  DEFAULT_MAX_OUTPUT_CHARS,
  DEFAULT_MAX_QUEUED,
  DEFAULT_MAX_QUEUED_PER_USER,
  DEFAULT_MAX_WORKERS,
  DEFAULT_MEMORY_LIMIT_BYTES,
  DEFAULT_PER_USER_CONCURRENCY,
  DEFAULT_QUEUE_TIMEOUT_FACTOR,
  DEFAULT_SLICE_MS,
  DEFAULT_STACK_SIZE_BYTES,
  DEFAULT_TIMEOUT_MS,
  MIN_DEFAULT_QUEUE_TIMEOUT_MS,
  MIN_MEMORY_LIMIT_BYTES,
  MIN_STACK_SIZE_BYTES,
} from "./executor.js";

/**
 * A {@link CodeExecutor} for JavaScript (`languages: ["javascript", "js"]`) on QuickJS compiled
 * to WebAssembly (the optional peer dependency `quickjs-emscripten`, loaded on first use only).
 *
 * ```ts
 * const executor = quickjsExecutor({ timeoutMs: 1_000 });
 * const result = await executor.execute("console.log(6 * 7); [1, 2]", { signal, language: "js", userId: "ada" });
 * // { ok: true, output: "42\n[1,2]" }
 * await executor.close();
 * ```
 *
 * **What the code gets.** A fresh QuickJS runtime and context for every execution, evaluated as a
 * global script (not a module): the ECMAScript built-ins (`Math`, `JSON`, `Date`, `RegExp`,
 * `Map`, typed arrays, `Promise`, `eval`, `Function`, …) and a `console` whose `log`, `info`,
 * `warn` and `error` append one line each to the output. The value of the last expression, when
 * not `undefined`, is appended as a last line, JSON-ish (strings quoted); a promise is awaited.
 * Nothing survives from one execution to the next.
 *
 * **What the code cannot do.** There are no host objects in the sandbox: no `process`,
 * `require`, `module`, `fetch`, file system, network, environment, timers (`setTimeout`), or
 * `Atomics`; `import` declarations are syntax errors and `import()` rejects (there is no module
 * loader). The code runs inside WebAssembly, in a worker thread, and the only way out is the
 * console, which takes strings. `new Function` and `eval` work, inside the same sandbox.
 *
 * **Limits.** Each execution ends with `ok: false`, a clear `error` and a stable `code` (a
 * {@link QuickJSErrorCode}) when it exceeds:
 * - the time limit (`timeoutMs`, default 1,000 ms): `TIMEOUT`, `"time limit of 1000 ms
 *   exceeded"`. Checked by QuickJS's interrupt handler; code stuck in a native loop that never
 *   reaches a check (such as `Array(2 ** 32 - 1).join()`) is stopped by terminating its worker
 *   `timeoutMs + 500` ms in (a new worker replaces it);
 * - the memory limit (`memoryLimitBytes`, default 32 MiB): `MEMORY_LIMIT`, `"memory limit of
 *   33554432 bytes exceeded"`. The sandbox's WebAssembly memory has a fixed maximum of that size
 *   (16 MiB at least), which bounds everything the code allocates, the engine included;
 * - the output limit (`maxOutputChars`, default 10,000): `OUTPUT_LIMIT`, `"output limit of 10000
 *   characters reached"`: the output keeps the first characters and the execution is interrupted;
 * - the stack limit (`stackSizeBytes`, default 256 KiB): `CODE_ERROR`, `"InternalError: stack
 *   overflow"`;
 * - the caller's `signal`: `ABORTED`, `"execution aborted"` (a waiting block leaves the queue; a
 *   running one is interrupted, or its worker terminated 200 ms later).
 * A thrown exception or syntax error is `CODE_ERROR` with its name, message and stack
 * (`TypeError: x is not a function\n    at <eval> (code.js:1:5)`). `execute` never throws.
 *
 * **Threads, fairness, queue.** Blocks run in a pool of up to `maxWorkers` worker threads
 * (default `min(2, os.availableParallelism())`), started on demand (or by `prewarm()`) and
 * replaced when one had to be terminated, so the host's event loop never waits for the code. A
 * block that finds no free worker waits in its user's queue (`context.userId`; blocks without one
 * share a queue). A user has at most `perUserConcurrency` blocks running (default 1); the next
 * block comes from the user who has had the least sandbox time, so one user's blocks cannot
 * starve another's. Every block first runs for `sliceMs` (100 ms); one that has not finished is
 * run again from the start with the full `timeoutMs` after the blocks that have not had their
 * first slice, on at most `maxWorkers - 1` workers, so quick blocks never wait behind long ones.
 * The queue is bounded: past `maxQueuedPerUser` (8) waiting blocks of one user, or `maxQueued`
 * (64) in all, a block is refused at once (`QUEUE_FULL`); a block that has waited `queueTimeoutMs`
 * in all (default `5 × timeoutMs`, at least 5,000 ms) ends there (`QUEUE_TIMEOUT`). So a block
 * ends within about `queueTimeoutMs + sliceMs + timeoutMs` (plus 500 ms per run whose worker has
 * to be terminated). `close()` ends every waiting and running block with `CLOSED` and resolves
 * once every worker has exited; `status()` reports the pool and the queue. Create one executor
 * and reuse it.
 *
 * **Not defended against.** Side channels (the code can read `Date.now()` and measure time) and
 * bugs in QuickJS or V8's WebAssembly engine. The limits bound one execution, not the rate of
 * executions: a host that runs code from untrusted users still needs its own quotas.
 *
 * When `quickjs-emscripten` is not installed, every execution returns `ok: false` with an error
 * that says so (`SANDBOX_ERROR`); nothing is loaded until the first execution or `prewarm()`.
 *
 * See docs/code-execution.md for the options, the queue policy and every result a block can get.
 *
 * @throws RangeError when an option is not an integer in its range (`maxQueued` and
 * `maxQueuedPerUser` may be 0: never wait; `sliceMs` may be 0: no slices; the others must be
 * positive).
 */
export function quickjsExecutor(options: QuickJSExecutorOptions = {}): QuickJSCodeExecutor {
  return new QuickJSExecutor(options);
}
