import { createHash } from "node:crypto";
import { ModelError } from "../errors/model-error.js";
import { ZoeError } from "../errors/zoe-error.js";
import { abortReason } from "../shared/abort.js";
import { abandonIterator } from "../shared/abandon-iterator.js";
import type { ChatChunk, ChatRequest, ModelBackend, PrewarmResult } from "../models/types.js";
import { errorCode } from "../ollama/errors.js";
import { timerMs } from "../shared/timer.js";
import { errorMessage } from "../errors/error-message.js";

/** One host of a {@link backendPool}. */
export interface PoolHost {
  /** Shown in `stats()`. Default: the backend's `host` when it has one, else `host-<index>`. */
  name?: string;
  backend: ModelBackend;
}

/** Options of {@link backendPool}. */
export interface BackendPoolOptions {
  /** How long a failing host is left out before a health check may bring it back, ms. Default 10,000. */
  cooldownMs?: number;
  /**
   * Interval of the health checks, ms (the timer is unref'ed and stopped by `close()`). Each check
   * probes every host: a healthy host that fails cools down; a host whose cooldown is over comes
   * back when the check passes. `0` turns the checks off: a host then comes back (on probation)
   * when its cooldown ends. Default 5,000.
   */
  healthCheckMs?: number;
  /**
   * Is this host healthy? Default: `backend.loaded()` resolves (for Ollama, `/api/ps` answers);
   * a backend without `loaded` is taken as healthy. Only `true` (or a promise of it) passes: `false`,
   * any other value, a throw, a rejection, or a check that takes longer than `healthCheckMs` (or
   * 5,000 ms when checks are off) counts as failed. An `ok` that comes back after the host failed
   * a request started during the check is ignored: the host stays cooling down.
   */
  health?: (backend: ModelBackend, name: string) => Promise<boolean> | boolean;
  /** How long a thread stays pinned to its host after its last request, ms. Default 30 minutes. */
  stickyTtlMs?: number;
  /** Most threads remembered, a positive integer (the least recently used are forgotten first). Default 10,000. */
  maxThreads?: number;
  /**
   * The thread a request belongs to, so that all its turns go to the host that holds its prompt
   * prefix in its KV cache. It receives the whole request, `userId` and `threadId` included (the
   * pipeline sets both on every model call). Default {@link defaultThreadKey}. `undefined`: no
   * stickiness for this request (it goes to the least busy host).
   */
  threadKey?: (request: ChatRequest) => string | undefined;
  /**
   * Does this error mean the host is failing (cool it down, fail over)? Default
   * {@link isHostFailure}.
   */
  isHostFailure?: (error: unknown) => boolean;
}

/** Defaults of {@link BackendPoolOptions}. */
export const POOL_DEFAULTS = {
  cooldownMs: 10_000,
  healthCheckMs: 5_000,
  stickyTtlMs: 30 * 60_000,
  maxThreads: 10_000,
} as const;

/** The state of one host, as `stats()` reports it. */
export interface PoolHostStats {
  name: string;
  /** Requests streaming from this host now. */
  inFlight: number;
  /** Takes new requests (not cooling down, last check passed). */
  healthy: boolean;
  /** Epoch ms until which the host is left out; `undefined` when it is not cooling down. */
  coolingUntil: number | undefined;
  /** Threads pinned to this host. */
  threads: number;
  /** Requests this host started, and the host failures seen. */
  requests: number;
  failures: number;
}

/** A {@link ModelBackend} that spreads threads over several hosts. */
export interface BackendPool extends ModelBackend {
  readonly name: "pool";
  stats(): PoolHostStats[];
  /** The host a thread is pinned to, if any. */
  hostOf(threadKey: string): string | undefined;
  /** Run the health checks now (also what the timer does). */
  checkHealth(): Promise<void>;
  /** Prewarm on every healthy host; one result per model (ok when every host loaded it). */
  prewarm(models: string[]): Promise<PrewarmResult[]>;
  /** The union of the hosts' loaded models (hosts that fail are skipped; throws if all fail). */
  loaded(): Promise<string[]>;
  /** Stop the health checks and close every host. */
  close(): Promise<void>;
}

/** A host's prewarm result as the interface describes it; anything else counts as no result. */
function isPrewarmResult(value: unknown): value is PrewarmResult {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  return typeof r.model === "string" && typeof r.ok === "boolean" && typeof r.loadMs === "number" && Number.isFinite(r.loadMs);
}

/** Error codes that mean the host itself is failing (cool it down and fail over). */
export const HOST_FAILURE_CODES: ReadonlySet<string> = new Set([
  "BACKEND_UNREACHABLE",
  "CONNECTION_LOST",
  "BACKEND_BUSY",
  "STREAM_INCOMPLETE",
  "FIRST_TOKEN_TIMEOUT",
  "LOAD_TIMEOUT",
  "IDLE_TIMEOUT",
  "BACKEND_CLOSED",
  // system codes, for backends that do not wrap them
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ECONNABORTED",
  "ENOTFOUND", // DNS: no such host
  "EAI_AGAIN", // DNS: lookup timed out
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CLOSED",
]);

/**
 * The default {@link BackendPoolOptions.isHostFailure}: connection, DNS, 5xx, busy and timeout
 * errors. A plain error matches by its `code`, else its `cause`'s (fetch's "fetch failed" carries
 * undici's code there).
 */
export function isHostFailure(error: unknown): boolean {
  if (error instanceof ZoeError) {
    if (HOST_FAILURE_CODES.has(error.code)) return true;
    const status = (error as { status?: unknown }).status;
    return error.code === "BACKEND_ERROR" && typeof status === "number" && status >= 500;
  }
  const code = errorCode(error);
  return code !== undefined && HOST_FAILURE_CODES.has(code);
}

const firstOf = (request: ChatRequest, role: "system" | "user") => request.messages.find((m) => m.role === role)?.content;
const sha256 = (value: unknown) => createHash("sha256").update(JSON.stringify(value)).digest("hex");

/**
 * The default thread key.
 *
 * - With a `threadId` (the pipeline sets `userId` and `threadId` on every model call): a hash of
 *   the user and the thread. It is the same on every turn, so a thread stays on the host that
 *   holds its KV prefix for the whole conversation, however far its history window has moved.
 * - Without one (a request built by hand): sha256 of the first system message and the first user
 *   message, the start of the conversation. That start changes once the history window moves
 *   past the first turn (at turn 8 with the default window: `load` 12, `step` 8), and the thread may then move.
 *   `undefined` when the request has no user message either.
 */
export function defaultThreadKey(request: ChatRequest): string | undefined {
  if (typeof request.threadId === "string" && request.threadId) {
    return sha256(["thread", request.userId ?? null, request.threadId]);
  }
  const user = firstOf(request, "user");
  if (user === undefined) return undefined;
  return sha256([firstOf(request, "system") ?? null, user]);
}

interface HostState {
  name: string;
  backend: ModelBackend;
  index: number;
  inFlight: number;
  healthy: boolean;
  coolingUntil: number | undefined;
  /** Threads pinned to this host, kept up to date by every pin and eviction. */
  threads: number;
  requests: number;
  /** Also the host's failure epoch: a health check ignores its `ok` when this moved meanwhile. */
  failures: number;
  checking: boolean;
}

interface ThreadEntry {
  host: HostState;
  lastUsed: number;
}

const shown = (value: unknown) => (value === null ? "null" : Array.isArray(value) ? "an array" : typeof value);

const isBackend = (value: unknown): value is ModelBackend =>
  typeof value === "object" && value !== null && typeof (value as { chat?: unknown }).chat === "function";

function hostName(backend: ModelBackend, index: number): string {
  const host = (backend as unknown as { host?: unknown }).host;
  return typeof host === "string" && host ? host : `host-${index}`;
}

/** `hosts[index]` as a name and a backend; a TypeError naming the entry when it is neither form. */
function hostEntry(entry: unknown, index: number): { name: string; backend: ModelBackend } {
  const at = `backendPool: hosts[${index}]`;
  if (isBackend(entry)) return { name: hostName(entry, index), backend: entry };
  if (typeof entry !== "object" || entry === null) {
    throw new TypeError(`${at} must be a backend or { name, backend }, got ${shown(entry)}.`);
  }
  if (!("backend" in entry)) {
    throw new TypeError(`${at} has neither a chat() method nor a \`backend\`: give a backend or { name, backend }.`);
  }
  const { name, backend } = entry as { name?: unknown; backend: unknown };
  if (!isBackend(backend)) throw new TypeError(`${at}.backend must be a backend (an object with a chat() method), got ${shown(backend)}.`);
  if (name === undefined) return { name: hostName(backend, index), backend };
  if (typeof name !== "string" || !name) {
    throw new TypeError(`${at}.name must be a non-empty string, got ${JSON.stringify(name) ?? shown(name)}.`);
  }
  return { name, backend };
}

function checkPositive(name: string, value: number | undefined, zeroOk = false) {
  if (value === undefined) return;
  if (!(typeof value === "number" && (zeroOk ? value >= 0 : value > 0))) {
    throw new RangeError(`backendPool: \`${name}\` must be ${zeroOk ? "0 or more" : "positive"}, got ${String(value)}.`);
  }
}

function checkFunction(name: string, value: unknown) {
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(`backendPool: \`${name}\` must be a function, got ${shown(value)}.`);
  }
}

function checkOptions(options: unknown): BackendPoolOptions {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(`backendPool: \`options\` must be an object, got ${shown(options)}.`);
  }
  const o = options as BackendPoolOptions;
  checkPositive("cooldownMs", o.cooldownMs, true);
  checkPositive("healthCheckMs", o.healthCheckMs, true);
  checkPositive("stickyTtlMs", o.stickyTtlMs, true);
  checkPositive("maxThreads", o.maxThreads);
  // Infinity would remember every thread forever; a fraction means nothing.
  if (o.maxThreads !== undefined && !Number.isSafeInteger(o.maxThreads)) {
    throw new RangeError(`backendPool: \`maxThreads\` must be a positive integer, got ${String(o.maxThreads)}.`);
  }
  checkFunction("health", o.health);
  checkFunction("threadKey", o.threadKey);
  checkFunction("isHostFailure", o.isHostFailure);
  return o;
}

/** Is a health check's answer a pass? Only `true`: anything else, a throw included, fails it. */
async function passes(check: () => Promise<boolean> | boolean): Promise<boolean> {
  try {
    // Awaited inside the try, so a check that throws synchronously or returns a plain value is
    // a failed check, never a rejection that escapes the timer.
    return (await check()) === true;
  } catch {
    return false;
  }
}

type TokenCounter = (text: string) => number;

/**
 * The counter for a prompt that may go to any host: each host's own (the request's host is not
 * known yet). One shared counter as is; different ones give the largest count, so the prompt fits
 * on whichever host gets it; none when a host has none for the model.
 */
function poolCounter(counters: readonly unknown[]): TokenCounter | undefined {
  if (!counters.every((c): c is TokenCounter => typeof c === "function")) return undefined;
  const distinct = [...new Set(counters)];
  if (distinct.length === 1) return distinct[0];
  return (text) => Math.max(...distinct.map((count) => count(text)));
}

/**
 * Several model hosts (e.g. several `ollamaBackend({ host })`) behind one {@link ModelBackend}.
 *
 * - A new thread goes to the least busy healthy host (fewest requests in flight; then fewest
 *   threads; then list order).
 * - A thread (by default the request's `userId` + `threadId`, see {@link defaultThreadKey}) stays
 *   on the host that served its earlier turns (that host holds its prompt prefix in its KV cache)
 *   while that host is healthy, for `stickyTtlMs` after its last request.
 * - A host failure (connection refused or lost, HTTP 5xx, busy, timeouts) cools the host down; a
 *   request that has not streamed anything yet fails over to the next healthy host. Once a chunk
 *   was streamed the error propagates: half an answer is never replayed.
 * - Health checks bring cooled-down hosts back.
 * - `tokenCounter` exists when every host has one. The host of a request is not known while its
 *   prompt is counted, so it gives the hosts' shared counter, or when they differ the largest of
 *   their counts (the prompt fits whichever host gets it), or `undefined` (the pipeline then
 *   estimates) when any host has none for the model.
 * - Bad hosts or options throw at once (a `TypeError`, or a `RangeError` for a number out of range).
 */
export function backendPool(hosts: ReadonlyArray<ModelBackend | PoolHost>, given: BackendPoolOptions = {}): BackendPool {
  if (!Array.isArray(hosts)) {
    throw new TypeError(`backendPool: \`hosts\` must be an array of backends or { name, backend }, got ${shown(hosts)}.`);
  }
  if (hosts.length === 0) throw new RangeError("backendPool: give at least one host.");
  const options = checkOptions(given);
  const cooldownMs = options.cooldownMs ?? POOL_DEFAULTS.cooldownMs;
  const healthCheckMs = options.healthCheckMs ?? POOL_DEFAULTS.healthCheckMs;
  const stickyTtlMs = options.stickyTtlMs ?? POOL_DEFAULTS.stickyTtlMs;
  const maxThreads = options.maxThreads ?? POOL_DEFAULTS.maxThreads;
  const threadKeyOf = options.threadKey ?? defaultThreadKey;
  const hostFailure = options.isHostFailure ?? isHostFailure;
  const health =
    options.health ??
    (async (backend: ModelBackend) => {
      if (!backend.loaded) return true;
      await backend.loaded();
      return true;
    });

  const states: HostState[] = hosts.map((h: unknown, index) => ({
    ...hostEntry(h, index),
    index,
    inFlight: 0,
    healthy: true,
    coolingUntil: undefined,
    threads: 0,
    requests: 0,
    failures: 0,
    checking: false,
  }));
  const names = new Set(states.map((s) => s.name));
  if (names.size !== states.length) throw new RangeError("backendPool: host names must be unique.");

  /** thread key → host and last use; Map order = least recently used first. */
  const threads = new Map<string, ThreadEntry>();
  let closed = false;
  /** The one close in progress or done: every `close()` call waits for it. */
  let closing: Promise<void> | undefined;

  const available = (s: HostState, now = Date.now()) =>
    s.healthy || (healthCheckMs === 0 && s.coolingUntil !== undefined && now >= s.coolingUntil);

  function forget(key: string, entry: ThreadEntry) {
    threads.delete(key);
    entry.host.threads--;
  }

  /** Forget the expired threads: a walk over them all, so only for the timer and `stats()`. */
  function pruneThreads(now = Date.now()) {
    for (const [key, entry] of threads) {
      if (now - entry.lastUsed > stickyTtlMs) forget(key, entry);
    }
  }

  function pin(key: string | undefined, host: HostState) {
    if (key === undefined) return;
    const old = threads.get(key);
    if (old) forget(key, old);
    threads.set(key, { host, lastUsed: Date.now() });
    host.threads++;
    // Full: forget the least recently used thread (first in Map order), without walking the rest.
    if (threads.size > maxThreads) {
      const [oldestKey, oldest] = threads.entries().next().value as [string, ThreadEntry];
      forget(oldestKey, oldest);
    }
  }

  /** The host for the next attempt among those `eligible`, or undefined when every one was tried. */
  function pick(key: string | undefined, tried: ReadonlySet<HostState>, eligible?: (s: HostState) => boolean): HostState | undefined {
    const now = Date.now();
    if (key !== undefined) {
      const entry = threads.get(key);
      if (entry && now - entry.lastUsed <= stickyTtlMs && !tried.has(entry.host) && available(entry.host, now)) return entry.host;
    }
    const candidates = states.filter((s) => !tried.has(s) && (eligible?.(s) ?? true));
    if (candidates.length === 0) return undefined;
    const up = candidates.filter((s) => available(s, now));
    if (up.length > 0) {
      return up.reduce((best, s) => {
        if (s.inFlight !== best.inFlight) return s.inFlight < best.inFlight ? s : best;
        return s.threads < best.threads ? s : best;
      });
    }
    // Every remaining host is cooling down: rather than fail without trying, try the one that
    // comes back first.
    return candidates.reduce((best, s) => ((s.coolingUntil ?? 0) < (best.coolingUntil ?? 0) ? s : best));
  }

  function markFailed(s: HostState) {
    s.failures++;
    s.healthy = false;
    s.coolingUntil = Date.now() + cooldownMs;
  }

  /** A host that answered (on probation, or tried because every host was down) is back. */
  function answered(s: HostState) {
    if (s.healthy) return;
    s.healthy = true;
    s.coolingUntil = undefined;
  }

  async function checkOne(s: HostState): Promise<void> {
    if (s.checking || closed) return;
    const now = Date.now();
    if (!s.healthy && s.coolingUntil !== undefined && now < s.coolingUntil) return;
    s.checking = true;
    const failures = s.failures;
    const limit = healthCheckMs > 0 ? healthCheckMs : 5_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      const ok = await Promise.race([
        passes(() => health(s.backend, s.name)),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), timerMs(limit));
          timer.unref();
        }),
      ]);
      if (closed) return;
      if (ok) {
        // A request failed on this host after the check began: that is the newer news.
        if (s.failures !== failures) return;
        s.healthy = true;
        s.coolingUntil = undefined;
      } else {
        // A failed check is not counted as a request failure.
        s.healthy = false;
        s.coolingUntil = Date.now() + cooldownMs;
      }
    } finally {
      if (timer) clearTimeout(timer);
      s.checking = false;
    }
  }

  async function checkHealth(): Promise<void> {
    pruneThreads();
    await Promise.all(states.map(checkOne));
  }

  // checkHealth() does not reject; the catch is there so that nothing on a timer ever could.
  const timer = healthCheckMs > 0 ? setInterval(() => void checkHealth().catch(() => {}), timerMs(healthCheckMs)) : undefined;
  timer?.unref();

  async function* chat(request: ChatRequest, { signal }: { signal: AbortSignal }): AsyncGenerator<ChatChunk> {
    if (closed) throw new ModelError("The backend pool is closed: create a new one to send more requests.", { code: "BACKEND_CLOSED" });
    const key = threadKeyOf(request);
    const tried = new Set<HostState>();
    let lastError: unknown;
    for (;;) {
      if (signal.aborted) throw abortReason(signal);
      const host = pick(key, tried);
      if (!host) throw lastError;
      tried.add(host);
      pin(key, host);
      host.inFlight++;
      host.requests++;
      let iterator: AsyncIterator<ChatChunk> | undefined;
      let streamed = false;
      let ended = false;
      let failover = false;
      try {
        for (;;) {
          let step: IteratorResult<ChatChunk>;
          try {
            iterator ??= host.backend.chat(request, { signal })[Symbol.asyncIterator]();
            step = await iterator.next();
          } catch (error) {
            ended = true;
            if (signal.aborted || closed) throw error;
            if (!hostFailure(error)) throw error;
            markFailed(host);
            if (streamed) throw error; // never replay half an answer
            lastError = error;
            failover = true;
            break;
          }
          if (step.done) {
            ended = true;
            return;
          }
          if (!streamed) {
            streamed = true;
            pin(key, host); // this host now holds the thread's prefix
            answered(host);
          }
          yield step.value;
        }
      } finally {
        host.inFlight--;
        if (!ended && iterator) abandonIterator(iterator);
      }
      if (!failover) return;
    }
  }

  const pool: BackendPool = {
    name: "pool",
    chat,
    stats(): PoolHostStats[] {
      pruneThreads();
      const now = Date.now();
      return states.map((s) => ({
        name: s.name,
        inFlight: s.inFlight,
        healthy: available(s, now),
        coolingUntil: available(s, now) ? undefined : s.coolingUntil,
        threads: s.threads,
        requests: s.requests,
        failures: s.failures,
      }));
    },
    hostOf(threadKey: string) {
      const entry = threads.get(threadKey);
      return entry && Date.now() - entry.lastUsed <= stickyTtlMs ? entry.host.name : undefined;
    },
    checkHealth,
    async prewarm(models: string[]): Promise<PrewarmResult[]> {
      const targets = states.filter((s) => s.healthy && s.backend.prewarm);
      // Each host's outcome by model name: a host's results may come in any order, miss a model
      // or not be results at all (a host that answers so loaded nothing it can show).
      const byHost = await Promise.all(
        targets.map(async (s): Promise<Map<string, PrewarmResult | string>> => {
          const outcome = new Map<string, PrewarmResult | string>();
          try {
            const results: unknown = await s.backend.prewarm!(models);
            if (Array.isArray(results)) {
              for (const r of results) if (isPrewarmResult(r) && !outcome.has(r.model)) outcome.set(r.model, r);
            }
          } catch (error) {
            for (const model of models) outcome.set(model, errorMessage(error));
          }
          return outcome;
        }),
      );
      return models.map((model) => {
        const errors: string[] = [];
        let loadMs = 0;
        targets.forEach((host, i) => {
          const r = byHost[i]?.get(model) ?? "it gave no result for this model";
          if (typeof r === "string") errors.push(`${host.name}: ${r}`);
          else {
            loadMs = Math.max(loadMs, r.loadMs);
            if (!r.ok) errors.push(`${host.name}: ${r.error ?? "failed"}`);
          }
        });
        if (targets.length === 0) return { model, ok: false, loadMs: 0, error: "no healthy host can prewarm" };
        return { model, ok: errors.length === 0, loadMs, ...(errors.length > 0 ? { error: errors.join("; ") } : {}) };
      });
    },
    async loaded(): Promise<string[]> {
      const lists = await Promise.allSettled(states.filter((s) => s.backend.loaded).map((s) => s.backend.loaded!()));
      const ok = lists.filter((r): r is PromiseFulfilledResult<string[]> => r.status === "fulfilled");
      const failed = lists.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (ok.length === 0 && failed) throw failed.reason;
      return [...new Set(ok.flatMap((r) => r.value))];
    },
    close(): Promise<void> {
      // Every call waits for the hosts: a second caller (a signal handler and a shutdown path) too.
      closing ??= (async () => {
        closed = true;
        if (timer) clearInterval(timer);
        threads.clear();
        for (const s of states) s.threads = 0;
        await Promise.all(states.map((s) => s.backend.close?.()));
      })();
      return closing;
    },
  };
  if (states.every((s) => s.backend.tokenCounter)) {
    pool.tokenCounter = (model) => poolCounter(states.map((s) => s.backend.tokenCounter!(model)));
  }
  if (states.some((s) => s.backend.promptBudget)) {
    // The host of a request is not known while its prompt is fitted: the smallest budget a host gives, so the prompt fits on any.
    pool.promptBudget = (model) => {
      let least: number | undefined;
      for (const s of states) {
        const own: unknown = s.backend.promptBudget?.(model);
        if (typeof own === "number" && own >= 1 && (least === undefined || own < least)) least = own;
      }
      return least;
    };
  }
  if (states.some((s) => s.backend.embed)) {
    const canEmbed = (s: HostState) => s.backend.embed !== undefined;
    // Embeddings are stateless: no thread, else the same pick and failover as chat().
    pool.embed = async (input, context) => {
      const tried = new Set<HostState>();
      let lastError: unknown;
      for (;;) {
        if (context.signal.aborted) throw abortReason(context.signal);
        const host = pick(undefined, tried, canEmbed);
        if (!host) throw lastError;
        tried.add(host);
        host.inFlight++;
        try {
          const vectors = await host.backend.embed!(input, context);
          answered(host);
          return vectors;
        } catch (error) {
          if (context.signal.aborted || closed || !hostFailure(error)) throw error;
          markFailed(host);
          lastError = error;
        } finally {
          host.inFlight--;
        }
      }
    };
  }
  return pool;
}
