import { expect } from "vitest";
import { createZoePipeline, EventType, type AGUIEvent, type ChatChunk, type ModelBackend } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
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

/** Run one turn whose one context provider (`bad`) rejects with what `make` gives; the stream is checked valid. */
export async function runWithFailingProvider(make: () => unknown): Promise<AGUIEvent[]> {
  const pipeline = createZoePipeline({
    backend: scriptedBackend({ script: textChunks("fine") }),
    router: fixedRouter(),
    providers: [
      {
        name: "bad",
        fetch: async () => {
          throw make();
        },
      },
    ],
  });
  try {
    return await runValid(pipeline.run({ userId: "u", threadId: "t", message: "tell me something" }));
  } finally {
    await pipeline.close();
  }
}
