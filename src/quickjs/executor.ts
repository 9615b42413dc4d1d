import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import type { CodeContext, CodeExecutor } from "../tools/types.js";
import { FairQueue, type Ticket } from "./fair-queue.js";
import { aborted, closed, failure, queueFull, queueTimeout, type QuickJSCodeResult } from "./results.js";
import { KILL_GRACE_MS, Sandbox, type SandboxConfig, type WorkerStats } from "./sandbox.js";
import { MAX_TIMER_MS } from "../shared/timer.js";
import { errorMessage } from "../errors/error-message.js";

export type { WorkerStats } from "./sandbox.js";

/** Options of {@link quickjsExecutor}. */
export interface QuickJSExecutorOptions {
  /**
   * Most memory one execution may use, engine included, in bytes. Default 32 MiB; from 1 MiB (the
   * engine needs some to start) to 2 GiB. The WebAssembly memory is 16 MiB at least (the engine's
   * initial memory): a smaller limit is enforced by QuickJS's allocator. Each worker holds up to
   * this much.
   */
  memoryLimitBytes?: number;
  /** Time limit of one execution once it runs, ms. Default 1,000. */
  timeoutMs?: number;
  /**
   * Every block first runs for at most this long, ms; one that has not finished by then is stopped
   * and runs again from the start, with the full `timeoutMs`, once a worker is free, after the
   * blocks that have not had their first slice. So quick blocks never wait behind long ones (an
   * infinite loop costs everyone else one slice, not `timeoutMs`). The sandbox has no side effects
   * but its output, and the output of the first slice is dropped, so the second run looks like
   * the only one. Default 100; 0, or a value of `timeoutMs` or more, turns it off.
   */
  sliceMs?: number;
  /** Most characters of output (console and final value) kept. Default 10,000. */
  maxOutputChars?: number;
  /** QuickJS's stack limit, bytes. Default 256 KiB (a recursion depth of about 1,500); from 16 KiB to 8 MiB. */
  stackSizeBytes?: number;
  /**
   * Most worker threads, each running one block at a time; they start when there is work for
   * them. Default `min(2, os.availableParallelism())`.
   */
  maxWorkers?: number;
  /** Most blocks of one user running at once. Default 1. */
  perUserConcurrency?: number;
  /** Most blocks waiting for a sandbox, all users together; more are refused (`QUEUE_FULL`). Default 64. */
  maxQueued?: number;
  /** Most blocks of one user waiting for a sandbox; more are refused (`QUEUE_FULL`). Default 8. */
  maxQueuedPerUser?: number;
  /**
   * Longest a block may wait for a sandbox (including a worker's start, about 0.1–0.5 s), ms; then
   * it ends with `QUEUE_TIMEOUT` without running. Default five times `timeoutMs`, at least 5,000.
   */
  queueTimeoutMs?: number;
}

/** What {@link QuickJSCodeExecutor.status} reports. */
export interface QuickJSExecutorStatus {
  /** Worker threads alive (starting, idle or busy). */
  workers: number;
  /** Blocks running. */
  running: number;
  /** Blocks waiting for a sandbox. */
  queued: number;
  /** Users with blocks running or waiting. */
  users: number;
  closed: boolean;
}

/** The executor {@link quickjsExecutor} returns: a {@link CodeExecutor} with coded failures. */
export interface QuickJSCodeExecutor extends CodeExecutor {
  /**
   * Runs `code` as a global script in a fresh QuickJS context, in `context.userId`'s turn (blocks
   * without a user share one turn). Never throws: every failure is `{ ok: false, output, error,
   * code }`.
   */
  execute(code: string, context: CodeContext): Promise<QuickJSCodeResult>;
  /** Ends every waiting and running block (`CLOSED`), terminates every worker; resolves when they have exited. */
  close(): Promise<void>;
  /**
   * Starts every worker now (each loads QuickJS, about 0.1–0.5 s), so the first blocks do not
   * wait for a start. Resolves when they are ready (or failed to start); never rejects.
   */
  prewarm(): Promise<void>;
  /** The pool and queue right now (for a host's gauges). */
  status(): QuickJSExecutorStatus;
}

export const DEFAULT_MEMORY_LIMIT_BYTES = 32 * 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 1_000;
export const DEFAULT_SLICE_MS = 100;
export const DEFAULT_MAX_OUTPUT_CHARS = 10_000;
export const DEFAULT_STACK_SIZE_BYTES = 256 * 1024;
/** The default `maxWorkers` is this, or the number of CPUs when there are fewer. */
export const DEFAULT_MAX_WORKERS = 2;
export const DEFAULT_PER_USER_CONCURRENCY = 1;
export const DEFAULT_MAX_QUEUED = 64;
export const DEFAULT_MAX_QUEUED_PER_USER = 8;
/** The default `queueTimeoutMs` is `timeoutMs` times this, at least {@link MIN_DEFAULT_QUEUE_TIMEOUT_MS}. */
export const DEFAULT_QUEUE_TIMEOUT_FACTOR = 5;
/** The least default `queueTimeoutMs`: room for a worker to start on a busy machine. */
export const MIN_DEFAULT_QUEUE_TIMEOUT_MS = 5_000;
/** The least `memoryLimitBytes`: below about 17 KB QuickJS cannot even set up a context. */
export const MIN_MEMORY_LIMIT_BYTES = 1024 * 1024;
/** The least `stackSizeBytes`: room for the sandbox's set-up and its formatter (about 6 KB). */
export const MIN_STACK_SIZE_BYTES = 16 * 1024;

const WASM_PAGE = 65_536;
/** The prebuilt QuickJS module declares 16 MiB of initial memory. */
const INITIAL_PAGES = 256;
const MAX_PAGES = 32_768; // 2 GiB, the module's own maximum
const PACKAGE = "quickjs-emscripten";

/** Internal hooks for tests. */
export interface ExecutorInternals {
  /** The package to load instead of quickjs-emscripten (tests: a missing one). */
  packageName?: string;
  /** Called with every worker thread the executor starts (tests: watch their exits). */
  onWorker?: (worker: Worker) => void;
}

interface Job {
  readonly code: string;
  readonly user: string;
  readonly signal: AbortSignal;
  readonly resolve: (result: QuickJSCodeResult) => void;
  /** When it last entered the queue (performance.now()). */
  queuedAt: number;
  /** Time spent in the queue before that, ms (a block waits twice when it needs a second run). */
  waitedMs: number;
  /** It ran its first slice and waits for its second run. */
  second: boolean;
  timer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  settled: boolean;
}

function integer(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`quickjsExecutor: ${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
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

/**
 * A pool of QuickJS workers behind a bounded, per-user fair queue. See {@link quickjsExecutor}
 * for the behaviour and docs/code-execution.md for the policy.
 */
export class QuickJSExecutor implements QuickJSCodeExecutor {
  readonly languages: readonly string[] = ["javascript", "js"];
  readonly #timeoutMs: number;
  /** 0 when blocks run in one go. */
  readonly #sliceMs: number;
  readonly #maxWorkers: number;
  readonly #maxQueued: number;
  readonly #maxQueuedPerUser: number;
  readonly #queueTimeoutMs: number;
  readonly #packageName: string;
  readonly #internals: ExecutorInternals;
  readonly #config: Omit<SandboxConfig, "packagePath">;
  readonly #queue: FairQueue<Job>;
  readonly #sandboxes = new Set<Sandbox>();
  /** Every worker whose thread has not exited yet, terminated ones included (close() waits for them). */
  readonly #threads = new Set<Sandbox>();
  /** Completion of every running block (close() waits for them to be settled). */
  readonly #running = new Set<Promise<void>>();
  #packagePath: string | undefined;
  /** Blocks in their second run. */
  #busySecond = 0;
  /** A worker failed to start: start no more until one is ready or a new block comes. */
  #startBlocked = false;
  #closed = false;

  constructor(options: QuickJSExecutorOptions = {}, internals: ExecutorInternals = {}) {
    const memoryLimitBytes = integer(
      "memoryLimitBytes",
      options.memoryLimitBytes,
      DEFAULT_MEMORY_LIMIT_BYTES,
      MIN_MEMORY_LIMIT_BYTES,
      MAX_PAGES * WASM_PAGE,
    );
    this.#timeoutMs = integer("timeoutMs", options.timeoutMs, DEFAULT_TIMEOUT_MS, 1, MAX_TIMER_MS - KILL_GRACE_MS);
    const sliceMs = integer("sliceMs", options.sliceMs, DEFAULT_SLICE_MS, 0, MAX_TIMER_MS);
    this.#sliceMs = sliceMs < this.#timeoutMs ? sliceMs : 0;
    const maxOutputChars = integer("maxOutputChars", options.maxOutputChars, DEFAULT_MAX_OUTPUT_CHARS, 1, 100_000_000);
    const stackSizeBytes = integer(
      "stackSizeBytes",
      options.stackSizeBytes,
      DEFAULT_STACK_SIZE_BYTES,
      MIN_STACK_SIZE_BYTES,
      8 * 1024 * 1024,
    );
    this.#maxWorkers = integer(
      "maxWorkers",
      options.maxWorkers,
      Math.max(1, Math.min(DEFAULT_MAX_WORKERS, availableParallelism())),
      1,
      256,
    );
    const perUserConcurrency = integer("perUserConcurrency", options.perUserConcurrency, DEFAULT_PER_USER_CONCURRENCY, 1, 256);
    this.#maxQueued = integer("maxQueued", options.maxQueued, DEFAULT_MAX_QUEUED, 0, 1_000_000);
    this.#maxQueuedPerUser = integer("maxQueuedPerUser", options.maxQueuedPerUser, DEFAULT_MAX_QUEUED_PER_USER, 0, 1_000_000);
    this.#queueTimeoutMs = integer(
      "queueTimeoutMs",
      options.queueTimeoutMs,
      Math.min(MAX_TIMER_MS, Math.max(MIN_DEFAULT_QUEUE_TIMEOUT_MS, this.#timeoutMs * DEFAULT_QUEUE_TIMEOUT_FACTOR)),
      1,
      MAX_TIMER_MS,
    );
    this.#packageName = internals.packageName ?? PACKAGE;
    this.#internals = internals;
    this.#queue = new FairQueue<Job>(perUserConcurrency);
    this.#config = {
      initialPages: INITIAL_PAGES,
      maxPages: Math.min(MAX_PAGES, Math.max(INITIAL_PAGES, Math.ceil(memoryLimitBytes / WASM_PAGE))),
      memoryLimitBytes,
      stackSizeBytes,
      timeoutMs: this.#timeoutMs,
      maxOutputChars,
      missingPackage: (detail) => missingPackage(this.#packageName, detail),
    };
  }

  execute(code: string, context: CodeContext): Promise<QuickJSCodeResult> {
    try {
      const { signal, language } = context;
      if (!this.languages.includes(String(language).toLowerCase())) {
        return Promise.resolve(failure("UNSUPPORTED_LANGUAGE", `the QuickJS executor does not run "${language}"`));
      }
      if (typeof signal?.addEventListener !== "function") {
        return Promise.resolve(failure("SANDBOX_ERROR", "the code context has no AbortSignal (context.signal)"));
      }
      if (this.#closed) return Promise.resolve(closed());
      if (signal.aborted) return Promise.resolve(aborted());
      const user = context.userId ?? "";
      const queue = this.#queue;
      // A block that does not wait for other blocks (a worker is free, or can be started for it)
      // is never refused.
      if (!(queue.eligible(user) && this.#spare() > queue.startable())) {
        const mine = queue.queuedFor(user);
        if (mine >= this.#maxQueuedPerUser) return Promise.resolve(queueFull(mine, true));
        if (queue.size >= this.#maxQueued) return Promise.resolve(queueFull(queue.size, false));
      }
      this.#startBlocked = false; // a new block: a worker may be tried again
      return new Promise<QuickJSCodeResult>((resolve) => {
        const job: Job = {
          code,
          user,
          signal,
          resolve,
          queuedAt: 0,
          waitedMs: 0,
          second: false,
          timer: undefined,
          onAbort: undefined,
          settled: false,
        };
        this.#enqueue(job);
        this.#pump();
      });
    } catch (error) {
      // Not expected; the contract is to never throw.
      return Promise.resolve(failure("SANDBOX_ERROR", `the JavaScript sandbox failed: ${errorMessage(error)}`));
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.drain()) this.#settle(job, closed());
    // Running blocks end with CLOSED when their worker exits. A worker already terminated (a
    // block past its limit, one that failed to start) may not have exited yet: wait for it too.
    await Promise.all([...this.#threads].map((sandbox) => sandbox.kill()));
    await Promise.all([...this.#running]);
    this.#sandboxes.clear();
  }

  async prewarm(): Promise<void> {
    if (this.#closed) return;
    this.#startBlocked = false;
    while (this.#sandboxes.size < this.#maxWorkers && this.#startSandbox());
    await Promise.all([...this.#sandboxes].map((sandbox) => sandbox.ready));
  }

  status(): QuickJSExecutorStatus {
    let workers = 0;
    for (const sandbox of this.#sandboxes) if (sandbox.state !== "dead") workers++;
    return { workers, running: this.#queue.running, queued: this.#queue.size, users: this.#queue.users, closed: this.#closed };
  }

  /** Tests only: one idle worker's heap and WebAssembly memory, after a GC when one can be forced. */
  async stats(): Promise<WorkerStats | undefined> {
    return await this.#idle()?.stats();
  }

  /** Workers idle or starting, plus workers that may still be started. */
  #spare(): number {
    let spare = this.#maxWorkers;
    for (const sandbox of this.#sandboxes) if (sandbox.state === "busy") spare--;
    return spare;
  }

  #idle(): Sandbox | undefined {
    for (const sandbox of this.#sandboxes) if (sandbox.state === "idle") return sandbox;
    return undefined;
  }

  /** Starts waiting blocks on idle workers, fairly; starts workers when blocks wait for one. */
  #pump(): void {
    if (this.#closed) return;
    for (const sandbox of this.#sandboxes) if (sandbox.state === "dead") this.#sandboxes.delete(sandbox);
    for (;;) {
      const sandbox = this.#idle();
      if (sandbox === undefined) break;
      const ticket = this.#queue.take(performance.now(), this.#secondRoom() > 0);
      if (ticket === undefined) break;
      this.#dispatch(ticket, sandbox);
    }
    // More workers, up to maxWorkers, when blocks that may start have none.
    if (this.#startBlocked && this.#sandboxes.size > 0) return;
    let spare = 0;
    for (const sandbox of this.#sandboxes) if (sandbox.state === "starting" || sandbox.state === "idle") spare++;
    const fresh = this.#queue.startable(true);
    const wanted = fresh + Math.min(this.#queue.startable() - fresh, Math.max(0, this.#secondRoom()));
    while (this.#sandboxes.size < this.#maxWorkers && spare < wanted && this.#startSandbox()) spare++;
  }

  /** Puts `job` in its user's queue, under its queue deadline and its signal. */
  #enqueue(job: Job): void {
    const now = performance.now();
    job.queuedAt = now;
    job.onAbort = () => {
      if (this.#queue.remove(job.user, job)) this.#settle(job, aborted());
    };
    job.timer = setTimeout(
      () => {
        if (this.#queue.remove(job.user, job)) {
          this.#settle(job, queueTimeout(this.#queueTimeoutMs, job.second ? this.#sliceMs : undefined));
        }
      },
      Math.max(0, this.#queueTimeoutMs - job.waitedMs),
    );
    job.signal.addEventListener("abort", job.onAbort, { once: true });
    this.#queue.push(job.user, job, now, job.second);
  }

  #dispatch(ticket: Ticket<Job>, sandbox: Sandbox): void {
    const job = ticket.item;
    clearTimeout(job.timer);
    if (job.onAbort) job.signal.removeEventListener("abort", job.onAbort);
    job.waitedMs += ticket.startedAt - job.queuedAt;
    const sliced = this.#sliceMs > 0 && !ticket.second;
    if (ticket.second) this.#busySecond++;
    const done = sandbox
      .run(job.code, job.signal, () => this.#closed, sliced ? this.#sliceMs : this.#timeoutMs)
      .catch((error: unknown) => {
        void sandbox.kill();
        return failure("SANDBOX_ERROR", `the JavaScript sandbox failed: ${errorMessage(error)}`);
      })
      .then((result) => {
        if (ticket.second) this.#busySecond--;
        if (sandbox.state === "dead") this.#sandboxes.delete(sandbox);
        if (sliced && result.code === "TIMEOUT") {
          if (this.#closed) this.#settle(job, closed());
          else if (job.signal.aborted) this.#settle(job, aborted());
          else {
            // Not finished in its first slice: it waits for its second run (queued before its
            // run is charged, so that its user keeps the charge). The slice's output is dropped.
            job.second = true;
            this.#enqueue(job);
          }
        } else {
          this.#settle(job, this.#closed && result.code === "SANDBOX_ERROR" ? closed(result.output) : result);
        }
        this.#queue.finished(ticket, performance.now());
        this.#running.delete(done);
        this.#pump();
      });
    this.#running.add(done);
  }

  /** How many more second runs may start: one worker is kept for first slices when there are two or more. */
  #secondRoom(): number {
    return this.#maxWorkers === 1 ? 1 - this.#busySecond : this.#maxWorkers - 1 - this.#busySecond;
  }

  /** False when no worker could be started (the failure is reported). */
  #startSandbox(): boolean {
    this.#packagePath ??= resolvePackage(this.#packageName);
    if (this.#packagePath === undefined) {
      this.#startFailed(missingPackage(this.#packageName));
      return false;
    }
    let sandbox: Sandbox;
    try {
      sandbox = new Sandbox({ ...this.#config, packagePath: this.#packagePath }, () => this.#closed);
    } catch (error) {
      this.#startFailed(`the JavaScript sandbox could not start: ${errorMessage(error)}`);
      return false;
    }
    this.#sandboxes.add(sandbox);
    this.#threads.add(sandbox);
    this.#internals.onWorker?.(sandbox.worker);
    let started = false;
    void sandbox.ready.then((error) => {
      if (error === undefined) {
        started = true;
        this.#startBlocked = false;
      } else {
        this.#sandboxes.delete(sandbox);
        this.#startFailed(error);
      }
      this.#pump();
    });
    void sandbox.exited.then(() => {
      this.#sandboxes.delete(sandbox);
      this.#threads.delete(sandbox);
      if (!started || this.#closed) return; // a worker that failed to start is handled above
      // Terminated (a block past its limit, an abort) or crashed: replace it at once, so the next
      // block does not wait for a start.
      if (!this.#startBlocked && this.#sandboxes.size < this.#maxWorkers) this.#startSandbox();
      this.#pump();
    });
    return true;
  }

  /**
   * A worker could not start. When no other worker is alive, every waiting block ends with the
   * reason (it would have waited for nothing); no new worker is tried until a new block comes.
   */
  #startFailed(error: string): void {
    this.#startBlocked = true;
    if (this.#closed) return;
    for (const sandbox of this.#sandboxes) if (sandbox.state !== "dead") return;
    for (const job of this.#queue.drain()) this.#settle(job, failure("SANDBOX_ERROR", error));
  }

  #settle(job: Job, result: QuickJSCodeResult): void {
    if (job.settled) return;
    job.settled = true;
    clearTimeout(job.timer);
    if (job.onAbort) job.signal.removeEventListener("abort", job.onAbort);
    job.resolve(result);
  }
}
