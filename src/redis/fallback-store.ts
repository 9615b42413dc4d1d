import { EventEmitter } from "eventemitter3";
import { memoryCacheStore } from "../cache/memory-store.js";
import type { CacheBatch, CacheBatchResult, CacheStore, ListAppendOptions } from "../cache/types.js";
import { assertTtl } from "../cache/validate.js";
import { attempt, loopDeadline } from "./deadline.js";
import { CacheTimeoutError, isArgumentError } from "./errors.js";
import type {
  FallbackCacheStore,
  FallbackCacheStoreEvents,
  FallbackCacheStoreOptions,
  FallbackState,
  WriteBackEvent,
} from "./fallback-types.js";
import { WriteJournal } from "./journal.js";
import { writeBackPass } from "./write-back.js";
import { timerMs } from "../shared/timer.js";

export type {
  FallbackCacheStore,
  FallbackCacheStoreEvents,
  FallbackCacheStoreOptions,
  FallbackState,
  ProbeablePrimary,
  WriteBackEvent,
} from "./fallback-types.js";

/** Defaults of {@link fallbackCacheStore}. */
export const FALLBACK_DEFAULTS = { failureThreshold: 3, probeIntervalMs: 1_000, timeoutMs: 250, startTimeoutMs: 2_250 } as const;

/** Write-back passes before a switch back is put off to the next probe (new writes keep coming). */
const MAX_WRITE_BACK_PASSES = 8;
/** A write that failed while the primary is in use is retried this soon, ms. */
const RETRY_DELAY_MS = 100;

const noop = () => {};
/** A write-back that stopped without an error (the store closed, or writes kept coming). */
const INCOMPLETE: unique symbol = Symbol("incomplete");

/**
 * Use `primary` (Redis) while it answers, `fallback` (memory) while it does not.
 *
 * - **Start:** calls wait for the first PING (a connection being made included, at most
 *   `startTimeoutMs`); a primary that refuses the connection starts the store degraded at once.
 * - **Calls:** each primary call has a deadline of `timeoutMs` that does not count event-loop
 *   stalls. A failed or late call is served by the fallback (reads: usually a miss) and never
 *   rejects. After `failureThreshold` failures in a row a PING confirms the outage before the
 *   store degrades (at once when the primary reports its connection down).
 * - **Degraded:** calls go to the fallback; the primary is PINGed every `probeIntervalMs` and as
 *   soon as it reconnects.
 * - **Write-back:** every write served by the fallback is kept in a bounded journal. When a
 *   probe answers, the journal is written back (list appends in order and idempotently, values
 *   with the TTL they have left); the store switches back only once it is empty, so no later
 *   write can overtake it. A write that fails while the primary is in use is retried the same
 *   way; later writes to that key queue behind it.
 *
 * Every method returns a promise (arguments a store cannot take are rejections, never
 * synchronous throws). Timers are `unref()`ed and cleared by `close()`.
 */
export function fallbackCacheStore(options: FallbackCacheStoreOptions): FallbackCacheStore {
  const { primary } = options;
  if (!primary || typeof primary.read !== "function") throw new TypeError("fallbackCacheStore: `primary` must be a CacheStore.");
  const failureThreshold = Math.max(1, options.failureThreshold ?? FALLBACK_DEFAULTS.failureThreshold);
  const probeIntervalMs = options.probeIntervalMs ?? FALLBACK_DEFAULTS.probeIntervalMs;
  const timeoutMs = options.timeoutMs ?? FALLBACK_DEFAULTS.timeoutMs;
  const startTimeoutMs = options.startTimeoutMs ?? FALLBACK_DEFAULTS.startTimeoutMs;
  for (const [name, v] of [
    ["probeIntervalMs", probeIntervalMs],
    ["timeoutMs", timeoutMs],
    ["startTimeoutMs", startTimeoutMs],
  ] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new TypeError(`fallbackCacheStore: ${name} must be a positive number.`);
  }
  const makeFallback: () => CacheStore =
    typeof options.fallback === "function"
      ? options.fallback
      : options.fallback
        ? () => options.fallback as CacheStore
        : () => memoryCacheStore();
  const replaceable = typeof options.fallback === "function" || options.fallback === undefined;
  const journal =
    options.writeBack === false ? undefined : new WriteJournal(typeof options.writeBack === "object" ? options.writeBack : {});

  const emitter = new EventEmitter<FallbackCacheStoreEvents>();
  let fallback = makeFallback();
  let state: FallbackState = "starting";
  let failures = 0;
  let degradedAt = 0;
  let closed = false;
  let closing: Promise<void> | undefined;
  /** The probe or write-back in flight (one at a time). */
  let busy: Promise<boolean> | undefined;
  let probeTimer: ReturnType<typeof setInterval> | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Writes made so far: a write's number orders it against the others, whichever fails first. */
  let issued = 0;
  /**
   * Per key with writes under way: the number of the last one made, of the last `set` or `delete`
   * made (0 for none), and how many are under way.
   */
  const underWay = new Map<string, { last: number; lastReplace: number; count: number }>();

  const deadline = <T>(work: () => Promise<T>, op: string, ms = timeoutMs): Promise<T> =>
    loopDeadline(attempt(work), ms, () => new CacheTimeoutError("Cache primary", op, ms));

  const ping = (): Promise<unknown> => (primary.ping ? primary.ping() : primary.get("zoe:fallback-probe"));

  const stopTimers = () => {
    if (probeTimer) clearInterval(probeTimer);
    if (retryTimer) clearTimeout(retryTimer);
    probeTimer = retryTimer = undefined;
  };

  const degrade = (error: unknown) => {
    if (closed || state === "fallback") return;
    state = "fallback";
    degradedAt = performance.now();
    emitter.emit("degraded", { error, failures });
    stopTimers();
    probeTimer = setInterval(() => void probe(startTimeoutMs), timerMs(probeIntervalMs));
    probeTimer.unref?.();
  };

  const onFailure = (op: string, error: unknown) => {
    emitter.emit("error", { op, error });
    if (state !== "primary") return;
    failures++;
    if (primary.isReady?.() === false) degrade(error);
    else if (failures >= failureThreshold) void probe(timeoutMs); // confirm before degrading
  };

  /** Retry waiting writes soon while the primary is in use. */
  const scheduleRetry = () => {
    if (closed || retryTimer || state !== "primary" || !journal?.size) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      if (state === "primary") void flush(); // once degraded, the probes write back
    }, RETRY_DELAY_MS);
    retryTimer.unref?.();
  };

  /**
   * Write the journal back, then (in the same synchronous step as the check that it is empty)
   * use the primary. Undefined when done; else the error that stopped it, or {@link INCOMPLETE}
   * (closed, or writes kept coming): the rest waits for the next attempt.
   */
  const settle = async (): Promise<unknown> => {
    const report: WriteBackEvent = { written: 0, dropped: 0, failed: 0 };
    const emitReport = () => {
      report.dropped += journal?.takeDropped() ?? 0;
      if (report.written + report.dropped + report.failed > 0) emitter.emit("writeBack", report);
    };
    for (let pass = 0; journal && journal.size > 0; pass++) {
      if (closed || pass === MAX_WRITE_BACK_PASSES) return INCOMPLETE;
      const error = await writeBackPass(journal, primary, deadline, report, (error) => emitter.emit("error", { op: "writeBack", error }));
      if (error !== undefined) {
        emitReport();
        return error;
      }
    }
    if (closed) return INCOMPLETE;
    emitReport();
    usePrimary();
    return undefined;
  };

  const usePrimary = () => {
    const wasDegraded = state === "fallback";
    state = "primary";
    failures = 0;
    if (!wasDegraded) return;
    stopTimers();
    emitter.emit("recovered", { downMs: Math.round(performance.now() - degradedAt) });
    if (replaceable) {
      // Everything written meanwhile is in the primary now (or was dropped by the journal bound).
      const old = fallback;
      fallback = makeFallback();
      old.close().catch(noop);
    }
  };

  /** Run one probe or write-back at a time; afterwards, confirm an outage that failures point to. */
  const exclusive = (task: () => Promise<boolean>): Promise<boolean> => {
    busy ??= task()
      .catch(() => false)
      .finally(() => {
        busy = undefined;
        if (!closed && state === "primary" && failures >= failureThreshold) void probe(timeoutMs);
      });
    return busy;
  };

  /**
   * PING the primary (deadline `ms`). No answer: degrade (unless already). An answer: write
   * back and use the primary; a primary that answers PING but cannot take the write-back is
   * degraded too (its writes would fail).
   */
  const probe = (ms: number): Promise<boolean> =>
    closed
      ? Promise.resolve(false)
      : exclusive(async () => {
          try {
            await deadline(ping, "ping", ms);
          } catch (error) {
            if (state !== "fallback") degrade(error);
            return false;
          }
          const outcome = await settle();
          if (outcome === undefined) return true;
          if (outcome === INCOMPLETE) {
            scheduleRetry();
          } else {
            emitter.emit("error", { op: "writeBack", error: outcome });
            if (state !== "fallback") degrade(outcome);
          }
          return false;
        });

  /** Write waiting writes back while the primary is in use (after a failed write). */
  const flush = (): Promise<boolean> =>
    exclusive(async () => {
      const outcome = await settle();
      if (outcome === undefined) return true;
      if (outcome !== INCOMPLETE) onFailure("writeBack", outcome);
      scheduleRetry();
      return false;
    });

  const unsubscribeReady = primary.onReady?.(() => {
    if (state === "fallback") void probe(startTimeoutMs);
  });
  const started = probe(startTimeoutMs);

  const ensureOpen = () => {
    if (closing) throw new Error("fallbackCacheStore: the store is closed.");
  };

  /** A read: the primary when it is in use (a failure is a miss from the fallback), else the fallback. */
  const read = <T>(op: string, onPrimary: () => Promise<T>, onFallback: (store: CacheStore) => Promise<T>, miss: T): Promise<T> =>
    attempt(async () => {
      ensureOpen();
      if (state === "starting") await started;
      if (state === "primary") {
        try {
          const value = await deadline(onPrimary, op);
          failures = 0;
          return value;
        } catch (error) {
          if (isArgumentError(error)) throw error;
          onFailure(op, error);
        }
      }
      try {
        return await onFallback(fallback);
      } catch {
        return miss; // the fallback was closed (replaced on recovery) meanwhile
      }
    });

  /**
   * A write: the primary when it is in use and no earlier write to `key` waits for write-back;
   * otherwise (or when it fails) the journal, synchronously, then the fallback. A write that
   * fails after a later write to `key` was made keeps the order they were made in: a `set` or
   * `delete` (`replaces`) is dropped, the later write wins; list items go before the later ones,
   * and are dropped when a later `set` or `delete` replaced the key (the primary may even have
   * done the append, before that write: its items must not come back).
   */
  const write = (
    op: string,
    key: string,
    replaces: boolean,
    onPrimary: () => Promise<void>,
    record: (journal: WriteJournal, seq: number) => void,
    onFallback: (store: CacheStore) => Promise<void>,
  ): Promise<void> =>
    attempt(async () => {
      ensureOpen();
      const seq = ++issued;
      const mine = underWay.get(key) ?? { last: seq, lastReplace: 0, count: 0 };
      mine.last = seq;
      if (replaces) mine.lastReplace = seq;
      mine.count++;
      underWay.set(key, mine);
      try {
        if (state === "starting") await started;
        if (state === "primary" && !journal?.has(key)) {
          try {
            await deadline(onPrimary, op);
            failures = 0;
            return;
          } catch (error) {
            if (isArgumentError(error)) throw error;
            onFailure(op, error);
          }
        }
        if (replaces ? mine.last !== seq : mine.lastReplace > seq) return;
        if (journal) {
          record(journal, seq);
          scheduleRetry();
        }
        try {
          await onFallback(fallback);
        } catch {
          // The fallback was closed (replaced on recovery) meanwhile: the journal has the write.
        }
      } finally {
        if (--mine.count === 0) underWay.delete(key);
      }
    });

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
    get pendingWrites() {
      return journal?.size ?? 0;
    },
    primary,
    whenStarted: () => started.then(() => state),
    get: (key) =>
      read(
        "get",
        () => primary.get(key),
        (s) => s.get(key),
        undefined,
      ),
    getMany: (keys) =>
      attempt(() =>
        read(
          "getMany",
          () => primary.getMany(keys),
          (s) => s.getMany(keys),
          keys.map(() => undefined),
        ),
      ),
    read: (batch: CacheBatch): Promise<CacheBatchResult> =>
      attempt(() =>
        read(
          "read",
          () => primary.read(batch),
          (s) => s.read(batch),
          {
            values: batch.keys.map(() => undefined),
            lists: (batch.lists ?? []).map(() => []),
          },
        ),
      ),
    // Checked and issued in this call, as `delete` and `listAppend` are: a `set` followed by a
    // `delete` or a read in the same tick reaches the primary first.
    set: (key, value, ttlMs) =>
      attempt(() => {
        assertTtl(ttlMs);
        if (value === undefined) throw new TypeError("fallbackCacheStore.set: value must not be undefined (use delete).");
        return write(
          "set",
          key,
          true,
          () => primary.set(key, value, ttlMs),
          (j) => j.set(key, value, ttlMs),
          (s) => s.set(key, value, ttlMs),
        );
      }),
    delete: (key) =>
      write(
        "delete",
        key,
        true,
        () => primary.delete(key),
        (j) => j.delete(key),
        (s) => s.delete(key),
      ),
    listAppend: (key, items, listOptions: ListAppendOptions) =>
      attempt(() => {
        assertTtl(listOptions.ttlMs);
        if (typeof listOptions.maxLength !== "number" || Number.isNaN(listOptions.maxLength)) {
          throw new TypeError("fallbackCacheStore.listAppend: maxLength must be a number.");
        }
        return write(
          "listAppend",
          key,
          false,
          () => primary.listAppend(key, items, listOptions),
          (j, seq) => j.listAppend(key, items, listOptions, seq),
          (s) => s.listAppend(key, items, listOptions),
        );
      }),
    listTail: (key, last) =>
      read(
        "listTail",
        () => primary.listTail(key, last),
        (s) => s.listTail(key, last),
        [],
      ),
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
    close: () =>
      (closing ??= (async () => {
        // Waiting writes get one last chance (within the deadlines) before the primary closes.
        await busy;
        if (journal?.size) await probe(timeoutMs);
        closed = true;
        stopTimers();
        unsubscribeReady?.();
        emitter.removeAllListeners();
        await Promise.allSettled([fallback.close(), options.closePrimary === false ? undefined : primary.close()]);
      })()),
  };
  return store;
}
