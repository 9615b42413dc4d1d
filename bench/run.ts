/** `npm run bench`: runs every benchmark, prints tables and writes bench/results/*.json. */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { benchContext } from "./context.js";
import { benchOverhead } from "./overhead.js";
import { benchRedis } from "./redis.js";
import { benchRouter } from "./router.js";
import { benchTinyModel } from "./tiny-model.js";
import { printTable } from "./stats.js";

const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? "unknown",
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
};

const overhead = await benchOverhead(Number(process.env.BENCH_ITERATIONS ?? 5_000));
printTable(
  "Pipeline overhead over the raw backend: time to first token, ms (warm caches, 3 cached providers, memory store)",
  Object.entries(overhead).map(([form, s]) => ({ input: form, n: s.n, p50: s.p50, p95: s.p95, p99: s.p99, mean: s.mean, "raw backend p50": s.rawP50, target: "p50 ≤ 0.5, p99 ≤ 2" })),
);

const context = await benchContext(Number(process.env.BENCH_CONTEXT_REPS ?? 5));
printTable("Context: providers of 300, 400 and 1,500 ms, 1 s deadline, wall time ms", [
  { mode: "parallel (pipeline)", mean: context.parallelMs.mean, max: context.parallelMs.max, target: "≤ 1005" },
  { mode: "sequential", mean: context.sequentialMs.mean, max: Math.max(...context.sequentialMs.samples), target: "≈ 1700" },
]);

const router = benchRouter();
printTable("Heuristic router", [
  { set: "corpus (tuned on)", right: router.corpus.right, total: router.corpus.total, accuracy: router.corpus.accuracy, "µs per turn": router.microsPerTurn },
  { set: "holdout (never tuned on)", right: router.holdout.right, total: router.holdout.total, accuracy: router.holdout.accuracy, "µs per turn": "" },
]);

const iterations = Number(process.env.BENCH_ITERATIONS ?? 5_000);
const redis = await benchRedis(Math.min(iterations, 3_000));
printTable("Memory store against the resilient Redis store (warm caches): time to first token added over the raw backend, ms", [
  { store: "memory", p50: redis.memory.p50, p95: redis.memory.p95, p99: redis.memory.p99 },
  { store: `redis (${redis.url})`, p50: redis.redis.p50, p95: redis.redis.p95, p99: redis.redis.p99 },
  { store: "redis − memory", p50: Math.round((redis.redis.p50 - redis.memory.p50) * 1000) / 1000, p95: "", p99: "" },
]);
console.log(`Redis round trips of a warm run: ${redis.roundTrips.total} (reads ${redis.roundTrips.reads}, writes ${redis.roundTrips.writes}): ${redis.roundTrips.batches.join(" | ")}`);

const tiny = await benchTinyModel(Number(process.env.BENCH_MODEL_REPS ?? 5));
if ("skipped" in tiny) console.log(`\nTiny model: skipped, ${tiny.skipped}`);
else {
  const mean = (xs: number[]) => Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10;
  printTable(`Tiny model through the pipeline (llama.cpp, ${tiny.threads} thread): second turn of a thread`, Object.entries(tiny.prefixReuse).map(([layout, s]) => ({
    prompt: layout,
    "prompt tokens": mean(s.inputTokens),
    "tokens evaluated": mean(s.promptEvalTokens),
    "ttft ms (mean)": mean(s.ttftMs),
  })));
  printTable("Tiny model: first run's time to first token, ms", [
    { mode: "cold (loads on first request)", mean: mean(tiny.prewarm.coldTtftMs), samples: tiny.prewarm.coldTtftMs.map((x) => Math.round(x)).join(", ") },
    { mode: "pre-warmed", mean: mean(tiny.prewarm.prewarmedTtftMs), samples: tiny.prewarm.prewarmedTtftMs.map((x) => Math.round(x)).join(", ") },
  ]);
}

mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
const out = { date: new Date().toISOString(), machine, overhead, context, router, redis, tinyModel: tiny };
writeFileSync(new URL("./results/spine.json", import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
console.log(`\nMachine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}`);
console.log("Wrote bench/results/spine.json");
