/**
 * How zoe's own cost grows: with the history a thread keeps, with the number of providers
 * (cached and uncached), with the answer's length (per token, and the tail after the last token)
 * and with concurrency (CPU per run). Each table compares settings side by side in one process.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ContextProvider, createZoePipeline, EventType, type ModelBackend, memoryCacheStore } from "zoe-pipeline";
import { scriptedBackend } from "zoe-pipeline/testing";
import { floorRun } from "./floor.js";
import { printTable, summarise } from "./stats.js";

const MESSAGE = "why is the sky blue when the sun is white?";
const ROUTER = { route: () => ({ model: "m", kind: "chat" as const, fastPath: false, reason: "bench", options: {} }) };
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const us = (ms: number) => Math.round(ms * 10_000) / 10;
/** The median, unrounded (summarise rounds to 1 µs, too coarse per token). */
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const answer = (tokens: number) => [
  ...Array.from({ length: tokens }, (_, i) => ({ type: "text" as const, text: `t${i} ` })),
  { type: "done" as const, outputTokens: tokens, doneReason: "stop" },
];

/** Timing of one run: to the first text, to the last text, to the end. */
async function timeRun(events: AsyncIterable<{ type: string }>) {
  const t0 = performance.now();
  let first = Number.NaN;
  let last = Number.NaN;
  for await (const e of events) {
    if (e.type === EventType.TEXT_MESSAGE_CONTENT) {
      last = performance.now();
      if (Number.isNaN(first)) first = last;
    }
  }
  const end = performance.now();
  return { ttft: first - t0, total: end - t0, tail: end - last, stream: last - first };
}

/** The backend's own time for the same chunks. */
async function timeRaw(backend: ModelBackend) {
  const t0 = performance.now();
  let first = Number.NaN;
  let last = Number.NaN;
  for await (const c of backend.chat(
    { model: "m", messages: [{ role: "user", content: MESSAGE }] },
    { signal: new AbortController().signal },
  )) {
    if (c.type === "text") {
      last = performance.now();
      if (Number.isNaN(first)) first = last;
    }
  }
  return { ttft: first - t0, total: performance.now() - t0, stream: last - first };
}

/** Run cost with `keep` stored messages per thread (the prompt holds at most `load` = 12). */
async function historyKept(rounds: number) {
  const keeps = [20, 100, 500];
  const arms = keeps.map((keep) => {
    const pipeline = createZoePipeline({
      backend: scriptedBackend({ record: false, script: answer(6) }),
      router: ROUTER,
      cache: memoryCacheStore(),
      history: { keep, load: 12, step: 8 },
    });
    return { keep, pipeline, samples: [] as number[] };
  });
  // Fill each thread to its `keep`.
  for (const a of arms)
    for (let i = 0; i < a.keep / 2 + 1; i++) await timeRun(a.pipeline.run({ userId: "u", threadId: "t", message: MESSAGE }));
  for (let i = 0; i < rounds; i++)
    for (const a of arms) a.samples.push((await timeRun(a.pipeline.run({ userId: "u", threadId: "t", message: MESSAGE }))).total);
  const rows = arms.map((a) => ({ keep: a.keep, run: summarise(a.samples) }));
  for (const a of arms) await a.pipeline.close();
  const base = rows[0]!.run.p50;
  return rows.map((r) => ({ keep: r.keep, runP50Ms: r.run.p50, ratio: Math.round((r.run.p50 / base) * 100) / 100 }));
}

/** Added time to first token per provider, with `n` providers cached or uncached (answering at once). */
async function providerCount(rounds: number) {
  const counts = [0, 1, 3, 10, 30];
  const arms = counts.flatMap((n) =>
    [true, false].map((cached) => {
      const providers: ContextProvider[] = Array.from({ length: n }, (_, i) => ({
        name: `p${i}`,
        ttlMs: cached ? 3_600_000 : 0,
        fetch: () => `context ${i}`,
      }));
      const pipeline = createZoePipeline({
        backend: scriptedBackend({ record: false, script: answer(3) }),
        router: ROUTER,
        cache: memoryCacheStore(),
        providers,
        history: { keep: 12, load: 0, step: 1 },
      });
      return { n, cached, pipeline, samples: [] as number[] };
    }),
  );
  for (let i = 0; i < rounds; i++)
    for (const a of arms) a.samples.push((await timeRun(a.pipeline.run({ userId: "u", threadId: `t${i}`, message: MESSAGE }))).ttft);
  for (const a of arms) await a.pipeline.close();
  const p50 = (n: number, cached: boolean) => median(arms.find((a) => a.n === n && a.cached === cached)!.samples);
  return counts.map((n) => ({
    providers: n,
    cachedTtftP50Ms: r3(p50(n, true)),
    uncachedTtftP50Ms: r3(p50(n, false)),
    perCachedUs: n === 0 ? Number.NaN : us((p50(n, true) - p50(0, true)) / n),
    perUncachedUs: n === 0 ? Number.NaN : us((p50(n, false) - p50(0, false)) / n),
  }));
}

/**
 * The tail of the job itself: stream the answer, then store the turn (the same two history
 * entries zoe stores) in a memory store; the time from the last chunk to the end. Storing the
 * answer serialises it, so this grows with the answer's length for any pipeline.
 */
async function floorTail(backend: ModelBackend, store: ReturnType<typeof memoryCacheStore>, threadId: string): Promise<number> {
  let text = "";
  let last = Number.NaN;
  for await (const c of backend.chat(
    { model: "m", messages: [{ role: "user", content: MESSAGE }] },
    { signal: new AbortController().signal },
  )) {
    if (c.type === "text") {
      text += c.text;
      last = performance.now();
    }
  }
  const at = Date.now();
  await store.listAppend(
    `floor:history:u:${threadId}`,
    [
      { id: randomUUID(), role: "user", content: MESSAGE, seq: 0, at },
      { id: randomUUID(), role: "assistant", content: text, seq: 1, at },
    ],
    { maxLength: 12, ttlMs: 3_600_000 },
  );
  return performance.now() - last;
}

/**
 * Per-token cost and the tail after the last token, by answer length: zoe against the raw
 * backend, and zoe's tail beside the hand-written job's (`floorTail`), interleaved.
 */
async function answerLength(rounds: number) {
  const lengths = [10, 100, 1_000, 2_000];
  const out = [];
  for (const tokens of lengths) {
    const backend = scriptedBackend({ record: false, script: answer(tokens) });
    const pipeline = createZoePipeline({ backend, router: ROUTER, cache: memoryCacheStore(), history: { keep: 12, load: 0, step: 1 } });
    const floorStore = memoryCacheStore();
    const zoe = { perToken: [] as number[], tail: [] as number[] };
    const raw: number[] = [];
    const floor: number[] = [];
    const n = Math.max(100, Math.round((rounds * 10) / tokens));
    for (let i = 0; i < n; i++) {
      const r = await timeRaw(backend);
      raw.push(r.stream / (tokens - 1));
      const z = await timeRun(pipeline.run({ userId: "u", threadId: `t${i}`, message: MESSAGE }));
      zoe.perToken.push(z.stream / (tokens - 1));
      zoe.tail.push(z.tail);
      floor.push(await floorTail(backend, floorStore, `t${i}`));
    }
    await pipeline.close();
    await floorStore.close();
    const zp = median(zoe.perToken);
    const rp = median(raw);
    out.push({
      tokens,
      runs: n,
      rawPerTokenUs: us(rp),
      zoePerTokenUs: us(zp),
      addedPerTokenUs: us(zp - rp),
      tailP50Ms: median(zoe.tail),
      floorTailP50Ms: median(floor),
    });
  }
  return out;
}

/** Which runs the concurrency table makes: zoe's, or the hand-written job's (bench/floor.ts). */
type ConcurrencyArm = "zoe" | "floor";

/**
 * CPU per run at each concurrency (complete runs, 3 cached providers, 6-token answers, 1,000
 * users), for zoe or for the hand-written job on the same store and scripted backend: what the
 * same work costs at 512 runs at a time when nothing but the job is done.
 */
async function concurrency(runs: number, arm: ConcurrencyArm) {
  const levels = [1, 64, 512];
  const providers: ContextProvider[] = ["profile", "memory", "tools"].map((name) => ({
    name,
    ttlMs: 3_600_000,
    fetch: () => `${name} context`,
  }));
  const backend = scriptedBackend({ record: false, script: answer(6) });
  const store = memoryCacheStore();
  const pipeline = createZoePipeline({ backend, router: ROUTER, cache: store, providers });
  const one =
    arm === "zoe"
      ? (i: number) => pipeline.run({ userId: `u${i % 1000}`, threadId: "t", message: MESSAGE })
      : (i: number) => floorRun(store, backend, `u${i % 1000}`, "t");
  const batch = async (level: number, total: number) => {
    let next = 0;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        for await (const _ of one(i)) void _;
      }
    };
    await Promise.all(Array.from({ length: level }, worker));
  };
  const out = [];
  for (const level of levels) {
    // Each level after a warm-up of its own: the JIT and the heap settle for that load first.
    await batch(level, Math.min(5_000, runs));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await batch(level, runs);
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    out.push({
      concurrency: level,
      runs,
      runsPerSecond: Math.round((runs * 1000) / wall),
      cpuPerRunUs: Math.round(((cpu.user + cpu.system) / runs) * 10) / 10,
    });
  }
  await pipeline.close();
  const base = out[0]!.cpuPerRunUs;
  return out.map((o) => ({ ...o, ratio: Math.round((o.cpuPerRunUs / base) * 100) / 100 }));
}

/** The young generation a host can give Node for many concurrent runs (MiB per semi-space). */
const LARGER_SEMI_SPACE_MB = 64;
type Levels = Awaited<ReturnType<typeof concurrency>>;

/**
 * The concurrency table in a fresh child process (with `flags` for Node), so that it does not
 * depend on what earlier tables left in the heap; undefined, with a warning, when the child fails.
 */
function concurrencyInChild(flags: readonly string[], runs: number, arm: ConcurrencyArm): Levels | undefined {
  const here = fileURLToPath(import.meta.url);
  const child = spawnSync(process.execPath, [...flags, "--import", "tsx", here, "--concurrency-only", String(runs), arm], {
    encoding: "utf8",
    env: { ...process.env, TSX_TSCONFIG_PATH: join(dirname(here), "tsconfig.run.json") },
    maxBuffer: 1 << 20,
  });
  const line = child.stdout?.split("\n").find((l) => l.startsWith("["));
  if (child.status !== 0 || !line) {
    console.warn(
      `Concurrency in a child process (${arm}, ${flags.join(" ") || "default"}) failed: ${child.stderr?.trim().split("\n").at(-1) ?? child.error?.message}`,
    );
    return undefined;
  }
  return JSON.parse(line) as Levels;
}

/**
 * CPU per run by concurrency, with Node's defaults and with a larger young generation
 * (`--max-semi-space-size`, the host's lever against the garbage collection that concurrency
 * costs; a V8 flag takes effect only at start-up), and the hand-written job with Node's defaults:
 * `trials` fresh processes of each, alternated, the median per level. The ratio at 512 moves a lot
 * from one process to the next.
 */
async function concurrencyTrials(runs: number, trials: number) {
  const settings = {
    default: { flags: [] as readonly string[], arm: "zoe" },
    larger: { flags: [`--max-semi-space-size=${LARGER_SEMI_SPACE_MB}`], arm: "zoe" },
    floor: { flags: [] as readonly string[], arm: "floor" },
  } as const;
  const got = { default: [] as Levels[], larger: [] as Levels[], floor: [] as Levels[] };
  for (let t = 0; t < trials; t++)
    for (const name of ["default", "floor", "larger"] as const) {
      const levels = concurrencyInChild(settings[name].flags, runs, settings[name].arm);
      if (levels) got[name].push(levels);
    }
  const summary = (all: Levels[]) => {
    if (all.length === 0) return undefined;
    const levels = all[0]!.map((l, i) => ({
      concurrency: l.concurrency,
      runs: l.runs,
      runsPerSecond: median(all.map((a) => a[i]!.runsPerSecond)),
      cpuPerRunUs: median(all.map((a) => a[i]!.cpuPerRunUs)),
      ratios: all.map((a) => a[i]!.ratio),
    }));
    const base = levels[0]!.cpuPerRunUs;
    return levels.map((l) => ({ ...l, ratio: Math.round((l.cpuPerRunUs / base) * 100) / 100 }));
  };
  return {
    trials,
    default: summary(got.default),
    larger: summary(got.larger),
    /** The hand-written job (bench/floor.ts) at the same levels, Node's defaults. */
    floor: summary(got.floor),
    semiSpaceMb: LARGER_SEMI_SPACE_MB,
  };
}

/** Every scaling table; `quick` runs each with fewer rounds. */
export async function benchScaling(opts: { quick: boolean }) {
  const rounds = opts.quick ? 300 : 2_000;
  return {
    history: await historyKept(rounds),
    providers: await providerCount(rounds),
    answerLength: await answerLength(rounds),
    concurrency: await concurrencyTrials(opts.quick ? 3_000 : 20_000, opts.quick ? 1 : 3),
  };
}

/** Print the scaling tables. */
export function printScaling(r: Awaited<ReturnType<typeof benchScaling>>): void {
  printTable(
    "Scaling: history kept per thread (prompt holds ≤ 12), run time p50 ms",
    r.history.map((h) => ({ keep: h.keep, "run p50": h.runP50Ms, "× keep 20": h.ratio, target: "≈ 1 (independent of keep)" })),
  );
  printTable(
    "Scaling: providers answering at once, time to first token p50 ms, and cost per provider µs",
    r.providers.map((p) => ({
      providers: p.providers,
      "cached ttft": p.cachedTtftP50Ms,
      "uncached ttft": p.uncachedTtftP50Ms,
      "µs / cached": Number.isNaN(p.perCachedUs) ? "" : p.perCachedUs,
      "µs / uncached": Number.isNaN(p.perUncachedUs) ? "" : p.perUncachedUs,
      target: p.providers === 0 ? "" : "uncached ≤ 10 µs each, linear",
    })),
  );
  printTable(
    "Scaling: answer length; per streamed token µs (zoe and the raw backend) and the tail after the last token ms (zoe, and the hand-written job storing the same turn)",
    r.answerLength.map((a) => ({
      tokens: a.tokens,
      runs: a.runs,
      "raw µs/token": a.rawPerTokenUs,
      "zoe µs/token": a.zoePerTokenUs,
      "added µs/token": a.addedPerTokenUs,
      "tail p50 ms": r3(a.tailP50Ms),
      "floor tail p50 ms": r3(a.floorTailP50Ms),
      "tail over floor ms": r3(a.tailP50Ms - a.floorTailP50Ms),
      target: "added ≤ 1 µs/token; tail constant",
    })),
  );
  const c = r.concurrency;
  const rows = (node: string, levels: NonNullable<typeof c.default>) =>
    levels.map((l) => ({
      node,
      concurrency: l.concurrency,
      runs: l.runs,
      "runs/s": l.runsPerSecond,
      "CPU µs/run": l.cpuPerRunUs,
      "× concurrency 1": l.ratio,
      "× in each process": l.ratios.join(", "),
      target: l.concurrency === 512 ? "≤ 1.3" : "",
    }));
  printTable(
    `Scaling: concurrency, CPU per complete run µs (median of ${c.trials} fresh processes each, alternated; the job by hand is bench/floor.ts on the same store and backend)`,
    [
      ...(c.default ? rows("default", c.default) : []),
      ...(c.larger ? rows(`--max-semi-space-size=${c.semiSpaceMb}`, c.larger) : []),
      ...(c.floor ? rows("default, the job by hand", c.floor).map((row) => ({ ...row, target: "" })) : []),
    ],
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const only = process.argv.indexOf("--concurrency-only");
  if (only >= 0)
    console.log(JSON.stringify(await concurrency(Number(process.argv[only + 1]), process.argv[only + 2] === "floor" ? "floor" : "zoe")));
  else printScaling(await benchScaling({ quick: process.argv.includes("--quick") }));
  process.exit(0);
}
