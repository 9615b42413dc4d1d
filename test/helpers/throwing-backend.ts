import { expect } from "vitest";
import { createZoePipeline, EventType, type ChatChunk, type ModelBackend } from "../../src/index.js";
import { runValid } from "./ag-ui.js";
import { fixedRouter } from "./fixtures.js";

/** A backend that throws what `make` gives, before its first chunk or after one (`partial`). */
export function throwingBackend(make: () => unknown, partial = false): ModelBackend {
  return {
    name: "throwing",
    async *chat() {
      if (partial) yield { type: "text", text: "partial" } as ChatChunk;
      throw make();
    },
  } as ModelBackend;
}

/** Run one turn on {@link throwingBackend}: the stream is valid and ends with RUN_ERROR MODEL_ERROR. */
export async function expectModelError(make: () => unknown, partial = false): Promise<void> {
  const pipeline = createZoePipeline({ backend: throwingBackend(make, partial), router: fixedRouter() });
  const events = await runValid(pipeline.run({ userId: "u", threadId: "t", message: "tell me about the weather patterns" }));
  expect(events.at(-1)).toMatchObject({ type: EventType.RUN_ERROR, code: "MODEL_ERROR" });
  await pipeline.close();
}
