import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { CodeContext, CodeExecutor, CodeResult } from "../tools/types.js";
import { PRELUDE_SOURCE } from "./prelude.js";
import { WORKER_SOURCE } from "./worker-source.js";

/** Options of {@link quickjsExecutor}. */
export interface QuickJSExecutorOptions {
  /**
   * Most memory one execution may use, engine included, in bytes. Default 32 MiB; at least
   * 16 MiB is always available (the engine's initial memory), at most 2 GiB.
   */
  memoryLimitBytes?: number;
  /** Time limit of one execution, ms. Default 1,000. */
  timeoutMs?: number;
  /** Most characters of output (console and final value) kept. Default 10,000. */
  maxOutputChars?: number;
  /** QuickJS's stack limit, bytes. Default 256 KiB (a recursion depth of about 1,500). */
  stackSizeBytes?: number;
}

export const DEFAULT_MEMORY_LIMIT_BYTES = 32 * 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 1_000;
export const DEFAULT_MAX_OUTPUT_CHARS = 10_000;
export const DEFAULT_STACK_SIZE_BYTES = 256 * 1024;

const WASM_PAGE = 65_536;
/** The prebuilt QuickJS module declares 16 MiB of initial memory. */
const INITIAL_PAGES = 256;
const MAX_PAGES = 32_768; // 2 GiB, the module's own maximum
/** After the time limit, how long the worker gets to report before it is terminated. */
const KILL_GRACE_MS = 500;
/** After an abort, how long the worker gets to report before it is terminated. */
const ABORT_GRACE_MS = 200;
/** How long a new worker may take to load QuickJS. */
const STARTUP_TIMEOUT_MS = 15_000;
/** The worker's V8 stack: room for QuickJS's own stack limit, so QuickJS trips first. */
const WORKER_STACK_MB = 16;

const PACKAGE = "quickjs-emscripten";
const CLOSED = "the QuickJS executor is closed";
const ABORTED = "execution aborted";

/** Internal hooks for tests. */
export interface ExecutorInternals {
  /** The package to load instead of quickjs-emscripten (tests: a missing one). */
  packageName?: string;
}

/** What the worker reports about itself (tests: leaks). */
export interface WorkerStats {
  heapUsed: number;
  wasmBytes: number;
  resets: number;
  runs: number;
}

type WorkerMessage =
  | { type: "ready" }
  | { type: "fatal"; missing: boolean; message: string }
  | { type: "started"; id: number }
  | { type: "done"; id: number; error?: string }
  | ({ type: "stats"; id: number } & WorkerStats);

interface Sandbox {
  worker: Worker;
  control: Int32Array;
  output: Uint16Array;
  ready: Promise<string | undefined>;
  dead: boolean;
}

const CONTROL_ABORT = 0;
const CONTROL_OUTPUT_LENGTH = 1;

function positiveInteger(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0 || value > max) {
    throw new RangeError(`quickjsExecutor: ${name} must be an integer from 1 to ${max}, got ${String(value)}`);
  }
  return value;
}

function resolvePackage(name: string): string | undefined {
  try {
    // ESM build and tests: this file's URL; CommonJS build: __filename.
    const base = typeof __filename === "string" ? __filename : import.meta.url;
    return createRequire(base).resolve(name);
  } catch {
    return undefined;
  }
}

function missingPackage(name: string, detail?: string): string {
  return (
    `${name} is not installed, so JavaScript cannot run: install it next to zoe-pipeline ` +
    `(npm install ${name})${detail ? ` (${detail})` : ""}`
  );
}

export class QuickJSExecutor implements CodeExecutor {
  readonly languages: readonly string[] = ["javascript", "js"];
  readonly #memoryLimitBytes: number;
  readonly #timeoutMs: number;
  readonly #maxOutputChars: number;
  readonly #stackSizeBytes: number;
  readonly #packageName: string;
  #sandbox: Sandbox | undefined;
  #tail: Promise<void> = Promise.resolve();
  #closed = false;
  #nextId = 0;

  constructor(options: QuickJSExecutorOptions = {}, internals: ExecutorInternals = {}) {
    this.#memoryLimitBytes = positiveInteger("memoryLimitBytes", options.memoryLimitBytes, DEFAULT_MEMORY_LIMIT_BYTES, MAX_PAGES * WASM_PAGE);
    this.#timeoutMs = positiveInteger("timeoutMs", options.timeoutMs, DEFAULT_TIMEOUT_MS, 2_147_483_647 - KILL_GRACE_MS);
    this.#maxOutputChars = positiveInteger("maxOutputChars", options.maxOutputChars, DEFAULT_MAX_OUTPUT_CHARS, 100_000_000);
    this.#stackSizeBytes = positiveInteger("stackSizeBytes", options.stackSizeBytes, DEFAULT_STACK_SIZE_BYTES, 8 * 1024 * 1024);
    this.#packageName = internals.packageName ?? PACKAGE;
  }

  /**
   * Runs `code` as a global script in a fresh QuickJS context. Never throws: every failure of the
   * code (and of the sandbox) is a `{ ok: false, output, error }` result.
   */
  execute(code: string, context: CodeContext): Promise<CodeResult> {
    const { signal, language } = context;
    if (!this.languages.includes(language.toLowerCase())) {
      return Promise.resolve({ ok: false, output: "", error: `the QuickJS executor does not run "${language}"` });
    }
    // One execution at a time: they share the worker (and would only share its CPU anyway).
    const previous = this.#tail;
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    this.#tail = previous.then(() => mine);
    return (async () => {
      try {
        if (!(await untilOrAborted(previous, signal))) return { ok: false, output: "", error: ABORTED };
        return await this.#run(code, signal);
      } catch (error) {
        // Not expected; the contract is to never throw.
        return { ok: false, output: "", error: `the JavaScript sandbox failed: ${(error as Error)?.message ?? String(error)}` };
      } finally {
        release();
      }
    })();
  }

  /** Terminates the worker. Executions still running end with an error; later ones too. */
  async close(): Promise<void> {
    this.#closed = true;
    const sandbox = this.#sandbox;
    this.#sandbox = undefined;
    if (sandbox !== undefined) {
      sandbox.dead = true;
      await sandbox.worker.terminate();
    }
  }

  /** Tests only: the worker's heap and WebAssembly memory, after a GC when one can be forced. */
  async stats(): Promise<WorkerStats | undefined> {
    const sandbox = this.#sandbox;
    if (sandbox === undefined || (await sandbox.ready) !== undefined) return undefined;
    const id = ++this.#nextId;
    return await new Promise<WorkerStats | undefined>((resolve) => {
      const onMessage = (message: WorkerMessage) => {
        if (message.type !== "stats" || message.id !== id) return;
        sandbox.worker.off("message", onMessage);
        sandbox.worker.off("exit", onExit);
        const { heapUsed, wasmBytes, resets, runs } = message;
        resolve({ heapUsed, wasmBytes, resets, runs });
      };
      const onExit = () => {
        sandbox.worker.off("message", onMessage);
        resolve(undefined);
      };
      sandbox.worker.on("message", onMessage);
      sandbox.worker.once("exit", onExit);
      sandbox.worker.postMessage({ type: "stats", id });
    });
  }

  async #run(code: string, signal: AbortSignal): Promise<CodeResult> {
    if (this.#closed) return { ok: false, output: "", error: CLOSED };
    if (signal.aborted) return { ok: false, output: "", error: ABORTED };
    const sandbox = this.#sandbox ?? this.#start();
    if (typeof sandbox === "string") return { ok: false, output: "", error: sandbox };
    const startup = await untilOrAborted(sandbox.ready, signal);
    if (startup === false) return { ok: false, output: "", error: ABORTED };
    if (startup.value !== undefined) {
      this.#discard(sandbox);
      return { ok: false, output: "", error: startup.value };
    }
    if (this.#closed || sandbox.dead) return { ok: false, output: "", error: this.#closed ? CLOSED : "the JavaScript sandbox stopped" };

    const { worker, control, output } = sandbox;
    Atomics.store(control, CONTROL_ABORT, 0);
    Atomics.store(control, CONTROL_OUTPUT_LENGTH, 0);
    const id = ++this.#nextId;
    const readOutput = (): string => {
      const length = Math.min(Atomics.load(control, CONTROL_OUTPUT_LENGTH), output.length);
      return Buffer.from(output.slice(0, length).buffer).toString("utf16le");
    };

    return await new Promise<CodeResult>((resolve) => {
      let abortTimer: NodeJS.Timeout | undefined;
      let hardTimer: NodeJS.Timeout | undefined;
      const finish = (error: string | undefined, kill: boolean): void => {
        clearTimeout(setupTimer);
        clearTimeout(hardTimer);
        clearTimeout(abortTimer);
        signal.removeEventListener("abort", onAbort);
        worker.off("message", onMessage);
        worker.off("exit", onExit);
        const text = readOutput();
        if (kill) this.#discard(sandbox);
        else worker.unref();
        resolve(error === undefined ? { ok: true, output: text } : { ok: false, output: text, error });
      };
      const onMessage = (message: WorkerMessage) => {
        if (message.type === "started" && message.id === id) {
          clearTimeout(setupTimer);
          // The time limit is enforced inside the worker; this is the backstop for code stuck in
          // a native loop that never polls the interrupt handler (e.g. sparse arrays of 2^32).
          hardTimer = setTimeout(() => finish(`time limit of ${this.#timeoutMs} ms exceeded`, true), this.#timeoutMs + KILL_GRACE_MS);
        } else if (message.type === "done" && message.id === id) finish(message.error, false);
      };
      const onExit = () => {
        finish(this.#closed ? CLOSED : "the JavaScript sandbox stopped unexpectedly", true);
      };
      const onAbort = () => {
        Atomics.store(control, CONTROL_ABORT, 1);
        // Native code that never reaches an interrupt check is stopped by terminating the worker.
        abortTimer = setTimeout(() => finish(ABORTED, true), ABORT_GRACE_MS);
      };
      // Set-up (a fresh context; a new WebAssembly module after a reset) is not the code's time.
      const setupTimer = setTimeout(() => finish("the JavaScript sandbox did not start in time", true), STARTUP_TIMEOUT_MS);
      worker.on("message", onMessage);
      worker.once("exit", onExit);
      signal.addEventListener("abort", onAbort, { once: true });
      worker.ref();
      worker.postMessage({ type: "run", id, code });
    });
  }

  #start(): Sandbox | string {
    const packagePath = resolvePackage(this.#packageName);
    if (packagePath === undefined) return missingPackage(this.#packageName);
    const control = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
    const output = new Uint16Array(new SharedArrayBuffer(this.#maxOutputChars * Uint16Array.BYTES_PER_ELEMENT));
    const maxPages = Math.min(MAX_PAGES, Math.max(INITIAL_PAGES, Math.ceil(this.#memoryLimitBytes / WASM_PAGE)));
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      name: "zoe-pipeline quickjs",
      workerData: {
        packagePath,
        prelude: PRELUDE_SOURCE,
        control: control.buffer,
        output: output.buffer,
        initialPages: INITIAL_PAGES,
        maxPages,
        memoryLimitBytes: this.#memoryLimitBytes,
        stackSizeBytes: this.#stackSizeBytes,
        timeoutMs: this.#timeoutMs,
        maxOutputChars: this.#maxOutputChars,
      },
      resourceLimits: { stackSizeMb: WORKER_STACK_MB },
    });
    const sandbox: Sandbox = { worker, control, output, ready: Promise.resolve(undefined), dead: false };
    sandbox.ready = new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => done("the JavaScript sandbox did not start in time"), STARTUP_TIMEOUT_MS);
      const done = (error: string | undefined) => {
        clearTimeout(timer);
        worker.off("message", onMessage);
        worker.off("exit", onExit);
        worker.unref();
        resolve(error);
      };
      const onMessage = (message: WorkerMessage) => {
        if (message.type === "ready") done(undefined);
        else if (message.type === "fatal") {
          done(message.missing ? missingPackage(this.#packageName, message.message) : `the JavaScript sandbox could not start: ${message.message}`);
        }
      };
      const onExit = () => done(this.#closed ? CLOSED : "the JavaScript sandbox could not start");
      worker.on("message", onMessage);
      worker.once("exit", onExit);
    });
    // Always listen: an unhandled 'error' event would throw in the host.
    worker.on("error", () => {
      sandbox.dead = true;
    });
    worker.once("exit", () => {
      sandbox.dead = true;
      if (this.#sandbox === sandbox) this.#sandbox = undefined;
    });
    this.#sandbox = sandbox;
    return sandbox;
  }

  #discard(sandbox: Sandbox): void {
    sandbox.dead = true;
    if (this.#sandbox === sandbox) this.#sandbox = undefined;
    void sandbox.worker.terminate();
  }
}

/** `{ value }` when `promise` settles first, `false` when `signal` aborts first. */
function untilOrAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<{ value: T } | false> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => resolve(false);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve({ value });
      },
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve({ value: undefined as T });
      },
    );
  });
}
