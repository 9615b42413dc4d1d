/**
 * What a hung dependency costs a run at the default deadlines: each part is made to hang (a
 * promise that never settles and ignores its abort signal) and the run's total time is compared
 * with a healthy run measured alongside, interleaved, in the same process.
 */
import {
  createZoePipeline,
  DEADLINE_DEFAULTS,
  heuristicRouter,
  memoryCacheStore,
  type CacheStore,
  type ZoePipelineOptions,
} from "zoe-pipeline";
import { scriptedBackend, textChunks } from "zoe-pipeline/testing";
import { summarise } from "./stats.js";

const never = <T>(): Promise<T> => new Promise<T>(() => {});
const router = heuristicRouter({ models: { fast: "fast", default: "default" } });

/** Each part hung, as the options that hang it, and the deadline that should bound it. */
const hung: Record<string, { options: () => Partial<ZoePipelineOptions>; deadlineMs: number }> = {
  router: { options: () => ({ router: { route: () => never(), models: () => ["default"] } }), deadlineMs: DEADLINE_DEFAULTS.routerMs },
  "system prompt": { options: () => ({ systemPrompt: () => never() }), deadlineMs: DEADLINE_DEFAULTS.systemPromptMs },
  "cache read": {
    options: () => ({ cache: { ...memoryCacheStore(), read: () => never() } as CacheStore }),
    deadlineMs: DEADLINE_DEFAULTS.cacheReadMs,
  },
  "history write": {
    options: () => ({ cache: { ...memoryCacheStore(), listAppend: () => never() } as CacheStore }),
    deadlineMs: DEADLINE_DEFAULTS.historyWriteMs,
  },
  // A store that stops answering altogether: the read's deadline, then the history's once (the
  // thread's last number, asked again, and the write share it).
  "the whole store": {
    options: () => ({
      cache: {
        ...memoryCacheStore(),
        read: () => never(),
        listTail: () => never(),
        listAppend: () => never(),
        set: () => never(),
      } as CacheStore,
    }),
    deadlineMs: DEADLINE_DEFAULTS.cacheReadMs + DEADLINE_DEFAULTS.historyWriteMs,
  },
  "provider (default 1 s deadline)": { options: () => ({ providers: [{ name: "p", fetch: () => never() }] }), deadlineMs: 1_000 },
};

async function runOnce(options: Partial<ZoePipelineOptions>, i: number): Promise<number> {
  const pipeline = createZoePipeline({ backend: scriptedBackend({ script: textChunks("Fine, thanks.") }), router, ...options });
  const t0 = performance.now();
  for await (const _ of pipeline.run({ userId: `u${i}`, threadId: `t${i}`, message: "what should I cook tonight" }));
  const ms = performance.now() - t0;
  await pipeline.close();
  return ms;
}

/** Median run time with each part hung, against a healthy run measured between them. */
export async function benchHung(reps = 5) {
  const healthy: number[] = [];
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(hung).map((k) => [k, []]));
  for (let r = 0; r < reps; r++) {
    for (const [name, part] of Object.entries(hung)) {
      healthy.push(await runOnce({}, r));
      times[name]!.push(await runOnce(part.options(), r));
    }
  }
  const base = summarise(healthy).p50;
  return {
    reps,
    healthyP50Ms: base,
    parts: Object.entries(hung).map(([name, part]) => {
      const p50 = summarise(times[name]!).p50;
      return {
        part: name,
        deadlineMs: part.deadlineMs,
        runP50Ms: p50,
        addedMs: Math.round((p50 - base) * 10) / 10,
        max: summarise(times[name]!).p99,
      };
    }),
  };
}
