/**
 * `npm run bench`: runs every benchmark, prints tables and writes bench/results/*.json (untracked).
 * `npm run bench:quick` (under a minute, its build included): the hot path only — the floor, scaling, the SSE
 * adapter, end to end over the Ollama protocol and a short peers table.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { boxPlotSvg } from "./chart.js";
import { benchContext } from "./context.js";
import { benchCorpus } from "./corpus.js";
import { benchOverhead } from "./overhead.js";
import { benchPeers, PEER_ORDER, printPeers, type PeerName } from "./peers.js";
import { benchRedis } from "./redis.js";
import { benchRouter, printRouterBench, routerSummary, writeRouterJson } from "./router.js";
import { benchThroughput } from "./throughput.js";
import { benchAnswerCache } from "./answer-cache.js";
import { benchMetricsOverhead } from "./metrics-overhead.js";
import { benchTinyModel } from "./tiny-model.js";
import { benchHung } from "./hung.js";
import { benchTelemetry } from "./telemetry.js";
import { benchConversation } from "./conversation.js";
import { printTable } from "./stats.js";
import { benchFloor, printFloor } from "./floor.js";
import { benchScaling, printScaling } from "./scaling.js";
import { benchSse, printSse } from "./sse.js";
import { benchOllamaE2e, printOllamaE2e } from "./ollama-e2e.js";

const started = performance.now();
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const resultsDir = new URL("./results/", import.meta.url);
mkdirSync(resultsDir, { recursive: true });
const writeJson = (name: string, value: unknown) =>
  writeFileSync(
    new URL(name, resultsDir),
    `${JSON.stringify({ date: new Date().toISOString(), machine, ...(value as object) }, null, 2)}\n`,
  );

const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? "unknown",
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
  /** 1/5/15-minute load averages when the benchmark started (other work on the machine skews timings). */
  loadAvgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
};
const loadAvg = () => os.loadavg().map((x) => Math.round(x * 100) / 100);
const quick = process.argv.includes("--quick");

/** Wall time of each part, seconds (printed at the end: which part a shorter run would trim). */
const sectionSeconds: Record<string, number> = {};
async function timed<T>(name: string, work: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const result = await work();
  sectionSeconds[name] = Math.round((performance.now() - t0) / 100) / 10;
  return result;
}
const sectionsLine = () =>
  Object.entries(sectionSeconds)
    .map(([name, s]) => `${name} ${s} s`)
    .join(", ");

// ---- The hot path: the floor, scaling, SSE, end to end over the Ollama protocol ----
const floor = await timed("floor", () => benchFloor({ quick }));
printFloor(floor);
writeJson("floor.json", { loadAvgAfter: loadAvg(), floor });
const scaling = await timed("scaling", () => benchScaling({ quick }));
printScaling(scaling);
writeJson("scaling.json", { loadAvgAfter: loadAvg(), scaling });
const sse = await timed("sse", () => benchSse({ quick }));
printSse(sse);
writeJson("sse.json", { loadAvgAfter: loadAvg(), sse });
const ollamaE2e = await timed("ollama-e2e", () => benchOllamaE2e({ quick }));
printOllamaE2e(ollamaE2e);
writeJson("ollama-e2e.json", { loadAvgAfter: loadAvg(), ollamaE2e });

// ---- Peers: raw model, hand-written, zoe-pipeline, Vercel AI SDK, LangChain.js on one shared script ----
const peers = await timed("peers", () =>
  benchPeers({
    timedRounds: env("BENCH_PEERS_ROUNDS", quick ? 10 : 200),
    zeroRounds: env("BENCH_PEERS_ZERO_ROUNDS", quick ? 400 : 2_000),
    firstChunkDelayMs: env("BENCH_PEERS_FIRST_MS", 20),
    chunkDelayMs: env("BENCH_PEERS_CHUNK_MS", 5),
    // The quick run's warm-up is shorter: a timed round takes about 0.1 s per framework.
    ...(quick ? { warmup: { timed: 3, zero: 100 } } : {}),
  }),
);
printPeers(peers);
writeJson("peers.json", { loadAvgAfter: loadAvg(), peers });

if (quick) {
  console.log(
    `\nMachine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}; load average at start ${machine.loadAvgAtStart.join(" / ")}, at end ${loadAvg().join(" / ")}`,
  );
  console.log("Wrote bench/results/floor.json, scaling.json, sse.json, ollama-e2e.json, peers.json");
  console.log(`Total wall time of the quick benchmark: ${((performance.now() - started) / 1000).toFixed(1)} s (${sectionsLine()})`);
  process.exit(0);
}

const overhead = await benchOverhead(Number(process.env.BENCH_ITERATIONS ?? 5_000));
printTable(
  "Pipeline overhead over the raw backend: time to first token, ms (warm caches, 3 cached providers, memory store)",
  Object.entries(overhead).map(([form, s]) => ({
    input: form,
    n: s.n,
    p50: s.p50,
    p95: s.p95,
    p99: s.p99,
    mean: s.mean,
    "raw backend p50": s.rawP50,
    target: "p50 ≤ 0.5, p99 ≤ 2",
  })),
);

const context = await benchContext(Number(process.env.BENCH_CONTEXT_REPS ?? 5));
printTable("Context: providers of 300, 400 and 1,500 ms, 1 s deadline, wall time ms", [
  { mode: "parallel (pipeline)", mean: context.parallelMs.mean, max: context.parallelMs.max, target: "≤ 1005" },
  { mode: "sequential", mean: context.sequentialMs.mean, max: Math.max(...context.sequentialMs.samples), target: "≈ 1700" },
]);

// ---- Router: accuracy per language and kind (learned vs old rules), confusion, decision time, model size ----
const routerBench = benchRouter();
printRouterBench(routerBench);
writeRouterJson(routerBench);
const router = routerSummary(routerBench);

const iterations = Number(process.env.BENCH_ITERATIONS ?? 5_000);
const redis = await benchRedis(Math.min(iterations, 3_000));
printTable("Memory store against the resilient Redis store (warm caches): time to first token added over the raw backend, ms", [
  { store: "memory", p50: redis.memory.p50, p95: redis.memory.p95, p99: redis.memory.p99 },
  { store: `redis (${redis.url})`, p50: redis.redis.p50, p95: redis.redis.p95, p99: redis.redis.p99 },
  { store: "redis − memory", p50: Math.round((redis.redis.p50 - redis.memory.p50) * 1000) / 1000, p95: "", p99: "" },
]);
console.log(
  `Redis round trips of a warm run: ${redis.roundTrips.total} (reads ${redis.roundTrips.reads}, writes ${redis.roundTrips.writes}): ${redis.roundTrips.batches.join(" | ")}`,
);
console.log(
  `With nearCache and ttl.routeMs 0, a warm run on a new message: ${redis.nearRoundTrips.total} (reads ${redis.nearRoundTrips.reads}, writes ${redis.nearRoundTrips.writes}): ${redis.nearRoundTrips.batches.join(" | ")}`,
);

// ---- Throughput ----
const throughput = await benchThroughput({
  concurrencies: [1, 64, 512],
  runs: env("BENCH_THROUGHPUT_RUNS", 10_000),
  warmupRuns: env("BENCH_THROUGHPUT_WARMUP", 2_000),
  trials: env("BENCH_THROUGHPUT_TRIALS", 3),
});
printTable(
  `Throughput: complete runs per second, one process, median (best) of ${throughput.results[0]?.trials.length} batches (scripted backend, no delays, ${throughput.tokens}-token answer, memory store, 3 cached providers)`,
  throughput.results.map((r) => ({
    concurrency: r.concurrency,
    runs: r.runs,
    "runs/s": `${r.runsPerSecond} (${r.bestRunsPerSecond})`,
    "runs per CPU-s": r.runsPerCpuSecond,
    "tokens/s": r.tokensPerSecond,
    "rss MiB (before → peak)": `${r.rssBeforeMiB} → ${r.peakRssMiB}`,
    "heapUsed MiB (before → peak)": `${r.heapUsedBeforeMiB} → ${r.peakHeapUsedMiB}`,
    target: r.concurrency === 64 ? "≥ 5,000 runs/s" : "",
  })),
);
console.log(`Load average (1/5/15 min) after the throughput part: ${loadAvg().join(" / ")} on ${machine.cpus} cores`);
writeJson("throughput.json", { loadAvgAfter: loadAvg(), throughput });

// ---- The prompt corpus through the pipeline with the heuristic router ----
const corpus = await benchCorpus({ reps: env("BENCH_CORPUS_REPS", 3), concurrency: env("BENCH_CORPUS_CONCURRENCY", 4) });
printTable(
  `Corpus (${corpus.prompts} prompts × ${corpus.reps}, ${corpus.concurrency} at a time; heuristic router, route cache off): model first token after ${corpus.tierDelayMs.fast} ms (fast) / ${corpus.tierDelayMs.default} ms (default); uncached providers of ${corpus.providerMs.profile}/${corpus.providerMs.tools}/${corpus.providerMs.memory} ms; ttft ms`,
  Object.entries(corpus.byKind).map(([kind, k]) => ({
    kind,
    runs: k.runs,
    share: Math.round((k.runs / corpus.runs) * 1000) / 1000,
    "fast path": k.fastPathShare,
    model: k.models.join(","),
    "ttft p50": k.ttftMs.p50,
    "ttft p95": k.ttftMs.p95,
    "ttft p99": k.ttftMs.p99,
  })),
);
console.log(
  `Fast-path share: ${corpus.fastPathShare}; routed as labelled: ${corpus.routedAsLabelled}; all runs ttft p50 ${corpus.overall.p50} ms, p95 ${corpus.overall.p95} ms; routing p50 ${corpus.routeMs.p50} ms, p99 ${corpus.routeMs.p99} ms`,
);
console.log(
  `Untimed first pass (router cold start): route ms p50 ${corpus.coldPass.routeMs.p50}, max ${corpus.coldPass.routeMs.max}, total ${corpus.coldPass.routeMs.sum}`,
);
writeJson("corpus.json", { loadAvgAfter: loadAvg(), corpus });

// ---- Chart ----
const label = (n: PeerName) => (n === "hand-written" ? "hand-written" : n);
const svg = boxPlotSvg(
  "Time to first token",
  [
    {
      title: `Peers, timed model: first chunk after ${peers.timed.script.firstChunkDelayMs} ms, providers of 1/2/3 ms`,
      subtitle: `Same scripted model and providers for all; ${peers.timed.rounds} runs each, interleaved`,
      rows: PEER_ORDER.map((n) => ({ label: label(n), samples: peers.timed.results[n].ttftSamples, highlight: n === "zoe-pipeline" })),
    },
    {
      title: "Peers, zero-delay model and providers (pure framework overhead)",
      subtitle: `${peers.zero.rounds} runs each, interleaved`,
      rows: PEER_ORDER.map((n) => ({ label: label(n), samples: peers.zero.results[n].ttftSamples, highlight: n === "zoe-pipeline" })),
    },
    {
      title: `zoe-pipeline on the ${corpus.prompts}-prompt corpus, by route kind (heuristic router)`,
      subtitle: `Model first token: fast tier ${corpus.tierDelayMs.fast} ms, default ${corpus.tierDelayMs.default} ms; providers up to ${corpus.providerMs.memory} ms (skipped on the fast path)`,
      rows: (["greeting", "simple", "chat", "code", "complex"] as const).map((k) => ({
        label: `${k} (n=${corpus.byKind[k].runs})`,
        samples: corpus.byKind[k].ttftSamples,
      })),
    },
  ],
  `box: p25–p75 · thick line: median · whiskers: p5–p95 · dot: p99 · ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}`,
);
writeFileSync(new URL("ttft.svg", resultsDir), svg);

const answers = await benchAnswerCache(Number(process.env.BENCH_ANSWER_QUESTIONS ?? 100));
printTable("Exact answer cache: time to first token, ms (model: first chunk after 60 ms, 5 ms per chunk)", [
  { answer: "from the model (miss)", p50: answers.cachedAnswer.missTtftMs.p50, p99: answers.cachedAnswer.missTtftMs.p99 },
  { answer: "from the cache (hit)", p50: answers.cachedAnswer.hitTtftMs.p50, p99: answers.cachedAnswer.hitTtftMs.p99 },
]);
printTable("De-duplication: 50 identical concurrent runs", [
  {
    backend: "plain",
    "model generations": answers.dedupe.without.generations,
    "wall ms": answers.dedupe.without.wallMs,
    "ttft p50 ms": answers.dedupe.without.ttftMs.p50,
  },
  {
    backend: "dedupeBackend",
    "model generations": answers.dedupe.with.generations,
    "wall ms": answers.dedupe.with.wallMs,
    "ttft p50 ms": answers.dedupe.with.ttftMs.p50,
  },
]);
writeJson("answer-cache.json", answers);

const metricsCost = await benchMetricsOverhead(Number(process.env.BENCH_METRICS_ITERATIONS ?? 4_000));
printTable("Metrics cost: pipeline without and with Prometheus + auto-tuning (warm caches, memory store), ms", [
  {
    metrics: "off",
    "ttft overhead p50": metricsCost.plain.ttftOverheadMs.p50,
    "ttft overhead p99": metricsCost.plain.ttftOverheadMs.p99,
    "run p50": metricsCost.plain.runMs.p50,
  },
  {
    metrics: "on",
    "ttft overhead p50": metricsCost.metricsOn.ttftOverheadMs.p50,
    "ttft overhead p99": metricsCost.metricsOn.ttftOverheadMs.p99,
    "run p50": metricsCost.metricsOn.runMs.p50,
  },
]);
writeJson("metrics.json", metricsCost);

const tiny = await benchTinyModel(Number(process.env.BENCH_MODEL_REPS ?? 5));
if ("skipped" in tiny) console.log(`\nTiny model: skipped, ${tiny.skipped}`);
else {
  const mean = (xs: number[]) => Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10;
  printTable(
    `Tiny model through the pipeline (llama.cpp, ${tiny.threads} thread): second turn of a thread`,
    Object.entries(tiny.prefixReuse).map(([layout, s]) => ({
      prompt: layout,
      "prompt tokens": mean(s.inputTokens),
      "tokens evaluated": mean(s.promptEvalTokens),
      "ttft ms (mean)": mean(s.ttftMs),
    })),
  );
  printTable("Tiny model: first run's time to first token, ms", [
    {
      mode: "cold (loads on first request)",
      mean: mean(tiny.prewarm.coldTtftMs),
      samples: tiny.prewarm.coldTtftMs.map((x) => Math.round(x)).join(", "),
    },
    {
      mode: "pre-warmed",
      mean: mean(tiny.prewarm.prewarmedTtftMs),
      samples: tiny.prewarm.prewarmedTtftMs.map((x) => Math.round(x)).join(", "),
    },
  ]);
}

const out = { date: new Date().toISOString(), machine, overhead, context, router, redis, tinyModel: tiny };
writeFileSync(new URL("./results/spine.json", import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
console.log(
  `\nMachine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}; load average at start ${machine.loadAvgAtStart.join(" / ")}, at end ${loadAvg().join(" / ")}`,
);
console.log(
  "Wrote bench/results/spine.json, router.json, peers.json, throughput.json, corpus.json, metrics.json, answer-cache.json, ttft.svg",
);
console.log(`Total wall time of the benchmark: ${((performance.now() - started) / 1000).toFixed(1)} s`);

const hung = await benchHung(Number(process.env.BENCH_HUNG_REPS ?? 5));
printTable(
  `Hung dependencies at the default deadlines: run time, median of ${hung.reps} (healthy run p50 ${hung.healthyP50Ms} ms, interleaved)`,
  hung.parts.map((p) => ({
    "hung part": p.part,
    "deadline ms": p.deadlineMs,
    "run p50 ms": p.runP50Ms,
    "added ms": p.addedMs,
    "max ms": p.max,
  })),
);
writeJson("hung.json", { loadAvgAfter: loadAvg(), hung });

const talk = await benchConversation();
if ("skipped" in talk) console.log(`\nConversation: skipped, ${talk.skipped}`);
else {
  for (const [name, turns] of [
    ["10", talk.turns10],
    ["30", talk.turns30],
  ] as const) {
    printTable(
      `Conversation of ${name} turns on the tiny model (llama.cpp, ${talk.threads} thread, default history settings): prompt tokens, tokens the engine evaluated, time to first token`,
      turns.map((t) => ({
        turn: t.turn,
        "past messages": t.historyMessages,
        "prompt tokens": t.promptTokens,
        evaluated: t.evaluated,
        "ttft ms": Math.round(t.ttftMs * 10) / 10,
      })),
    );
  }
  writeJson("conversation.json", { loadAvgAfter: loadAvg(), conversation: talk });
}

const telemetry = await benchTelemetry(Number(process.env.BENCH_TELEMETRY_ITERATIONS ?? 2_000));
printTable("Tracing cost: whole run, ms (warm caches, memory store, interleaved)", telemetry);
writeJson("telemetry.json", { loadAvgAfter: loadAvg(), telemetry });
