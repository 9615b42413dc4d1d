/** One stored message of a conversation. */
export interface HistoryEntry {
  /** The message id (the AG-UI message id when the client sent one). */
  id: string;
  role: "user" | "assistant";
  /** What the user typed or the assistant answered. */
  content: string;
  /**
   * The exact content the model saw for this message, when it differs from `content` (a user
   * turn sent together with volatile context). Replayed as is on later turns, so that the model
   * server finds the same bytes and reuses its KV prefix cache.
   */
  sent?: string;
  /** Tool calls of an assistant message. */
  toolCalls?: Array<{ id: string; name: string; arguments: string }>;
  /** Position of the message in its thread (0-based), used to move the history window in steps. */
  seq: number;
  /** When it was stored (epoch ms). */
  at: number;
}

/** History settings. */
export interface HistoryOptions {
  /** Messages kept per thread. Default 10. */
  keep?: number;
  /** At most this many past messages go into a prompt. Default 3. */
  load?: number;
  /**
   * The window's start moves in steps of this many messages rather than one message a turn, so
   * consecutive turns share their prompt prefix. Default 2 (one user message and its answer).
   */
  step?: number;
  /** Time to live of a thread's history after its last write, ms. Default 1 h. */
  ttlMs?: number;
}

export const HISTORY_DEFAULTS: Required<HistoryOptions> = { keep: 10, load: 3, step: 2, ttlMs: 3_600_000 };
