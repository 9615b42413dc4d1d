import { normaliseForFeatures } from "./features.js";
import { type LoadedModel, loadModel, scoreNormalised } from "./learned-model.js";
import { classifyByRules, type RuleClassification, warmUpRules } from "./rules.js";
import { TRAINED_MODEL } from "./trained-model.js";
import { ROUTE_KINDS, type RouteKind } from "./types.js";

/** What {@link classifyTurn} decided. */
export interface TurnClassification {
  kind: RouteKind;
  /**
   * Short, human-readable reason: the rule that matched and the model's confidence, e.g.
   * `"simple: timer action (learned 0.98)"`, or `"simple: learned 0.91 (rules: chat: default)"`
   * when the learned model overruled the rules.
   */
  reason: string;
  /** The classifier's probability for `kind`, in [0, 1] (calibrated on held-apart training folds). */
  confidence: number;
  /** The probability of every kind (they sum to 1). */
  probabilities: Readonly<Record<RouteKind, number>>;
}

let loaded: LoadedModel | undefined;

/** The learned model, decoded on first use (about a millisecond; see `npm run bench`). */
export function learnedModel(): LoadedModel {
  loaded ??= loadModel(TRAINED_MODEL);
  return loaded;
}

const scores = new Float64Array(ROUTE_KINDS.length);
const GREETING = ROUTE_KINDS.indexOf("greeting");
/**
 * The rules' reasons that leave a greeting to the learned model: no rule matched, or a greeting
 * word came first (in most languages but English the rules cannot tell a greeting from a question there).
 */
const MODEL_DECIDES: ReadonlySet<string> = new Set(["chat: default", "chat: empty", "chat: no content", "chat: greeting then question"]);

/**
 * Rules that see code by its structure (a fenced block, a stack trace, an error line, a line of
 * source): when one matches, the turn is code whatever the model says. In cross-validation the
 * model never disagreed with them; they guard short pastes, where the model has few n-grams to go on.
 */
const STRUCTURAL_CODE = /^code: (?:fenced block|stack trace|error message|syntax line|inline syntax)$/;

/**
 * Classifies one user turn into a {@link RouteKind}, with a confidence.
 *
 * The hand-written rules ({@link classifyByRules}) run first. Code recognised by its structure
 * (a fenced block, a stack trace, an error line, source syntax) is code, with confidence 1. Otherwise
 * the rules' decision is one input of a small learned model (multinomial logistic regression over
 * hashed character n-grams and words, trained offline on a labelled multilingual corpus by
 * scripts/train-router.ts), which makes the decision. It holds across English, German, French, Spanish, Italian, Portuguese and Dutch,
 * typos and speech transcripts. Pure and synchronous; 10–25 µs per turn at p50 on a 2-core server (docs/routing.md, "Cost").
 */
export function classifyTurn(text: string): TurnClassification {
  const rule = classifyByRules(text);
  const norm = normaliseForFeatures(text);
  if (norm.length === 0 || STRUCTURAL_CODE.test(rule.reason)) {
    return { kind: rule.kind, reason: rule.reason, confidence: 1, probabilities: onehot(rule.kind) };
  }
  const p = scoreNormalised(learnedModel(), norm, rule, scores);
  let best = 0;
  for (let k = 1; k < p.length; k++) if (p[k]! > p[best]!) best = k;
  // A greeting goes down the fast path, without context, to a small model with a short answer: the
  // model may not call a turn a greeting that a rule read as something else ("bonjour vs salut": a
  // comparison).
  if (best === GREETING && rule.kind !== "greeting" && !MODEL_DECIDES.has(rule.reason)) {
    // The rule rules the greeting out: the other kinds share its probability. Their sum is added up,
    // not taken as 1 − p(greeting), which loses every digit when p(greeting) is near 1; when it is
    // nothing at all (underflow), the rule's kind is the answer.
    p[GREETING] = 0;
    let rest = 0;
    for (let k = 0; k < p.length; k++) rest += p[k]!;
    if (!(rest > 0)) p[ROUTE_KINDS.indexOf(rule.kind)] = rest = 1;
    best = GREETING === 0 ? 1 : 0;
    for (let k = 0; k < p.length; k++) {
      p[k] = p[k]! / rest;
      if (p[k]! > p[best]!) best = k;
    }
  }
  const kind = ROUTE_KINDS[best]!;
  const confidence = p[best]!;
  const c = confidence.toFixed(2);
  return {
    kind,
    reason: rule.kind === kind ? `${rule.reason} (learned ${c})` : `${kind}: learned ${c} (rules: ${rule.reason})`,
    confidence,
    probabilities: { greeting: p[0]!, simple: p[1]!, code: p[2]!, complex: p[3]!, chat: p[4]! },
  };
}

function onehot(kind: RouteKind): Record<RouteKind, number> {
  const out = { greeting: 0, simple: 0, code: 0, complex: 0, chat: 0 };
  out[kind] = 1;
  return out;
}

let warmed = false;

/**
 * Decode the model and run the classifier over a few varied turns, so that V8 compiles the
 * rules' regular expressions and the scoring loop now (tens of milliseconds on a cold process)
 * rather than on the first user's turn.
 */
export function warmUpClassifier(): void {
  if (warmed) return;
  warmed = true;
  warmUpRules();
  learnedModel();
  for (const text of [
    "hi zoe!",
    "set a timer for ten minutes",
    "stell einen Wecker für 6 Uhr",
    "write a python function that parses JSON",
    "plan a five-day trip to Japan on a budget",
    "why is the sky blue?",
    "```js\nconst x = 1;\n```",
  ]) {
    classifyTurn(text);
  }
}

export { classifyByRules, type RuleClassification };
