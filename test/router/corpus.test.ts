import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { classifyByRules, classifyTurn } from "../../src/routing/classify-turn.js";
import { ROUTE_KINDS, type RouteKind } from "../../src/routing/types.js";

/**
 * The legacy English corpus (corpus.json, the prompts the rules were written for, now also part of
 * the learned router's training data) and its holdout (holdout.json, written apart from the
 * rules). The multilingual corpus and its held-out part are tested in learned-router.test.ts.
 */
interface CorpusEntry {
  text: string;
  kind: RouteKind;
  note?: string;
}

function load(name: string): CorpusEntry[] {
  const data: unknown = JSON.parse(readFileSync(new URL(`./${name}`, import.meta.url), "utf8"));
  if (!Array.isArray(data)) throw new Error(`${name}: expected an array`);
  return data.map((entry: unknown, i: number) => {
    const e = entry as Partial<CorpusEntry>;
    if (typeof e.text !== "string" || !ROUTE_KINDS.includes(e.kind as RouteKind)) {
      throw new Error(`${name}[${i}]: expected { text: string, kind: RouteKind }`);
    }
    return e as CorpusEntry;
  });
}

function evaluate(entries: readonly CorpusEntry[], classify: (text: string) => { kind: RouteKind; reason: string }) {
  const confusion = Object.fromEntries(ROUTE_KINDS.map((k) => [k, Object.fromEntries(ROUTE_KINDS.map((g) => [g, 0]))])) as Record<
    RouteKind,
    Record<RouteKind, number>
  >;
  const misses: string[] = [];
  for (const entry of entries) {
    const { kind, reason } = classify(entry.text);
    confusion[entry.kind][kind] += 1;
    if (kind !== entry.kind) misses.push(`expected ${entry.kind}, got ${kind} (${reason}): ${JSON.stringify(entry.text)}`);
  }
  return { total: entries.length, correct: entries.length - misses.length, confusion, misses };
}

describe("the legacy English corpus", () => {
  const corpus = load("corpus.json");
  const holdout = load("holdout.json");

  it("classifies corpus.json with 98 % accuracy or better (the rules alone: 200 of 200)", () => {
    const report = evaluate(corpus, classifyTurn);
    expect(report.total).toBe(200);
    expect(report.misses).toEqual([]);
    expect(report.correct).toBeGreaterThanOrEqual(196);
    expect(evaluate(corpus, classifyByRules).correct).toBe(200);
  });

  it("classifies holdout.json at least as well as the rules alone (57 of 60)", () => {
    const learned = evaluate(holdout, classifyTurn);
    const rules = evaluate(holdout, classifyByRules);
    expect(learned.total).toBe(60);
    expect(learned.correct).toBeGreaterThanOrEqual(59);
    expect(learned.correct).toBeGreaterThanOrEqual(rules.correct);
  });
});
