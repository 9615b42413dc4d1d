import { getEventListeners, setMaxListeners } from "node:events";
import v8 from "node:v8";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { createZoePipeline, EventType, type ModelBackend } from "../../src/index.js";
import { abortHookCount } from "../../src/shared/on-abort.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { collect } from "../helpers/ag-ui.js";
import { fixedRouter, testProvider } from "../helpers/fixtures.js";
import { gc } from "../helpers/gc.js";

const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout" || r === "Immediate").length;

describe("no leaks", () => {
  it("leaves no timers, listeners or pending promises after 10,000 runs (completed, aborted, abandoned, failed)", async () => {
    const answer = textChunks("a b c d e");
    const backend = scriptedBackend({
      script: (request) =>
        request.messages.at(-1)?.content.endsWith("fail")
          ? [...answer.slice(0, 2), { type: "error", message: "boom" }]
          : request.messages.at(-1)?.content.endsWith("slow")
            ? [{ type: "delay", ms: 1 }, ...answer]
            : answer,
    });
    const providers = [testProvider("fast", "ctx", { ttlMs: 0 }), testProvider("late", "ctx", { ttlMs: 0, delayMs: 50, timeoutMs: 1 })];
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), providers });
    const shared = new AbortController(); // one host signal passed to every run: it must not gather listeners
    setMaxListeners(0, shared.signal);
    const outcomes = { finished: 0, cancelled: 0, error: 0, left: 0 };

    const one = async (i: number) => {
      const kind = i % 4;
      const message = kind === 2 ? `q${i} fail` : `q${i} slow`;
      if (kind === 1) {
        const controller = new AbortController();
        const events = [];
        for await (const e of pipeline.run({ userId: `u${i % 50}`, message }, { signal: controller.signal })) {
          events.push(e);
          if (e.type === EventType.TEXT_MESSAGE_CONTENT) controller.abort();
        }
        if (events.at(-1)?.type === EventType.RUN_FINISHED) outcomes.cancelled++;
        return;
      }
      if (kind === 3) {
        for await (const e of pipeline.run({ userId: `u${i % 50}`, message }, { signal: shared.signal })) {
          if (e.type === EventType.STEP_STARTED && e.stepName === "generate") break;
        }
        outcomes.left++;
        return;
      }
      const events = await collect(pipeline.run({ userId: `u${i % 50}`, message }, { signal: shared.signal }));
      if (events.at(-1)?.type === EventType.RUN_ERROR) outcomes.error++;
      else outcomes.finished++;
    };

    // warm up, then measure
    for (let i = 0; i < 200; i++) await one(i);
    await new Promise((r) => setTimeout(r, 100));
    gc();
    const timersBefore = timers();
    const heapBefore = process.memoryUsage().heapUsed;

    let created = 0;
    let settled = 0;
    const stopSettled = v8.promiseHooks.onSettled(() => settled++);
    const stopInit = v8.promiseHooks.onInit(() => created++);
    const batch = 50;
    for (let i = 0; i < 10_000; i += batch) {
      await Promise.all(Array.from({ length: batch }, (_, j) => one(i + j)));
    }
    await new Promise((r) => setTimeout(r, 200)); // let late providers' timers fire
    stopInit();
    stopSettled();

    expect(outcomes.finished + outcomes.cancelled + outcomes.error + outcomes.left).toBe(10_200);
    expect(outcomes.cancelled).toBeGreaterThan(2_000);
    expect(outcomes.error).toBeGreaterThan(2_000);
    expect(pipeline.activeRuns).toBe(0);
    expect(backend.active).toBe(0);
    // At most the one listener of the abort-hook registry, holding no hook of a finished run.
    expect(getEventListeners(shared.signal, "abort").length).toBeLessThanOrEqual(1);
    expect(abortHookCount(shared.signal)).toBe(0);
    expect(timers()).toBeLessThanOrEqual(timersBefore);
    // Promises created during the 10,000 runs that never settled: a handful at most, not one per run.
    expect(created).toBeGreaterThan(100_000);
    expect(created - settled).toBeLessThan(100);
    gc();
    const grownMb = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
    expect(grownMb).toBeLessThan(16);
    await pipeline.close();
  }, 120_000);

  it("runs that end without the event loop turning leave no immediate behind (each would hold its stream and signal until the loop turns)", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend({ script: textChunks("a b c") }), router: fixedRouter() });
    const immediates = () => process.getActiveResourcesInfo().filter((r) => r === "Immediate").length;
    const before = immediates();
    // An in-memory store and an instant model: every await below settles as a microtask, so the loop never turns.
    for (let i = 0; i < 50; i++) {
      const events = await collect(pipeline.run({ userId: "u", threadId: "t", message: `turn ${i}` }));
      expect(events.at(-1)?.type).toBe(EventType.RUN_FINISHED);
    }
    expect(immediates()).toBeLessThanOrEqual(before);
    await pipeline.close();
  });
});

/** Start a run, take one event, then drop the pipeline and the run without `close()` or `return()`. */
async function abandonRun(): Promise<WeakRef<ModelBackend>> {
  const backend: ModelBackend = {
    name: "plain",
    async *chat() {
      for (const text of ["a ", "b ", "c"]) yield { type: "text", text };
    },
  };
  const pipeline = createZoePipeline({ backend, router: fixedRouter() });
  const iterator = pipeline.run({ userId: "u", message: "hi" })[Symbol.asyncIterator]();
  await iterator.next(); // the run goes on to its commit barrier, then waits for a consumer that is gone
  await new Promise((r) => setTimeout(r, 50));
  return new WeakRef(backend);
}

describe("abandoned runs", () => {
  it("a pipeline dropped with a run its consumer stopped reading (no close(), no return()) is garbage-collected", async () => {
    const ref = await abandonRun();
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 20));
      gc();
    }
    // Nothing at module level may keep a run (its signal, hooks, stream) and so its pipeline alive.
    expect(ref.deref()).toBeUndefined();
  });
});

describe("a run left while a provider hangs", () => {
  it("leaves no deadline timer once the provider's every caller has gone (a provider that ignores its signal)", async () => {
    const pipeline = createZoePipeline({
      backend: scriptedBackend({ script: textChunks("never reached") }),
      router: fixedRouter(),
      // It never answers and never looks at its signal: only zoe's own deadline (60 s) would end the wait.
      providers: [{ name: "hung", timeoutMs: 60_000, fetch: () => new Promise<never>(() => {}) }],
    });
    // The deadline timers this run arms, and those cleared: counting the process's timers would
    // also count the test runner's own (vitest's 100 ms task-update timer may fire meanwhile).
    const realSet = globalThis.setTimeout;
    const armed: Array<ReturnType<typeof setTimeout>> = [];
    const cleared = new Set<unknown>();
    const setSpy = vi.spyOn(globalThis, "setTimeout").mockImplementation(((fn: () => void, ms?: number) => {
      const handle = realSet(fn, ms);
      if (ms === 60_000) armed.push(handle);
      return handle;
    }) as typeof setTimeout);
    const realClear = globalThis.clearTimeout;
    const clearSpy = vi.spyOn(globalThis, "clearTimeout").mockImplementation((handle) => {
      cleared.add(handle);
      realClear(handle);
    });
    onTestFinished(() => {
      setSpy.mockRestore();
      clearSpy.mockRestore();
    });
    let asked = false;
    for await (const event of pipeline.run({ userId: "u", threadId: "t", message: "hello there" })) {
      // The provider is being fetched (its deadline armed): leave.
      if (event.type === EventType.ACTIVITY_SNAPSHOT) {
        asked = true;
        break;
      }
    }
    expect(asked).toBe(true);
    await pipeline.close();
    await new Promise((r) => setImmediate(r));
    // Before the fix, the provider's 60 s deadline timer stayed armed (keeping the process alive) after close().
    expect(armed).toHaveLength(1);
    expect(armed.filter((handle) => !cleared.has(handle))).toEqual([]);
    expect(pipeline.activeRuns).toBe(0);
  });
});
