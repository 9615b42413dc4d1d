import { Worker } from "node:worker_threads";
import { ABORTED_MESSAGE, aborted, CLOSED_MESSAGE, failure, type QuickJSCodeResult, type QuickJSErrorCode } from "./results.js";
import { PRELUDE_SOURCE } from "./prelude.js";
import { WORKER_SOURCE } from "./worker-source.js";

/** After the time limit, how long the worker gets to report before it is terminated. */
export const KILL_GRACE_MS = 500;
/** After an abort, how long the worker gets to report before it is terminated. */
export const ABORT_GRACE_MS = 200;
/** How long a new worker may take to load QuickJS; how long a run's set-up may take. */
export const STARTUP_TIMEOUT_MS = 15_000;
/** The worker's V8 stack: room for QuickJS's own stack limit, so QuickJS trips first. */
const WORKER_STACK_MB = 16;

const CONTROL_ABORT = 0;
const CONTROL_OUTPUT_LENGTH = 1;

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
  | { type: "done"; id: number; error?: string; code?: QuickJSErrorCode }
  | ({ type: "stats"; id: number } & WorkerStats);

export interface SandboxConfig {
  packagePath: string;
  initialPages: number;
  maxPages: number;
  memoryLimitBytes: number;
  stackSizeBytes: number;
  timeoutMs: number;
  maxOutputChars: number;
  /** Text of the error when quickjs-emscripten cannot be loaded. */
  missingPackage(detail: string): string;
}

/**
 * One worker thread with its QuickJS module: it runs one block at a time. `starting` until
 * QuickJS is loaded, then `idle` / `busy`; `dead` once it was terminated or exited (a dead sandbox
 * is never used again: the pool starts a new one).
 */
export class Sandbox {
  readonly worker: Worker;
  state: "starting" | "idle" | "busy" | "dead" = "starting";
  /** Resolves with undefined when QuickJS is loaded, with the error's text when it cannot be. */
  readonly ready: Promise<string | undefined>;
  /** Resolves when the worker thread has exited. */
  readonly exited: Promise<void>;
  readonly #control: Int32Array;
  readonly #output: Uint16Array;
  readonly #timeoutMs: number;
  #nextId = 0;

  constructor(config: SandboxConfig, isClosing: () => boolean) {
    this.#timeoutMs = config.timeoutMs;
    this.#control = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
    this.#output = new Uint16Array(new SharedArrayBuffer(config.maxOutputChars * Uint16Array.BYTES_PER_ELEMENT));
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      name: "zoe-pipeline quickjs",
      workerData: {
        packagePath: config.packagePath,
        prelude: PRELUDE_SOURCE,
        control: this.#control.buffer,
        output: this.#output.buffer,
        initialPages: config.initialPages,
        maxPages: config.maxPages,
        memoryLimitBytes: config.memoryLimitBytes,
        stackSizeBytes: config.stackSizeBytes,
        timeoutMs: config.timeoutMs,
        maxOutputChars: config.maxOutputChars,
      },
      resourceLimits: { stackSizeMb: WORKER_STACK_MB },
    });
    this.worker = worker;
    worker.unref(); // referenced only while it runs a block (a waiting block's timer keeps the host alive)
    // Always listen: an unhandled 'error' event would throw in the host.
    worker.on("error", () => {
      this.state = "dead";
    });
    this.exited = new Promise<void>((resolve) => {
      worker.once("exit", () => {
        this.state = "dead";
        resolve();
      });
    });
    this.ready = new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => done("the JavaScript sandbox did not start in time"), STARTUP_TIMEOUT_MS);
      const done = (error: string | undefined) => {
        clearTimeout(timer);
        worker.off("message", onMessage);
        worker.off("exit", onExit);
        if (error === undefined && this.state === "starting") this.state = "idle";
        else if (error !== undefined) {
          this.kill();
        }
        resolve(error);
      };
      const onMessage = (message: WorkerMessage) => {
        if (message.type === "ready") done(undefined);
        else if (message.type === "fatal") {
          done(message.missing ? config.missingPackage(message.message) : `the JavaScript sandbox could not start: ${message.message}`);
        }
      };
      const onExit = () => done(isClosing() ? CLOSED_MESSAGE : "the JavaScript sandbox could not start");
      worker.on("message", onMessage);
      worker.once("exit", onExit);
    });
  }

  /** Terminates the worker (no-op when it already exited). */
  kill(): Promise<void> {
    this.state = "dead";
    void this.worker.terminate();
    return this.exited;
  }

  /**
   * Runs one block on this (idle) sandbox with a time limit of `limitMs` (default `timeoutMs`).
   * Never rejects. The limit is enforced inside the worker; code stuck in native code past
   * `limitMs + KILL_GRACE_MS`, or past `ABORT_GRACE_MS` after `signal` aborts, is stopped by
   * terminating the worker (the sandbox is then dead).
   */
  run(code: string, signal: AbortSignal, isClosing: () => boolean, limitMs = this.#timeoutMs): Promise<QuickJSCodeResult> {
    const { worker } = this;
    const control = this.#control;
    const output = this.#output;
    if (this.state !== "idle") return Promise.resolve(failure("SANDBOX_ERROR", "the JavaScript sandbox is not available"));
    if (signal.aborted) return Promise.resolve(aborted());
    this.state = "busy";
    Atomics.store(control, CONTROL_ABORT, 0);
    Atomics.store(control, CONTROL_OUTPUT_LENGTH, 0);
    const id = ++this.#nextId;
    const readOutput = (): string => {
      const length = Math.min(Atomics.load(control, CONTROL_OUTPUT_LENGTH), output.length);
      return Buffer.from(output.slice(0, length).buffer).toString("utf16le");
    };

    return new Promise<QuickJSCodeResult>((resolve) => {
      let abortTimer: NodeJS.Timeout | undefined;
      let hardTimer: NodeJS.Timeout | undefined;
      let settled = false;
      const finish = (result: { code: QuickJSErrorCode; error: string } | undefined, kill: boolean): void => {
        if (settled) return;
        settled = true;
        clearTimeout(setupTimer);
        clearTimeout(hardTimer);
        clearTimeout(abortTimer);
        signal.removeEventListener("abort", onAbort);
        worker.off("message", onMessage);
        worker.off("exit", onExit);
        const text = readOutput();
        if (kill || this.state === "dead") void this.kill();
        else {
          this.state = "idle";
          worker.unref();
        }
        resolve(result === undefined ? { ok: true, output: text } : failure(result.code, result.error, text));
      };
      const onMessage = (message: WorkerMessage) => {
        if (message.type === "started" && message.id === id) {
          clearTimeout(setupTimer);
          // The backstop for code stuck in a native loop that never polls the interrupt handler
          // (e.g. sparse arrays of 2^32): the worker is terminated.
          hardTimer = setTimeout(
            () => finish({ code: "TIMEOUT", error: `time limit of ${limitMs} ms exceeded` }, true),
            limitMs + KILL_GRACE_MS,
          );
        } else if (message.type === "done" && message.id === id) {
          finish(message.error === undefined ? undefined : { code: message.code ?? "CODE_ERROR", error: message.error }, false);
        }
      };
      const onExit = () => {
        finish(
          isClosing()
            ? { code: "CLOSED", error: CLOSED_MESSAGE }
            : { code: "SANDBOX_ERROR", error: "the JavaScript sandbox stopped unexpectedly" },
          true,
        );
      };
      const onAbort = () => {
        Atomics.store(control, CONTROL_ABORT, 1);
        // Native code that never reaches an interrupt check is stopped by terminating the worker.
        abortTimer = setTimeout(() => finish({ code: "ABORTED", error: ABORTED_MESSAGE }, true), ABORT_GRACE_MS);
      };
      // Set-up (a fresh context; a new WebAssembly module after a reset) is not the code's time.
      const setupTimer = setTimeout(
        () => finish({ code: "SANDBOX_ERROR", error: "the JavaScript sandbox did not start in time" }, true),
        STARTUP_TIMEOUT_MS,
      );
      worker.on("message", onMessage);
      worker.once("exit", onExit);
      signal.addEventListener("abort", onAbort, { once: true });
      worker.ref();
      worker.postMessage({ type: "run", id, code, limitMs });
    });
  }

  /** Tests only: the worker's heap and WebAssembly memory, after a GC when one can be forced. */
  stats(): Promise<WorkerStats | undefined> {
    const { worker } = this;
    if (this.state === "dead" || this.state === "starting") return Promise.resolve(undefined);
    const id = ++this.#nextId;
    return new Promise<WorkerStats | undefined>((resolve) => {
      const onMessage = (message: WorkerMessage) => {
        if (message.type !== "stats" || message.id !== id) return;
        worker.off("message", onMessage);
        worker.off("exit", onExit);
        const { heapUsed, wasmBytes, resets, runs } = message;
        resolve({ heapUsed, wasmBytes, resets, runs });
      };
      const onExit = () => {
        worker.off("message", onMessage);
        resolve(undefined);
      };
      worker.on("message", onMessage);
      worker.once("exit", onExit);
      worker.postMessage({ type: "stats", id });
    });
  }
}
