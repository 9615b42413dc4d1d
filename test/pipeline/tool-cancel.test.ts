import { describe, expect, it } from "vitest";
import { createZoePipeline, EventType, type ServerTool } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { fixedRouter } from "../helpers/fixtures.js";

describe("cancelling a run during its tool calls", () => {
  it("a cancel while an unknown tool's result is being read leaves no unhandled rejection behind", async () => {
    // A slow tool that honours its signal, then a tool the model made up: its error result is
    // yielded while the slow one runs; the run is cancelled at that moment.
    const slow: ServerTool = {
      name: "lookup",
      description: "slow",
      parameters: { type: "object", properties: {} },
      execute: (_args, { signal }) =>
        new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true })),
    };
    const backend = scriptedBackend({
      script: [
        ...textChunks("Checking. "),
        { type: "tool_call", call: { id: "a", name: "lookup", arguments: {} } },
        { type: "tool_call", call: { id: "b", name: "nope", arguments: {} } },
      ],
    });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: [slow] });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const controller = new AbortController();
      const types: string[] = [];
      for await (const e of pipeline.run({ userId: "u", message: "look it up" }, { signal: controller.signal })) {
        types.push(e.type);
        if (e.type === EventType.TOOL_CALL_RESULT) {
          controller.abort(new Error("user pressed stop"));
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).toEqual([]);
      expect(types.at(-1)).toBe(EventType.RUN_FINISHED);
    } finally {
      process.off("unhandledRejection", onUnhandled);
      await pipeline.close();
    }
  });
});
