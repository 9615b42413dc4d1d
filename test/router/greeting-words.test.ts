/**
 * A greeting takes the fast path (a small model, a 64-token answer, no context). The learned
 * model may not call a turn a greeting that a rule read as something else than a greeting or a
 * greeting then a question: "bonjour vs salut" (a comparison) went to the fast path as a greeting
 * at 0.98, over the rules. (Turns the rules read as a greeting then a question, "good morning in
 * spanish", are the learned model's to decide: most of them are greetings in other languages.)
 */
import { describe, expect, it } from "vitest";
import { classifyTurn, heuristicRouter } from "../../src/index.js";
import type { RouteDecision } from "../../src/routing/types.js";

const router = heuristicRouter({ models: { fast: "fast", default: "default", code: "code", complex: "complex" } });
const route = (text: string) => router.route({ text, userId: "u", threadId: "t" }) as RouteDecision;

describe("a turn a rule reads as something else than a greeting", () => {
  it('"bonjour vs salut" (a comparison) does not take the greeting fast path', () => {
    expect(route("bonjour vs salut")).toMatchObject({ kind: "complex", fastPath: false });
  });

  it("the greeting's probability goes to the other kinds: they still sum to 1, the kind is the most probable", () => {
    const c = classifyTurn("bonjour vs salut");
    const p = Object.values(c.probabilities);
    expect(c.probabilities.greeting).toBe(0);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    expect(c.confidence).toBe(Math.max(...p));
  });

  for (const text of [`${"hallo ".repeat(110)}set a timer`, `${"hallo ".repeat(66)}set a timer`, `${"bonjour ".repeat(33)}set a timer`]) {
    it(`the probabilities still sum to 1 when the greeting's was all but 1 (${text.length} characters)`, () => {
      const c = classifyTurn(text);
      const p = Object.values(c.probabilities);
      expect(c.probabilities.greeting).toBe(0);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      expect(c.confidence).toBe(Math.max(...p));
      expect(c.kind).not.toBe("greeting");
    });
  }

  it("greetings still take the fast path", () => {
    for (const text of ["hi, how are you?", "good morning!", "hey zoe what's up", "guten Morgen, wie geht's?", "bonjour à tous"]) {
      expect(route(text), text).toMatchObject({ kind: "greeting", fastPath: true });
    }
  });
});
