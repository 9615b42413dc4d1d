/**
 * Hosts, test tools and instrumentation libraries wrap the global timers, and some wrappers pass
 * on only `(callback, delay)`. The pipeline's timers must not depend on the extra arguments of
 * `setTimeout`/`setImmediate`: a model deadline that never fires holds a hung run forever, and a
 * callback called without its argument throws in the host process.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createZoePipeline, EventType } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { fixedRouter } from "../helpers/fixtures.js";

const realSetTimeout = globalThis.setTimeout;
const realSetImmediate = globalThis.setImmediate;

afterEach(() => {
  globalThis.setTimeout = realSetTimeout;
  globalThis.setImmediate = realSetImmediate;
});

/** The run's last event's type and code, or "still running" when it has not ended after `waitMs`. */
async function outcome(run: AsyncIterable<{ type: string; code?: string }>, waitMs: number): Promise<string> {
  const read = (async () => {
    let last = "";
    for await (const event of run) last = event.code ? `${event.type}:${event.code}` : event.type;
    return last;
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => {
    timer = realSetTimeout(() => resolve("still running"), waitMs);
  });
  try {
    return await Promise.race([read, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe("timers wrapped by the host, passing on (callback, delay) only", () => {
  it("a hung model still meets its first-token deadline", async () => {
    globalThis.setTimeout = ((callback: () => void, ms?: number) => realSetTimeout(callback, ms)) as typeof setTimeout;
    const pipeline = createZoePipeline({
      backend: scriptedBackend({ script: textChunks("late"), firstChunkDelayMs: 60_000 }),
      router: fixedRouter(),
      deadlines: { firstTokenMs: 50 },
    });
    // The deadline is 50 ms; 10 s is only there to end the test if it never fires.
    expect(await outcome(pipeline.run({ userId: "u", threadId: "t", message: "hi" }), 10_000)).toBe(`${EventType.RUN_ERROR}:MODEL_TIMEOUT`);
    globalThis.setTimeout = realSetTimeout;
    await pipeline.close();
  });

  it("a run that waits on I/O while holding its events ends normally (no callback throws)", async () => {
    const thrown: unknown[] = [];
    let fired = 0;
    globalThis.setImmediate = ((callback: () => void) =>
      realSetImmediate(() => {
        fired++;
        try {
          callback();
        } catch (error) {
          thrown.push(error);
        }
      })) as typeof setImmediate;
    const pipeline = createZoePipeline({
      backend: scriptedBackend({ script: textChunks("An answer.") }),
      router: fixedRouter(),
      // A provider that answers after the loop has turned (its timer starts then): the run holds
      // its first events across that turn, and the wrapped immediate releases them.
      providers: [
        {
          name: "slow",
          ttlMs: 0,
          fetch: () => new Promise((resolve) => realSetImmediate(() => realSetTimeout(() => resolve("context"), 20))),
        },
      ],
    });
    expect(await outcome(pipeline.run({ userId: "u", threadId: "t", message: "hi" }), 10_000)).toBe(EventType.RUN_FINISHED);
    expect(fired).toBeGreaterThan(0);
    expect(thrown).toEqual([]);
    globalThis.setImmediate = realSetImmediate;
    await pipeline.close();
  });
});
