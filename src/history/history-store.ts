import type { KeyBuilder } from "../cache/keys.js";
import type { CacheStore } from "../cache/types.js";
import { attempt } from "../shared/deadline.js";
import { resolveHistoryOptions, type HistoryEntry, type HistoryOptions } from "./types.js";

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
  const e = v as HistoryEntry;
  return (
    typeof e.id === "string" &&
    (e.role === "user" || e.role === "assistant") &&
    typeof e.content === "string" &&
    Number.isSafeInteger(e.seq) &&
    e.seq >= 0 &&
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
