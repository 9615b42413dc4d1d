import { EventEmitter } from "eventemitter3";
import pTimeout from "p-timeout";
import { memoryCacheStore } from "../cache/memory-store.js";
import type { CacheBatch, CacheBatchResult, CacheStore, ListAppendOptions } from "../cache/types.js";
import { assertTtl } from "../cache/validate.js";

/** What a primary store may offer beyond {@link CacheStore} so that the fallback watches it closely. */
export interface ProbeablePrimary {
  /** A cheap round trip (Redis: PING). Without it, probes read a key. */
  ping?(): Promise<void>;
  /** `false` when the connection is known to be down: the first failure then trips the breaker. */
  isReady?(): boolean;
  /** Subscribe to "connected again": a degraded store probes at once instead of at the next tick. */
  onReady?(listener: () => void): () => void;
}

/** Options of {@link fallbackCacheStore}. */
export interface FallbackCacheStoreOptions {
  /** The store to use while it answers (a {@link RedisCacheStore}). */
  primary: CacheStore & ProbeablePrimary;
  /**
   * Where reads and writes go while the primary is down: a store, or a factory called each time
   * the store degrades (the previous one is closed on recovery, so no stale entry outlives an
   * outage). Default: a factory of `memoryCacheStore({ maxEntries: 10_000, maxBytes: 64 MiB })`.
   */
  fallback?: CacheStore | (() => CacheStore);
  /** Consecutive primary failures that switch the store to the fallback. Default 3. */
  failureThreshold?: number;
  /** While degraded, PING the primary this often, ms. Default 1,000. */
  probeIntervalMs?: number;
  /** Deadline of each primary call (and probe), ms; a late call counts as a failure. Default 250. */
  timeoutMs?: number;
  /** Whether `close()` closes the primary too. Default true. */
  closePrimary?: boolean;
}

/** Where a {@link FallbackCacheStore} sends calls. */
export type FallbackState = "starting" | "primary" | "fallback";

/** Events of a {@link FallbackCacheStore}. */
export interface FallbackCacheStoreEvents {
  /** The primary stopped answering: calls now go to the fallback. */
  degraded: (event: { error: unknown; failures: number }) => void;
  /** The primary answers again: calls go back to it. `downMs`: time spent degraded. */
  recovered: (event: { downMs: number }) => void;
  /** One primary call failed or missed its deadline (served by the fallback). */
  error: (event: { op: string; error: unknown }) => void;
}

/** A {@link CacheStore} that uses a primary store and falls back to another while it is down. */
export interface FallbackCacheStore extends CacheStore {
  /** `starting` (first probe in flight), `primary` or `fallback`. */
  readonly state: FallbackState;
  /** `true` while calls go to the fallback. */
  readonly degraded: boolean;
  readonly primary: CacheStore;
  /** Resolves when the first probe of the primary has settled, with the state it left. */
  whenStarted(): Promise<FallbackState>;
  on<E extends keyof FallbackCacheStoreEvents>(event: E, listener: FallbackCacheStoreEvents[E]): this;
  once<E extends keyof FallbackCacheStoreEvents>(event: E, listener: FallbackCacheStoreEvents[E]): this;
  off<E extends keyof FallbackCacheStoreEvents>(event: E, listener: FallbackCacheStoreEvents[E]): this;
}

/** Defaults of {@link fallbackCacheStore}. */
export const FALLBACK_DEFAULTS = { failureThreshold: 3, probeIntervalMs: 1_000, timeoutMs: 250 } as const;

const noop = () => {};

/**
 * Use `primary` (Redis) while it answers, `fallback` (memory) while it does not. A failed or
 * late primary call is served by the fallback (reads: usually a miss; writes: kept in memory)
 * and never rejects; after `failureThreshold` consecutive failures, or at once when the primary
 * reports its connection down, the store stops asking the primary (`degraded`) and PINGs it
 * every `probeIntervalMs` (and as soon as it reconnects); the first answer switches back
 * (`recovered`). A store created while the primary is down starts degraded. Timers are
 * `unref()`ed and cleared by `close()`.
 */
export function fallbackCacheStore(options: FallbackCacheStoreOptions): FallbackCacheStore {
  const { primary } = options;
  if (!primary || typeof primary.read !== "function") throw new TypeError("fallbackCacheStore: `primary` must be a CacheStore.");
  const failureThreshold = Math.max(1, options.failureThreshold ?? FALLBACK_DEFAULTS.failureThreshold);
  const probeIntervalMs = options.probeIntervalMs ?? FALLBACK_DEFAULTS.probeIntervalMs;
  const timeoutMs = options.timeoutMs ?? FALLBACK_DEFAULTS.timeoutMs;
  for (const [name, v] of [["probeIntervalMs", probeIntervalMs], ["timeoutMs", timeoutMs]] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new TypeError(`fallbackCacheStore: ${name} must be a positive number.`);
  }
  const makeFallback: () => CacheStore =
    typeof options.fallback === "function"
      ? options.fallback
      : options.fallback
        ? () => options.fallback as CacheStore
        : () => memoryCacheStore();
  const replaceable = typeof options.fallback === "function" || options.fallback === undefined;

  const emitter = new EventEmitter<FallbackCacheStoreEvents>();
  let fallback = makeFallback();
  let state: FallbackState = "starting";
  let failures = 0;
  let degradedAt = 0;
  let closed = false;
  let probing: Promise<boolean> | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;

  const deadline = <T>(work: Promise<T>, op: string): Promise<T> =>
    pTimeout(work, { milliseconds: timeoutMs, message: `Cache primary: ${op} took longer than ${timeoutMs} ms.` });

  // Deferred, so that a primary that throws synchronously is a failed probe, not an exception.
  const ping = (): Promise<unknown> =>
    Promise.resolve().then(() => (primary.ping ? primary.ping() : primary.get("zoe:fallback-probe")));

  const stopProbing = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };

  const degrade = (error: unknown) => {
    if (closed || state === "fallback") return;
    state = "fallback";
    degradedAt = performance.now();
    emitter.emit("degraded", { error, failures });
    stopProbing();
    timer = setInterval(() => void probe(), probeIntervalMs);
    timer.unref?.();
  };

  const recover = () => {
    if (closed || state === "primary") return;
    const wasDegraded = state === "fallback";
    state = "primary";
    failures = 0;
    stopProbing();
    if (!wasDegraded) return;
    emitter.emit("recovered", { downMs: Math.round(performance.now() - degradedAt) });
    if (replaceable) {
      // Entries written during the outage are dropped: the primary is the truth again.
      const old = fallback;
      fallback = makeFallback();
      old.close().catch(noop);
    }
  };

  /** PING the primary once (one probe at a time); true when it answered. */
  const probe = (): Promise<boolean> => {
    if (closed) return Promise.resolve(false);
    probing ??= deadline(ping(), "ping")
      .then(
        () => {
          recover();
          return true;
        },
        (error: unknown) => {
          if (state === "starting") degrade(error);
          return false;
        },
      )
      .finally(() => {
        probing = undefined;
      });
    return probing;
  };

  const unsubscribeReady = primary.onReady?.(() => {
    if (state === "fallback") void probe();
  });
  const started = probe();

  const onFailure = (op: string, error: unknown) => {
    emitter.emit("error", { op, error });
    if (state !== "primary") return;
    failures++;
    if (failures >= failureThreshold || primary.isReady?.() === false) degrade(error);
  };

  const ensureOpen = () => {
    if (closed) throw new Error("fallbackCacheStore: the store is closed.");
  };

  /** Run `op` on the primary when it is in use, else (or when it fails) on the fallback. */
  async function route<T>(op: string, onPrimary: () => Promise<T>, onFallback: (store: CacheStore) => Promise<T>, miss: T): Promise<T> {
    ensureOpen();
    if (state === "starting") {
      // Wait for the first probe, at most one deadline: a store never waits longer than a call would.
      let wait: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([started, new Promise((r) => (wait = setTimeout(r, timeoutMs)))]);
      clearTimeout(wait);
    }
    if (state === "primary") {
      try {
        const value = await deadline(onPrimary(), op);
        failures = 0;
        return value;
      } catch (error) {
        // A TypeError is about the caller's arguments (a value JSON cannot hold), not about Redis.
        if (error instanceof TypeError) throw error;
        onFailure(op, error);
      }
    }
    try {
      return await onFallback(fallback);
    } catch {
      // The fallback is closed (replaced on recovery) or full of surprises: a miss, a no-op.
      return miss;
    }
  }

  const store: FallbackCacheStore = {
    get name() {
      return `${primary.name}+${fallback.name}`;
    },
    get state() {
      return state;
    },
    get degraded() {
      return state === "fallback";
    },
    primary,
    whenStarted: () => started.then(() => state),
    get: (key) => route("get", () => primary.get(key), (s) => s.get(key), undefined),
    getMany: (keys) => route("getMany", () => primary.getMany(keys), (s) => s.getMany(keys), keys.map(() => undefined)),
    read: (batch: CacheBatch): Promise<CacheBatchResult> =>
      route("read", () => primary.read(batch), (s) => s.read(batch), {
        values: batch.keys.map(() => undefined),
        lists: (batch.lists ?? []).map(() => []),
      }),
    async set(key, value, ttlMs) {
      ensureOpen();
      assertTtl(ttlMs);
      if (value === undefined) throw new TypeError("fallbackCacheStore.set: value must not be undefined (use delete).");
      return route("set", () => primary.set(key, value, ttlMs), (s) => s.set(key, value, ttlMs), undefined);
    },
    delete: (key) => route("delete", () => primary.delete(key), (s) => s.delete(key), undefined),
    async listAppend(key, items, listOptions: ListAppendOptions) {
      ensureOpen();
      assertTtl(listOptions.ttlMs);
      return route("listAppend", () => primary.listAppend(key, items, listOptions), (s) => s.listAppend(key, items, listOptions), undefined);
    },
    listTail: (key, last) => route("listTail", () => primary.listTail(key, last), (s) => s.listTail(key, last), []),
    on(event, listener) {
      emitter.on(event, listener as never);
      return store;
    },
    once(event, listener) {
      emitter.once(event, listener as never);
      return store;
    },
    off(event, listener) {
      emitter.off(event, listener as never);
      return store;
    },
    async close() {
      if (closed) return;
      closed = true;
      stopProbing();
      unsubscribeReady?.();
      emitter.removeAllListeners();
      await Promise.allSettled([fallback.close(), options.closePrimary === false ? undefined : primary.close()]);
    },
  };
  return store;
}
