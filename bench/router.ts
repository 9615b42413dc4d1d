/**
 * The router: accuracy of the learned router (rules + model) against the old rules alone, on the
 * training part and on the held-out part of the labelled corpus (data/router/), per language and
 * per kind, with confusion matrices; its decision time (warm, p50/p99); the model's size and load time.
 *
 *   npx tsx bench/router.ts      (also part of `npm run bench`)
 *
 * Prints tables and writes bench/results/router.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { classifyByRules, classifyTurn, learnedModel, warmUpClassifier } from "../src/routing/classify-turn.js";
import { heuristicRouter } from "../src/routing/heuristic-router.js";
import { loadModel } from "../src/routing/learned-model.js";
import { TRAINED_MODEL } from "../src/routing/trained-model.js";
import { ROUTE_KINDS, type RouteKind } from "../src/routing/types.js";
import { printTable, summarise } from "./stats.js";

interface Entry {
  text: string;
  kind: RouteKind;
  lang: string;
  style: string;
}

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), "utf8");
const jsonl = (path: string): Entry[] =>
  read(path)
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Entry);
const legacy = (path: string): Entry[] =>
  (JSON.parse(read(path)) as Array<{ text: string; kind: RouteKind }>).map((e) => ({ ...e, lang: "en", style: "plain" }));

const LANGS = ["en", "de", "fr", "es", "it", "pt", "nl"] as const;
type Confusion = Record<RouteKind, Record<RouteKind, number>>;
type Classifier = (text: string) => RouteKind;

const router = heuristicRouter({ models: { fast: "fast", default: "default", code: "code", complex: "complex" } });
const routeKind = (text: string) => (router.route({ text, userId: "bench", threadId: "bench" }) as { kind: RouteKind }).kind;

const CLASSIFIERS: Record<string, Classifier> = {
  /** The learned router's classifier (rules' decision as a feature of the model). */
  learned: (t) => classifyTurn(t).kind,
  /** What the router does: the classifier plus the low-confidence policy (off the fast path when unsure). */
  "learned + policy": routeKind,
  /** The hand-written rules alone (the router before this change). */
  "old rules": (t) => classifyByRules(t).kind,
};

interface Score {
  right: number;
  total: number;
  accuracy: number;
}

const score = (right: number, total: number): Score => ({ right, total, accuracy: total ? Math.round((right / total) * 1000) / 1000 : 0 });

function evaluate(entries: readonly Entry[], classify: Classifier) {
  const confusion = Object.fromEntries(ROUTE_KINDS.map((k) => [k, Object.fromEntries(ROUTE_KINDS.map((g) => [g, 0]))])) as Confusion;
  const groups = new Map<string, [number, number]>();
  const misses: Array<{ text: string; lang: string; expected: RouteKind; got: RouteKind }> = [];
  const add = (key: string, ok: boolean) => {
    const g = groups.get(key) ?? [0, 0];
    g[0] += ok ? 1 : 0;
    g[1]++;
    groups.set(key, g);
  };
  let fastToComplex = 0;
  let complexToFast = 0;
  for (const e of entries) {
    const got = classify(e.text);
    const ok = got === e.kind;
    confusion[e.kind][got]++;
    add("all", ok);
    add(`lang:${e.lang}`, ok);
    add(`kind:${e.kind}`, ok);
    add(`style:${e.style}`, ok);
    if ((e.kind === "greeting" || e.kind === "simple") && got === "complex") fastToComplex++;
    if (e.kind === "complex" && (got === "greeting" || got === "simple")) complexToFast++;
    if (!ok) misses.push({ text: e.text, lang: e.lang, expected: e.kind, got });
  }
  const pick = (prefix: string) =>
    Object.fromEntries([...groups].filter(([k]) => k.startsWith(prefix)).map(([k, [r, t]]) => [k.slice(prefix.length), score(r, t)]));
  const [r, t] = groups.get("all") ?? [0, 0];
  return {
    overall: score(r, t),
    byLanguage: pick("lang:"),
    byKind: pick("kind:"),
    byStyle: pick("style:"),
    fastToComplex,
    complexToFast,
    confusion,
    misses,
  };
}

function timings(texts: readonly string[], fn: (t: string) => unknown, rounds: number) {
  for (let r = 0; r < 3; r++) for (const t of texts) fn(t); // warm
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const t of texts) {
      const t0 = process.hrtime.bigint();
      fn(t);
      samples.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
  }
  const s = summarise(samples);
  return { n: s.n, p50: s.p50, p95: s.p95, p99: s.p99, mean: s.mean };
}

export function benchRouter(opts: { rounds?: number } = {}) {
  warmUpClassifier();
  const sets = {
    "held-out (never tuned on)": jsonl("data/router/holdout.jsonl"),
    "training part": jsonl("data/router/train.jsonl"),
    "legacy English corpus (test/router/corpus.json, in training)": legacy("test/router/corpus.json"),
    "legacy English holdout (test/router/holdout.json)": legacy("test/router/holdout.json"),
  };
  const accuracy = Object.fromEntries(
    Object.entries(sets).map(([name, entries]) => [
      name,
      Object.fromEntries(Object.entries(CLASSIFIERS).map(([c, fn]) => [c, evaluate(entries, fn)])),
    ]),
  ) as Record<string, Record<string, ReturnType<typeof evaluate>>>;

  // Decision time, warm, per call (µs), over every turn of the corpus.
  const texts = Object.values(sets)
    .flat()
    .map((e) => e.text);
  const rounds = opts.rounds ?? 5;
  const time = {
    "router.route (rules + model + policy)": timings(texts, (t) => router.route({ text: t, userId: "u", threadId: "t" }), rounds),
    "classifyTurn (rules + model)": timings(texts, classifyTurn, rounds),
    "old rules alone": timings(texts, classifyByRules, rounds),
  };

  // Model size and load time (decoding the base64 weights; the module itself is plain data).
  const loadSamples: number[] = [];
  for (let i = 0; i < 20; i++) loadSamples.push(loadModel(TRAINED_MODEL).loadMs);
  const modulePath = fileURLToPath(new URL("../src/routing/trained-model.ts", import.meta.url));
  const model = {
    weights: `${1 << TRAINED_MODEL.features.bits} × ${ROUTE_KINDS.length} int8 text weights + ${1 << TRAINED_MODEL.extraBits} × ${ROUTE_KINDS.length} extra`,
    weightBytes: learnedModel().text.byteLength + learnedModel().extra.byteLength,
    moduleBytes: readFileSync(modulePath).byteLength,
    firstLoadMs: Math.round(learnedModel().loadMs * 1000) / 1000,
    loadMs: summarise(loadSamples),
    minConfidence: TRAINED_MODEL.minConfidence,
    temperature: TRAINED_MODEL.temperature,
  };
  const sizes = Object.fromEntries(Object.entries(sets).map(([k, v]) => [k, v.length]));
  return { sizes, accuracy, time, model };
}

const pct = (s: Score | undefined) => (s ? `${(s.accuracy * 100).toFixed(1)}% (${s.right}/${s.total})` : "");

export function printRouterBench(r: ReturnType<typeof benchRouter>): void {
  for (const [set, byClassifier] of Object.entries(r.accuracy)) {
    const first = Object.values(byClassifier)[0]!;
    const cols = Object.keys(byClassifier);
    printTable(`Router accuracy, ${set}: ${first.overall.total} turns, by language`, [
      ...["all", ...LANGS]
        .filter((l) => l === "all" || first.byLanguage[l])
        .map((l) => ({
          language: l,
          ...Object.fromEntries(cols.map((c) => [c, pct(l === "all" ? byClassifier[c]!.overall : byClassifier[c]!.byLanguage[l])])),
        })),
    ]);
    printTable(`Router accuracy, ${set}: by kind and style`, [
      ...ROUTE_KINDS.map((k) => ({ "kind / style": k, ...Object.fromEntries(cols.map((c) => [c, pct(byClassifier[c]!.byKind[k])])) })),
      ...["plain", "typo", "transcript"]
        .filter((s) => first.byStyle[s])
        .map((s) => ({ "kind / style": s, ...Object.fromEntries(cols.map((c) => [c, pct(byClassifier[c]!.byStyle[s])])) })),
      { "kind / style": "fast path → complex", ...Object.fromEntries(cols.map((c) => [c, String(byClassifier[c]!.fastToComplex)])) },
      { "kind / style": "complex → fast path", ...Object.fromEntries(cols.map((c) => [c, String(byClassifier[c]!.complexToFast)])) },
    ]);
    if (!set.startsWith("legacy")) {
      for (const c of ["learned + policy", "old rules"]) {
        const m = byClassifier[c]!.confusion;
        printTable(
          `Confusion, ${set}, ${c} (rows: labelled, columns: routed)`,
          ROUTE_KINDS.map((k) => ({ labelled: k, ...Object.fromEntries(ROUTE_KINDS.map((g) => [g, m[k][g]])) })),
        );
      }
    }
  }
  printTable(
    "Router decision time per turn, warm, µs (every corpus turn, 5 rounds)",
    Object.entries(r.time).map(([what, s]) => ({
      decision: what,
      n: s.n,
      p50: s.p50,
      p95: s.p95,
      p99: s.p99,
      mean: s.mean,
      target: what.startsWith("router") ? "p50 ≤ 20" : "",
    })),
  );
  printTable("Learned router model", [
    { what: "weights", value: r.model.weights },
    { what: "weight bytes", value: r.model.weightBytes },
    { what: "generated module bytes (base64)", value: r.model.moduleBytes },
    { what: "first load (decode) ms", value: r.model.firstLoadMs },
    { what: "load ms p50 / p99", value: `${r.model.loadMs.p50} / ${r.model.loadMs.p99}` },
    { what: "fast-path min confidence", value: r.model.minConfidence },
  ]);
}

/** The headline figures, for bench/results/spine.json. */
export function routerSummary(r: ReturnType<typeof benchRouter>) {
  const held = r.accuracy["held-out (never tuned on)"]!;
  const legacy = r.accuracy["legacy English corpus (test/router/corpus.json, in training)"]!;
  return {
    heldOut: { router: held["learned + policy"]!.overall, oldRules: held["old rules"]!.overall },
    legacyCorpus: { router: legacy["learned + policy"]!.overall, oldRules: legacy["old rules"]!.overall },
    decisionMicros: r.time["router.route (rules + model + policy)"],
    model: { weightBytes: r.model.weightBytes, moduleBytes: r.model.moduleBytes, loadMsP50: r.model.loadMs.p50 },
  };
}

export function writeRouterJson(r: ReturnType<typeof benchRouter>): void {
  const dir = new URL("./results/", import.meta.url);
  mkdirSync(dir, { recursive: true });
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    node: process.version,
    loadAvg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
  writeFileSync(new URL("router.json", dir), `${JSON.stringify({ date: new Date().toISOString(), machine, ...r }, null, 2)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = benchRouter();
  printRouterBench(r);
  writeRouterJson(r);
  console.log("\nWrote bench/results/router.json");
}
