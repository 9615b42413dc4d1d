import { heuristicRouter } from "../routing/heuristic-router.js";
import { ROUTE_KINDS, type RouteDecision, type RouteKind, type RouteRequest, type Router } from "../routing/types.js";

/** Generation options as a decision may carry them: none, or an object. */
const isOptions = (o: unknown): boolean => o === undefined || (typeof o === "object" && o !== null && !Array.isArray(o));

/**
 * A well-formed decision: a model name, a known kind, and options that are an object if present
 * (a router written in JavaScript may leave them out). What a cached route or a router gives is
 * checked with this: anything else is a miss, or the fallback's turn.
 */
const isDecision = (v: unknown): v is RouteDecision =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as RouteDecision).model === "string" &&
  (v as RouteDecision).model.length > 0 &&
  ROUTE_KINDS.includes((v as RouteDecision).kind) &&
  isOptions((v as RouteDecision).options);

/**
 * The decision a run uses, caches and publishes (`/zoe/route`, the run's metrics): a copy of a
 * well-formed decision ({@link isDecision}) with the fields of {@link RouteDecision} only, each of
 * its type, so that a router in JavaScript or a damaged cached value cannot put a shape in the
 * stream that `zoeState()` and `runResult()` reject (or one JSON cannot encode). A `fastPath`
 * that is not `true` is false, a `reason` that is not a string is empty, missing options are
 * `{}`, and a `confidence` that is not a number in [0, 1] is left out. Undefined for anything
 * that is not a decision.
 */
export function toDecision(v: unknown): RouteDecision | undefined {
  try {
    if (!isDecision(v)) return undefined;
    const { confidence } = v;
    const decision: RouteDecision = {
      model: v.model,
      kind: v.kind,
      fastPath: v.fastPath === true,
      reason: typeof v.reason === "string" ? v.reason : "",
      options: v.options ?? {},
    };
    if (typeof confidence === "number" && confidence >= 0 && confidence <= 1) decision.confidence = confidence;
    return decision;
  } catch {
    // A value that throws when read (a revoked Proxy, a throwing getter) is no decision.
    return undefined;
  }
}

/**
 * Decides when the pipeline's router cannot (it timed out, threw or answered something that is
 * not a decision). With no `fallbackRouter` given, the heuristic classifier picks the kind and the
 * model is the one the router last chose for that kind (else the one it last chose at all, else
 * the first of `router.models()`): the user still gets an answer from a model the host uses.
 */
export class RouteFallback {
  private readonly lastModel = new Map<RouteKind, string>();
  private latest: string | undefined;

  constructor(
    private readonly router: Router,
    private readonly explicit: Router | undefined,
  ) {}

  /** Note a good decision of the main router. */
  remember(decision: RouteDecision): void {
    if (this.lastModel.get(decision.kind) !== decision.model) this.lastModel.set(decision.kind, decision.model);
    this.latest = decision.model;
  }

  /** The fallback decision, or undefined when no model is known to fall back to. */
  async decide(request: RouteRequest): Promise<RouteDecision | undefined> {
    if (this.explicit) return this.explicit.route(request);
    const any = this.latest ?? safeModels(this.router)[0];
    if (!any) return undefined;
    const pick = (kind: RouteKind) => this.lastModel.get(kind) ?? any;
    return heuristicRouter({
      models: { fast: pick("greeting"), default: pick("chat"), code: pick("code"), complex: pick("complex") },
    }).route(request);
  }
}

function safeModels(router: Router): string[] {
  try {
    const models = router.models?.();
    return Array.isArray(models) ? models.filter((m): m is string => typeof m === "string" && m.length > 0) : [];
  } catch {
    return [];
  }
}
