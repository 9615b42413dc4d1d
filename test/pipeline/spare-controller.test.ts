import { describe, expect, it } from "vitest";
import { createZoePipeline, EventType, type ChatChunk, type ModelBackend } from "../../src/index.js";
import { SpareController } from "../../src/pipeline/spare-controller.js";
import { collect, expectValidStream, terminal } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

/** A backend that answers at once and keeps the signal of every call, with whether it had aborted when the call began. */
function signalRecorder() {
  const calls: Array<{ signal: AbortSignal; abortedAtStart: boolean }> = [];
  const backend: ModelBackend = {
    name: "recorder",
    async *chat(_request, { signal }): AsyncIterable<ChatChunk> {
      calls.push({ signal, abortedAtStart: signal.aborted });
      yield { type: "text", text: "hello" };
      yield { type: "done", outputTokens: 1, doneReason: "stop" };
    },
  };
  return { backend, calls };
}

describe("each run's signal, made ahead (SpareController)", () => {
  it("every run gets a signal of its own, never aborted when it starts, over a whole conversation", async () => {
    const { backend, calls } = signalRecorder();
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    for (let turn = 0; turn < 6; turn++) {
      const events = await collect(pipeline.run({ userId: "u", threadId: "t", message: `turn ${turn}` }));
      await expectValidStream(events);
      expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
    }
    expect(calls).toHaveLength(6);
    expect(new Set(calls.map((c) => c.signal)).size).toBe(6);
    expect(calls.every((c) => !c.abortedAtStart)).toBe(true);
    await pipeline.close();
  });

  it("a cancelled run's signal stays its own: the next run starts with a signal that is not aborted", async () => {
    const { backend, calls } = signalRecorder();
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const host = new AbortController();
    for await (const event of pipeline.run({ userId: "u", threadId: "t", message: "first" }, { signal: host.signal })) {
      if (event.type === EventType.TEXT_MESSAGE_CONTENT) host.abort();
    }
    const events = await collect(pipeline.run({ userId: "u", threadId: "t", message: "second" }));
    await expectValidStream(events);
    expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
    expect(calls).toHaveLength(2);
    expect(calls[0]?.signal.aborted).toBe(true);
    expect(calls[1]?.signal).not.toBe(calls[0]?.signal);
    expect(calls[1]?.abortedAtStart).toBe(false);
    expect(calls[1]?.signal.aborted).toBe(false);
    await pipeline.close();
  });

  it("runs at the same time each get their own signal, and cancelling one leaves the others running", async () => {
    const { backend, calls } = signalRecorder();
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const host = new AbortController();
    host.abort();
    const [cancelled, ...finished] = await Promise.all([
      collect(pipeline.run({ userId: "u", threadId: "a", message: "one" }, { signal: host.signal })),
      collect(pipeline.run({ userId: "u", threadId: "b", message: "two" })),
      collect(pipeline.run({ userId: "u", threadId: "c", message: "three" })),
    ]);
    const outcome = terminal(cancelled ?? []);
    expect(outcome.type === EventType.RUN_FINISHED && outcome.outcome).toEqual({ type: "cancelled" });
    for (const events of finished) expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
    expect(calls).toHaveLength(2);
    expect(calls[0]?.signal).not.toBe(calls[1]?.signal);
    expect(calls.every((c) => !c.abortedAtStart)).toBe(true);
    await pipeline.close();
  });

  it("hands out a controller made ahead once, then new ones until it is refilled", () => {
    const spare = new SpareController();
    const first = spare.take();
    const second = spare.take();
    expect(second).not.toBe(first);
    spare.refill();
    const kept = spare.take();
    expect(kept).not.toBe(second);
    spare.refill();
    const waiting = (spare as unknown as { spare: AbortController }).spare;
    spare.refill();
    // Refilling while one waits keeps the one that waits.
    expect(spare.take()).toBe(waiting);
    for (const c of [first, second, kept, waiting]) expect(c.signal.aborted).toBe(false);
  });
});
