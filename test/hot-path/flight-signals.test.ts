/**
 * A provider that answers after some I/O waits under its deadline, which also ends when the run
 * is given up. That wait hooks to the provider's flight, not to an `AbortSignal`: on Node 20 an
 * `AbortController` costs several microseconds (far more in a process that has just woken from
 * idle, as every chat turn's has), and hooking a wait to a signal adds an `abort` listener. Only a
 * provider that reads its signal gets one.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { createZoePipeline, memoryCacheStore, type ContextProvider } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";

const Original = globalThis.AbortController;
afterEach(() => {
  globalThis.AbortController = Original;
});

/** Count the AbortControllers made while `fn` runs. */
async function controllersMadeBy(fn: () => Promise<unknown>): Promise<number> {
  let made = 0;
  globalThis.AbortController = class extends Original {
    constructor() {
      super();
      made++;
    }
  };
  try {
    await fn();
  } finally {
    globalThis.AbortController = Original;
  }
  return made;
}

function pipelineWith(fetch: ContextProvider["fetch"]) {
  return createZoePipeline({
    backend: scriptedBackend({ script: textChunks("An answer.") }),
    router: { route: () => ({ model: "m", kind: "chat", fastPath: false, reason: "test", options: {} }) },
    providers: ["a", "b", "c"].map((name) => ({ name, ttlMs: 0, fetch })),
    cache: memoryCacheStore(),
  });
}

const drain = async (it: AsyncIterable<unknown>) => {
  const seen: Array<{ type: string }> = [];
  for await (const e of it) seen.push(e as { type: string });
  return seen;
};

describe("waiting on a provider that takes a while", () => {
  it("makes no AbortController when the provider does not read its signal", async () => {
    const instant = pipelineWith(async () => "context");
    const slow = pipelineWith(() => sleep(3).then(() => "context"));
    const turn = (p: typeof instant) => drain(p.run({ userId: "u", threadId: "t", message: "hello there, how are you?" }));
    await turn(instant);
    await turn(slow);
    const made = { instant: await controllersMadeBy(() => turn(instant)), slow: await controllersMadeBy(() => turn(slow)) };
    // The run's own (made ahead for the next run) and nothing per provider, however long it takes.
    expect(made.slow).toBe(made.instant);
    await instant.close();
    await slow.close();
  });

  it("still aborts the signal of a provider that reads it, and ends the wait, when the run is given up", async () => {
    const signals: AbortSignal[] = [];
    const pipeline = pipelineWith((_request, { signal }) => {
      signals.push(signal);
      return new Promise<string>(() => {});
    });
    const controller = new AbortController();
    const run = drain(pipeline.run({ userId: "u", threadId: "t", message: "hello there, how are you?" }, { signal: controller.signal }));
    while (signals.length < 3) await sleep(1);
    controller.abort(new Error("the user left"));
    const events = await run;
    expect(events.at(-1)?.type).toBe("RUN_FINISHED");
    expect(signals.map((s) => s.aborted)).toEqual([true, true, true]);
    await pipeline.close();
  });
});
