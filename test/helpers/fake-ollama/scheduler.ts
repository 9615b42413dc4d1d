/**
 * The fake's model scheduler, modelled on (not copied from) Ollama's `server/sched.go`:
 *
 * - `getRunner`: a loaded runner whose options need no reload is used at once, without queueing
 *   (so a warm model never gets a 503); anything else joins the pending queue, or fails with the
 *   503 `ErrMaxQueue` text when `OLLAMA_MAX_QUEUE` requests already wait.
 * - `processPending`: ONE loop takes pending requests in order, so loads happen one at a time and
 *   a request that arrives while its model is loading waits for that load. A runner that needs a
 *   reload, or one picked by `findRunnerToUnload` when `OLLAMA_MAX_LOADED_MODELS` runners are
 *   loaded, gets `sessionDuration = 0` and the loop waits for its unload, which happens only once
 *   its in-flight requests are done.
 * - `load`: the load belongs to the request that started it (`llama.Load(req.ctx, …)`, then
 *   `llm/llama_server.go` `WaitUntilRunning(ctx)`): when that request goes away first, the load is
 *   discarded and the runner is never listed.
 * - `useLoadedRunner`: the runner's `sessionDuration` changes only when the request sets
 *   `keep_alive` (an omitted one keeps the previous value); its expiry timer stops while it is busy.
 * - `processCompleted`: when a request ends and the runner is idle, a zero `sessionDuration`
 *   unloads it at once, otherwise a timer unloads it after `sessionDuration` (`expiresAt` is set).
 * - `needsReload`: `api.Runner` options compared as a whole, with `num_ctx` clamped to the model's
 *   training context, automatic `num_ctx` / `num_batch` on both sides not compared, and a
 *   negative `num_gpu` never causing a reload; a change of `shift` reloads too.
 * - Each runner has `OLLAMA_NUM_PARALLEL` slots (`llm/llama_server.go` `Completion`:
 *   `s.sem.Acquire(ctx, 1)`): extra requests wait there before any byte is sent.
 */
import type { FakeModel } from "./types.js";

/** Ollama's 503 text when its queue is full (`sched.go` `ErrMaxQueue`). */
export const OLLAMA_BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded";

/** The `api.Runner` options of a request, defaults filled in (`api/types.go` `DefaultOptions`, `Runner`). */
export interface RunnerOptions {
  num_ctx: number;
  num_batch: number;
  num_gpu: number;
  main_gpu: number | null;
  use_mmap: boolean | null;
  num_thread: number;
  draft_num_predict: number;
}

/** What the scheduler needs of one request (`sched.go` `LlmRequest`). */
export interface SchedRequest {
  /** Lower-cased full name (one runner per model). */
  key: string;
  /** The name `/api/ps` shows. */
  display: string;
  /** The name the counters use (the one the test registered the model under). */
  counter: string;
  spec: FakeModel;
  options: RunnerOptions;
  numCtxAuto: boolean;
  numBatchAuto: boolean;
  shift: boolean;
  /** `keep_alive` in ms; `undefined` when the request has none. */
  keepAliveMs: number | undefined;
  /** Aborted when the HTTP request ends, whichever side ends it (the request context). */
  signal: AbortSignal;
  index: number;
}

/** A failure of scheduling, answered as this status and `{"error": message}` (`routes.go` `handleScheduleError`). */
export class ScheduleError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** One entry of the fake's event log, in the order things happened. */
export interface FakeEvent {
  type: "load-start" | "load-done" | "load-discarded" | "load-failed" | "reload" | "evict" | "unload" | "slot-wait" | "first-byte" | "end";
  model: string;
  /** The request, for request events. */
  index?: number;
}

/** The longest timer Node can arm; longer keep-alives never expire in a test. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A loaded model (`sched.go` `runnerRef`). */
export class Runner {
  refCount = 0;
  expireTimer: ReturnType<typeof setTimeout> | undefined;
  /** ms since the epoch; `undefined` until the runner first goes idle (Go's zero time). */
  expiresAt: number | undefined;
  private slotsActive = 0;
  private readonly slotWaiters: Array<() => void> = [];

  constructor(
    readonly key: string,
    readonly display: string,
    readonly spec: FakeModel,
    readonly options: RunnerOptions,
    readonly numCtxAuto: boolean,
    readonly numBatchAuto: boolean,
    readonly shift: boolean,
    public sessionMs: number,
    private readonly numParallel: number,
  ) {}

  /** A request would get a slot at once. */
  get hasFreeSlot(): boolean {
    return this.slotsActive < this.numParallel;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.slotWaiters.length;
  }

  /** Take a slot (`sem.Acquire(ctx, 1)`); false when `signal` aborts first. */
  acquire(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    if (this.slotsActive < this.numParallel) {
      this.slotsActive++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const grant = () => {
        signal.removeEventListener("abort", onAbort);
        this.slotsActive++;
        resolve(true);
      };
      const onAbort = () => {
        const i = this.slotWaiters.indexOf(grant);
        if (i >= 0) this.slotWaiters.splice(i, 1);
        resolve(false);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.slotWaiters.push(grant);
    });
  }

  release(): void {
    this.slotsActive--;
    this.slotWaiters.shift()?.();
  }
}

export interface SchedulerConfig {
  numParallel: number;
  maxLoadedModels: number;
  maxQueue: number;
  /** `OLLAMA_KEEP_ALIVE`: the session duration of a load whose request has no `keep_alive`. */
  defaultKeepAliveMs: number;
}

interface Pending {
  req: SchedRequest;
  resolve: (runner: Runner) => void;
  reject: (error: unknown) => void;
}

const sleep = (ms: number, signal: AbortSignal | undefined) =>
  new Promise<boolean>((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** `sched.go` `effectiveContext` and the `getRunner` minimum of 4. */
export const effectiveContext = (numCtx: number, trainCtx: number) => Math.max(4, trainCtx > 0 && numCtx > trainCtx ? trainCtx : numCtx);

export class FakeScheduler {
  readonly loaded = new Map<string, Runner>();
  readonly log: FakeEvent[] = [];
  readonly loadCounts: Record<string, number> = {};
  readonly reloads: Record<string, number> = {};
  readonly discardedLoads: Record<string, number> = {};
  private readonly pending: Pending[] = [];
  private running = false;
  private closed = false;
  private unloadWaiters: Array<() => void> = [];

  constructor(private readonly config: SchedulerConfig) {}

  /** Requests in the pending queue (waiting for a load, a reload or an eviction). */
  get queued(): number {
    return this.pending.length;
  }

  /** `getRunner`: the runner for `req`, at once when it is loaded with matching options. */
  getRunner(req: SchedRequest): Promise<Runner> {
    return new Promise((resolve, reject) => {
      const runner = this.loaded.get(req.key);
      if (runner && !this.needsReload(runner, req)) {
        this.useLoadedRunner(runner, req);
        return resolve(runner);
      }
      if (this.pending.length >= this.config.maxQueue) return reject(new ScheduleError(503, OLLAMA_BUSY_MESSAGE));
      this.pending.push({ req, resolve, reject });
      void this.processPending();
    });
  }

  /** `expireRunner` (an empty chat with `keep_alive: 0`): unload now, or once the in-flight requests end. */
  expireRunner(key: string): void {
    const runner = this.loaded.get(key);
    if (!runner) return;
    runner.expiresAt = Date.now();
    this.stopTimer(runner);
    runner.sessionMs = 0;
    if (runner.refCount <= 0) this.expire(runner);
  }

  /** `loadedModels` / `PsHandler`: expiry estimated from the session when still zero, latest first. */
  list(): Array<{ runner: Runner; expiresAt: number }> {
    const now = Date.now();
    const out = [...this.loaded.values()].map((runner) => ({ runner, expiresAt: runner.expiresAt ?? now + runner.sessionMs }));
    // stable sort on whole seconds, as PsHandler compares `ExpiresAt.Unix()`
    return out.sort((a, b) => Math.floor(b.expiresAt / 1000) - Math.floor(a.expiresAt / 1000));
  }

  close(): void {
    this.closed = true;
    for (const runner of this.loaded.values()) this.stopTimer(runner);
    for (const p of this.pending.splice(0)) p.reject(new ScheduleError(500, "server shutting down"));
  }

  private event(type: FakeEvent["type"], req: { display: string; index?: number }): void {
    this.log.push({ type, model: req.display, ...(req.index === undefined ? {} : { index: req.index }) });
  }

  private stopTimer(runner: Runner): void {
    if (runner.expireTimer) clearTimeout(runner.expireTimer);
    runner.expireTimer = undefined;
  }

  /** `needsReload`. */
  needsReload(runner: Runner, req: SchedRequest): boolean {
    const existing = { ...runner.options };
    const next = { ...req.options };
    next.num_ctx = effectiveContext(next.num_ctx, runner.spec.contextLength ?? 131_072);
    if (runner.numCtxAuto && req.numCtxAuto) next.num_ctx = existing.num_ctx;
    if (runner.numBatchAuto && req.numBatchAuto) next.num_batch = existing.num_batch;
    if (next.num_gpu < 0) {
      existing.num_gpu = -1;
      next.num_gpu = -1;
    }
    if (runner.shift !== req.shift) return true;
    return JSON.stringify(existing) !== JSON.stringify(next);
  }

  /** `useLoadedRunner`. */
  private useLoadedRunner(runner: Runner, req: SchedRequest): void {
    runner.refCount++;
    this.stopTimer(runner);
    if (req.keepAliveMs !== undefined) runner.sessionMs = req.keepAliveMs;
    this.finishWith(runner, req.signal);
  }

  /** The finished event of a request: sent when its context ends. */
  private finishWith(runner: Runner, signal: AbortSignal): void {
    if (signal.aborted) return void queueMicrotask(() => this.finished(runner));
    signal.addEventListener("abort", () => this.finished(runner), { once: true });
  }

  /** `processCompleted`, the finished-request case. */
  private finished(runner: Runner): void {
    if (this.loaded.get(runner.key) !== runner) return;
    runner.refCount--;
    if (runner.refCount > 0) return;
    if (runner.sessionMs <= 0) {
      this.stopTimer(runner);
      this.expire(runner);
      return;
    }
    this.stopTimer(runner);
    if (runner.sessionMs <= MAX_TIMER_MS) {
      const timer = setTimeout(() => {
        if (runner.expireTimer === timer) runner.expireTimer = undefined;
        this.expire(runner);
      }, runner.sessionMs);
      timer.unref();
      runner.expireTimer = timer;
    }
    runner.expiresAt = Date.now() + runner.sessionMs;
  }

  /** `processCompleted`, the expired-runner case: unload an idle runner and signal the unload. */
  private expire(runner: Runner): void {
    // A busy runner is expired again when its last request finishes (its session is 0 by then).
    if (runner.refCount > 0) return;
    if (this.loaded.get(runner.key) !== runner) return;
    this.stopTimer(runner);
    this.loaded.delete(runner.key);
    this.event("unload", runner);
    const waiters = this.unloadWaiters;
    this.unloadWaiters = [];
    for (const wake of waiters) wake();
  }

  private nextUnload(): Promise<void> {
    return new Promise((resolve) => this.unloadWaiters.push(resolve));
  }

  /** `findRunnerToUnload`: by session duration then name, an idle one first. */
  private findRunnerToUnload(): Runner | undefined {
    const list = [...this.loaded.values()].sort((a, b) => a.sessionMs - b.sessionMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return list.find((r) => r.refCount === 0) ?? list[0];
  }

  /** `processPending`: one request at a time. */
  private async processPending(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let next = this.pending.shift(); next; next = this.pending.shift()) await this.schedule(next);
    } finally {
      this.running = false;
    }
  }

  private async schedule({ req, resolve, reject }: Pending): Promise<void> {
    if (req.signal.aborted) return reject(new ScheduleError(499, "request canceled"));
    for (;;) {
      if (this.closed) return reject(new ScheduleError(500, "server shutting down"));
      const runner = this.loaded.get(req.key);
      let toExpire: Runner | undefined;
      if (runner) {
        if (!this.needsReload(runner, req)) {
          this.useLoadedRunner(runner, req);
          return resolve(runner);
        }
        toExpire = runner;
        this.reloads[req.counter] = (this.reloads[req.counter] ?? 0) + 1;
        this.event("reload", req);
      } else if (this.loaded.size >= this.config.maxLoadedModels) {
        toExpire = this.findRunnerToUnload();
        if (toExpire) this.event("evict", toExpire);
      } else {
        return this.load(req, resolve, reject);
      }
      if (!toExpire) continue;
      const unloaded = this.nextUnload();
      this.stopTimer(toExpire);
      toExpire.sessionMs = 0;
      if (toExpire.refCount <= 0) this.expire(toExpire);
      await unloaded;
    }
  }

  /** `load`: the load lives and dies with the request that started it. */
  private async load(req: SchedRequest, resolve: (runner: Runner) => void, reject: (error: unknown) => void): Promise<void> {
    this.loadCounts[req.counter] = (this.loadCounts[req.counter] ?? 0) + 1;
    this.event("load-start", req);
    const discard = req.spec.discardAbortedLoad !== false;
    const completed = await sleep(req.spec.loadDelayMs ?? 0, discard ? req.signal : undefined);
    if (!completed || (discard && req.signal.aborted)) {
      // WaitUntilRunning: "client connection closed before llama-server finished loading, aborting load"
      this.discardedLoads[req.counter] = (this.discardedLoads[req.counter] ?? 0) + 1;
      this.event("load-discarded", req);
      return reject(new ScheduleError(499, "timed out waiting for llama-server to start: context canceled"));
    }
    if (req.spec.loadError !== undefined) {
      this.event("load-failed", req);
      return reject(new ScheduleError(500, req.spec.loadError));
    }
    const options = { ...req.options, num_ctx: effectiveContext(req.options.num_ctx, req.spec.contextLength ?? 131_072) };
    const runner = new Runner(
      req.key,
      req.display,
      req.spec,
      options,
      req.numCtxAuto,
      req.numBatchAuto,
      req.shift,
      req.keepAliveMs ?? this.config.defaultKeepAliveMs,
      this.config.numParallel,
    );
    this.loaded.set(req.key, runner);
    this.event("load-done", req);
    runner.refCount++;
    // With `discardAbortedLoad: false` (an older server) the runner stays, idle, after its request left.
    this.finishWith(runner, req.signal);
    resolve(runner);
  }
}
