import type { CodeExecutor } from "../tools/types.js";
import { QuickJSExecutor, type QuickJSExecutorOptions } from "./executor.js";

export type { QuickJSExecutorOptions } from "./executor.js";
export {
  DEFAULT_MAX_OUTPUT_CHARS,
  DEFAULT_MEMORY_LIMIT_BYTES,
  DEFAULT_STACK_SIZE_BYTES,
  DEFAULT_TIMEOUT_MS,
} from "./executor.js";

/**
 * A {@link CodeExecutor} for JavaScript (`languages: ["javascript", "js"]`) on QuickJS compiled
 * to WebAssembly (the optional peer dependency `quickjs-emscripten`, loaded on first use only).
 *
 * ```ts
 * const executor = quickjsExecutor({ timeoutMs: 1_000 });
 * const result = await executor.execute("console.log(6 * 7); [1, 2]", { signal, language: "js" });
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
 * **Limits.** Each execution ends with `ok: false` and a clear `error` when it exceeds:
 * - the time limit (`timeoutMs`, default 1,000 ms): `"time limit of 1000 ms exceeded"`. Checked
 *   by QuickJS's interrupt handler; code stuck in a native loop that never reaches a check (such
 *   as `Array(2 ** 32 - 1).join()`) is stopped by terminating the worker `timeoutMs + 500` ms in;
 * - the memory limit (`memoryLimitBytes`, default 32 MiB): `"memory limit of 33554432 bytes
 *   exceeded"`. The sandbox's WebAssembly memory has a fixed maximum of that size (16 MiB at
 *   least), which bounds everything the code allocates, the engine included;
 * - the output limit (`maxOutputChars`, default 10,000): `"output limit of 10000 characters
 *   reached"`: the output keeps the first characters and the execution is interrupted;
 * - the stack limit (`stackSizeBytes`, default 256 KiB): `"InternalError: stack overflow"`;
 * - the caller's `signal`: `"execution aborted"` (interrupted, or the worker terminated 200 ms
 *   later).
 * A thrown exception or syntax error gives its name, message and stack (`TypeError: x is not a
 * function\n    at <eval> (code.js:1:5)`). `execute` never throws.
 *
 * **Threads.** The executor runs its executions one at a time in one worker thread, started on
 * the first execution (and restarted after it had to be terminated), so the host's event loop
 * never waits for the code. Create one executor and reuse it; `close()` stops the worker.
 *
 * **Not defended against.** Side channels (the code can read `Date.now()` and measure time) and
 * bugs in QuickJS or V8's WebAssembly engine. The limits bound one execution, not the rate of
 * executions: a host that runs code from untrusted users still needs its own quotas.
 *
 * When `quickjs-emscripten` is not installed, every execution returns `ok: false` with an error
 * that says so; nothing is loaded until the first execution.
 *
 * @throws RangeError when an option is not a positive integer (or is too large).
 */
export function quickjsExecutor(options: QuickJSExecutorOptions = {}): CodeExecutor {
  return new QuickJSExecutor(options);
}
