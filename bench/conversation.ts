/**
 * A conversation on the real llama.cpp engine and the tiny model, with the pipeline's default
 * history settings: per turn, the prompt tokens, the tokens the engine evaluated (the rest came
 * from its KV cache) and the time to first token.
 */
import { existsSync } from "node:fs";
import { createZoePipeline, heuristicRouter, type RunMetrics } from "zoe-pipeline";
import { llamaCppBackend } from "zoe-pipeline/llama-cpp";
import { TINY_MODEL } from "./tiny-model.js";

const threads = Number(process.env.ZOE_THREADS ?? 1);

/** Questions a user might ask in one thread; cycled for longer conversations. */
export const CONVERSATION = [
  "tell me about the trains in portugal",
  "and what about the buses there?",
  "which city should I start from",
  "how long does lisbon to porto take",
  "is it cheaper to book ahead",
  "what should I see in porto in one day",
  "any good places to eat near the river",
  "what is the weather like in october",
  "do I need cash or are cards fine",
  "thanks, one last thing: how do I get to the airport",
];

export interface TurnFigures {
  turn: number;
  promptTokens: number;
  evaluated: number;
  historyMessages: number;
  ttftMs: number;
}

async function metricsOf(run: AsyncIterable<{ type: string; result?: unknown }>): Promise<RunMetrics> {
  let metrics: RunMetrics | undefined;
  for await (const e of run) if (e.type === "RUN_FINISHED") metrics = (e.result as { metrics?: RunMetrics }).metrics;
  if (!metrics) throw new Error("the run did not finish");
  return metrics;
}

/** One thread of `turns` turns with default pipeline settings (the answer length is capped by the router). */
export async function conversation(turns: number, modelPath = TINY_MODEL): Promise<TurnFigures[]> {
  const router = heuristicRouter({
    models: { fast: "tiny", default: "tiny" },
    options: {
      greeting: { num_predict: 24 },
      simple: { num_predict: 24 },
      chat: { num_predict: 24 },
      complex: { num_predict: 24 },
      code: { num_predict: 24 },
    },
  });
  const pipeline = createZoePipeline({ backend: llamaCppBackend({ modelPath, threads }), router });
  await pipeline.prewarm();
  const out: TurnFigures[] = [];
  try {
    for (let i = 0; i < turns; i++) {
      const m = await metricsOf(pipeline.run({ userId: "ada", threadId: "trip", message: CONVERSATION[i % CONVERSATION.length]! }));
      out.push({
        turn: i + 1,
        promptTokens: m.tokens.input ?? Number.NaN,
        evaluated: m.backend.promptEvalTokens ?? Number.NaN,
        historyMessages: m.historyMessages,
        ttftMs: m.ttftMs ?? Number.NaN,
      });
    }
  } finally {
    await pipeline.close();
  }
  return out;
}

export async function benchConversation() {
  if (!existsSync(TINY_MODEL)) return { skipped: `no model at ${TINY_MODEL} (set ZOE_TEST_MODEL)` };
  return { model: TINY_MODEL, threads, turns10: await conversation(10), turns30: await conversation(30) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const turns = Number(process.argv[2] ?? 10);
  console.table(await conversation(turns));
}
