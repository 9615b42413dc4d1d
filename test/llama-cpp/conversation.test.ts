import { afterAll, beforeAll, expect, it } from "vitest";
import { createZoePipeline, EventType, heuristicRouter, HISTORY_DEFAULTS, type RunMetrics, type ZoePipeline } from "../../src/index.js";
import { windowStart } from "../../src/history/window.js";
import { llamaCppBackend } from "../../src/llama-cpp/index.js";
import { collect, expectValidStream } from "../helpers/ag-ui.js";
import { CONVERSATION } from "../../bench/conversation.js";
import { describeWithModel, TEST_MODEL_PATH, TEST_THREADS } from "./model.js";

// The same conversation the benchmark measures (npm run bench, "Conversation").
const questions = CONVERSATION;

// Ten turns of one thread on the real engine with the pipeline's DEFAULT history settings (only
// the answer length is capped, by the router). Token counts, never times.
describeWithModel("prefix reuse over a whole conversation (llama.cpp, default settings)", () => {
  let pipeline: ZoePipeline;
  const turns: RunMetrics[] = [];

  beforeAll(async () => {
    const short = { num_predict: 16 };
    const router = heuristicRouter({
      models: { fast: "tiny", default: "tiny" },
      options: { greeting: short, simple: short, chat: short, code: short, complex: short },
    });
    // Two sequences, and a second thread interleaved: a thread must keep its own sequence.
    pipeline = createZoePipeline({ backend: llamaCppBackend({ modelPath: TEST_MODEL_PATH, threads: TEST_THREADS, sequences: 2 }), router });
    await pipeline.prewarm();
    for (const [i, message] of questions.entries()) {
      const events = await collect(pipeline.run({ userId: "ada", threadId: "trip", message }));
      await expectValidStream(events);
      const last = events.at(-1)!;
      if (last.type !== EventType.RUN_FINISHED) throw new Error(`turn ${i + 1} did not finish: ${JSON.stringify(last)}`);
      turns.push((last.result as { metrics: RunMetrics }).metrics);
      await collect(pipeline.run({ userId: "bob", threadId: `other-${i}`, message: `something else entirely, number ${i}` }));
    }
  }, 120_000);
  afterAll(() => pipeline.close());

  const { load, step } = HISTORY_DEFAULTS;
  /** Turns (1-based) whose history window starts later than the previous turn's: the planned moves. */
  const moves = questions
    .map((_, i) => i + 1)
    .filter((n) => n > 1 && windowStart(2 * (n - 1), load, step) !== windowStart(2 * (n - 2), load, step));

  it("holds every past message until `load`, then between load − step + 1 and load", () => {
    turns.forEach((m, i) => {
      const past = 2 * i;
      expect(m.historyMessages, `turn ${i + 1}`).toBe(past - windowStart(past, load, step));
      if (past >= load) expect(m.historyMessages).toBeGreaterThan(load - step);
      expect(m.historyMessages).toBeLessThanOrEqual(load);
    });
  });

  it("moves the window rarely: at most once in every step / 2 turns", () => {
    expect(moves.length).toBeGreaterThan(0); // ten turns reach a move with the defaults
    for (let i = 1; i < moves.length; i++) expect(moves[i]! - moves[i - 1]!).toBeGreaterThanOrEqual(step / 2);
  });

  it("on every other turn the engine reuses the whole previous prompt: it evaluates only the last answer, the new turn and the template", () => {
    for (let i = 1; i < turns.length; i++) {
      const turn = i + 1;
      const prompt = turns[i]!.tokens.input!;
      const evaluated = turns[i]!.backend.promptEvalTokens!;
      const previousPrompt = turns[i - 1]!.tokens.input!;
      if (moves.includes(turn)) {
        expect(evaluated, `turn ${turn} (a window move)`).toBeLessThanOrEqual(prompt);
        continue;
      }
      expect(prompt - evaluated, `turn ${turn}: tokens reused`).toBeGreaterThanOrEqual(previousPrompt);
    }
  });

  it("budgets the prompt with the engine's own tokenizer once the model is loaded", () => {
    for (const m of turns) {
      expect(m.prompt.counter).toBe("tokenizer");
      // The template's tokens are estimated per message; the text's are counted.
      expect(Math.abs(m.prompt.tokens - m.tokens.input!)).toBeLessThan(m.tokens.input! / 2);
    }
  });

  it("after a window move the thread keeps its sequence: its system prompt is still reused", () => {
    for (const turn of moves) {
      const m = turns[turn - 1]!;
      expect(m.backend.promptEvalTokens!).toBeLessThan(m.tokens.input!);
    }
  });
});
