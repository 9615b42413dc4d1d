import { describe, expect, it } from "vitest";
import { createZoePipeline, EventType } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { collect, expectValidStream, terminal } from "../helpers/ag-ui.js";
import { fixedRouter, testProvider } from "../helpers/fixtures.js";

const slowAnswer = () => [...textChunks("one two three four five six seven eight nine ten")];

describe("cancellation", () => {
  it("an aborted signal cancels the model request at once and ends with RUN_FINISHED cancelled", async () => {
    const backend = scriptedBackend({ script: slowAnswer(), chunkDelayMs: 200 });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const controller = new AbortController();
    const events = [];
    for await (const event of pipeline.run({ userId: "u", threadId: "t", message: "talk" }, { signal: controller.signal })) {
      events.push(event);
      if (event.type === EventType.TEXT_MESSAGE_CONTENT) controller.abort();
    }
    await expectValidStream(events);
    const last = terminal(events);
    expect(last.type === EventType.RUN_FINISHED && last.outcome).toEqual({ type: "cancelled" });
    // the open text message and step were closed before the run finished
    expect(events.filter((e) => e.type === EventType.TEXT_MESSAGE_END)).toHaveLength(1);
    expect(backend.cancelled).toBe(1);
    expect(backend.active).toBe(0);
    expect(pipeline.activeRuns).toBe(0);
    // a cancelled run stores nothing
    expect(await pipeline.history.get("u", "t")).toEqual([]);
  });

  it("a consumer leaving the loop early cancels the model request", async () => {
    const backend = scriptedBackend({ script: slowAnswer(), chunkDelayMs: 200 });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    for await (const event of pipeline.run({ userId: "u", threadId: "t", message: "talk" })) {
      if (event.type === EventType.TEXT_MESSAGE_CONTENT) break;
    }
    await new Promise((r) => setImmediate(r));
    expect(backend.cancelled).toBe(1);
    expect(backend.active).toBe(0);
    expect(pipeline.activeRuns).toBe(0);
    expect(await pipeline.history.get("u", "t")).toEqual([]);
  });

  it("an abort while providers are pending stops them and the run", async () => {
    const slow = testProvider("search", "x", { delayMs: 5_000, timeoutMs: 10_000 });
    const backend = scriptedBackend();
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), providers: [slow] });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const events = await collect(pipeline.run({ userId: "u", message: "search" }, { signal: controller.signal }));
    await expectValidStream(events);
    const last = terminal(events);
    expect(last.type === EventType.RUN_FINISHED && last.outcome).toEqual({ type: "cancelled" });
    expect(slow.aborts).toBe(1);
    expect(backend.requests).toHaveLength(0);
  });

  it("a signal aborted before the run starts cancels it before any work", async () => {
    const backend = scriptedBackend();
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const events = await collect(pipeline.run({ userId: "u", message: "hi" }, { signal: AbortSignal.abort() }));
    await expectValidStream(events);
    expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
    expect(backend.requests).toHaveLength(0);
  });

  it("close() cancels runs in progress; later runs fail with PIPELINE_CLOSED", async () => {
    const backend = scriptedBackend({ script: slowAnswer(), chunkDelayMs: 100 });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const running = collect(pipeline.run({ userId: "u", message: "talk" }));
    await new Promise((r) => setTimeout(r, 150));
    expect(pipeline.activeRuns).toBe(1);
    await pipeline.close();
    const events = await running;
    await expectValidStream(events);
    expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
    expect(backend.cancelled).toBe(1);
    const after = await collect(pipeline.run({ userId: "u", message: "again" }));
    await expectValidStream(after);
    const last = terminal(after);
    expect(last.type === EventType.RUN_ERROR && last.code).toBe("PIPELINE_CLOSED");
  });

  it("a second close() (a signal handler and a shutdown path) resolves only once the parts are closed, as the first does", async () => {
    let release = () => {};
    let backendClosed = false;
    const backend = {
      ...scriptedBackend(),
      close: () =>
        new Promise<void>((resolve) => {
          release = () => {
            backendClosed = true;
            resolve();
          };
        }),
    };
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const first = pipeline.close();
    let secondDone = false;
    const second = pipeline.close().then(() => {
      secondDone = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(secondDone).toBe(false);
    release();
    await second;
    expect(backendClosed).toBe(true);
    await first;
  });

  it("the stream judge rejects a malformed stream (the helper can fail)", async () => {
    await expect(
      expectValidStream([
        { type: EventType.RUN_STARTED, threadId: "t", runId: "r" },
        { type: EventType.TEXT_MESSAGE_START, messageId: "m", role: "assistant" },
        { type: EventType.RUN_FINISHED, threadId: "t", runId: "r" },
      ]),
    ).rejects.toThrow(/text messages are still active/);
    await expect(expectValidStream([{ type: EventType.RUN_STARTED, threadId: "t", runId: "r", timestamp: 1.5 }])).rejects.toThrow();
  });
});
