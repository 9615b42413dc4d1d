import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createZoePipeline, heuristicRouter, type ContextProvider, type RunMetrics } from "zoe-pipeline";
import { llamaCppBackend } from "zoe-pipeline/llama-cpp";

const root = fileURLToPath(new URL("../", import.meta.url));
export const TINY_MODEL = resolve(root, process.env.ZOE_TEST_MODEL ?? "../shared/models/llama-2-tiny-random.gguf");
const threads = Number(process.env.ZOE_THREADS ?? 1);

async function metricsOf(run: AsyncIterable<{ type: string; result?: unknown }>): Promise<RunMetrics> {
  let metrics: RunMetrics | undefined;
  for await (const e of run) if (e.type === "RUN_FINISHED") metrics = (e.result as { metrics?: RunMetrics }).metrics;
  if (!metrics) throw new Error("the run did not finish");
  return metrics;
}

const router = heuristicRouter({
  models: { fast: "tiny", default: "tiny" },
  options: { chat: { num_predict: 24 }, complex: { num_predict: 24 } },
});
const profile: ContextProvider = { name: "profile", placement: "stable", fetch: () => "The user is Ada; she lives in Lisbon." };
let searches = 0;
/** Changes every turn, like search results. */
const search = (placement: "stable" | "volatile"): ContextProvider => ({
  name: "search",
  placement,
  ttlMs: 0,
  fetch: () => `result number ${++searches} about trains and timetables`,
});

/**
 * The second turn of a thread on the tiny model, through the whole pipeline: with the pipeline's
 * stable-first prompt, and with the volatile context put first (in the system message).
 */
async function prefixReuse(reps: number) {
  const out: Record<string, { promptEvalTokens: number[]; inputTokens: number[]; ttftMs: number[] }> = {};
  for (const layout of ["stable-first", "volatile-first"] as const) {
    const backend = llamaCppBackend({ modelPath: TINY_MODEL, threads, sequences: 2 });
    const pipeline = createZoePipeline({
      backend,
      router,
      providers: [profile, search(layout === "stable-first" ? "volatile" : "stable")],
    });
    await pipeline.prewarm();
    const stats: { promptEvalTokens: number[]; inputTokens: number[]; ttftMs: number[] } = {
      promptEvalTokens: [],
      inputTokens: [],
      ttftMs: [],
    };
    out[layout] = stats;
    for (let i = 0; i < reps; i++) {
      const thread = `${layout}-${i}`;
      await metricsOf(pipeline.run({ userId: "ada", threadId: thread, message: "tell me about the trains in portugal" }));
      const second = await metricsOf(pipeline.run({ userId: "ada", threadId: thread, message: "and what about the buses there?" }));
      stats.promptEvalTokens.push(second.backend.promptEvalTokens ?? Number.NaN);
      stats.inputTokens.push(second.tokens.input ?? Number.NaN);
      stats.ttftMs.push(second.ttftMs ?? Number.NaN);
    }
    await pipeline.close();
  }
  return out;
}

/** First-run time to first token: cold (the model loads on the first request) against pre-warmed. */
async function coldVsWarm(reps: number) {
  const cold: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < reps; i++) {
    for (const mode of ["cold", "warm"] as const) {
      const pipeline = createZoePipeline({ backend: llamaCppBackend({ modelPath: TINY_MODEL, threads }), router });
      if (mode === "warm") await pipeline.prewarm();
      const m = await metricsOf(pipeline.run({ userId: "ada", message: "why is the sky blue?" }));
      (mode === "cold" ? cold : warm).push(m.ttftMs ?? Number.NaN);
      await pipeline.close();
    }
  }
  return { coldTtftMs: cold, prewarmedTtftMs: warm };
}

export async function benchTinyModel(reps: number) {
  if (!existsSync(TINY_MODEL)) return { skipped: `no model at ${TINY_MODEL} (set ZOE_TEST_MODEL)` };
  return { model: TINY_MODEL, threads, prefixReuse: await prefixReuse(reps), prewarm: await coldVsWarm(Math.max(2, Math.ceil(reps / 2))) };
}
