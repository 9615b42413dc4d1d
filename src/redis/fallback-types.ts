import type { CacheStore } from "../cache/types.js";
import type { WriteBackOptions } from "./journal.js";
import type { ListAppendOnceOptions } from "./write-back.js";

/** What a primary store may offer beyond {@link CacheStore} so that the fallback watches it closely. */
export interface ProbeablePrimary {
  /** A cheap round trip (Redis: PING). Without it, probes read a key. */
  ping?(): Promise<void>;
  /** `false` when the connection is known to be down: the first failure then trips the breaker. */
  isReady?(): boolean;
  /** Subscribe to "connected again": a degraded store probes at once instead of at the next tick. */
  onReady?(listener: () => void): () => void;
  /**
   * Idempotent list append for write-back (Redis: a Lua script). Without it, write-back uses
   * `listAppend`, and a write-back repeated after a lost reply may append items twice.
   */
  listAppendOnce?(key: string, items: readonly unknown[], options: ListAppendOnceOptions): Promise<void>;
}

/** Options of {@link fallbackCacheStore}. */
export interface FallbackCacheStoreOptions {
  /** The store to use while it answers (a {@link RedisCacheStore}). */
  primary: CacheStore & ProbeablePrimary;
  /**
   * Where reads and writes go while the primary is down: a store, or a factory called each time
   * the store degrades (the previous one is closed on recovery). Default: a factory of
   * `memoryCacheStore({ maxEntries: 10_000, maxBytes: 64 MiB })`.
   */
  fallback?: CacheStore | (() => CacheStore);
  /**
   * Consecutive failed primary calls after which the store PINGs the primary to confirm an
   * outage; it degrades only when that PING fails too (or at once when the primary reports its
   * connection down). Default 3.
   */
  failureThreshold?: number;
  /** While degraded, PING the primary this often, ms. Default 1,000. */
  probeIntervalMs?: number;
  /**
   * Deadline of each primary call, ms; a late call is a failure, served by the fallback. Time
   * the event loop was blocked is not counted. Default 250.
   */
  timeoutMs?: number;
  /**
   * Deadline of the first PING, connection included, ms: calls made while the store starts
   * wait for it (a primary that is still connecting is not down). Also the deadline of the
   * probes made while degraded. Default 2,250.
   */
  startTimeoutMs?: number;
  /**
   * Writes made on the fallback (during an outage, or a write that failed) are kept in a
   * bounded journal and written back to the primary, in order, before the store switches back
   * to it. `false`: they stay in the fallback and are dropped on recovery. Default `true`
   * (10,000 keys, 16 MiB).
   */
  writeBack?: boolean | WriteBackOptions;
  /** Whether `close()` closes the primary too. Default true. */
  closePrimary?: boolean;
}

/** Where a {@link FallbackCacheStore} sends calls. */
export type FallbackState = "starting" | "primary" | "fallback";

/** What one write-back did. */
export interface WriteBackEvent {
  /** Keys written back to the primary. */
  written: number;
  /** Keys whose waiting writes were dropped because the journal was full (they stayed in the fallback only). */
  dropped: number;
  /** Keys the primary refused for good (an argument it rejects): dropped, reported by `error`. */
  failed: number;
}

/** Events of a {@link FallbackCacheStore}. */
export interface FallbackCacheStoreEvents {
  /** The primary stopped answering: calls now go to the fallback. */
  degraded: (event: { error: unknown; failures: number }) => void;
  /** The primary answers again and every waiting write is back in it: calls go back to it. `downMs`: time spent degraded. */
  recovered: (event: { downMs: number }) => void;
  /** Writes kept on the fallback were written back to the primary (before `recovered`, or after a failed write). */
  writeBack: (event: WriteBackEvent) => void;
  /** One primary call failed or missed its deadline (served by the fallback). */
  error: (event: { op: string; error: unknown }) => void;
}

/** A {@link CacheStore} that uses a primary store and falls back to another while it is down. */
export interface FallbackCacheStore extends CacheStore {
  /** `starting` (first probe in flight), `primary` or `fallback`. */
  readonly state: FallbackState;
  /** `true` while calls go to the fallback. */
  readonly degraded: boolean;
  /** Keys with writes waiting for write-back to the primary. */
  readonly pendingWrites: number;
  readonly primary: CacheStore;
  /** Resolves when the first probe of the primary has settled, with the state it left. */
  whenStarted(): Promise<FallbackState>;
  on<E extends keyof FallbackCacheStoreEvents>(event: E, listener: FallbackCacheStoreEvents[E]): this;
  once<E extends keyof FallbackCacheStoreEvents>(event: E, listener: FallbackCacheStoreEvents[E]): this;
  off<E extends keyof FallbackCacheStoreEvents>(event: E, listener: FallbackCacheStoreEvents[E]): this;
}
