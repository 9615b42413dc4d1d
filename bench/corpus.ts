/**
 * The labelled prompt corpus (test/router/corpus.json) through the pipeline with the heuristic
 * router: its decisions and the fast path apply. The scripted backend's first-token delay depends
 * on the model tier the router picked (fast model 20 ms, default model 60 ms), then the 20-token
 * answer follows with no further delay. Providers have fixed latencies and are not cached
 * (profile 5 ms, tools 15 ms: stable; memory 30 ms: volatile), so a run off the fast path waits
 * for the slowest (30 ms) and a fast-path run skips them. The route cache is off (`ttl.routeMs: 0`)
 * so that every run is routed; one untimed pass over the corpus comes first, because the router's
 * first calls in a process are slow (reported as `coldPass`).
 */
import { readFileSync } from "node:fs";
import { createZoePipeline, EventType, heuristicRouter, type ContextProvider, type RouteKind, type RunMetrics } from "zoe-pipeline";
import { scriptedBackend, textChunks } from "zoe-pipeline/testing";
import { ANSWER_20 } from "./shared-script.js";
import { summarise } from "./stats.js";

export const TIER_DELAY_MS = { fast: 20, default: 60 } as const;
export const CORPUS_PROVIDER_MS = { profile: 5, tools: 15, memory: 30 } as const;

type Entry = { text: string; kind: RouteKind };

export async function benchCorpus(opts: { reps: number; concurrency: number }) {
  const corpus = JSON.parse(readFileSync(new URL("../test/router/corpus.json", import.meta.url), "utf8")) as Entry[];
  const answer = textChunks(ANSWER_20.join(""));
  const backend = scriptedBackend({
    record: false,
    script: (request) => [{ type: "delay", ms: request.model === "fast" ? TIER_DELAY_MS.fast : TIER_DELAY_MS.default }, ...answer],
  });
  const providers: ContextProvider[] = (Object.entries(CORPUS_PROVIDER_MS) as Array<[string, number]>).map(([name, ms]) => ({
    name,
    placement: name === "memory" ? "volatile" : "stable",
    ttlMs: 0,
    fetch: () => new Promise<string>((resolve) => setTimeout(() => resolve(`${name} context for the user.`), ms)),
  }));
  const pipeline = createZoePipeline({
    backend,
    router: heuristicRouter({ models: { fast: "fast", default: "default" } }),
    providers,
    // Route every run afresh (the route cache would answer repeats of a prompt without the router).
    ttl: { routeMs: 0 },
  });

  type Run = { label: RouteKind; kind: RouteKind; fastPath: boolean; model: string; ttftMs: number; routeMs: number };
  let runs: Run[] = [];
  let jobs: Array<{ e: Entry; i: number; rep: number }> = [];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const { e, i, rep } = jobs[next++]!;
      const t0 = performance.now();
      let ttft = Number.NaN;
      let metrics: RunMetrics | undefined;
      for await (const ev of pipeline.run({ userId: `u${i % 16}`, threadId: `c${i}-${rep}`, message: e.text })) {
        if (ev.type === EventType.TEXT_MESSAGE_CONTENT && Number.isNaN(ttft)) ttft = performance.now() - t0;
        if (ev.type === EventType.RUN_FINISHED) metrics = (ev.result as { metrics: RunMetrics }).metrics;
      }
      if (!metrics || Number.isNaN(ttft)) throw new Error(`corpus run without text or metrics: ${e.text}`);
      runs.push({
        label: e.kind,
        kind: metrics.kind,
        fastPath: metrics.fastPath,
        model: metrics.model,
        ttftMs: ttft,
        routeMs: metrics.stages.routeMs,
      });
    }
  };
  const pass = async (reps: number, rep0: number) => {
    runs = [];
    jobs = Array.from({ length: reps }, (_, rep) => corpus.map((e, i) => ({ e, i, rep: rep0 + rep }))).flat();
    next = 0;
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
    return runs;
  };
  // One untimed pass first: the first call of the router on each kind of text is slow (cold start).
  const cold = await pass(1, 0);
  await pass(opts.reps, 1);
  await pipeline.close();

  const kinds = ["greeting", "simple", "chat", "code", "complex"] as RouteKind[];
  const byKind = Object.fromEntries(
    kinds.map((kind) => {
      const rs = runs.filter((r) => r.kind === kind);
      const s = summarise(rs.map((r) => r.ttftMs));
      return [
        kind,
        {
          runs: rs.length,
          fastPathShare: rs.length ? Math.round((rs.filter((r) => r.fastPath).length / rs.length) * 1000) / 1000 : 0,
          models: [...new Set(rs.map((r) => r.model))],
          ttftMs: s,
          ttftSamples: rs.map((r) => Math.round(r.ttftMs * 1000) / 1000).sort((a, b) => a - b),
        },
      ];
    }),
  ) as Record<
    RouteKind,
    { runs: number; fastPathShare: number; models: string[]; ttftMs: ReturnType<typeof summarise>; ttftSamples: number[] }
  >;
  const fast = runs.filter((r) => r.fastPath).length;
  return {
    prompts: corpus.length,
    reps: opts.reps,
    concurrency: opts.concurrency,
    tierDelayMs: TIER_DELAY_MS,
    providerMs: CORPUS_PROVIDER_MS,
    runs: runs.length,
    routedAsLabelled: Math.round((runs.filter((r) => r.kind === r.label).length / runs.length) * 1000) / 1000,
    fastPathShare: Math.round((fast / runs.length) * 1000) / 1000,
    overall: summarise(runs.map((r) => r.ttftMs)),
    routeMs: summarise(runs.map((r) => r.routeMs)),
    coldPass: {
      ttftMs: summarise(cold.map((r) => r.ttftMs)),
      routeMs: {
        ...summarise(cold.map((r) => r.routeMs)),
        max: Math.round(Math.max(...cold.map((r) => r.routeMs)) * 1000) / 1000,
        sum: Math.round(cold.reduce((a, r) => a + r.routeMs, 0)),
      },
    },
    byKind,
  };
}
