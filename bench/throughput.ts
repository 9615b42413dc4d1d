/**
 * Throughput: complete runs per second through one pipeline in one process, at several
 * concurrencies, with the scripted backend (zero delays, 20-token answer, `record: false`), the
 * memory store and three cached providers. Memory: rss and heapUsed sampled every 64 completed
 * runs (zero-delay runs leave the event loop few turns for a timer) across the trials, with the
 * value just before the first. Each concurrency runs `trials` timed batches after a warm-up; runs
 * per second is their median (the best is kept too), since other work on a shared machine shows
 * up as slow batches. Also runs per CPU-second of this process (user + system), which other
 * processes on a shared machine disturb less than wall-clock runs per second.
 */
import { createZoePipeline, EventType, type ContextProvider, type Router } from "zoe-pipeline";
import { scriptedBackend, textChunks } from "zoe-pipeline/testing";
import { ANSWER_20 } from "./shared-script.js";

const MiB = 2 ** 20;
const r1 = (x: number) => Math.round(x * 10) / 10;

export async function benchThroughput(opts: { concurrencies: number[]; runs: number; warmupRuns: number; trials: number }) {
  const backend = scriptedBackend({ record: false, script: textChunks(ANSWER_20.join("")) });
  const providers: ContextProvider[] = ["profile", "memory", "tools"].map((name) => ({
    name,
    placement: name === "memory" ? "volatile" : "stable",
    ttlMs: 3_600_000,
    fetch: async () => `${name} context for the user, a line or two of text that the prompt will carry.`,
  }));
  const router: Router = { route: () => ({ model: "m", kind: "chat", fastPath: false, reason: "bench", options: {} }) };
  const pipeline = createZoePipeline({ backend, router, providers });
  const message = "why is the sky blue when the sun is white?";

  const results: Array<{
    concurrency: number;
    runs: number;
    /** Each timed batch of `runs` runs. cpuSeconds: user + system time of this process (V8's GC threads included). */
    trials: Array<{ seconds: number; runsPerSecond: number; cpuSeconds: number; runsPerCpuSecond: number; tokensPerSecond: number }>;
    /** Median over the trials. */
    runsPerSecond: number;
    bestRunsPerSecond: number;
    runsPerCpuSecond: number;
    tokensPerSecond: number;
    peakRssMiB: number;
    rssBeforeMiB: number;
    peakHeapUsedMiB: number;
    heapUsedBeforeMiB: number;
  }> = [];

  for (const concurrency of opts.concurrencies) {
    // Each worker has its own user and thread (history stays bounded: a thread keeps 10 messages).
    const batch = async (total: number, onRun?: () => void) => {
      let next = 0;
      let tokens = 0;
      const worker = async (w: number) => {
        while (next < total) {
          next++;
          let content = 0;
          for await (const e of pipeline.run({ userId: `u${w}`, threadId: `t${w}`, message })) {
            if (e.type === EventType.TEXT_MESSAGE_CONTENT) content++;
          }
          if (content === 0) throw new Error("a run streamed no text");
          tokens += content;
          onRun?.();
        }
      };
      await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
      return tokens;
    };
    await batch(opts.warmupRuns);
    const trials: Array<{ seconds: number; runsPerSecond: number; cpuSeconds: number; runsPerCpuSecond: number; tokensPerSecond: number }> =
      [];
    const before = process.memoryUsage();
    let peakRss = before.rss;
    let peakHeap = before.heapUsed;
    let done = 0;
    const sample = () => {
      if (++done % 64 !== 0) return;
      const m = process.memoryUsage();
      if (m.rss > peakRss) peakRss = m.rss;
      if (m.heapUsed > peakHeap) peakHeap = m.heapUsed;
    };
    for (let trial = 0; trial < opts.trials; trial++) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const tokens = await batch(opts.runs, sample);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const cpuSeconds = (cpu.user + cpu.system) / 1e6;
      trials.push({
        seconds: Math.round(seconds * 1000) / 1000,
        runsPerSecond: Math.round(opts.runs / seconds),
        cpuSeconds: Math.round(cpuSeconds * 1000) / 1000,
        runsPerCpuSecond: Math.round(opts.runs / cpuSeconds),
        tokensPerSecond: Math.round(tokens / seconds),
      });
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
    results.push({
      concurrency,
      runs: opts.runs,
      trials,
      runsPerSecond: median(trials.map((t) => t.runsPerSecond)),
      bestRunsPerSecond: Math.max(...trials.map((t) => t.runsPerSecond)),
      runsPerCpuSecond: median(trials.map((t) => t.runsPerCpuSecond)),
      tokensPerSecond: median(trials.map((t) => t.tokensPerSecond)),
      peakRssMiB: r1(peakRss / MiB),
      rssBeforeMiB: r1(before.rss / MiB),
      peakHeapUsedMiB: r1(peakHeap / MiB),
      heapUsedBeforeMiB: r1(before.heapUsed / MiB),
    });
  }
  await pipeline.close();
  return { tokens: ANSWER_20.length, providers: 3, store: "memory", results };
}
