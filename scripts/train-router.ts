/**
 * Trains the learned router offline and writes its weights to src/routing/trained-model.ts.
 *
 *   npx tsx scripts/train-router.ts            train on the training part, write the module
 *   npx tsx scripts/train-router.ts --check    train again and compare with the committed module (exit 1 if different)
 *   npx tsx scripts/train-router.ts --cv       5-fold cross-validation of the candidate methods on the training part
 *
 * The training part is data/router/train.jsonl plus the legacy English corpus test/router/corpus.json.
 * The held-out part (data/router/holdout.jsonl, and the legacy test/router/holdout.json) is never
 * read here: method, features, hyper-parameters and the confidence threshold are chosen by
 * cross-validation on the training part only. Everything is deterministic (seeded PRNG, fixed
 * order), so a fresh training run gives a byte-identical module.
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { extraFeature, type FeatureConfig, normaliseForFeatures, textFeatures } from "../src/routing/features.js";
import { extraFeatureNames } from "../src/routing/learned-model.js";
import { classifyByRules } from "../src/routing/rules.js";
import { ROUTE_KINDS, type RouteKind } from "../src/routing/types.js";

// ---------------------------------------------------------------------------------------------
// Corpus
// ---------------------------------------------------------------------------------------------

export interface CorpusEntry {
  text: string;
  kind: RouteKind;
  lang: string;
  style: "plain" | "typo" | "transcript";
  note?: string;
}

const root = new URL("../", import.meta.url);
const TRAIN_FILES = ["data/router/train.jsonl"] as const;
const LEGACY_TRAIN = "test/router/corpus.json";

export function readJsonl(path: string): CorpusEntry[] {
  return readFileSync(new URL(path, root), "utf8")
    .split("\n")
    .filter((l) => l.trim().length > 0)
    .map((l, i) => {
      const e = JSON.parse(l) as CorpusEntry;
      if (typeof e.text !== "string" || !ROUTE_KINDS.includes(e.kind)) throw new Error(`${path}:${i + 1}: bad entry`);
      return e;
    });
}

/** The training part: the multilingual corpus, then the legacy English corpus (labelled `en`, style `plain`). */
export function loadTrainingPart(): CorpusEntry[] {
  const legacy = (JSON.parse(readFileSync(new URL(LEGACY_TRAIN, root), "utf8")) as Array<{ text: string; kind: RouteKind }>).map(
    (e): CorpusEntry => ({ text: e.text, kind: e.kind, lang: "en", style: "plain" }),
  );
  return [...TRAIN_FILES.flatMap(readJsonl), ...legacy];
}

function corpusHash(): string {
  const h = createHash("sha256");
  for (const f of [...TRAIN_FILES, LEGACY_TRAIN]) h.update(readFileSync(new URL(f, root)));
  return h.digest("hex").slice(0, 16);
}

// ---------------------------------------------------------------------------------------------
// Deterministic augmentation: typos and transcript-style copies of each training turn
// ---------------------------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so that training is reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEY_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"];
function neighbour(c: string, r: () => number): string {
  for (let row = 0; row < KEY_ROWS.length; row++) {
    const i = KEY_ROWS[row]!.indexOf(c);
    if (i < 0) continue;
    const options = [KEY_ROWS[row]![i - 1], KEY_ROWS[row]![i + 1]].filter((x): x is string => x !== undefined);
    return options[Math.floor(r() * options.length)] ?? c;
  }
  return c;
}

/** One or more typing mistakes: a dropped, doubled, swapped or neighbouring letter in some words. */
function typoCopy(text: string, r: () => number): string {
  const words = text.split(" ");
  let changed = false;
  const out = words.map((w, idx) => {
    if (!/^[\p{L}]{4,}$/u.test(w) || (r() > 0.3 && !(idx === words.length - 1 && !changed))) return w;
    changed = true;
    const i = 1 + Math.floor(r() * (w.length - 2));
    const op = Math.floor(r() * 4);
    if (op === 0) return w.slice(0, i) + w.slice(i + 1);
    if (op === 1) return w.slice(0, i) + w[i] + w.slice(i);
    if (op === 2) return w.slice(0, i - 1) + w[i] + w[i - 1] + w.slice(i + 1);
    return w.slice(0, i) + neighbour(w[i]!.toLowerCase(), r) + w.slice(i + 1);
  });
  return out.join(" ");
}

const FILLERS: Record<string, readonly string[]> = {
  en: ["uh", "um", "like", "so", "you know", "okay so"],
  de: ["äh", "ähm", "also", "halt", "na ja"],
  fr: ["euh", "bon", "alors", "ben", "du coup"],
  es: ["eh", "este", "pues", "bueno", "o sea"],
  it: ["ehm", "allora", "cioè", "tipo", "senti"],
  pt: ["é", "tipo", "então", "né", "olha"],
  nl: ["eh", "nou", "uhm", "dus", "zeg"],
};

/** Speech-to-text style: lower case, no punctuation, a filler word or two. */
function transcriptCopy(text: string, lang: string, r: () => number): string {
  const fillers = FILLERS[lang] ?? FILLERS.en!;
  const words = text
    .toLowerCase()
    .replace(/[.,!?¿¡;:"«»()]+/g, " ")
    .split(/\s+/)
    .filter(Boolean);
  const count = 1 + Math.floor(r() * 2);
  for (let i = 0; i < count; i++) {
    const at = i === 0 && r() < 0.5 ? 0 : Math.floor(r() * (words.length + 1));
    words.splice(at, 0, fillers[Math.floor(r() * fillers.length)]!);
  }
  return words.join(" ");
}

const CODE_SYMBOLS = /[{}()[\]=<>;`\n]|\w\.\w/;

interface Sample {
  text: string;
  kind: RouteKind;
  lang: string;
  weight: number;
}

function augment(entries: readonly CorpusEntry[], seed: number, copies: number): Sample[] {
  const r = prng(seed);
  const out: Sample[] = [];
  for (const e of entries) {
    out.push({ text: e.text, kind: e.kind, lang: e.lang, weight: 1 });
    for (let c = 0; c < copies; c++) {
      out.push({ text: typoCopy(e.text, r), kind: e.kind, lang: e.lang, weight: 0.5 });
      if (!CODE_SYMBOLS.test(e.text)) out.push({ text: transcriptCopy(e.text, e.lang, r), kind: e.kind, lang: e.lang, weight: 0.5 });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Features and the model
// ---------------------------------------------------------------------------------------------

export interface TrainOptions {
  features: FeatureConfig;
  /** log2 of the extra-feature table (rule decision, length). */
  extraBits: number;
  /** Use the rules' decision as features (stacking). */
  ruleFeatures: boolean;
  epochs: number;
  learningRate: number;
  l2: number;
  /** Augmented copies per training turn (each a typo copy and a transcript copy). */
  copies: number;
  /** Weigh classes by inverse frequency. */
  balance: boolean;
  /** Experiment: conjoin the rule features with the true language label (an upper bound for a language-aware model). */
  oracleLanguage?: boolean;
  /** Return the average of the weights after each epoch of the second half (averaged SGD). */
  average: boolean;
  seed: number;
  /** Softmax temperature for calibrated confidences: the value `--cv` fits on out-of-fold predictions. */
  temperature: number;
  /** Fast-path confidence threshold: the value that maximised out-of-fold accuracy after the policy in `--cv`. */
  minConfidence: number;
}

export const DEFAULT_OPTIONS: TrainOptions = {
  features: { bits: 14, minN: 1, maxN: 4, words: true },
  extraBits: 9,
  ruleFeatures: true,
  epochs: 10,
  learningRate: 0.2,
  l2: 1e-5,
  copies: 1,
  balance: true,
  average: false,
  seed: 20240611,
  temperature: 0.95,
  minConfidence: 0.6,
};

const K = ROUTE_KINDS.length;

interface Example {
  idx: Int32Array;
  val: Float64Array;
  extra: Int32Array;
  y: number;
  weight: number;
}

const scratch = new Int32Array(8192);

function toExample(text: string, kind: RouteKind, weight: number, o: TrainOptions, lang?: string): Example {
  const norm = normaliseForFeatures(text);
  const n = textFeatures(norm, o.features, scratch);
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) counts.set(scratch[i]!, (counts.get(scratch[i]!) ?? 0) + 1);
  const scale = n > 0 ? 1 / Math.sqrt(n) : 0;
  const idx = new Int32Array(counts.size);
  const val = new Float64Array(counts.size);
  let j = 0;
  for (const [h, c] of counts) {
    idx[j] = h;
    val[j++] = c * scale;
  }
  const rule = o.ruleFeatures ? classifyByRules(text) : undefined;
  const names = extraFeatureNames(norm, rule);
  if (o.oracleLanguage && lang && rule) names.push(`rule:${rule.reason}@${lang}`, `rule:${rule.kind}@${lang}`, `lang:${lang}`);
  const extra = Int32Array.from(new Set(names.map((name) => extraFeature(name, o.extraBits))));
  return { idx, val, extra, y: ROUTE_KINDS.indexOf(kind), weight };
}

export interface FloatModel {
  options: TrainOptions;
  text: Float64Array;
  extra: Float64Array;
  bias: Float64Array;
}

function logits(m: FloatModel, e: Example, out: Float64Array): void {
  for (let k = 0; k < K; k++) out[k] = m.bias[k]!;
  for (let i = 0; i < e.idx.length; i++) {
    const base = e.idx[i]! * K;
    const v = e.val[i]!;
    for (let k = 0; k < K; k++) out[k]! += m.text[base + k]! * v;
  }
  for (let i = 0; i < e.extra.length; i++) {
    const base = e.extra[i]! * K;
    for (let k = 0; k < K; k++) out[k]! += m.extra[base + k]!;
  }
}

function softmax(z: Float64Array, temperature = 1): Float64Array {
  let max = -Infinity;
  for (let k = 0; k < K; k++) max = Math.max(max, z[k]! / temperature);
  let sum = 0;
  const p = new Float64Array(K);
  for (let k = 0; k < K; k++) sum += p[k] = Math.exp(z[k]! / temperature - max);
  for (let k = 0; k < K; k++) p[k]! /= sum;
  return p;
}

/** Multinomial logistic regression, AdaGrad SGD in a seeded order, L2 on the weights it touches. */
function trainModel(samples: readonly Sample[], o: TrainOptions): FloatModel {
  const examples = samples.map((s) => toExample(s.text, s.kind, s.weight, o, s.lang));
  const D = 1 << o.features.bits;
  const E = 1 << o.extraBits;
  const m: FloatModel = { options: o, text: new Float64Array(D * K), extra: new Float64Array(E * K), bias: new Float64Array(K) };
  const gText = new Float64Array(D * K).fill(1e-8);
  const gExtra = new Float64Array(E * K).fill(1e-8);
  const gBias = new Float64Array(K).fill(1e-8);
  const classWeight = new Float64Array(K).fill(1);
  if (o.balance) {
    const counts = new Float64Array(K);
    for (const e of examples) counts[e.y]! += e.weight;
    const total = counts.reduce((a, b) => a + b, 0);
    for (let k = 0; k < K; k++) classWeight[k] = counts[k]! > 0 ? total / (K * counts[k]!) : 1;
  }
  const r = prng(o.seed);
  const order = examples.map((_, i) => i);
  const z = new Float64Array(K);
  const g = new Float64Array(K);
  const lr = o.learningRate;
  const avg: FloatModel | undefined = o.average
    ? { options: o, text: new Float64Array(D * K), extra: new Float64Array(E * K), bias: new Float64Array(K) }
    : undefined;
  let avgCount = 0;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const id of order) {
      const e = examples[id]!;
      logits(m, e, z);
      const p = softmax(z);
      const w = e.weight * classWeight[e.y]!;
      for (let k = 0; k < K; k++) g[k] = (p[k]! - (k === e.y ? 1 : 0)) * w;
      for (let k = 0; k < K; k++) {
        gBias[k]! += g[k]! * g[k]!;
        m.bias[k]! -= (lr * g[k]!) / Math.sqrt(gBias[k]!);
      }
      for (let i = 0; i < e.idx.length; i++) {
        const base = e.idx[i]! * K;
        const v = e.val[i]!;
        for (let k = 0; k < K; k++) {
          const j = base + k;
          const grad = g[k]! * v + o.l2 * m.text[j]!;
          gText[j]! += grad * grad;
          m.text[j]! -= (lr * grad) / Math.sqrt(gText[j]!);
        }
      }
      for (let i = 0; i < e.extra.length; i++) {
        const base = e.extra[i]! * K;
        for (let k = 0; k < K; k++) {
          const j = base + k;
          const grad = g[k]! + o.l2 * m.extra[j]!;
          gExtra[j]! += grad * grad;
          m.extra[j]! -= (lr * grad) / Math.sqrt(gExtra[j]!);
        }
      }
    }
    if (avg && epoch >= o.epochs / 2) {
      avgCount++;
      for (let i = 0; i < m.text.length; i++) avg.text[i]! += m.text[i]!;
      for (let i = 0; i < m.extra.length; i++) avg.extra[i]! += m.extra[i]!;
      for (let i = 0; i < K; i++) avg.bias[i]! += m.bias[i]!;
    }
  }
  if (avg) {
    for (const t of [avg.text, avg.extra, avg.bias]) for (let i = 0; i < t.length; i++) t[i]! /= avgCount;
    return avg;
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Quantisation and the generated module
// ---------------------------------------------------------------------------------------------

export interface QuantisedModel {
  options: TrainOptions;
  textScale: number;
  extraScale: number;
  text: Int8Array;
  extra: Int8Array;
  bias: number[];
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/** int8 weights with one scale per table (max |w| maps to 127). */
export function quantise(m: FloatModel): QuantisedModel {
  const q = (w: Float64Array) => {
    let max = 0;
    for (const x of w) max = Math.max(max, Math.abs(x));
    const scale = round6(max / 127 || 1);
    const out = new Int8Array(w.length);
    for (let i = 0; i < w.length; i++) out[i] = Math.max(-127, Math.min(127, Math.round(w[i]! / scale)));
    return { scale, out };
  };
  const t = q(m.text);
  const e = q(m.extra);
  return { options: m.options, textScale: t.scale, extraScale: e.scale, text: t.out, extra: e.out, bias: [...m.bias].map(round6) };
}

function dequantise(q: QuantisedModel): FloatModel {
  return {
    options: q.options,
    text: Float64Array.from(q.text, (x) => x * q.textScale),
    extra: Float64Array.from(q.extra, (x) => x * q.extraScale),
    bias: Float64Array.from(q.bias),
  };
}

function b64(bytes: Int8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

export function moduleSource(
  q: QuantisedModel,
  meta: { temperature: number; minConfidence: number; turns: number; samples: number; corpus: string },
): string {
  const o = q.options;
  const wrap = (s: string) =>
    s
      .match(/.{1,120}/g)!
      .map((l) => `  "${l}"`)
      .join(" +\n");
  return `// Generated by scripts/train-router.ts: do not edit. Retrain with \`npx tsx scripts/train-router.ts\`.
// ${meta.turns} labelled turns (${meta.samples} with augmented copies), corpus sha256 ${meta.corpus}.
import type { TrainedModel } from "./learned-model.js";

export const TRAINED_MODEL: TrainedModel = {
  kinds: ${JSON.stringify(ROUTE_KINDS)},
  features: ${JSON.stringify(o.features)},
  extraBits: ${o.extraBits},
  ruleFeatures: ${o.ruleFeatures},
  temperature: ${meta.temperature},
  minConfidence: ${meta.minConfidence},
  bias: ${JSON.stringify(q.bias)},
  textScale: ${q.textScale},
  extraScale: ${q.extraScale},
  /** int8 weights, ${1 << o.features.bits} buckets × ${K} kinds, bucket-major, base64. */
  text:
${wrap(b64(q.text))},
  /** int8 weights of the extra features (rules' decision, length), ${1 << o.extraBits} buckets × ${K} kinds, base64. */
  extra:
${wrap(b64(q.extra))},
};
`;
}

// ---------------------------------------------------------------------------------------------
// Evaluation helpers (cross-validation only: the held-out part is never read by this script)
// ---------------------------------------------------------------------------------------------

interface Prediction {
  entry: CorpusEntry;
  z: Float64Array;
  rule: { kind: RouteKind; reason: string };
}

function predict(m: FloatModel, entries: readonly CorpusEntry[]): Prediction[] {
  const z = new Float64Array(K);
  return entries.map((entry) => {
    const e = toExample(entry.text, entry.kind, 1, m.options, entry.lang);
    logits(m, e, z);
    return { entry, z: Float64Array.from(z), rule: classifyByRules(entry.text) };
  });
}

const STRUCTURAL = /^code: (?:fenced block|stack trace|error message|syntax line|inline syntax)$/;

type Combiner = (p: Prediction, temperature: number) => RouteKind;
const combiners: Record<string, Combiner> = {
  rules: (p) => p.rule.kind,
  model: (p, t) => ROUTE_KINDS[argmax(softmax(p.z, t))]!,
  "model, structural code rules first": (p, t) => (STRUCTURAL.test(p.rule.reason) ? "code" : ROUTE_KINDS[argmax(softmax(p.z, t))]!),
};

function argmax(p: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < p.length; k++) if (p[k]! > p[best]!) best = k;
  return best;
}

function foldOf(entries: readonly CorpusEntry[], folds: number): number[] {
  // Stratified and deterministic: the i-th turn of each (language, kind) group goes to fold i mod folds.
  const seen = new Map<string, number>();
  return entries.map((e) => {
    const key = `${e.lang}/${e.kind}`;
    const i = seen.get(key) ?? 0;
    seen.set(key, i + 1);
    return i % folds;
  });
}

export function crossValidate(entries: readonly CorpusEntry[], o: TrainOptions, folds = 5): Prediction[] {
  const fold = foldOf(entries, folds);
  const out: Prediction[] = new Array(entries.length);
  for (let f = 0; f < folds; f++) {
    const train = entries.filter((_, i) => fold[i] !== f);
    const test = entries.map((e, i) => [e, i] as const).filter(([, i]) => fold[i] === f);
    const m = dequantise(quantise(trainModel(augment(train, o.seed + f, o.copies), o)));
    const preds = predict(
      m,
      test.map(([e]) => e),
    );
    test.forEach(([, i], j) => (out[i] = preds[j]!));
  }
  return out;
}

/**
 * Multinomial naive Bayes over the same features (text n-grams as counts, extras as tokens):
 * a measured alternative to logistic regression (see --cv); not what ships.
 */
export function crossValidateNaiveBayes(entries: readonly CorpusEntry[], o: TrainOptions, alpha = 0.1, folds = 5): Prediction[] {
  const fold = foldOf(entries, folds);
  const D = 1 << o.features.bits;
  const E = 1 << o.extraBits;
  const out: Prediction[] = new Array(entries.length);
  const feats = (text: string) => {
    const norm = normaliseForFeatures(text);
    const n = textFeatures(norm, o.features, scratch);
    const extra = extraFeatureNames(norm, o.ruleFeatures ? classifyByRules(text) : undefined).map((x) => D + extraFeature(x, o.extraBits));
    return [...scratch.subarray(0, n), ...extra];
  };
  for (let f = 0; f < folds; f++) {
    const counts = new Float64Array((D + E) * K);
    const totals = new Float64Array(K);
    const prior = new Float64Array(K);
    for (const s of augment(
      entries.filter((_, i) => fold[i] !== f),
      o.seed + f,
      o.copies,
    )) {
      const y = ROUTE_KINDS.indexOf(s.kind);
      prior[y]! += s.weight;
      for (const h of feats(s.text)) {
        counts[h * K + y]! += s.weight;
        totals[y]! += s.weight;
      }
    }
    const priorSum = prior.reduce((a, b) => a + b, 0);
    entries.forEach((entry, i) => {
      if (fold[i] !== f) return;
      const z = new Float64Array(K);
      for (let k = 0; k < K; k++) z[k] = Math.log(prior[k]! / priorSum);
      for (const h of feats(entry.text))
        for (let k = 0; k < K; k++) z[k]! += Math.log((counts[h * K + k]! + alpha) / (totals[k]! + alpha * (D + E)));
      out[i] = { entry, z, rule: classifyByRules(entry.text) };
    });
  }
  return out;
}

/** The temperature that minimises the log loss of out-of-fold predictions (a grid, so it is deterministic). */
export function fitTemperature(preds: readonly Prediction[]): number {
  let best = 1;
  let bestLoss = Infinity;
  for (let t = 0.3; t <= 3.0001; t += 0.05) {
    let loss = 0;
    for (const p of preds) loss -= Math.log(Math.max(1e-12, softmax(p.z, t)[ROUTE_KINDS.indexOf(p.entry.kind)]!));
    if (loss < bestLoss) {
      bestLoss = loss;
      best = Math.round(t * 100) / 100;
    }
  }
  return best;
}

function report(name: string, preds: readonly Prediction[], combine: Combiner, temperature: number): string {
  const groups = new Map<string, [number, number]>();
  const add = (key: string, ok: boolean) => {
    const g = groups.get(key) ?? [0, 0];
    g[0] += ok ? 1 : 0;
    g[1] += 1;
    groups.set(key, g);
  };
  let fastToComplex = 0;
  for (const p of preds) {
    const got = combine(p, temperature);
    const ok = got === p.entry.kind;
    add("all", ok);
    add(p.entry.lang, ok);
    add(p.entry.kind, ok);
    if (p.entry.style !== "plain") add(p.entry.style, ok);
    if ((p.entry.kind === "greeting" || p.entry.kind === "simple") && got === "complex") fastToComplex++;
  }
  const pct = (key: string) => {
    const g = groups.get(key);
    return g ? `${((100 * g[0]) / g[1]).toFixed(1)}` : "-";
  };
  const cols = ["all", "en", "de", "fr", "es", "it", "pt", "nl", ...ROUTE_KINDS, "typo", "transcript"];
  return `${name.padEnd(48)} ${cols.map((c) => `${c}=${pct(c)}`).join(" ")} fast→complex=${fastToComplex}`;
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

export interface TrainResult {
  source: string;
  quantised: QuantisedModel;
  temperature: number;
  minConfidence: number;
  ms: number;
}

/** Trains on the whole training part (deterministically) and renders the module. */
export function trainRouter(o: TrainOptions = DEFAULT_OPTIONS): TrainResult {
  const t0 = performance.now();
  const entries = loadTrainingPart();
  const samples = augment(entries, o.seed, o.copies);
  const quantised = quantise(trainModel(samples, o));
  const source = moduleSource(quantised, {
    temperature: o.temperature,
    minConfidence: o.minConfidence,
    turns: entries.length,
    samples: samples.length,
    corpus: corpusHash(),
  });
  return { source, quantised, temperature: o.temperature, minConfidence: o.minConfidence, ms: performance.now() - t0 };
}

export const MODULE_PATH = fileURLToPath(new URL("src/routing/trained-model.ts", root));

function runCv(): void {
  const entries = loadTrainingPart();
  const variants: Array<[string, Partial<TrainOptions>]> = [
    ["default", {}],
    ["no rule features", { ruleFeatures: false }],
    ["oracle language", { oracleLanguage: true }],
    ["no augmentation", { copies: 0 }],
    ["2 augmented copies", { copies: 2 }],
    ["no class balance", { balance: false }],
    ["averaged weights", { average: true }],
    ["n-grams 1-3", { features: { ...DEFAULT_OPTIONS.features, maxN: 3 } }],
    ["n-grams 1-5", { features: { ...DEFAULT_OPTIONS.features, maxN: 5 } }],
    ["n-grams 2-5", { features: { ...DEFAULT_OPTIONS.features, minN: 2, maxN: 5 } }],
    ["no word features", { features: { ...DEFAULT_OPTIONS.features, words: false } }],
    ["2^12 buckets", { features: { ...DEFAULT_OPTIONS.features, bits: 12 } }],
    ["2^13 buckets", { features: { ...DEFAULT_OPTIONS.features, bits: 13 } }],
    ["2^15 buckets", { features: { ...DEFAULT_OPTIONS.features, bits: 15 } }],
    ["20 epochs", { epochs: 20 }],
    ["lr 0.1", { learningRate: 0.1 }],
    ["lr 0.5", { learningRate: 0.5 }],
    ["l2 1e-4", { l2: 1e-4 }],
  ];
  const only = process.argv.find((a) => a.startsWith("--only="))?.slice(7);
  if (!only || only.split(",").includes("naive bayes")) {
    for (const alpha of [0.03, 0.1, 0.3]) {
      const preds = crossValidateNaiveBayes(entries, DEFAULT_OPTIONS, alpha);
      console.log(report(`naive bayes (alpha ${alpha}), same features`, preds, combiners.model!, 1));
    }
  }
  for (const [name, patch] of variants) {
    if (only && !only.split(",").includes(name)) continue;
    const o = { ...DEFAULT_OPTIONS, ...patch };
    const t0 = performance.now();
    const preds = crossValidate(entries, o);
    const t = fitTemperature(preds);
    const ms = Math.round(performance.now() - t0);
    if (name === "default") console.log(report("rules alone", preds, combiners.rules!, t));
    console.log(report(`${name}: model (T=${t}, ${ms} ms)`, preds, combiners.model!, t));
    if (name === "default" || name === "no rule features") {
      console.log(report(`${name}: model, structural code rules first`, preds, combiners["model, structural code rules first"]!, t));
    }
    if (name === "default") {
      thresholdTable(preds, t);
      for (const theta of [0.6, 0.7, 0.8, 0.9]) {
        const overrule: Combiner = (p, tt) => {
          const probs = softmax(p.z, tt);
          const k = argmax(probs);
          return ROUTE_KINDS[k] !== p.rule.kind && probs[k]! < theta ? p.rule.kind : ROUTE_KINDS[k]!;
        };
        console.log(report(`rules unless the model is >= ${theta} sure`, preds, overrule, t));
      }
    }
  }
}

/** What each low-confidence threshold costs and saves on the fast path, out of fold. */
function thresholdTable(preds: readonly Prediction[], t: number): void {
  console.log("  threshold: fast-path decisions demoted (of which were wrong) / fast-path errors left / accuracy after the policy");
  for (const tau of [0, 0.4, 0.5, 0.6, 0.7, 0.8]) {
    let demoted = 0;
    let demotedWrong = 0;
    let fastWrong = 0;
    let right = 0;
    for (const p of preds) {
      const probs = softmax(p.z, t);
      let k = argmax(probs);
      let kind = ROUTE_KINDS[k]!;
      if ((kind === "greeting" || kind === "simple") && probs[k]! < tau) {
        demoted++;
        if (kind !== p.entry.kind) demotedWrong++;
        const slow = [2, 3, 4].reduce((a, b) => (probs[b]! > probs[a]! ? b : a));
        k = slow;
        kind = ROUTE_KINDS[k]!;
      } else if ((kind === "greeting" || kind === "simple") && kind !== p.entry.kind) fastWrong++;
      if (kind === p.entry.kind) right++;
    }
    console.log(`  ${tau.toFixed(1)}: ${demoted} (${demotedWrong}) / ${fastWrong} / ${((100 * right) / preds.length).toFixed(1)}%`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes("--cv")) runCv();
  else {
    const result = trainRouter();
    const check = process.argv.includes("--check");
    let committed = "";
    try {
      committed = readFileSync(MODULE_PATH, "utf8");
    } catch {
      // no module yet
    }
    const same = committed === result.source;
    console.log(
      `trained in ${Math.round(result.ms)} ms: temperature ${result.temperature}, text scale ${result.quantised.textScale}, module ${Buffer.byteLength(result.source)} bytes${check ? `, ${same ? "identical to" : "DIFFERENT from"} the committed module` : ""}`,
    );
    if (check) process.exitCode = same ? 0 : 1;
    else writeFileSync(MODULE_PATH, result.source);
  }
}
