import { createHash } from "node:crypto";
import { ModelError } from "../errors/model-error.js";
import { ZoeError } from "../errors/zoe-error.js";
import { abortReason } from "../shared/abort.js";
import type { ChatChunk, ChatRequest, ModelBackend, PrewarmResult } from "../models/types.js";
import { errorCode } from "../ollama/errors.js";
import { timerMs } from "../shared/timer.js";

/** One host of a {@link backendPool}. */
export interface PoolHost {
  /** Shown in `stats()`. Default: the backend's `host` when it has one, else `host-<index>`. */
  name: string;
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
   * a backend without `loaded` is taken as healthy. A check that takes longer than
   * `healthCheckMs` (or 5,000 ms when checks are off) counts as failed.
   */
  health?: (backend: ModelBackend, name: string) => Promise<boolean>;
  /** How long a thread stays pinned to its host after its last request, ms. Default 30 minutes. */
  stickyTtlMs?: number;
  /** Most threads remembered (the least recently used are forgotten first). Default 10,000. */
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
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** The default {@link BackendPoolOptions.isHostFailure}: connection, 5xx, busy and timeout errors. */
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
 *   past the first turn (from turn 3 or so with the default window), and the thread may then move.
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
  requests: number;
  failures: number;
  checking: boolean;
}

function hostName(backend: ModelBackend, index: number): string {
  const host = (backend as unknown as { host?: unknown }).host;
  return typeof host === "string" && host ? host : `host-${index}`;
}

function checkPositive(name: string, value: number | undefined, zeroOk = false) {
  if (value === undefined) return;
  if (!(typeof value === "number" && (zeroOk ? value >= 0 : value > 0))) {
    throw new RangeError(`backendPool: \`${name}\` must be ${zeroOk ? "0 or more" : "positive"}, got ${String(value)}.`);
  }
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
 */
export function backendPool(hosts: ReadonlyArray<ModelBackend | PoolHost>, options: BackendPoolOptions = {}): BackendPool {
  if (hosts.length === 0) throw new RangeError("backendPool: give at least one host.");
  checkPositive("cooldownMs", options.cooldownMs, true);
  checkPositive("healthCheckMs", options.healthCheckMs, true);
  checkPositive("stickyTtlMs", options.stickyTtlMs, true);
  checkPositive("maxThreads", options.maxThreads);
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

  const states: HostState[] = hosts.map((h, index) => {
    const entry: PoolHost = "chat" in h && typeof h.chat === "function" ? { name: hostName(h, index), backend: h } : (h as PoolHost);
    return {
      name: entry.name,
      backend: entry.backend,
      index,
      inFlight: 0,
      healthy: true,
      coolingUntil: undefined,
      requests: 0,
      failures: 0,
      checking: false,
    };
  });
  const names = new Set(states.map((s) => s.name));
  if (names.size !== states.length) throw new RangeError("backendPool: host names must be unique.");

  /** thread key → host and last use; Map order = least recently used first. */
  const threads = new Map<string, { host: HostState; lastUsed: number }>();
  let closed = false;

  const available = (s: HostState, now = Date.now()) =>
    s.healthy || (healthCheckMs === 0 && s.coolingUntil !== undefined && now >= s.coolingUntil);

  function threadCounts(): Map<HostState, number> {
    const counts = new Map<HostState, number>();
    for (const { host } of threads.values()) counts.set(host, (counts.get(host) ?? 0) + 1);
    return counts;
  }

  function pruneThreads(now = Date.now()) {
    for (const [key, entry] of threads) {
      if (now - entry.lastUsed > stickyTtlMs) threads.delete(key);
    }
    while (threads.size > maxThreads) {
      const oldest = threads.keys().next().value as string;
      threads.delete(oldest);
    }
  }

  function pin(key: string | undefined, host: HostState) {
    if (key === undefined) return;
    threads.delete(key);
    threads.set(key, { host, lastUsed: Date.now() });
    if (threads.size > maxThreads) pruneThreads();
  }

  /** The host for the next attempt, or undefined when every host was tried. */
  function pick(key: string | undefined, tried: ReadonlySet<HostState>): HostState | undefined {
    const now = Date.now();
    if (key !== undefined) {
      const entry = threads.get(key);
      if (entry && now - entry.lastUsed <= stickyTtlMs && !tried.has(entry.host) && available(entry.host, now)) return entry.host;
    }
    const candidates = states.filter((s) => !tried.has(s));
    if (candidates.length === 0) return undefined;
    const up = candidates.filter((s) => available(s, now));
    if (up.length > 0) {
      const counts = threadCounts();
      return up.reduce((best, s) => {
        if (s.inFlight !== best.inFlight) return s.inFlight < best.inFlight ? s : best;
        const ts = counts.get(s) ?? 0;
        const tb = counts.get(best) ?? 0;
        return ts < tb ? s : best;
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

  async function checkOne(s: HostState): Promise<void> {
    if (s.checking || closed) return;
    const now = Date.now();
    if (!s.healthy && s.coolingUntil !== undefined && now < s.coolingUntil) return;
    s.checking = true;
    const limit = healthCheckMs > 0 ? healthCheckMs : 5_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      const ok = await Promise.race([
        health(s.backend, s.name).catch(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), timerMs(limit));
          timer.unref();
        }),
      ]);
      if (closed) return;
      if (ok) {
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

  const timer = healthCheckMs > 0 ? setInterval(() => void checkHealth(), timerMs(healthCheckMs)) : undefined;
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
            if (!host.healthy) {
              // a host on probation (or tried because every host was down) answered: it is back
              host.healthy = true;
              host.coolingUntil = undefined;
            }
          }
          yield step.value;
        }
      } finally {
        host.inFlight--;
        if (!ended && iterator) void Promise.resolve(iterator.return?.()).catch(() => {});
      }
      if (!failover) return;
    }
  }

  const pool: BackendPool = {
    name: "pool",
    chat,
    stats(): PoolHostStats[] {
      pruneThreads();
      const counts = threadCounts();
      const now = Date.now();
      return states.map((s) => ({
        name: s.name,
        inFlight: s.inFlight,
        healthy: available(s, now),
        coolingUntil: available(s, now) ? undefined : s.coolingUntil,
        threads: counts.get(s) ?? 0,
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
      const all = await Promise.all(
        targets.map(async (s) => {
          try {
            return await s.backend.prewarm!(models);
          } catch (error) {
            return models.map((model) => ({ model, ok: false, loadMs: 0, error: error instanceof Error ? error.message : String(error) }));
          }
        }),
      );
      return models.map((model, i) => {
        const results = all.map((r) => r[i]).filter((r): r is PrewarmResult => r !== undefined);
        const errors = results
          .map((r, j) => (r.ok ? undefined : `${targets[j]?.name ?? "?"}: ${r.error ?? "failed"}`))
          .filter((e): e is string => e !== undefined);
        return {
          model,
          ok: results.length > 0 && errors.length === 0,
          loadMs: Math.max(0, ...results.map((r) => r.loadMs)),
          ...(errors.length > 0 ? { error: errors.join("; ") } : results.length === 0 ? { error: "no healthy host can prewarm" } : {}),
        };
      });
    },
    async loaded(): Promise<string[]> {
      const lists = await Promise.allSettled(states.filter((s) => s.backend.loaded).map((s) => s.backend.loaded!()));
      const ok = lists.filter((r): r is PromiseFulfilledResult<string[]> => r.status === "fulfilled");
      const failed = lists.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (ok.length === 0 && failed) throw failed.reason;
      return [...new Set(ok.flatMap((r) => r.value))];
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (timer) clearInterval(timer);
      threads.clear();
      await Promise.all(states.map((s) => s.backend.close?.()));
    },
  };
  if (states.some((s) => s.backend.embed)) {
    // Embeddings are stateless: the least busy available host, failing over like chat().
    pool.embed = async (input, context) => {
      const tried = new Set<HostState>();
      let lastError: unknown;
      for (;;) {
        if (context.signal.aborted) throw abortReason(context.signal);
        const withEmbed = states.filter((s) => s.backend.embed && !tried.has(s));
        const host =
          withEmbed.filter((s) => available(s)).sort((a, b) => a.inFlight - b.inFlight)[0] ?? (tried.size === 0 ? withEmbed[0] : undefined);
        if (!host) throw lastError;
        tried.add(host);
        host.inFlight++;
        try {
          return await host.backend.embed!(input, context);
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
