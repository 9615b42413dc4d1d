import type { ListAppendOptions } from "../cache/types.js";

/** Bounds of the write-back journal of a {@link fallbackCacheStore}. */
export interface WriteBackOptions {
  /**
   * Most keys with writes waiting for write-back. Past it, the writes of the key written least
   * recently are dropped (they stay in the memory fallback only) and counted in the `writeBack`
   * event's `dropped`. Default 10,000.
   */
  maxKeys?: number;
  /** Most bytes of waiting values (UTF-16 length × 2, approximate); past it, as for `maxKeys`. Default 16 MiB. */
  maxBytes?: number;
}

/** Defaults of {@link WriteBackOptions}. */
export const WRITE_BACK_DEFAULTS = { maxKeys: 10_000, maxBytes: 16 * 1024 * 1024 } as const;

/** What a key needs written back: its last value, a delete, or list items (oldest first). */
export type JournalRecord =
  | { readonly kind: "set"; readonly json: string; readonly expiresAt: number }
  | { readonly kind: "delete" }
  | {
      readonly kind: "list";
      /** Items appended while waiting, serialised, in the order their writes were made, at most `maxLength`. */
      readonly items: readonly string[];
      /** The number of the write each item came from (ascending; see {@link WriteJournal.listAppend}). */
      readonly seqs: readonly number[];
      readonly maxLength: number;
      readonly ttlMs: number;
      readonly writtenAt: number;
      /** The key was deleted or set to a value first: the list starts afresh. */
      readonly replace: boolean;
    };

function serialise(value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError("fallbackCacheStore: the value cannot be serialised as JSON.");
  return json;
}

const sizeOf = (key: string, record: JournalRecord): number =>
  64 +
  key.length * 2 +
  (record.kind === "set" ? record.json.length * 2 : record.kind === "list" ? record.items.reduce((n, s) => n + s.length * 2 + 16, 0) : 0);

/**
 * The writes a primary store has not received yet, one compacted record per key, in the order
 * the keys were last written: a key's last `set` or `delete` wins; list appends are merged and
 * trimmed to the list's `maxLength`. Bounded by keys and bytes; the oldest keys go first.
 * Records are immutable: a write replaces its key's record, so {@link settle} can tell whether
 * a key was written again while its record was being written back.
 */
export class WriteJournal {
  readonly #records = new Map<string, { record: JournalRecord; size: number }>();
  readonly #limits: Required<WriteBackOptions>;
  #bytes = 0;
  #dropped = 0;

  constructor(
    limits: WriteBackOptions = {},
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#limits = { ...WRITE_BACK_DEFAULTS, ...limits };
  }

  /** Keys with writes waiting. */
  get size(): number {
    return this.#records.size;
  }

  has(key: string): boolean {
    return this.#records.has(key);
  }

  set(key: string, value: unknown, ttlMs: number): void {
    this.#put(key, { kind: "set", json: serialise(value), expiresAt: this.now() + ttlMs });
  }

  delete(key: string): void {
    this.#put(key, { kind: "delete" });
  }

  /**
   * Add list items. `seq` numbers the write in the order writes were made: the items of a write
   * recorded after a later one's (its call failed later) go before that one's.
   */
  listAppend(key: string, items: readonly unknown[], { maxLength, ttlMs }: ListAppendOptions, seq = Number.POSITIVE_INFINITY): void {
    const json = items.map(serialise);
    const prior = this.#records.get(key)?.record;
    let merged = json;
    let seqs = json.map(() => seq);
    if (prior?.kind === "list") {
      const later = prior.seqs.findIndex((s) => s > seq);
      const at = later === -1 ? prior.items.length : later;
      merged = [...prior.items.slice(0, at), ...json, ...prior.items.slice(at)];
      seqs = [...prior.seqs.slice(0, at), ...seqs, ...prior.seqs.slice(at)];
    }
    if (maxLength !== Number.POSITIVE_INFINITY) {
      const keep = -Math.max(1, Math.floor(maxLength));
      merged = merged.slice(keep);
      seqs = seqs.slice(keep);
    }
    const replace = prior === undefined ? false : prior.kind === "list" ? prior.replace : true;
    this.#put(key, { kind: "list", items: merged, seqs, maxLength, ttlMs, writtenAt: this.now(), replace });
  }

  /** Every waiting record, the key written least recently first. */
  entries(): Array<[string, JournalRecord]> {
    return [...this.#records].map(([key, { record }]) => [key, record]);
  }

  /** Forget `key` when its record is still `record` (a newer write waits for the next pass). */
  settle(key: string, record: JournalRecord): void {
    const held = this.#records.get(key);
    if (held?.record !== record) return;
    this.#records.delete(key);
    this.#bytes -= held.size;
  }

  /** Keys whose writes were dropped by the bounds since the last call. */
  takeDropped(): number {
    const dropped = this.#dropped;
    this.#dropped = 0;
    return dropped;
  }

  clear(): void {
    this.#records.clear();
    this.#bytes = 0;
  }

  #put(key: string, record: JournalRecord): void {
    const held = this.#records.get(key);
    if (held) {
      this.#records.delete(key);
      this.#bytes -= held.size;
    }
    const size = sizeOf(key, record);
    this.#records.set(key, { record, size });
    this.#bytes += size;
    for (const [oldest, { size: dropped }] of this.#records) {
      if (this.#records.size <= this.#limits.maxKeys && this.#bytes <= this.#limits.maxBytes) break;
      this.#records.delete(oldest);
      this.#bytes -= dropped;
      this.#dropped++;
    }
  }
}
