import { afterAll, beforeAll, expect, it } from "vitest";
import { createZoePipeline, EventType, type AGUIEvent, type RouteDecision, type Router, type ZoePipeline } from "../../src/index.js";
import { llamaCppBackend, type LlamaCppBackend } from "../../src/llama-cpp/index.js";
import { collect, expectValidStream, runValid, terminal, textOf } from "../helpers/ag-ui.js";
import { describeWithModel, TEST_MODEL_PATH, TEST_THREADS } from "./model.js";

/** Always the tiny model, with a short answer budget. */
const tinyRouter = (numPredict = 12): Router => ({
  route: (): RouteDecision => ({ model: "tiny", kind: "chat", fastPath: false, reason: "test", options: { num_predict: numPredict } }),
  models: () => ["tiny"],
});

interface Metrics {
  tokens: { input?: number; output: number };
  backend: { promptEvalTokens?: number; promptEvalMs?: number; evalMs?: number; queueMs?: number; loadMs?: number; doneReason?: string };
}

const metricsOf = (events: AGUIEvent[]): Metrics => {
  const last = terminal(events);
  if (last.type !== EventType.RUN_FINISHED) throw new Error(`expected RUN_FINISHED, got ${JSON.stringify(last)}`);
  return (last.result as { metrics: Metrics }).metrics;
};

describeWithModel("the pipeline on the llama.cpp backend", () => {
  let backend: LlamaCppBackend;
  let pipeline: ZoePipeline;

  beforeAll(() => {
    backend = llamaCppBackend({ modelPath: TEST_MODEL_PATH, threads: TEST_THREADS, contextSize: 2048, sequences: 2 });
    pipeline = createZoePipeline({ backend, router: tinyRouter() });
  });
  afterAll(async () => {
    await pipeline.close(); // closes the backend too
  });

  it("prewarms the router's model through the pipeline", async () => {
    const results = await pipeline.prewarm();
    expect(results).toEqual([expect.objectContaining({ model: "tiny", ok: true })]);
    expect(await backend.loaded()).toEqual(["tiny"]);
  });

  it("streams a normal run as valid AG-UI events with the engine's token counts", async () => {
    const events = await runValid(pipeline.run({ userId: "ada", threadId: "normal", message: "Why is the sky blue?" }));
    expect(textOf(events).length).toBeGreaterThan(0);
    expect(events.filter((e) => e.type === EventType.TEXT_MESSAGE_CONTENT).length).toBeGreaterThan(1);
    const m = metricsOf(events);
    expect(m.tokens.output).toBe(12);
    expect(m.tokens.input).toBeGreaterThan(0);
    expect(m.backend.promptEvalTokens).toBe(m.tokens.input); // the first turn evaluates its whole prompt
    expect(m.backend.doneReason).toBe("length");
    expect(m.backend.evalMs).toBeGreaterThan(0);
  });

  it("cancels a run mid-generation: a valid cancelled stream, and the sequence is free again", async () => {
    const long = createZoePipeline({ backend, router: tinyRouter(100_000) });
    const controller = new AbortController();
    const events: AGUIEvent[] = [];
    let contents = 0;
    for await (const event of long.run(
      { userId: "ada", threadId: "aborted", message: "Tell me everything." },
      { signal: controller.signal },
    )) {
      events.push(event);
      if (event.type === EventType.TEXT_MESSAGE_CONTENT && ++contents === 3) controller.abort();
    }
    await expectValidStream(events);
    const last = terminal(events);
    expect(last.type === EventType.RUN_FINISHED && last.outcome).toEqual({ type: "cancelled" });
    // The backend request is closed in the background: wait for it, briefly.
    for (let i = 0; i < 50 && backend.stats().active > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(backend.stats().active).toBe(0);
    expect(backend.stats().models[0]!.sequences.every((s) => !s.busy)).toBe(true);
    // A cancelled run stores nothing; the next run works.
    expect(await long.history.get("ada", "aborted")).toEqual([]);
    const next = await runValid(pipeline.run({ userId: "ada", threadId: "aborted", message: "Short, please." }));
    expect(terminal(next).type).toBe(EventType.RUN_FINISHED);
  });

  it("reuses a thread's prompt prefix on its second turn (RUN_FINISHED metrics)", async () => {
    const thread = { userId: "grace", threadId: "two-turns" };
    const first = metricsOf(await runValid(pipeline.run({ ...thread, message: "What is a compiler?" })));
    const second = metricsOf(await runValid(pipeline.run({ ...thread, message: "And an interpreter?" })));
    const input1 = first.tokens.input!;
    const input2 = second.tokens.input!;
    // Both sequences are taken by earlier threads: the least recently used one is reused, and its
    // common prefix with this prompt (the system prompt) is not evaluated again.
    expect(first.backend.promptEvalTokens).toBeLessThanOrEqual(input1);
    expect(input2).toBeGreaterThan(input1);
    expect(second.backend.promptEvalTokens).toBeLessThan(input2);
    // Only what is new since turn 1's prompt is evaluated (less the part of the answer still cached).
    expect(second.backend.promptEvalTokens).toBeLessThanOrEqual(input2 - input1);
    expect(second.backend.promptEvalTokens).toBeGreaterThanOrEqual(input2 - input1 - first.tokens.output);
    console.log(
      `[pipeline prefix reuse] turn 1: ${first.backend.promptEvalTokens}/${input1} prompt tokens evaluated; ` +
        `turn 2: ${second.backend.promptEvalTokens}/${input2}`,
    );
    const history = await pipeline.history.get(thread.userId, thread.threadId);
    expect(history.map((h) => h.role)).toEqual(["user", "assistant", "user", "assistant"]);
  });

  it("runs concurrent threads to completion", async () => {
    const runs = await Promise.all(
      ["a", "b", "c"].map((t) => collect(pipeline.run({ userId: "lin", threadId: `concurrent-${t}`, message: `Question ${t}?` }))),
    );
    for (const events of runs) {
      await expectValidStream(events);
      expect(metricsOf(events).tokens.output).toBe(12);
    }
  });
});
