import type { RouteKind } from "../routing/types.js";

/** What a context provider is asked for. */
export interface ContextRequest {
  userId: string;
  threadId: string;
  /** The user's message text. */
  text: string;
  /** The route kind of the turn. */
  kind: RouteKind;
}

/**
 * A source of context for the prompt (memory search, user profile, tool catalogue, ...).
 * Providers run in parallel, each under its own deadline; one that fails or is late is left out.
 */
export interface ContextProvider<T = unknown> {
  /** Unique among a pipeline's providers; used in state, metrics and cache keys. */
  name: string;
  /**
   * Fetch the context. Stop work when `signal` aborts (deadline passed or run cancelled); it is
   * made when first read. A value returned at once (not a promise) needs no deadline.
   */
  fetch(request: ContextRequest, context: { signal: AbortSignal }): Promise<T> | T;
  /** Deadline in ms, a positive number (`Infinity`: none). Default 1,000. */
  timeoutMs?: number;
  /** How long a result is cached, in ms; 0 turns caching off. Default 30,000. */
  ttlMs?: number;
  /**
   * Which cache entry of this provider and user a request maps to. Default: one entry per user.
   * It is computed before routing, so it cannot depend on the route kind.
   * Return something derived from the request (e.g. the normalised query) for query-dependent context.
   */
  cacheKey?(request: Omit<ContextRequest, "kind">): string;
  /**
   * Where the context goes in the prompt. `"stable"` (long-lived: profile, tool catalogue) goes
   * into the system message, before the history; `"volatile"` (default: search results) goes
   * next to the user turn, so it does not break the model server's prefix cache.
   */
  placement?: "stable" | "volatile";
  /**
   * Which context is kept when the prompt's context budget (`contextTokens`) is short: higher
   * first; at equal priority stable before volatile, then by name. Client context items have 0.
   * Default 0.
   */
  priority?: number;
  /** Render the value for the prompt. Default: strings as they are, anything else as JSON. */
  format?(value: T): string;
  /**
   * What the value is: prompt text (`"context"`, default) or tool definitions (`"tools"`, see
   * `ToolCatalogueProvider`), which go to the model as tools rather than into the prompt text.
   */
  provides?: "context" | "tools";
  /** Fetch it on the fast path too. Default: false for context, true for tool catalogues. */
  fastPath?: boolean;
  /** Release what it holds (connections, child processes): `pipeline.close()` calls it. */
  close?(): Promise<void> | void;
}

/** How one provider fared in a run. */
export type ProviderStatus = "ok" | "cached" | "timeout" | "error" | "skipped";

/** One provider's outcome in a run. */
export interface ProviderOutcome {
  name: string;
  status: ProviderStatus;
  /** Time the run waited for it. */
  ms: number;
  /** The rendered context, when there is some. */
  text?: string;
  /** The value itself (tool catalogues: their `ToolSpec[]`). */
  value?: unknown;
  placement: "stable" | "volatile";
  /** The provider's `priority` (default 0). */
  priority?: number;
  error?: string;
}
