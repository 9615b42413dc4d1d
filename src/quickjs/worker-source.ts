/**
 * The worker thread that owns the QuickJS WebAssembly module. It is started with
 * `new Worker(WORKER_SOURCE, { eval: true, workerData })` (a CommonJS script), so the package
 * build needs no extra entry file.
 *
 * Protocol (host → worker): `{ type: "run", id, code, limitMs }` (`limitMs`: this run's time limit,
 * `timeoutMs` or a shorter first slice), `{ type: "stats", id }`.
 * Worker → host: `{ type: "ready" }` once, or `{ type: "fatal", missing, message }` when
 * quickjs-emscripten cannot be loaded; then per run `{ type: "started", id }` when the user's code
 * starts (after any set-up, such as a new WebAssembly module) and `{ type: "done", id, error?, code? }`
 * (`code`: one of the executor's stable error codes, see results.ts); and
 * `{ type: "stats", id, ... }`.
 *
 * Shared memory (`workerData.control`, an Int32Array): [0] abort flag, set by the host, read by
 * the interrupt handler; [1] characters of output written so far. `workerData.output`
 * (Uint16Array, `maxOutputChars` long) holds the output itself, so that the host can read what
 * was printed even when it had to terminate a worker stuck in native code.
 *
 * Each run gets a fresh runtime and context in the worker's one WebAssembly module. The module's
 * linear memory is a `WebAssembly.Memory` with a fixed maximum, which is what really bounds the
 * sandbox's memory: QuickJS's own `setMemoryLimit` counts only some allocations in this build.
 * After anything that may leave the module in a bad state (an out-of-memory error, a host-level
 * exception such as a native stack overflow, a failed dispose) the module is dropped and the next
 * run gets a new one.
 *
 * Plain ES2022 JavaScript on purpose: it is a string, nobody type-checks or transpiles it.
 */
export const WORKER_SOURCE = String.raw`"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const cfg = workerData;
const control = new Int32Array(cfg.control);
const output = new Uint16Array(cfg.output);
const ABORT = 0;
const OUTPUT_LENGTH = 1;
const WASM_PAGE = 65536;
const FORMAT_BUDGET_MS = 100;
let quickjs;
let sandbox;
let resets = 0;
let runs = 0;

async function newSandbox() {
  const memory = new WebAssembly.Memory({ initial: cfg.initialPages, maximum: cfg.maxPages });
  // Emscripten's own messages (an abort when a runtime that ran out of memory cannot be freed) are
  // handled here as the run's outcome; printed, they would land on the host's stderr.
  const variant = quickjs.newVariant(quickjs.RELEASE_SYNC, { wasmMemory: memory, emscriptenModule: { printErr: () => {} } });
  const module = await quickjs.newQuickJSWASMModuleFromVariant(variant);
  return { module, memory };
}

function hostFailure(error) {
  if (error instanceof RangeError && /call stack/i.test(String(error.message))) {
    return "InternalError: stack overflow (the code nests or recurses too deeply)";
  }
  const message = error && typeof error.message === "string" ? error.message : String(error);
  return "the JavaScript sandbox failed: " + message;
}

function hostFailureCode(error) {
  return error instanceof RangeError && /call stack/i.test(String(error.message)) ? "CODE_ERROR" : "SANDBOX_ERROR";
}

function isOutOfMemory(ctx, handle) {
  if (ctx.typeof(handle) !== "object") return false;
  if (ctx.sameValue(handle, ctx.null)) return true; // QuickJS could not even allocate the error
  const name = ctx.getProp(handle, "name");
  const message = ctx.getProp(handle, "message");
  try {
    return ctx.typeof(name) === "string" && ctx.getString(name) === "InternalError" &&
      ctx.typeof(message) === "string" && ctx.getString(message) === "out of memory";
  } finally {
    name.dispose();
    message.dispose();
  }
}

// warmUp: a run before "ready" (no messages, not counted), so that the first real block does not
// pay for V8 compiling QuickJS's hot paths (a first run costs several times a later one).
async function run(id, code, limitMs, warmUp) {
  const runLimitMs = limitMs > 0 ? limitMs : cfg.timeoutMs;
  if (!warmUp) runs++;
  if (sandbox === undefined) {
    try {
      sandbox = await newSandbox();
    } catch (error) {
      return { type: "done", id, code: "SANDBOX_ERROR", error: "the JavaScript sandbox could not start: " + String(error && error.message || error) };
    }
  }
  const { module } = sandbox;
  const max = cfg.maxOutputChars;
  let written = 0;
  let wroteLine = false;
  let outputFull = false;
  let stop; // "aborted" | "timeout" | "output"
  let deadline = Infinity;
  let poisoned = false;
  let disposeFailed = false;
  let formatting = false; // past the code itself: the final value's formatting, on its own budget
  let error;
  let errorCode = "CODE_ERROR";

  const write = (text) => {
    if (outputFull) return;
    const chunk = wroteLine ? "\n" + text : text;
    wroteLine = true;
    let n = chunk.length;
    if (n > max - written) {
      n = max - written;
      // Never cut between the halves of a surrogate pair: the output stays well-formed UTF-16.
      const last = chunk.charCodeAt(n - 1);
      if (last >= 0xd800 && last <= 0xdbff) n--;
      outputFull = true;
      if (stop === undefined) stop = "output";
    }
    for (let i = 0; i < n; i++) output[written + i] = chunk.charCodeAt(i);
    written += n;
    Atomics.store(control, OUTPUT_LENGTH, written);
  };

  let runtime, context;
  const handles = [];
  const keep = (handle) => { handles.push(handle); return handle; };
  try {
    runtime = module.newRuntime();
    runtime.setMemoryLimit(cfg.memoryLimitBytes);
    runtime.setMaxStackSize(cfg.stackSizeBytes);
    runtime.setModuleLoader((name) => ({ error: new Error("cannot import '" + name + "': there are no modules in this sandbox") }));
    runtime.setInterruptHandler(() => {
      if (stop !== undefined) return true;
      if (Atomics.load(control, ABORT) !== 0) { stop = "aborted"; return true; }
      if (Date.now() > deadline) { stop = "timeout"; return true; }
      return false;
    });
    context = runtime.newContext();
    const ctx = context;

    // The console, the formatter: see prelude.ts. write() is reachable from the prelude only.
    const install = keep(ctx.unwrapResult(ctx.evalCode(cfg.prelude, "<sandbox>", { type: "global", strict: true })));
    const writeFn = keep(ctx.newFunction("write", (text) => {
      if (ctx.typeof(text) === "string") write(ctx.getString(text));
    }));
    const limit = keep(ctx.newNumber(max));
    const helpers = keep(ctx.unwrapResult(ctx.callFunction(install, ctx.undefined, writeFn, limit)));
    const format = keep(ctx.getProp(helpers, "format"));
    const describe = keep(ctx.getProp(helpers, "describe"));
    const callToString = (fn, value, fallback) => {
      const result = ctx.callFunction(fn, ctx.undefined, value);
      if (result.error) {
        result.error.dispose();
        return fallback;
      }
      const text = ctx.typeof(result.value) === "string" ? ctx.getString(result.value) : fallback;
      result.value.dispose();
      return text;
    };

    // The user's code: a global script (not a module), so import declarations are syntax errors.
    if (!warmUp) parentPort.postMessage({ type: "started", id }); // the host's backstop timer starts now
    deadline = Date.now() + runLimitMs;
    const evaluated = ctx.evalCode(code, "code.js", { type: "global" });
    let value = evaluated.error ? undefined : keep(evaluated.value);
    let thrown = evaluated.error ? keep(evaluated.error) : undefined;

    // Promise jobs (then-callbacks, async functions): run them all, under the same limits.
    while (stop === undefined && thrown === undefined && runtime.hasPendingJob()) {
      const jobs = runtime.executePendingJobs();
      if (jobs.error) thrown = keep(jobs.error);
    }

    let neverSettles = false;
    if (value !== undefined && thrown === undefined && stop === undefined) {
      const state = ctx.getPromiseState(value);
      if (state.type === "fulfilled" && !state.notAPromise) value = keep(state.value);
      else if (state.type === "rejected") { thrown = keep(state.error); value = undefined; }
      else if (state.type === "pending") neverSettles = true;
    }

    // Formatting may run the user's getters and toJSON: give it a small budget of its own.
    deadline = Date.now() + FORMAT_BUDGET_MS;
    formatting = stop === undefined;
    if (stop === undefined) {
      if (thrown !== undefined) {
        if (isOutOfMemory(ctx, thrown)) {
          error = "memory limit of " + cfg.memoryLimitBytes + " bytes exceeded";
          errorCode = "MEMORY_LIMIT";
          poisoned = true;
        } else {
          error = callToString(describe, thrown, "Uncaught exception");
        }
      } else if (neverSettles) {
        error = "the final value is a promise that never settles (there are no timers or I/O in this sandbox)";
      } else if (value !== undefined && ctx.typeof(value) !== "undefined") {
        write(callToString(format, value, "[value that could not be formatted]"));
      }
    }
    // Grew into the cap (a memory that starts at its cap, a limit of 16 MiB or less, never grows:
    // QuickJS's allocator is its limit, and an out-of-memory error is caught above).
    if (cfg.maxPages > cfg.initialPages && sandbox.memory.buffer.byteLength >= cfg.maxPages * WASM_PAGE) poisoned = true;
  } catch (failure) {
    // A host-level exception: the WebAssembly module may be in any state. Drop it, dispose nothing.
    poisoned = true;
    runtime = undefined;
    context = undefined;
    if (stop === undefined) {
      error = hostFailure(failure);
      errorCode = hostFailureCode(failure);
    }
  } finally {
    if (runtime !== undefined) {
      try {
        for (let i = handles.length - 1; i >= 0; i--) if (handles[i].alive) handles[i].dispose();
        context.dispose();
        runtime.dispose();
      } catch {
        poisoned = true;
        disposeFailed = true;
      }
    }
    if (poisoned) {
      sandbox = undefined;
      resets++;
    }
  }

  if (stop === undefined && error === undefined && disposeFailed) {
    // Memory that ran out inside a promise job (a then-callback, an async function) rejects a
    // promise nobody may observe: QuickJS drops that error, and the run looks done. What it leaves
    // is a runtime that cannot be freed (objects the failed allocation left behind), whether the
    // code caught the error or not, and no way to tell which: both end as MEMORY_LIMIT.
    error = "memory limit of " + cfg.memoryLimitBytes + " bytes exceeded (in a promise job)";
    errorCode = "MEMORY_LIMIT";
  }
  if (stop === "aborted") {
    error = "execution aborted";
    errorCode = "ABORTED";
  } else if (stop === "timeout") {
    error = formatting
      ? "time limit of " + FORMAT_BUDGET_MS + " ms exceeded while formatting the final value (a getter or toJSON that does not end)"
      : "time limit of " + runLimitMs + " ms exceeded";
    errorCode = "TIMEOUT";
  } else if (stop === "output" || (outputFull && error === undefined)) {
    error = "output limit of " + max + " characters reached";
    errorCode = "OUTPUT_LIMIT";
  }
  return error === undefined ? { type: "done", id } : { type: "done", id, error, code: errorCode };
}

function stats(id) {
  const gc = typeof globalThis.gc === "function" ? globalThis.gc : undefined;
  if (gc) gc();
  const heap = require("node:v8").getHeapStatistics();
  return {
    type: "stats",
    id,
    heapUsed: heap.used_heap_size,
    wasmBytes: sandbox === undefined ? 0 : sandbox.memory.buffer.byteLength,
    resets,
    runs,
  };
}

let queue = Promise.resolve();
parentPort.on("message", (message) => {
  queue = queue.then(async () => {
    let reply;
    try {
      reply = message.type === "stats" ? stats(message.id) : await run(message.id, message.code, message.limitMs);
    } catch (error) {
      sandbox = undefined;
      reply = { type: "done", id: message.id, error: hostFailure(error), code: hostFailureCode(error) };
    }
    parentPort.postMessage(reply);
  });
});

(async () => {
  try {
    quickjs = require(cfg.packagePath);
  } catch (error) {
    parentPort.postMessage({ type: "fatal", missing: true, message: String(error && error.message || error) });
    return;
  }
  try {
    sandbox = await newSandbox();
  } catch (error) {
    parentPort.postMessage({ type: "fatal", missing: false, message: String(error && error.message || error) });
    return;
  }
  for (let i = 0; i < 3; i++) {
    await run(0, "console.log([1, 'a', { b: [2] }]); JSON.stringify({ n: [1, 2, 3].map((x) => x * 2) })", cfg.timeoutMs, true);
  }
  Atomics.store(control, OUTPUT_LENGTH, 0);
  parentPort.postMessage({ type: "ready" });
})();
`;
