import type { KeyBuilder } from "../cache/keys.js";
import type { CacheStore } from "../cache/types.js";
import { attempt } from "../shared/deadline.js";
import { resolveHistoryOptions, type HistoryEntry, type HistoryOptions } from "./types.js";

const isEntry = (v: unknown): v is HistoryEntry =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as HistoryEntry).content === "string" &&
  ((v as HistoryEntry).role === "user" || (v as HistoryEntry).role === "assistant");

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
    return raw.filter(isEntry);
  }

  /** The last `last` messages of a thread (default: all kept), oldest first. */
  async get(userId: string, threadId: string, last = this.settings.keep): Promise<HistoryEntry[]> {
    return HistoryStore.clean(await this.store.listTail(this.key(userId, threadId), last));
  }

  /** Append messages to a thread, trimming to `keep` and refreshing the TTL, in one atomic step. */
  async append(userId: string, threadId: string, entries: readonly HistoryEntry[]): Promise<void> {
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

  /** Forget a thread. */
  async clear(userId: string, threadId: string): Promise<void> {
    await this.store.delete(this.key(userId, threadId));
  }
}
