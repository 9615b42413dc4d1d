import { afterAll, beforeAll, expect, it } from "vitest";
import {
  createZoePipeline,
  EventType,
  type AGUIEvent,
  type ModelBackend,
  type RouteDecision,
  type Router,
  type ZoePipeline,
} from "../../src/index.js";
import { createLlamaCppBackend, type LlamaCppBackend, type LlamaCppRequestTrace } from "../../src/llama-cpp/backend.js";
import { collect } from "../helpers/ag-ui.js";
import { describeWithModel, TEST_MODEL_PATH, TEST_THREADS } from "./model.js";

const router: Router = {
  route: (): RouteDecision => ({ model: "tiny", kind: "chat", fastPath: false, reason: "test", options: { temperature: 0 } }),
  models: () => ["tiny"],
};

const outcome = (events: AGUIEvent[]) => {
  const last = events.at(-1)!;
  return last.type === EventType.RUN_ERROR ? `RUN_ERROR ${last.code}` : last.type;
};

// Short answers (maxTokens 4): promptBudget was 1,024 − 4 = 1,020; now 1,024 − 64 (a sixteenth, for the template). The pipeline counts each
// message as its text's tokens plus 4; the chat template renders more around each message.
describeWithModel("the prompt budget against the rendered chat template", () => {
  let pipeline: ZoePipeline;
  let backend: LlamaCppBackend;
  const outcomes: string[] = [];
  const traces: LlamaCppRequestTrace[] = [];
  const counted: number[] = [];
  beforeAll(async () => {
    backend = createLlamaCppBackend(
      { modelPath: TEST_MODEL_PATH, threads: TEST_THREADS, contextSize: 1024, sequences: 1, maxTokens: 4 },
      { onTrace: (t) => traces.push(t) },
    );
    // Pass-through: records what the pipeline counted for each request.
    const observed: ModelBackend = {
      name: backend.name,
      chat: (request, ctx) => {
        counted.push(request.promptTokens ?? -1);
        return backend.chat(request, ctx);
      },
      tokenCounter: (m) => backend.tokenCounter!(m),
      promptBudget: (m) => backend.promptBudget!(m),
      prewarm: (m) => backend.prewarm(m),
      close: () => backend.close(),
    };
    pipeline = createZoePipeline({ backend: observed, router });
    await pipeline.prewarm();
    for (let i = 0; i < 40; i++) {
      const events = await collect(
        pipeline.run({ userId: "ada", threadId: "t", message: `q${i} ${"a b c d ".repeat(30 + ((i * 13) % 50))}` }),
      );
      outcomes.push(outcome(events));
    }
  }, 300_000);
  afterAll(() => pipeline.close());

  it("every turn whose counted prompt fits promptBudget is accepted by the backend (no PROMPT_TOO_LONG)", () => {
    console.log(backend.promptBudget!("tiny"), counted.map((c, i) => `${c}->${traces[i]?.inputTokens ?? outcomes[i]}`).join(" "));
    expect(outcomes).toEqual(outcomes.map(() => EventType.RUN_FINISHED));
  });
});
