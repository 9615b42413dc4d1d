import { afterAll, beforeAll, expect, it } from "vitest";
import {
  createZoePipeline,
  EventType,
  type AGUIEvent,
  type RouteDecision,
  type Router,
  type RunMetrics,
  type ZoePipeline,
} from "../../src/index.js";
import { createLlamaCppBackend, type LlamaCppBackend, type LlamaCppRequestTrace } from "../../src/llama-cpp/backend.js";
import { collect, expectValidStream } from "../helpers/ag-ui.js";
import { describeWithModel, TEST_MODEL_PATH, TEST_THREADS } from "./model.js";

const tinyRouter: Router = {
  route: (): RouteDecision => ({ model: "tiny", kind: "chat", fastPath: false, reason: "test", options: { num_predict: 48 } }),
  models: () => ["tiny"],
};

const metricsOf = (events: AGUIEvent[]): RunMetrics => {
  const last = events.at(-1)!;
  if (last.type !== EventType.RUN_FINISHED) throw new Error(`expected RUN_FINISHED, got ${JSON.stringify(last)}`);
  return (last.result as { metrics: RunMetrics }).metrics;
};

// Three threads (three users) open with the same message ("hello there" — a greeting is the most
// common first message), then each asks its own follow-up. Four sequences: one per thread is free.
describeWithModel("threads that open with the same message keep their own KV cache (llama.cpp)", () => {
  let backend: LlamaCppBackend;
  let pipeline: ZoePipeline;
  const traces: LlamaCppRequestTrace[] = [];
  const users = ["ada", "bob", "cy"];
  const first = new Map<string, RunMetrics>();
  const second = new Map<string, RunMetrics>();
  let sequencesAfterFirstTurns: number[] = [];

  beforeAll(async () => {
    backend = createLlamaCppBackend(
      { modelPath: TEST_MODEL_PATH, threads: TEST_THREADS, contextSize: 2048, sequences: 4 },
      { onTrace: (t) => traces.push(t) },
    );
    pipeline = createZoePipeline({ backend, router: tinyRouter });
    await pipeline.prewarm();
    for (const userId of users) {
      const events = await collect(pipeline.run({ userId, threadId: "t", message: "hello there" }));
      await expectValidStream(events);
      first.set(userId, metricsOf(events));
    }
    sequencesAfterFirstTurns = backend.stats().models[0]!.sequences.map((s) => s.tokens);
    for (const userId of users) {
      const events = await collect(pipeline.run({ userId, threadId: "t", message: `${userId} asks: what else can you tell me?` }));
      await expectValidStream(events);
      second.set(userId, metricsOf(events));
    }
  }, 60_000);
  afterAll(() => pipeline.close());

  it("with sequences free, a new thread does not take over another thread's sequence", () => {
    // Each thread's prompt and answer is kept: three threads, three sequences holding tokens.
    expect(sequencesAfterFirstTurns.filter((tokens) => tokens > 0)).toHaveLength(users.length);
  });

  it("each thread's second turn reuses at least its whole first prompt (only what is new is evaluated)", () => {
    for (const userId of users) {
      const prompt1 = first.get(userId)!.tokens.input!;
      const prompt2 = second.get(userId)!.tokens.input!;
      const evaluated = second.get(userId)!.backend.promptEvalTokens!;
      expect(prompt2 - evaluated, `${userId}: tokens reused on turn 2 (evaluated ${evaluated} of ${prompt2})`).toBeGreaterThanOrEqual(
        prompt1,
      );
    }
  });
});
