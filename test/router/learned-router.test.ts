import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MODULE_PATH, trainRouter } from "../../scripts/train-router.js";
import { classifyTurn, learnedModel } from "../../src/routing/classify-turn.js";
import { normaliseForFeatures, textFeatures } from "../../src/routing/features.js";
import { heuristicRouter } from "../../src/routing/heuristic-router.js";
import { loadModel } from "../../src/routing/learned-model.js";
import { TRAINED_MODEL } from "../../src/routing/trained-model.js";
import { ROUTE_KINDS, type RouteDecision, type RouteKind } from "../../src/routing/types.js";

interface Entry {
  text: string;
  kind: RouteKind;
  lang: string;
  style: "plain" | "typo" | "transcript";
  note?: string;
}

const LANGS = ["en", "de", "fr", "es", "it", "pt", "nl"] as const;
const jsonl = (name: string): Entry[] =>
  readFileSync(new URL(`../../data/router/${name}`, import.meta.url), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Entry);
const holdout = jsonl("holdout.jsonl");
const train = jsonl("train.jsonl");

const models = { fast: "fast-1b", default: "chat-8b", code: "coder-7b", complex: "big-32b" };
const router = heuristicRouter({ models });
const route = (text: string): RouteDecision => router.route({ text, userId: "u", threadId: "t" }) as RouteDecision;

/**
 * Held-out thresholds, as counts. Set from what the shipped model measured on the held-out part
 * (see docs/routing.md and `npx tsx bench/router.ts`) minus a margin of about two turns per
 * language and per kind, so that a retrain on a grown corpus does not fail on noise while a real
 * regression does.
 */
const HELD_OUT = {
  /** Measured 312 of 324 (96.3 %); at least 306 (94.4 %). */
  overall: 306,
  /** Misses per language (42–68 turns each): measured at most 4 (English 4 of 68, German 3 of 45); at most 6. */
  missesPerLanguage: 6,
  /** Misses per kind (60–76 turns each): measured at most 5 (simple 5 of 76, chat 5 of 63); at most 7. */
  missesPerKind: 7,
  /** Labelled greeting/simple (fast path) but routed complex: measured 1; at most 2. */
  fastPathToComplexAtMost: 2,
  /** Labelled complex but put on the fast path (a small model, a short budget, for a long task): measured 0; at most 1. */
  complexToFastPathAtMost: 1,
  /** Held-out turns noted "misleading" (programming words outside programming) routed wrong: measured 2; at most 3. */
  misleadingMissesAtMost: 3,
} as const;

function tally(entries: readonly Entry[], kindOf: (text: string) => RouteKind) {
  const by = new Map<string, { right: number; total: number }>();
  let fastToComplex = 0;
  let complexToFast = 0;
  const add = (key: string, ok: boolean) => {
    const g = by.get(key) ?? { right: 0, total: 0 };
    g.total++;
    if (ok) g.right++;
    by.set(key, g);
  };
  for (const e of entries) {
    const got = kindOf(e.text);
    add("all", got === e.kind);
    add(e.lang, got === e.kind);
    add(e.kind, got === e.kind);
    if ((e.kind === "greeting" || e.kind === "simple") && got === "complex") fastToComplex++;
    if (e.kind === "complex" && (got === "greeting" || got === "simple")) complexToFast++;
  }
  return { by, fastToComplex, complexToFast };
}

describe("the labelled corpus (data/router)", () => {
  it("has at least 1,000 turns, every kind in every language in both parts, typos and transcripts", () => {
    expect(train.length + holdout.length).toBeGreaterThanOrEqual(1000);
    for (const part of [train, holdout]) {
      for (const lang of LANGS) {
        for (const kind of ROUTE_KINDS) {
          expect(part.filter((e) => e.lang === lang && e.kind === kind).length, `${lang}/${kind}`).toBeGreaterThanOrEqual(8);
        }
        for (const style of ["typo", "transcript"] as const) {
          expect(part.filter((e) => e.lang === lang && e.style === style).length, `${lang}/${style}`).toBeGreaterThanOrEqual(5);
        }
      }
      expect(part.filter((e) => e.note?.startsWith("misleading")).length).toBeGreaterThanOrEqual(10);
    }
  });

  it("keeps the held-out part apart: no held-out turn is in the training part, even after normalisation", () => {
    const legacy = (JSON.parse(readFileSync(new URL("./corpus.json", import.meta.url), "utf8")) as Array<{ text: string }>).map(
      (e) => e.text,
    );
    const key = (t: string) =>
      normaliseForFeatures(t)
        .replace(/[^\p{L}\p{N}]+/gu, " ")
        .trim();
    const seen = new Set([...train.map((e) => e.text), ...legacy].map(key));
    expect(holdout.filter((e) => seen.has(key(e.text))).map((e) => e.text)).toEqual([]);
  });
});

describe("held-out accuracy (turns written before training, never tuned on)", () => {
  const { by, fastToComplex, complexToFast } = tally(holdout, (t) => route(t).kind);

  it(`routes at least ${HELD_OUT.overall} of ${holdout.length} held-out turns as labelled`, () => {
    expect(by.get("all")?.total).toBe(holdout.length);
    expect(by.get("all")?.right).toBeGreaterThanOrEqual(HELD_OUT.overall);
  });

  it.each(LANGS.map((l) => [l]))(`language %s: at most ${HELD_OUT.missesPerLanguage} misses`, (lang) => {
    const g = by.get(lang)!;
    expect(g.total - g.right, `${lang}: ${g.right}/${g.total}`).toBeLessThanOrEqual(HELD_OUT.missesPerLanguage);
  });

  it.each(ROUTE_KINDS.map((k) => [k]))(`kind %s: at most ${HELD_OUT.missesPerKind} misses`, (kind) => {
    const g = by.get(kind)!;
    expect(g.total - g.right, `${kind}: ${g.right}/${g.total}`).toBeLessThanOrEqual(HELD_OUT.missesPerKind);
  });

  it("almost never sends a fast-path turn to the complex model, nor a complex one to the fast path", () => {
    expect(fastToComplex).toBeLessThanOrEqual(HELD_OUT.fastPathToComplexAtMost);
    expect(complexToFast).toBeLessThanOrEqual(HELD_OUT.complexToFastPathAtMost);
  });

  it("keeps the legacy English corpus and its holdout at 98 % or better", () => {
    for (const name of ["corpus.json", "holdout.json"]) {
      const entries = JSON.parse(readFileSync(new URL(`./${name}`, import.meta.url), "utf8")) as Array<{ text: string; kind: RouteKind }>;
      const right = entries.filter((e) => route(e.text).kind === e.kind).length;
      expect(right / entries.length, name).toBeGreaterThanOrEqual(0.98);
    }
  });
});

describe("misleading keywords", () => {
  // Written for this test (not in either corpus file): programming words outside programming, and
  // device or planning words inside programming questions.
  const cases: Array<[string, RouteKind]> = [
    ["rust on my bike chain", "chat"],
    ["a ruby ring for my wife's birthday", "chat"],
    ["there's rust on my bike chain, how do I clean it?", "chat"],
    ["I want to buy a ruby ring for my wife's birthday, what should I look for?", "chat"],
    ["how big can a reticulated python get?", "chat"],
    ["is Java a good place for a honeymoon?", "chat"],
    ["how do I write a python script that sets an alarm on my mac?", "code"],
    ["write a react hook that polls the weather every ten minutes", "code"],
    ["Wie entferne ich Rost von meiner Fahrradkette?", "chat"],
    ["Je voudrais une bague avec un rubis pour ma femme", "chat"],
    ["¿Cuánto mide una pitón adulta?", "chat"],
  ];
  it.each(cases)("%s → %s", (text, kind) => {
    expect(route(text).kind).toBe(kind);
  });

  it(`routes the held-out part's misleading turns as labelled (at most ${HELD_OUT.misleadingMissesAtMost} misses)`, () => {
    const misleading = holdout.filter((e) => e.note?.startsWith("misleading"));
    expect(misleading.length).toBeGreaterThanOrEqual(10);
    const wrong = misleading.filter((e) => route(e.text).kind !== e.kind);
    expect(wrong.length, `${wrong.length} of ${misleading.length}`).toBeLessThanOrEqual(HELD_OUT.misleadingMissesAtMost);
  });
});

describe("confidence", () => {
  it("comes with every decision and every classification: a probability, the probabilities summing to 1", () => {
    for (const e of [...holdout.slice(0, 40), { text: "" }, { text: "🙂" }, { text: "x".repeat(50_000) }]) {
      const c = classifyTurn(e.text);
      expect(c.confidence).toBeGreaterThanOrEqual(0);
      expect(c.confidence).toBeLessThanOrEqual(1);
      expect(c.probabilities[c.kind]).toBe(c.confidence);
      expect(Object.values(c.probabilities).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      for (const k of ROUTE_KINDS) expect(c.probabilities[k]).toBeLessThanOrEqual(c.confidence);
      const d = route(e.text);
      expect(d.confidence).toBe(c.confidence);
    }
  });

  it("is high on clear turns in every language", () => {
    for (const text of [
      "set a timer for ten minutes",
      "Stell einen Timer auf fünf Minuten",
      "merci beaucoup !",
      "write a python function that reverses a list",
    ]) {
      expect(classifyTurn(text).confidence, text).toBeGreaterThan(0.8);
    }
  });

  it("is calibrated on the held-out part: turns above 0.9 are right far more often than turns below 0.6", () => {
    const high = holdout.map((e) => [classifyTurn(e.text), e.kind] as const).filter(([c]) => c.confidence >= 0.9);
    const low = holdout.map((e) => [classifyTurn(e.text), e.kind] as const).filter(([c]) => c.confidence < 0.6);
    const rate = (xs: ReadonlyArray<readonly [{ kind: RouteKind }, RouteKind]>) =>
      xs.filter(([c, k]) => c.kind === k).length / Math.max(1, xs.length);
    expect(high.length).toBeGreaterThan(holdout.length / 2);
    expect(rate(high)).toBeGreaterThan(0.97);
    expect(rate(high)).toBeGreaterThan(rate(low));
  });
});

describe("the low-confidence policy", () => {
  const unsure = (kind: RouteKind, confidence: number, probabilities?: Partial<Record<RouteKind, number>>) => () => ({
    kind,
    reason: `${kind}: test rule`,
    confidence,
    ...(probabilities ? { probabilities } : {}),
  });
  const decide = (classify: ReturnType<typeof unsure>, minConfidence?: number) =>
    heuristicRouter({ models, classify, ...(minConfidence === undefined ? {} : { minConfidence }) }).route({
      text: "t",
      userId: "u",
      threadId: "t",
    }) as RouteDecision;

  it("takes an unsure greeting or simple turn off the fast path, to the most probable other kind, and says why", () => {
    const d = decide(unsure("simple", 0.41, { simple: 0.41, chat: 0.2, code: 0.3, complex: 0.05, greeting: 0.04 }));
    expect(d).toMatchObject({ kind: "code", model: "coder-7b", fastPath: false, confidence: 0.41, options: {} });
    expect(d.reason).toBe("code: low confidence (simple 0.41 < 0.6), coder-7b instead of the fast path; simple: test rule");
  });

  it("goes to chat on the default model when the classifier gives no probabilities", () => {
    expect(decide(unsure("greeting", 0.3))).toMatchObject({ kind: "chat", model: "chat-8b", fastPath: false });
  });

  it("keeps confident fast-path turns, and unsure slow-path turns, as they are", () => {
    expect(decide(unsure("simple", 0.61))).toMatchObject({ kind: "simple", fastPath: true, reason: "simple: test rule" });
    expect(decide(unsure("complex", 0.3))).toMatchObject({ kind: "complex", fastPath: false, reason: "complex: test rule" });
  });

  it("follows minConfidence: 0 turns the policy off, a higher value widens it", () => {
    expect(decide(unsure("simple", 0.2), 0)).toMatchObject({ kind: "simple", fastPath: true });
    expect(decide(unsure("simple", 0.8), 0.9)).toMatchObject({ kind: "chat", fastPath: false });
    expect(() => heuristicRouter({ models, minConfidence: 2 })).toThrow(/minConfidence/);
    expect(() => heuristicRouter({ models, minConfidence: Number.NaN })).toThrow(/minConfidence/);
  });

  it("applies to the built-in classifier with the trained threshold", () => {
    expect(TRAINED_MODEL.minConfidence).toBeGreaterThan(0);
    const unsureTurns = [...train, ...holdout]
      .map((e) => e.text)
      .filter((t) => {
        const c = classifyTurn(t);
        return (c.kind === "greeting" || c.kind === "simple") && c.confidence < TRAINED_MODEL.minConfidence;
      });
    for (const text of unsureTurns) {
      const d = route(text);
      expect(d.fastPath, text).toBe(false);
      expect(d.reason).toMatch(/low confidence/);
    }
    // Without the policy the same turns take the fast path.
    const off = heuristicRouter({ models, minConfidence: 0 });
    for (const text of unsureTurns) expect((off.route({ text, userId: "u", threadId: "t" }) as RouteDecision).fastPath).toBe(true);
  });
});

describe("the trained model", () => {
  it("decodes to its declared size, and refuses a model that does not fit", () => {
    const loaded = learnedModel();
    expect(loaded.text.length).toBe((1 << TRAINED_MODEL.features.bits) * ROUTE_KINDS.length);
    expect(() => loadModel({ ...TRAINED_MODEL, kinds: ["chat", "code"] })).toThrow(/kinds/);
    expect(() => loadModel({ ...TRAINED_MODEL, text: TRAINED_MODEL.text.slice(0, 100) })).toThrow(/size/);
  });

  it("decodes the same weights without Node's Buffer (browsers, edge runtimes use atob)", () => {
    const viaBuffer = loadModel(TRAINED_MODEL);
    const g = globalThis as { Buffer?: unknown };
    const saved = g.Buffer;
    let viaAtob: ReturnType<typeof loadModel>;
    try {
      g.Buffer = undefined;
      viaAtob = loadModel(TRAINED_MODEL);
    } finally {
      g.Buffer = saved;
    }
    expect(Buffer.from(viaAtob.text.buffer).equals(Buffer.from(viaBuffer.text.buffer))).toBe(true);
    expect([...viaAtob.extra]).toEqual([...viaBuffer.extra]);
  });

  it("hashes features deterministically and bounds them to the table", () => {
    const config = TRAINED_MODEL.features;
    const a = new Int32Array(512);
    const b = new Int32Array(512);
    const norm = normaliseForFeatures("Réveille-moi à 7h30, s'il te plaît");
    expect(norm).toBe("reveille-moi a 0h0, s'il te plait");
    const n = textFeatures(norm, config, a);
    expect(textFeatures(norm, config, b)).toBe(n);
    expect([...a.subarray(0, n)]).toEqual([...b.subarray(0, n)]);
    for (const x of a.subarray(0, n)) expect(x >= 0 && x < 1 << config.bits).toBe(true);
    // A long paste is cut: routing cost is bounded.
    expect(textFeatures(normaliseForFeatures("word ".repeat(100_000)), config, new Int32Array(100_000))).toBeLessThan(6000);
  });

  it("is reproduced byte for byte by the training script (scripts/train-router.ts)", () => {
    const fresh = trainRouter();
    expect(
      fresh.source === readFileSync(MODULE_PATH, "utf8"),
      "src/routing/trained-model.ts differs from a fresh training run: run `npx tsx scripts/train-router.ts`",
    ).toBe(true);
  }, 180_000);
});
