import { describe, expect, it } from "vitest";
import { dedupeBackend } from "../../src/backends/dedupe.js";
import { createZoePipeline, EventType, type ChatChunk, type ModelBackend } from "../../src/index.js";
import { collect, terminal } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { ask, drain, onCleanup } from "../ollama/helpers.js";

const signal = () => new AbortController().signal;

/** A backend that yields `bad` between two good text chunks. */
function yielding(bad: unknown): ModelBackend {
  return {
    name: "bad",
    async *chat() {
      yield { type: "text", text: "first " };
      yield bad as ChatChunk;
      yield { type: "text", text: "second" };
      yield { type: "done" };
    },
  };
}

describe("dedupeBackend: what it passes through", () => {
  it("forwards the inner backend's token counter, and has none when the inner has none", () => {
    const counter = (text: string) => text.length;
    const dedupe = dedupeBackend({
      name: "inner",
      chat: async function* () {},
      tokenCounter: (model) => (model === "m" ? counter : undefined),
    });
    expect(dedupe.tokenCounter?.("m")).toBe(counter);
    expect(dedupe.tokenCounter?.("other")).toBeUndefined();
    expect(dedupeBackend({ name: "bare", chat: async function* () {} }).tokenCounter).toBeUndefined();
  });

  it.each([undefined, null, 42])("a malformed chunk (%s) is passed on, not taken for the end of the answer", async (bad) => {
    const chunks = await drain(dedupeBackend(yielding(bad)).chat(ask("x"), { signal: signal() }));
    expect(chunks).toEqual([{ type: "text", text: "first " }, bad, { type: "text", text: "second" }, { type: "done" }]);
  });

  it("through the pipeline, a malformed chunk fails the run with the same code as without dedupe", async () => {
    const codes: unknown[] = [];
    for (const backend of [yielding(undefined), dedupeBackend(yielding(undefined))]) {
      const pipeline = createZoePipeline({ backend, router: fixedRouter("chat", "m") });
      onCleanup(() => pipeline.close());
      const last = terminal(await collect(pipeline.run({ userId: "u", threadId: "t", message: "hi" })));
      expect(last.type).toBe(EventType.RUN_ERROR);
      codes.push((last as { code?: unknown }).code);
    }
    expect(codes).toEqual(["MODEL_INVALID_CHUNK", "MODEL_INVALID_CHUNK"]);
  });
});
