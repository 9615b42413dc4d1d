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

/**
 * History settings. The window of past messages in a prompt grows with the conversation, turn by
 * turn, so that each prompt extends the previous one (the model server evaluates only the last
 * answer and the new turn); when it would hold more than `load` messages its start moves forward
 * by `step` messages at once. A prompt therefore holds every past message while a thread has at
 * most `load`, and from then on between `load − step + 1` and `load` of the latest ones (with
 * the defaults: 6 to 12 past messages, the start moving once every 4 turns); a window starts on a
 * user message, the question of the exchange it would start in (see docs/context.md).
 */
export interface HistoryOptions {
  /** Messages kept per thread; at least `load`. Default 20 (or `load`, when that is more). */
  keep?: number;
  /** The most past messages a prompt holds. Default 12 (or `keep`, when that is less). */
  load?: number;
  /**
   * How far the window's start moves when the window is full, in messages (1 to `load`). Larger
   * steps mean rarer moves (every `step / 2` turns) and fewer past messages just after one.
   * Default 8 (or `load`, when that is less).
   */
  step?: number;
  /** Time to live of a thread's history after its last write, ms. Default 1 h. */
  ttlMs?: number;
}

export const HISTORY_DEFAULTS: Required<HistoryOptions> = { keep: 20, load: 12, step: 8, ttlMs: 3_600_000 };

const NAMES = ["keep", "load", "step", "ttlMs"] as const;

/**
 * Settings with defaults filled in (an option set to `undefined` takes its default); a TypeError
 * names the option that cannot work. A default never conflicts with an option given: `keep`
 * defaults to at least `load`, `load` to at most `keep`, and `step` to at most `load`.
 */
export function resolveHistoryOptions(options: HistoryOptions = {}): Required<HistoryOptions> {
  const given: HistoryOptions = options ?? {};
  const out = { ...HISTORY_DEFAULTS };
  for (const name of NAMES) {
    const value = given[name];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < (name === "load" ? 0 : 1)) {
      throw new TypeError(`history.${name} must be a ${name === "load" ? "non-negative" : "positive"} integer, got ${String(value)}.`);
    }
    out[name] = value;
  }
  if (given.keep === undefined) out.keep = Math.max(out.keep, out.load);
  else if (given.load === undefined) out.load = Math.min(out.load, out.keep);
  if (given.step === undefined && out.load > 0) out.step = Math.min(out.step, out.load);
  // A window can only hold what is kept; a step larger than the window would empty it.
  if (out.keep < out.load) throw new TypeError(`history.keep (${out.keep}) must be at least history.load (${out.load}).`);
  if (out.load > 0 && out.step > out.load) throw new TypeError(`history.step (${out.step}) must be at most history.load (${out.load}).`);
  return out;
}
