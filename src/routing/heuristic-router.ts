import { classifyTurn, learnedModel, warmUpClassifier } from "./classify-turn.js";
import type { RouteDecision, RouteKind, RouteOptions, RouteRequest, Router } from "./types.js";
import { ROUTE_KINDS } from "./types.js";

/** Options for {@link heuristicRouter}. */
export interface HeuristicRouterOptions {
  /** Models per tier. fast: greeting and simple; default: chat (and code/complex when not given). */
  models: { fast: string; default: string; code?: string; complex?: string };
  /** Per-kind generation options, merged over the defaults (greeting { num_predict: 64 }, simple { num_predict: 128 }, others {}). */
  options?: Partial<Record<RouteKind, RouteOptions>>;
  /**
   * Replace the classifier. It may return a `confidence` (0–1) and the `probabilities` of every
   * kind; without a confidence the low-confidence policy does not apply.
   */
  classify?: (text: string) => {
    kind: RouteKind;
    reason: string;
    confidence?: number;
    probabilities?: Readonly<Partial<Record<RouteKind, number>>>;
  };
  /**
   * The low-confidence policy: when the classifier picks `greeting` or `simple` with a confidence
   * below this, the turn does not take the fast path; it goes to the most probable of `chat`,
   * `code` and `complex` (`chat`, on the default model, when the classifier gives no
   * probabilities), and the decision's `reason` says so. A wrong fast path costs answer quality
   * (a small model, a short answer budget, no context); a missed one costs only latency.
   * Default: the trained model's threshold, 0.6 (chosen by cross-validation on the training
   * corpus, see docs/routing.md). `0` turns the policy off.
   */
  minConfidence?: number;
}

/** Generation options used for each kind before the caller's options are merged in. */
const DEFAULT_OPTIONS: Readonly<Record<RouteKind, Readonly<RouteOptions>>> = {
  greeting: { num_predict: 64 },
  simple: { num_predict: 128 },
  code: {},
  complex: {},
  chat: {},
};

function checkModel(value: unknown, name: string, required: boolean): void {
  if (value === undefined && !required) return;
  if (typeof value !== "string" || value.trim().length === 0) {
    throw new TypeError(
      `heuristicRouter: options.models.${name} must be a non-empty string${required ? "" : " when given"}, got ${
        typeof value === "string" ? JSON.stringify(value) : typeof value
      }`,
    );
  }
}

function validate(options: HeuristicRouterOptions): void {
  if (options === null || typeof options !== "object") {
    throw new TypeError("heuristicRouter: options must be an object");
  }
  const models: unknown = options.models;
  if (models === null || typeof models !== "object") {
    throw new TypeError("heuristicRouter: options.models must be an object with at least `fast` and `default`");
  }
  const m = models as Record<string, unknown>;
  checkModel(m.fast, "fast", true);
  checkModel(m.default, "default", true);
  checkModel(m.code, "code", false);
  checkModel(m.complex, "complex", false);

  if (options.options !== undefined) {
    if (options.options === null || typeof options.options !== "object") {
      throw new TypeError("heuristicRouter: options.options must be an object keyed by route kind");
    }
    for (const [kind, value] of Object.entries(options.options)) {
      if (!(ROUTE_KINDS as readonly string[]).includes(kind)) {
        throw new TypeError(
          `heuristicRouter: options.options has unknown route kind ${JSON.stringify(kind)} (expected one of ${ROUTE_KINDS.join(", ")})`,
        );
      }
      if (value !== undefined && (value === null || typeof value !== "object" || Array.isArray(value))) {
        throw new TypeError(`heuristicRouter: options.options.${kind} must be an object`);
      }
    }
  }
  if (options.classify !== undefined && typeof options.classify !== "function") {
    throw new TypeError("heuristicRouter: options.classify must be a function");
  }
  const min: unknown = options.minConfidence;
  if (min !== undefined && (typeof min !== "number" || !(min >= 0 && min <= 1))) {
    throw new TypeError(`heuristicRouter: options.minConfidence must be a number from 0 to 1, got ${String(min)}`);
  }
}

const SLOW_KINDS = ["chat", "code", "complex"] as const;

/** The most probable kind off the fast path (ties and missing probabilities go to chat). */
function bestSlowKind(probabilities: Readonly<Partial<Record<RouteKind, number>>> | undefined): RouteKind {
  let best: RouteKind = "chat";
  let p = probabilities?.chat ?? 0;
  for (const kind of SLOW_KINDS) {
    const q = probabilities?.[kind] ?? 0;
    if (q > p) {
      best = kind;
      p = q;
    }
  }
  return best;
}

/**
 * A synchronous {@link Router} that classifies each turn ({@link classifyTurn} by default: the
 * hand-written rules combined with a small learned model, for English, German, French, Spanish,
 * Italian, Portuguese and Dutch, typos and speech transcripts) and maps the kind to a model tier:
 * greeting/simple → `fast` (fast path), chat → `default`, code → `code ?? default`,
 * complex → `complex ?? default`. Each decision carries the classifier's `confidence`; a
 * greeting or simple turn below `minConfidence` goes off the fast path (see the option).
 *
 * @throws TypeError when a model name is missing or empty, or the options are malformed.
 */
export function heuristicRouter(options: HeuristicRouterOptions): Router {
  validate(options);
  const { fast, default: chatModel, code, complex } = options.models;
  const modelFor: Readonly<Record<RouteKind, string>> = {
    greeting: fast,
    simple: fast,
    chat: chatModel,
    code: code ?? chatModel,
    complex: complex ?? chatModel,
  };
  // Merge once; each decision gets a fresh copy so callers may mutate it freely.
  const merged = {} as Record<RouteKind, RouteOptions>;
  for (const kind of ROUTE_KINDS) {
    merged[kind] = { ...DEFAULT_OPTIONS[kind], ...(options.options?.[kind] ?? {}) };
  }
  const classify = options.classify ?? classifyTurn;
  if (!options.classify) warmUpClassifier();
  const minConfidence = options.minConfidence ?? learnedModel().model.minConfidence;
  const distinct = [...new Set(Object.values(modelFor))];

  return {
    route(request: RouteRequest): RouteDecision {
      const c = classify(request.text);
      let { kind, reason } = c;
      if (!Object.hasOwn(modelFor, kind)) {
        throw new TypeError(`heuristicRouter: classify returned unknown route kind ${JSON.stringify(kind)}`);
      }
      const confidence = c.confidence;
      if (confidence !== undefined && confidence < minConfidence && (kind === "greeting" || kind === "simple")) {
        const slow = bestSlowKind(c.probabilities);
        reason = `${slow}: low confidence (${kind} ${confidence.toFixed(2)} < ${minConfidence}), ${modelFor[slow]} instead of the fast path; ${reason}`;
        kind = slow;
      }
      const decision: RouteDecision = {
        model: modelFor[kind],
        kind,
        fastPath: kind === "greeting" || kind === "simple",
        reason,
        options: { ...merged[kind] },
      };
      if (confidence !== undefined) decision.confidence = confidence;
      return decision;
    },
    models(): string[] {
      return [...distinct];
    },
  };
}
