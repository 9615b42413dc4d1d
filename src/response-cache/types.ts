/** Turns text into an embedding vector (an array, or a `Float32Array`/`Float64Array`). Must stop work when `signal` aborts. */
export type EmbedFn = (text: string, context: { signal: AbortSignal }) => Promise<number[] | Float32Array | Float64Array>;

/** Options of the semantic answer cache (in process, per pipeline). */
export interface SemanticCacheOptions {
  /**
   * The embedding function. Default: the backend's own `embed()` (e.g. `ollamaBackend({ embedModel })`);
   * creating the pipeline fails when neither is there.
   */
  embed?: EmbedFn;
  /** Least cosine similarity for a hit, in (0, 1]. Default 0.95. */
  threshold?: number;
  /** Entries kept per scope (user × route kind × model × tools offered), least recently used dropped first. Default 1,000. */
  maxEntries?: number;
  /** Scopes kept (each up to `maxEntries` entries), least recently used dropped first. Default 1,000. */
  maxScopes?: number;
  /**
   * Entries kept in all scopes together; past it, whole scopes go, least recently used first.
   * Memory is about `maxTotalEntries × (dimensions × 4 bytes + answer size)`: 20,000 × 768
   * dimensions ≈ 60 MB of vectors. Default 20,000.
   */
  maxTotalEntries?: number;
  /** Deadline of the embedding lookup, ms: a slower one is aborted and counted as a miss. Default 150. */
  timeoutMs?: number;
  /**
   * Also cache turns whose prompt carries conversation history (the history's text is embedded
   * together with the question). Default false: only turns without history.
   */
  includeHistory?: boolean;
}

/** The `responseCache` option of a pipeline. */
export interface ResponseCacheOptions {
  /** How long a stored answer is served, ms (exact and semantic). Default 600,000 (10 minutes). */
  ttlMs?: number;
  /** A semantic cache on top of the exact one. Off unless given. */
  semantic?: SemanticCacheOptions;
}

/** Outcome of the semantic lookup of one run. */
export type SemanticStatus = "hit" | "miss" | "timeout" | "error" | "skipped";

/** `metrics.answerCache` of a run (present only when the response cache is on). */
export interface AnswerCacheMetrics {
  /** The answer came from the cache (the backend was not called). */
  hit: boolean;
  kind?: "exact" | "semantic";
  /** Time spent looking up before generation could start (exact read + waiting for the embedding), ms. */
  lookupMs: number;
  /** Semantic lookup: its outcome, the best similarity seen and the embedding time. */
  semantic?: { status: SemanticStatus; similarity?: number; embedMs?: number };
  /** The answer was stored for later runs. */
  stored: boolean;
  /** This pipeline's counts so far (this run included): lookups, hits, hit rate in [0, 1]. */
  totals: { lookups: number; hits: number; exactHits: number; semanticHits: number; hitRate: number };
}

export const RESPONSE_CACHE_DEFAULTS = {
  ttlMs: 600_000,
  threshold: 0.95,
  maxEntries: 1_000,
  maxScopes: 1_000,
  maxTotalEntries: 20_000,
  timeoutMs: 150,
  includeHistory: false,
} as const;
