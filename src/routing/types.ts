/** The five kinds of user turn the router tells apart. */
export type RouteKind = "greeting" | "simple" | "code" | "complex" | "chat";

/** All route kinds, in a stable order. */
export const ROUTE_KINDS: readonly RouteKind[] = ["greeting", "simple", "code", "complex", "chat"];

/** Generation options a route passes to the backend (Ollama names). */
export interface RouteOptions {
  /** Maximum tokens to generate. */
  num_predict?: number;
  temperature?: number;
  [key: string]: unknown;
}

/** What the router decided for one user turn. */
export interface RouteDecision {
  /** The model to run. */
  model: string;
  /** The kind of turn. */
  kind: RouteKind;
  /** True for greetings and simple actions: no context providers, the fast model, a short answer. */
  fastPath: boolean;
  /**
   * A short, human-readable reason: which rule matched, the learned model's confidence, and, when
   * the low-confidence policy changed the route, why (e.g. `"chat: low confidence (simple 0.41 < 0.6),
   * llama3.2 instead of the fast path; …"`, naming the model routed to).
   */
  reason: string;
  /**
   * How sure the router's classifier is of its best kind, in [0, 1] (a calibrated probability for
   * the built-in router). Below the router's `minConfidence` a greeting or simple turn does not
   * take the fast path. Routers that cannot say leave it out.
   */
  confidence?: number;
  /** Generation options for this route. */
  options: RouteOptions;
}

/** What the router sees of a turn. */
export interface RouteRequest {
  /** The user's message text. */
  text: string;
  userId: string;
  threadId: string;
}

/** Picks a model and a kind for a user turn. May be synchronous. */
export interface Router {
  route(request: RouteRequest): RouteDecision | Promise<RouteDecision>;
  /** Every model this router can pick (used by `pipeline.prewarm()`). */
  models?(): string[];
}
