import { LRUCache } from "lru-cache";
import type { KeyBuilder } from "../cache/keys.js";
import type { CacheStore } from "../cache/types.js";
import { attempt } from "../shared/deadline.js";
import { resolveHistoryOptions, type HistoryEntry, type HistoryOptions } from "./types.js";

/** The largest `seq` a stored entry may have: a turn numbered after it (two entries) stays a safe integer. */
const MAX_SEQ = Number.MAX_SAFE_INTEGER - 2;

const isToolCall = (c: unknown): boolean =>
  typeof c === "object" &&
  c !== null &&
  typeof (c as { id: unknown }).id === "string" &&
  typeof (c as { name: unknown }).name === "string" &&
  typeof (c as { arguments: unknown }).arguments === "string";

/**
 * A stored message as this library writes it. Anything else in the list (written by other code,
 * or damaged) is left out of the prompt and of `MESSAGES_SNAPSHOT`, whose messages a client
 * checks against the AG-UI schema.
 */
const isEntry = (v: unknown): v is HistoryEntry => {
  if (typeof v !== "object" || v === null) return false;
  try {
    return wellFormed(v as HistoryEntry);
  } catch {
    // An entry that throws when read (a custom store's Proxy, a throwing getter) is left out.
    return false;
  }
};

const wellFormed = (e: HistoryEntry): boolean => {
  return (
    typeof e.id === "string" &&
    (e.role === "user" || e.role === "assistant") &&
    typeof e.content === "string" &&
    Number.isSafeInteger(e.seq) &&
    e.seq >= 0 &&
    // The next turn's two numbers must be safe integers too, or the thread could number on no further.
    e.seq <= MAX_SEQ &&
    (e.sent === undefined || typeof e.sent === "string") &&
    (e.toolCalls === undefined || (Array.isArray(e.toolCalls) && e.toolCalls.every(isToolCall)))
  );
};

/** Conversation history per user and thread, kept in a {@link CacheStore} list. */
export class HistoryStore {
  readonly settings: Required<HistoryOptions>;

  constructor(
    private readonly store: CacheStore,
    private readonly keys: KeyBuilder,
    options: HistoryOptions = {},
  ) {
    this.settings = resolveHistoryOptions(options);
  }

  /** The cache key of a thread's history. */
  key(userId: string, threadId: string): string {
    return this.keys.key("history", userId, threadId);
  }

  /** Keep only well-formed entries of a raw list read. */
  static clean(raw: readonly unknown[]): HistoryEntry[] {
    const out: HistoryEntry[] = [];
    try {
      const n = raw.length;
      for (let i = 0; i < n; i++) {
        const entry: unknown = raw[i];
        if (isEntry(entry)) out.push(entry);
      }
    } catch {
      // A custom store's list that throws when read (a getter, a Proxy): what was read so far stands.
    }
    return out;
  }

  /** The last `last` messages of a thread (default: all kept), oldest first. */
  async get(userId: string, threadId: string, last = this.settings.keep): Promise<HistoryEntry[]> {
    return HistoryStore.clean(await this.store.listTail(this.key(userId, threadId), last));
  }

  /**
   * Append messages to a thread, trimming to `keep` and refreshing the TTL, in one atomic step.
   * Each entry must be one the pipeline would read back (`id`, `role` user or assistant,
   * `content`, `seq` a safe integer ≥ 0); anything else is a `TypeError`, and nothing is written:
   * it would take a `keep` slot and never be read. The numbers are not checked against the
   * thread's (that would take a read): give `seq` on from the thread's last, or the window moves.
   */
  async append(userId: string, threadId: string, entries: readonly HistoryEntry[]): Promise<void> {
    if (!Array.isArray(entries)) throw new TypeError("history.append: entries must be an array.");
    const bad = entries.findIndex((e) => !isEntry(e));
    if (bad >= 0) {
      throw new TypeError(
        `history.append: entries[${bad}] is not a history entry (id, role "user" or "assistant", content, a whole seq ≥ 0; sent and toolCalls optional).`,
      );
    }
    if (entries.length === 0) return;
    await this.write(userId, threadId, entries);
  }

  /**
   * {@link HistoryStore.append} for the run's own write: the store's promise as it is, so that a
   * write the store has already done is seen done in the same microtask (an `async` wrapper
   * settles a microtask later, after the deadline's check, which then sets a timer). A
   * synchronous throw becomes a rejection; what it resolves to is the store's.
   */
  write(userId: string, threadId: string, entries: readonly HistoryEntry[]): Promise<unknown> {
    return attempt(() =>
      this.store.listAppend(this.key(userId, threadId), entries, {
        maxLength: this.settings.keep,
        ttlMs: this.settings.ttlMs,
      }),
    );
  }

  /**
   * Forget a thread. A run on it in flight in this process does not bring it back: its turn is not
   * written ({@link HistoryStore.clearedSince}). A run in another process can.
   */
  async clear(userId: string, threadId: string): Promise<void> {
    const key = this.key(userId, threadId);
    this.#cleared.set(key, performance.now());
    await this.store.delete(key);
  }

  /** When each thread was last cleared (`performance.now()`), for the runs in flight then; bounded. */
  readonly #cleared = new LRUCache<string, number>({ max: 10_000 });

  /** Whether the thread was cleared after `since` (`performance.now()`): a run that started before must not write it back. */
  clearedSince(userId: string, threadId: string, since: number): boolean {
    if (this.#cleared.size === 0) return false;
    const at = this.#cleared.get(this.key(userId, threadId));
    return at !== undefined && at >= since;
  }
}
