import type { ProviderStatus } from "../context/types.js";
import type { RouteKind } from "../routing/types.js";
import type { AnswerCacheMetrics } from "../response-cache/types.js";

/** Cache parts the pipeline reads. */
export type CachePart = "route" | "system" | "context" | "history";

/** Hits and misses of one cache part. */
export interface HitMiss {
  hits: number;
  misses: number;
}

/** What one run measured. Carried by `RUN_FINISHED.result.metrics` and the `zoe.metrics` CUSTOM event. */
export interface RunMetrics {
  /** From the start of the run to the first streamed token (text or reasoning); undefined when none came. */
  ttftMs?: number;
  totalMs: number;
  stages: {
    /** The one batched read of every cache the run needs. */
    cacheReadMs: number;
    routeMs: number;
    contextMs: number;
    promptMs: number;
    generateMs: number;
  };
  providers: Record<string, { status: ProviderStatus; ms: number }>;
  tokens: { input?: number; output: number };
  /** Output tokens per second of generation; absent when none were generated (an answer replayed from the response cache included). */
  tokensPerSecond?: number;
  cache: { hits: number; misses: number; byPart: Record<CachePart, HitMiss> };
  fastPath: boolean;
  kind: RouteKind;
  model: string;
  /** The backend's own timings, when it reports them. */
  backend: {
    /** The model that answered, when the backend reports it (a fallback model shows here). */
    model?: string;
    queueMs?: number;
    loadMs?: number;
    promptEvalMs?: number;
    promptEvalTokens?: number;
    evalMs?: number;
    doneReason?: string;
  };
  /** Tool calls the model made, server-side tool steps run, code blocks executed. */
  tools: { calls: number; steps: number; codeRuns: number };
  /** Whether the history came from the input's messages or from the store. */
  historySource: "input" | "store";
  /** Past messages in the prompt. */
  historyMessages: number;
  /** The prompt as budgeted: its tokens, how they were counted, and what was cut to fit. */
  prompt: {
    tokens: number;
    /** `tokenizer`: the backend's own; `estimate`: characters / 3.5. */
    counter: "tokenizer" | "estimate";
    /** Context sections left out or shortened to fit `contextTokens`. */
    cutContext?: string[];
    /** Past messages dropped to fit `promptTokens` (in the first model call, or more in a call after a tool step). */
    droppedHistory?: number;
    /** Tool results (and, as a last resort, assistant text after the question) cut to fit `promptTokens`, in a continued run's first call or a call after a tool step; the model sees how much was kept. */
    cutToolResults?: number;
  };
  /** Model calls tried again after failing before their first chunk (the `retry` option). */
  retries?: number;
  /** The response cache's lookup for this run (only when `responseCache` is on). */
  answerCache?: AnswerCacheMetrics;
}

/** Round to 0.001 ms so that metrics stay readable in JSON. */
export const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/**
 * A token count a backend reported: a whole number ≥ 0 within the safe-integer range, else
 * undefined (a custom backend's counts are not trusted; AG-UI's usage holds safe integers only).
 */
export const tokenCount = (n: unknown): number | undefined => (Number.isSafeInteger(n) && (n as number) >= 0 ? (n as number) : undefined);
