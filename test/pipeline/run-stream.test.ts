import type { AGUIEvent } from "@ag-ui/core";
import { describe, expect, it } from "vitest";
import { type ChatChunk, type ChatRequest, createZoePipeline, EventType, type ModelBackend } from "../../src/index.js";
import { RunStream, STREAM_BACKLOG } from "../../src/pipeline/run-stream.js";
import { readyTaker, TAKE_READY } from "../../src/pipeline/take-ready.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { expectValidStream } from "../helpers/ag-ui.js";

const ev = (n: number): AGUIEvent => ({ type: EventType.CUSTOM, name: `e${n}`, value: n }) as AGUIEvent;
const names = (events: AGUIEvent[]) => events.map((e) => (e as { name: string }).name);
const turn = () => new Promise((r) => setImmediate(r));

async function drain(stream: AsyncIterable<AGUIEvent>): Promise<AGUIEvent[]> {
  const out: AGUIEvent[] = [];
  for await (const e of stream) out.push(e);
  return out;
}

describe("RunStream: the events of one run, pushed by the stages and pulled by the consumer", () => {
  it("starts on the first next(), delivers in order, then ends", async () => {
    let started = 0;
    const stream = new RunStream(async (out) => {
      started++;
      out.send(ev(1));
      await Promise.resolve();
      out.send(ev(2));
      out.send(ev(3));
    });
    await turn();
    expect(started).toBe(0);
    expect(names(await drain(stream))).toEqual(["e1", "e2", "e3"]);
    expect(started).toBe(1);
    expect(await stream.next()).toEqual({ value: undefined, done: true });
  });

  it("return() before the first next() runs nothing", async () => {
    let started = 0;
    const stream = new RunStream(async () => {
      started++;
    });
    expect(await stream.return()).toEqual({ value: undefined, done: true });
    expect(await stream.next()).toEqual({ value: undefined, done: true });
    expect(started).toBe(0);
  });

  it("held events wait for release(), then go out in order", async () => {
    let release: (() => void) | undefined;
    const stream = new RunStream(async (out) => {
      out.hold();
      out.send(ev(1));
      out.send(ev(2));
      release = () => out.release();
      await new Promise<void>((r) => setTimeout(r, 20));
      out.send(ev(3));
    });
    let got: IteratorResult<AGUIEvent> | undefined;
    const first = stream.next().then((r) => {
      got = r;
    });
    await Promise.resolve();
    await Promise.resolve();
    expect(got).toBeUndefined();
    release?.();
    await first;
    expect(names([got!.value])).toEqual(["e1"]);
    expect(names(await drain(stream))).toEqual(["e2", "e3"]);
  });

  it("held events go out when the event loop turns (a run waiting on I/O still shows progress)", async () => {
    const stream = new RunStream(async (out) => {
      out.hold();
      out.send(ev(1));
      await new Promise<void>((r) => setTimeout(r, 50));
      out.send(ev(2));
    });
    const first = await stream.next();
    expect(names([first.value])).toEqual(["e1"]);
    // it came before the stage's wait ended: the second event is not there yet
    expect(stream.backlog).toBe(0);
    expect(names(await drain(stream))).toEqual(["e2"]);
  });

  it("drained() settles once the consumer has taken every event, or at once when there is none", async () => {
    const order: string[] = [];
    const stream = new RunStream(async (out) => {
      out.send(ev(1));
      out.send(ev(2));
      const signal = new AbortController().signal;
      const wait = out.drained(signal);
      expect(wait).toBeInstanceOf(Promise);
      await wait;
      order.push(`drained with backlog ${out.backlog}`);
      expect(out.drained(signal)).toBeUndefined();
      out.send(ev(3));
    });
    for await (const e of stream) order.push((e as { name: string }).name);
    // "Taken" is handed to the consumer: the wait ends as its loop receives the last event.
    expect(order.indexOf("drained with backlog 0")).toBeGreaterThan(order.indexOf("e1"));
    expect(order.filter((x) => x.startsWith("e"))).toEqual(["e1", "e2", "e3"]);
    expect(order.at(-1)).toBe("e3");
  });

  it("drained() settles when the run's signal aborts, even if the consumer never reads again", async () => {
    const controller = new AbortController();
    let after: string | undefined;
    const stream = new RunStream(async (out) => {
      out.send(ev(1));
      out.send(ev(2));
      await out.drained(controller.signal);
      after = controller.signal.aborted ? "aborted" : "drained";
    });
    await stream.next(); // takes e1; e2 waits
    controller.abort();
    await turn();
    expect(after).toBe("aborted");
  });

  it("a consumer leaving stops the run (onLeave), wakes a waiting stage, drops later events and waits for the stages to end", async () => {
    const steps: string[] = [];
    const controller = new AbortController();
    const stream = new RunStream(async (out) => {
      out.onLeave = () => {
        steps.push("left");
        controller.abort();
      };
      out.send(ev(1));
      out.send(ev(2));
      await out.drained(controller.signal);
      out.send(ev(3));
      await new Promise<void>((r) => setTimeout(r, 20));
      steps.push("stages ended");
    });
    const first = await stream.next();
    expect(names([first.value])).toEqual(["e1"]);
    await stream.return();
    expect(steps).toEqual(["left", "stages ended"]);
    expect(stream.backlog).toBe(0);
    expect(await stream.next()).toEqual({ value: undefined, done: true });
  });

  it("a failure of the stages themselves (a defect) reaches the consumer after the events sent before it", async () => {
    const stream = new RunStream(async (out) => {
      out.send(ev(1));
      throw new Error("defect");
    });
    expect(names([(await stream.next()).value])).toEqual(["e1"]);
    await expect(stream.next()).rejects.toThrow("defect");
    expect(await stream.next()).toEqual({ value: undefined, done: true });
  });
});

describe("RunStream[TAKE_READY]: an event next() would answer at once, without a promise", () => {
  it("hands over what is queued, in order; nothing before the first next(), nothing while held or while a next() waits", async () => {
    let release: (() => void) | undefined;
    const stream = new RunStream(async (out) => {
      out.send(ev(1));
      out.send(ev(2));
      await turn();
      out.hold();
      out.send(ev(3));
      release = () => out.release();
      await new Promise<void>((r) => setTimeout(r, 20));
      out.send(ev(4));
    });
    const take = readyTaker(stream)!;
    expect(take).toBeTypeOf("function");
    expect(take()).toBeUndefined(); // not started
    const first = await stream.next();
    expect(names([first.value])).toEqual(["e1"]);
    expect(names([take()!])).toEqual(["e2"]);
    expect(take()).toBeUndefined(); // nothing queued yet
    await turn();
    expect(stream.backlog).toBe(1);
    expect(take()).toBeUndefined(); // e3 is held
    // A next() waiting is served first: take() never jumps the queue.
    const pending = stream.next();
    release?.();
    expect(take()).toBeUndefined();
    expect(names([(await pending).value])).toEqual(["e3"]);
    expect(names(await drain(stream))).toEqual(["e4"]);
    expect(take()).toBeUndefined();
  });

  it("taking every event does not let a run waiting in drained() go on: it goes on when next() asks for more", async () => {
    const order: string[] = [];
    const stream = new RunStream(async (out) => {
      out.send(ev(1));
      out.send(ev(2));
      out.send(ev(3));
      await out.drained(new AbortController().signal);
      order.push("committed");
      out.send(ev(4));
    });
    const take = readyTaker(stream)!;
    order.push(names([(await stream.next()).value])[0]!);
    for (let e = take(); e; e = take()) order.push(names([e])[0]!);
    await turn();
    expect(order).toEqual(["e1", "e2", "e3"]);
    expect(names([(await stream.next()).value])).toEqual(["e4"]);
    expect(order).toEqual(["e1", "e2", "e3", "committed"]);
  });

  it("after return(), and for any other iterator, there is nothing to take", async () => {
    const stream = new RunStream(async (out) => {
      out.send(ev(1));
      out.send(ev(2));
      await new Promise<void>((r) => setTimeout(r, 10));
    });
    await stream.next();
    await stream.return();
    expect(stream[TAKE_READY](stream)).toBeUndefined();
    async function* generator() {
      yield ev(1);
    }
    expect(readyTaker(generator())).toBeUndefined();
  });
});

/** A backend streaming `n` chunks that counts how many it was asked for. */
function countingBackend(n: number) {
  const state = { pulled: 0, closed: false };
  const backend: ModelBackend = {
    name: "counting",
    async *chat(_request: ChatRequest): AsyncGenerator<ChatChunk> {
      try {
        for (let i = 0; i < n; i++) {
          state.pulled++;
          yield { type: "text", text: `t${i} ` };
        }
        yield { type: "done" };
      } finally {
        state.closed = true;
      }
    },
  };
  return { backend, state };
}

describe("the pipeline over RunStream", () => {
  it("a consumer that stops reading holds the model back: the backend is not driven ahead of the stream", async () => {
    const { backend, state } = countingBackend(2_000);
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const it = pipeline.run({ userId: "u", threadId: "t", message: "long answer" })[Symbol.asyncIterator]();
    let e = await it.next();
    while (!e.done && e.value.type !== EventType.TEXT_MESSAGE_CONTENT) e = await it.next();
    for (let i = 0; i < 20; i++) await turn(); // the consumer pauses
    expect(state.pulled).toBeGreaterThan(0);
    expect(state.pulled).toBeLessThanOrEqual(STREAM_BACKLOG + 2);
    await it.return?.();
    expect(state.closed).toBe(true);
    expect(pipeline.activeRuns).toBe(0);
  });

  it("a consumer leaving before the whole answer reached it cancels the run, even when the model already finished: nothing is stored", async () => {
    const backend = scriptedBackend({ script: [...textChunks("a short answer"), { type: "done" }] });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const host: string[] = [];
    pipeline.on("run:finished", () => host.push("finished"));
    pipeline.on("run:cancelled", () => host.push("cancelled"));
    pipeline.on("history:write", () => host.push("history"));
    for await (const e of pipeline.run({ userId: "u", threadId: "t", message: "hi there" })) {
      if (e.type === EventType.TEXT_MESSAGE_CONTENT) break;
    }
    expect(host).toEqual(["cancelled"]);
    expect(await pipeline.history.get("u", "t")).toEqual([]);
    expect(pipeline.activeRuns).toBe(0);
    // and a run read to the end still completes and stores its turn
    const events = [];
    for await (const e of pipeline.run({ userId: "u", threadId: "t", message: "hi there" })) events.push(e);
    await expectValidStream(events);
    expect(host).toEqual(["cancelled", "history", "finished"]);
    expect((await pipeline.history.get("u", "t")).length).toBe(2);
  });

  it("a long answer read slowly arrives whole and in order", async () => {
    const { backend } = countingBackend(500);
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    let text = "";
    const events: AGUIEvent[] = [];
    for await (const e of pipeline.run({ userId: "u", threadId: "t", message: "long answer" })) {
      events.push(e);
      if (e.type === EventType.TEXT_MESSAGE_CONTENT) {
        text += e.delta;
        if (text.length % 7 === 0) await turn();
      }
    }
    await expectValidStream(events);
    expect(text).toBe(Array.from({ length: 500 }, (_, i) => `t${i} `).join(""));
  });
});
