import { classifyTurn, warmUpClassifier } from "./classify-turn.js";
import type { RouteDecision, RouteKind, RouteOptions, RouteRequest, Router } from "./types.js";
import { ROUTE_KINDS } from "./types.js";

/** Options for {@link heuristicRouter}. */
export interface HeuristicRouterOptions {
  /** Models per tier. fast: greeting and simple; default: chat (and code/complex when not given). */
  models: { fast: string; default: string; code?: string; complex?: string };
  /** Per-kind generation options, merged over the defaults (greeting { num_predict: 64 }, simple { num_predict: 128 }, others {}). */
  options?: Partial<Record<RouteKind, RouteOptions>>;
  /** Replace the classifier. */
  classify?: (text: string) => { kind: RouteKind; reason: string };
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
}

/**
 * A synchronous {@link Router} that classifies each turn with cheap heuristics
 * ({@link classifyTurn} by default) and maps the kind to a model tier:
 * greeting/simple → `fast` (fast path), chat → `default`, code → `code ?? default`,
 * complex → `complex ?? default`.
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
  const distinct = [...new Set(Object.values(modelFor))];

  return {
    route(request: RouteRequest): RouteDecision {
      const { kind, reason } = classify(request.text);
      if (!Object.hasOwn(modelFor, kind)) {
        throw new TypeError(`heuristicRouter: classify returned unknown route kind ${JSON.stringify(kind)}`);
      }
      return {
        model: modelFor[kind],
        kind,
        fastPath: kind === "greeting" || kind === "simple",
        reason,
        options: { ...merged[kind] },
      };
    },
    models(): string[] {
      return [...distinct];
    },
  };
}
