import { LRUCache } from "lru-cache";

/** Options of a Redis store's near cache: an in-process copy of what it read, kept coherent by Redis. */
export interface NearCacheOptions {
  /** Most keys held. Default 10,000. */
  maxEntries?: number;
  /** Most bytes held (JSON text as UTF-16, about twice its length). Default 32 MiB. */
  maxBytes?: number;
}

/** Defaults of {@link NearCacheOptions}. */
export const NEAR_CACHE_DEFAULTS = { maxEntries: 10_000, maxBytes: 32 * 1024 * 1024 } as const;

/** What a near cache has done since the store was made. */
export interface NearCacheStats {
  /** Whether reads are served from the copy now (both connections up, tracking on). */
  active: boolean;
  /** Keys held. */
  entries: number;
  /** Keys and list tails served from the copy. */
  hits: number;
  /** Keys and list tails read from Redis while the copy was active. */
  misses: number;
  /** Keys Redis invalidated, or the store wrote (a whole flush counts as one). */
  invalidations: number;
  /** Reads and own writes whose outcome the copy still waits for (replies, markers). */
  inFlight: number;
}

/**
 * A value, or a list's tail, as Redis last gave it. `items.length < asked` means the list held
 * no more: any tail of it can be served. `expiresAt` on the `performance.now()` clock.
 */
export type NearEntry =
  | { kind: "value"; value: unknown; expiresAt: number; bytes: number }
  | { kind: "list"; items: unknown[]; whole: boolean; expiresAt: number; bytes: number };

/** One read sent to Redis: its keys, those invalidated while it was on its way, and whether it may still keep anything. */
export interface NearRead {
  readonly epoch: number;
  readonly keys: readonly string[];
  dirty: Set<string> | undefined;
  /** Cleared by {@link NearCacheState.end}: a reply handled after it (its call timed out) is not kept. */
  open: boolean;
  /**
   * An own write's marker. Its MULTI publishes the marker first, then reads the key (so that
   * Redis tracks it for this store), writes it and reads it back. Redis then sends exactly one
   * invalidation of the key for the write itself: after the marker (Redis 7 sends it once the
   * MULTI is done; Redis 6, at the write). Invalidations before the marker are older than the
   * read-back; the first one after it is the write's own; only those after that count.
   */
  marker?: string;
  /** `sent`: the marker has not arrived; `marked`: it has, the write's own invalidation has not; `done`. */
  phase?: "sent" | "marked" | "done";
  /** Whether the write kept what it read back. */
  kept?: boolean;
  /**
   * The write's copy is the list the copy held plus its items, not a read-back (a history
   * append): an invalidation before its marker may then be a change the copy missed.
   */
  fromCopy?: boolean;
}

/** Not held (or expired): read it from Redis. */
export const MISS: unique symbol = Symbol("near-cache miss");

/**
 * The bookkeeping of a near cache, without Redis: what is held, what Redis invalidated, and the
 * reads in flight. The rule it keeps: a value read from Redis is kept only if the read started
 * while invalidations were arriving (`active`) and no invalidation of its key (nor a flush, nor a
 * lost connection, nor an own write called meanwhile) came before its reply did. Invalidations
 * come on another connection than replies, so one may overtake the reply it concerns.
 *
 * An own write that reads its key back is kept at its reply, and until its marker arrives the
 * invalidations of that key are its own (or older): they neither drop what it kept nor stop it.
 */
export class NearCacheState {
  readonly #entries: LRUCache<string, NearEntry>;
  readonly #reads = new Map<string, Set<NearRead>>();
  /** Own writes whose marker has not arrived, by marker. */
  readonly #writes = new Map<string, NearRead>();
  #markers = 0;
  #active = false;
  #epoch = 0;
  #hits = 0;
  #misses = 0;
  #invalidations = 0;

  constructor(options: NearCacheOptions = {}) {
    const maxEntries = options.maxEntries ?? NEAR_CACHE_DEFAULTS.maxEntries;
    const maxBytes = options.maxBytes ?? NEAR_CACHE_DEFAULTS.maxBytes;
    for (const [name, v] of [
      ["maxEntries", maxEntries],
      ["maxBytes", maxBytes],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new TypeError(`redisCacheStore: nearCache.${name} must be a positive integer.`);
    }
    // A key costs as much as its value: a route key holds a whole message, a value may be a few bytes.
    this.#entries = new LRUCache<string, NearEntry>({
      max: maxEntries,
      maxSize: maxBytes,
      sizeCalculation: (e, key) => e.bytes + key.length * 2,
    });
  }

  /** Whether reads may be served from, and kept in, the copy. */
  get active(): boolean {
    return this.#active;
  }

  /** Serve reads from the copy again: invalidations arrive for every key read from now on. */
  enable(): void {
    this.#active = true;
  }

  /** Invalidations may be lost (a connection dropped): forget everything, keep nothing in flight. */
  disable(): void {
    this.#active = false;
    this.#forgetAll();
  }

  /** The value held for `key`, or {@link MISS}. */
  value(key: string, now: number): unknown {
    const entry = this.#held(key, now);
    if (entry?.kind !== "value") return this.#miss();
    this.#hits++;
    return entry.value;
  }

  /** The last `last` items of the list at `key` (never more than it holds), or {@link MISS}. */
  tail(key: string, last: number, now: number): unknown[] | typeof MISS {
    const entry = this.#held(key, now);
    if (entry?.kind !== "list" || (!entry.whole && entry.items.length < last)) return this.#miss();
    this.#hits++;
    const items = entry.items;
    return last >= items.length ? items : items.slice(items.length - last);
  }

  /** The whole list held for `key` (not counted as a hit), for an append to build on. */
  wholeList(key: string, now: number): (NearEntry & { kind: "list" }) | undefined {
    const entry = this.#held(key, now);
    return entry?.kind === "list" && entry.whole ? entry : undefined;
  }

  /** A read of `keys` is sent to Redis; undefined when nothing it returns may be kept. */
  begin(keys: readonly string[]): NearRead | undefined {
    if (!this.#active) return undefined;
    const read: NearRead = { epoch: this.#epoch, keys, dirty: undefined, open: true };
    for (const key of keys) {
      const reads = this.#reads.get(key);
      if (reads) reads.add(read);
      else this.#reads.set(key, new Set([read]));
    }
    return read;
  }

  /**
   * This store is about to write `key` (called when the write is called, before it is sent): the
   * copy of it goes, and every read of it in flight, own writes included, keeps nothing. With
   * `readBack`, the write reads the key back (or, `fromCopy`, builds on the list the copy held)
   * and publishes a marker: returns its read.
   */
  write(key: string, readBack: boolean, fromCopy = false): NearRead | undefined {
    this.#invalidations++;
    this.#entries.delete(key);
    const reads = this.#reads.get(key);
    if (reads) for (const read of [...reads]) this.#spoil(read, key);
    if (!readBack) return undefined;
    const read = this.begin([key]);
    if (read === undefined) return undefined;
    read.marker = `w${++this.#markers}`;
    read.phase = "sent";
    read.kept = false;
    read.fromCopy = fromCopy;
    this.#writes.set(read.marker, read);
    return read;
  }

  /** Keep what `read` returned for `key`, unless it may be stale already. */
  keep(read: NearRead | undefined, key: string, entry: NearEntry): void {
    if (read === undefined || !read.open || !this.#active || read.epoch !== this.#epoch || read.dirty?.has(key)) return;
    this.#entries.set(key, entry);
    if (read.kept === false) read.kept = true;
  }

  /**
   * The read's call has settled (answered, failed or timed out): from now on nothing it brings
   * back is kept, since invalidations no longer reach it. An own write that kept what it read
   * back stays registered until its own invalidation has come. Idempotent.
   */
  end(read: NearRead | undefined): void {
    if (read === undefined || !read.open) return;
    read.open = false;
    if (!read.kept || read.dirty !== undefined || read.phase === "done") this.#forget(read);
  }

  /** An own write's marker arrived: the next invalidation of its key is the write's own. */
  marked(marker: string): void {
    const read = this.#writes.get(marker);
    if (read?.phase === "sent") read.phase = "marked";
  }

  /** Redis changed `key` (or dropped it); `null`: everything (a flush). */
  invalidate(key: string | null): void {
    this.#invalidations++;
    if (key === null) {
      this.#forgetAll();
      return;
    }
    const reads = this.#reads.get(key);
    let own = false;
    if (reads) {
      for (const read of [...reads]) {
        if (read.phase === undefined || read.phase === "done" || read.dirty !== undefined || (read.phase === "sent" && read.fromCopy)) {
          this.#spoil(read, key);
        } else {
          // Older than the own write's read-back (before its marker), or the write's own.
          own = true;
          if (read.phase === "marked") {
            read.phase = "done";
            if (!read.open) this.#forget(read);
          }
        }
      }
    }
    if (!own) this.#entries.delete(key);
  }

  stats(): NearCacheStats {
    return {
      active: this.#active,
      entries: this.#entries.size,
      hits: this.#hits,
      misses: this.#misses,
      invalidations: this.#invalidations,
      inFlight: this.#inFlight(),
    };
  }

  #inFlight(): number {
    const reads = new Set<NearRead>();
    for (const set of this.#reads.values()) for (const read of set) reads.add(read);
    return reads.size;
  }

  #miss(): typeof MISS {
    if (this.#active) this.#misses++;
    return MISS;
  }

  #held(key: string, now: number): NearEntry | undefined {
    if (!this.#active) return undefined;
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.expiresAt > now) return entry;
    this.#entries.delete(key);
    return undefined;
  }

  /** `read` may be stale for `key`: it keeps nothing more; once its call has settled, it is forgotten. */
  #spoil(read: NearRead, key: string): void {
    (read.dirty ??= new Set()).add(key);
    if (!read.open) this.#forget(read);
  }

  #forget(read: NearRead): void {
    if (read.marker !== undefined) this.#writes.delete(read.marker);
    for (const key of read.keys) {
      const reads = this.#reads.get(key);
      if (!reads) continue;
      reads.delete(read);
      if (reads.size === 0) this.#reads.delete(key);
    }
  }

  #forgetAll(): void {
    this.#epoch++;
    this.#entries.clear();
    // Their markers may never come: nothing they read back is kept any more (the epoch moved on).
    for (const read of [...this.#writes.values()]) {
      read.open = false;
      this.#forget(read);
    }
  }
}
