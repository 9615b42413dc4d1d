import { describe, expect, it } from "vitest";
import { createZoePipeline, HISTORY_DEFAULTS, type HistoryOptions } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

const backend = scriptedBackend({ script: () => textChunks("ok") });
const create = (history: HistoryOptions) => createZoePipeline({ backend, router: fixedRouter(), history });

describe("history options", () => {
  it("an option set to undefined takes its default, as other options do", async () => {
    const pipeline = create({ keep: undefined, load: undefined, step: undefined, ttlMs: undefined } as unknown as HistoryOptions);
    await runValid(pipeline.run({ userId: "u", threadId: "t", message: "hi" }));
    expect(await pipeline.history.get("u", "t")).toHaveLength(2);
    await pipeline.close();
  });

  it.each<[HistoryOptions, number, number]>([
    [{ load: 4 }, 4, 1], // the default step (8) would be larger than the window
    [{ load: 30 }, 30, 1], // the default keep (20) would be smaller than the window
    [{ keep: 6 }, 6, 1], // the default load (12) would be more than is kept
    // The one message kept is the last answer: without its question it is not shown (a window starts on a user message).
    [{ keep: 1 }, 1, 0],
  ])("a default never conflicts with the one option given: %j", async (history, window, atLeast) => {
    const pipeline = create(history);
    for (let i = 0; i < 20; i++) await runValid(pipeline.run({ userId: "u", threadId: "t", message: `turn ${i}` }));
    const stored = await pipeline.history.get("u", "t");
    expect(stored.length).toBe(history.keep ?? Math.max(HISTORY_DEFAULTS.keep, window));
    // The last prompt: the system prompt, at most `window` past messages (but some), the turn.
    const past = backend.requests.at(-1)!.messages.length - 2;
    expect(past).toBeGreaterThanOrEqual(atLeast);
    expect(past).toBeLessThanOrEqual(window);
    await pipeline.close();
  });

  it.each<[HistoryOptions, RegExp]>([
    [{ keep: 5, load: 12 }, /history\.keep \(5\) must be at least history\.load \(12\)/],
    [{ load: 4, step: 8 }, /history\.step \(8\) must be at most history\.load \(4\)/],
    [{ keep: 0 }, /history\.keep must be a positive integer, got 0/],
    [{ load: -1 }, /history\.load must be a non-negative integer/],
    [{ step: Number.NaN }, /history\.step must be a positive integer, got NaN/],
    [{ ttlMs: 1.5 }, /history\.ttlMs must be a positive integer/],
    [{ keep: "20" as unknown as number }, /history\.keep must be a positive integer/],
    // Past the safe integers Redis's LTRIM refuses the count, and the store fell back to memory.
    [{ keep: 1e21 }, /history\.keep must be a positive integer, got 1e\+21/],
  ])("options given that cannot work are a TypeError at creation: %j", (history, message) => {
    expect(() => create(history)).toThrow(TypeError);
    expect(() => create(history)).toThrow(message);
  });
});
