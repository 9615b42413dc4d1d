/**
 * Deadlines of the parts a run waits for, ms. Each has a fallback, so a hung or failing part
 * costs a run at most its deadline, never the run itself.
 */
export interface RunDeadlines {
  /** The router's decision; then the fallback router decides. Default 500. */
  routerMs?: number;
  /** A `systemPrompt` function; then the default system prompt is used. Default 1,000. */
  systemPromptMs?: number;
  /** The run's one batched cache read (and the response cache's read); then everything is a miss. Default 500. */
  cacheReadMs?: number;
  /** The history write after the answer; the run finishes either way (`history:write` with status `timeout` tells the host). Default 1,000. */
  historyWriteMs?: number;
  /** One code block run by the `codeExecutor`, queue wait included; then its result is an error. Default 10,000. */
  codeBlockMs?: number;
  /**
   * The model's first chunk, a safety net behind the backend's own deadlines (which know load
   * and queue time); then `MODEL_TIMEOUT`. Default 360,000 (above Ollama's 5-minute load deadline).
   */
  firstTokenMs?: number;
  /** Silence between two chunks of the model; then `MODEL_TIMEOUT`. Default 60,000. */
  idleMs?: number;
  /** The whole generation of a run, every model call and tool step; then `MODEL_TIMEOUT`. Default: none. */
  generationMs?: number;
}

/** Defaults of {@link RunDeadlines}. */
export const DEADLINE_DEFAULTS = {
  routerMs: 500,
  systemPromptMs: 1_000,
  cacheReadMs: 500,
  historyWriteMs: 1_000,
  codeBlockMs: 10_000,
  firstTokenMs: 360_000,
  idleMs: 60_000,
  generationMs: Number.POSITIVE_INFINITY,
} as const satisfies Required<RunDeadlines>;

/** Deadlines with every default filled in. */
export type ResolvedDeadlines = { readonly [K in keyof RunDeadlines]-?: number };

/** Fill in defaults; a deadline must be a positive number of ms (or Infinity for none). */
export function resolveDeadlines(given: RunDeadlines | undefined): ResolvedDeadlines {
  const out = { ...DEADLINE_DEFAULTS } as Record<keyof RunDeadlines, number>;
  for (const [name, value] of Object.entries(given ?? {})) {
    if (!(name in DEADLINE_DEFAULTS)) throw new TypeError(`createZoePipeline: unknown deadline "${name}".`);
    if (value === undefined) continue;
    if (typeof value !== "number" || !(value > 0)) {
      throw new TypeError(`createZoePipeline: deadlines.${name} must be a positive number of ms, got ${String(value)}.`);
    }
    out[name as keyof RunDeadlines] = value;
  }
  return out;
}
