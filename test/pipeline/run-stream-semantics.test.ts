import type { AGUIEvent } from "@ag-ui/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { describe, expect, it } from "vitest";
import { createZoePipeline, EventType, type ChatChunk, type ChatRequest, type ModelBackend } from "../../src/index.js";
import { RunStream } from "../../src/pipeline/run-stream.js";
import { scriptedBackend, textChunks, type ScriptStep } from "../../src/testing/index.js";
import { collect, expectValidStream, terminal, textOf } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};
type Pipeline = ReturnType<typeof createZoePipeline>;
const input = { userId: "u", threadId: "t", message: "hi" };
const iter = (p: Pipeline, options = {}) => p.run(input, options)[Symbol.asyncIterator]();

function hostLog(pipeline: Pipeline): string[] {
  const log: string[] = [];
  for (const name of ["run:started", "run:finished", "run:cancelled", "run:error", "history:write"] as const)
    pipeline.on(name, () => log.push(name));
  return log;
}

/** Read until the first event of `type` (inclusive). */
async function readUntil(it: AsyncIterator<AGUIEvent>, type: string, out: AGUIEvent[] = []): Promise<AGUIEvent[]> {
  for (let r = await it.next(); !r.done; r = await it.next()) {
    out.push(r.value);
    if (r.value.type === type) break;
  }
  return out;
}
async function rest(it: AsyncIterator<AGUIEvent>, out: AGUIEvent[] = []): Promise<AGUIEvent[]> {
  for (let r = await it.next(); !r.done; r = await it.next()) out.push(r.value);
  return out;
}

/**
 * What a generator gave for free and the run's queue must keep (found by attacking the change
 * from nested generators to RunStream; each of the first five failed before its fix).
 */
describe("RunStream keeps generator semantics", () => {
  it("concurrent next() calls (not awaited) each settle, in order", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter() });
    const it = iter(pipeline);
    const got: string[] = [];
    const a = it.next();
    const b = it.next();
    void a.then((r) => got.push(`a:${r.value?.type}`));
    void b.then((r) => got.push(`b:${r.value?.type}`));
    await turns(20); // an instant model: the run is over, waiting for its consumer
    // An async generator queues requests: a gets RUN_STARTED, b the next event.
    expect(got).toEqual(["a:RUN_STARTED", "b:STATE_SNAPSHOT"]);
    await expectValidStream([(await a).value, (await b).value, ...(await rest(it))]);
  });

  it("a second return() settles only once the run has stopped (docs/events.md)", async () => {
    const backend = scriptedBackend({ script: textChunks("one two three four five"), chunkDelayMs: 20 });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const log = hostLog(pipeline);
    const it = iter(pipeline);
    await readUntil(it, EventType.TEXT_MESSAGE_CONTENT);
    const first = it.return!();
    await it.return!(); // e.g. an adapter's closeQuietly() racing the loop's own break
    expect(pipeline.activeRuns).toBe(0);
    expect(log).toEqual(["run:started", "run:cancelled"]);
    // The model request was stopped (its signal aborted, its iterator returned). The run does not
    // wait for a backend's own cleanup (a hung one must not hold it): it ends once the loop turns.
    await new Promise((resolve) => setImmediate(resolve));
    expect(backend.active).toBe(0);
    await first;
  });

  it("a consumer that breaks at the answer's last event (STEP_FINISHED generate) cancels the run and stores nothing", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter() });
    const log = hostLog(pipeline);
    for await (const e of pipeline.run(input)) {
      if (e.type === EventType.STEP_FINISHED && e.stepName === "generate") break;
    }
    // Generator semantics: suspended at that yield, the run never reached `remember`. Here
    // `drained()` settles when the event is *taken*, so `remember` writes the turn before the
    // consumer's break, and the run is then reported cancelled with its turn stored.
    expect(log).toEqual(["run:started", "run:cancelled"]);
    expect(await pipeline.history.get("u", "t")).toEqual([]);
    expect(pipeline.activeRuns).toBe(0);
  });

  it("throw() leaves the run, then throws", async () => {
    const backend = scriptedBackend({ script: textChunks("one two three"), chunkDelayMs: 20 });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const it = iter(pipeline);
    await readUntil(it, EventType.TEXT_MESSAGE_CONTENT);
    await expect(it.throw!(new Error("stop"))).rejects.toThrow("stop");
    expect(pipeline.activeRuns).toBe(0);
    expect(backend.cancelled).toBe(1);
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it("a failure of the stages while events are held reaches a waiting consumer after those events", async () => {
    const stream = new RunStream(async (out) => {
      out.hold();
      out.send({ type: EventType.RUN_STARTED, threadId: "t", runId: "r" } as AGUIEvent);
      await Promise.resolve();
      throw new Error("defect");
    });
    // The consumer is already waiting when the stages fail (e.g. a throwing `run:error` listener
    // after a ROUTER_ERROR on a warm run, before the held events were released).
    const first = stream.next();
    await expect(first).resolves.toMatchObject({ done: false, value: { type: EventType.RUN_STARTED } });
    await expect(stream.next()).rejects.toThrow("defect");
  });

  it("retry + tracing: the chat span ends when the run is cancelled during a retry backoff", async () => {
    const exporter = new InMemorySpanExporter();
    const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer("t");
    const backend = scriptedBackend({ script: [{ type: "error", message: "busy", code: "BACKEND_BUSY" }] });
    const pipeline = createZoePipeline({
      backend,
      router: fixedRouter(),
      retry: { attempts: 3, backoffMs: 60_000 },
      telemetry: { tracer },
    });
    const log = hostLog(pipeline);
    const it = iter(pipeline);
    while (backend.requests.length === 0) await it.next();
    await turns(5); // the first try failed: the run waits out its backoff
    await it.return!();
    expect(log).toEqual(["run:started", "run:cancelled"]);
    expect(pipeline.activeRuns).toBe(0);
    // The catch in modelCall awaits delay() before span.fail/end: an abort there leaks the span.
    expect(exporter.getFinishedSpans().map((s) => s.name)).toContain("chat test-model");
  });
});

describe("RunStream under cancellation, failures and slow consumers", () => {
  it("a consumer that never pulls again, then close(): the model stops, run:cancelled once, nothing stored", async () => {
    const backend = scriptedBackend({ script: textChunks("a b c d e f g h i j k l m n o p q r s t u v w x y z ".repeat(4)) });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const log = hostLog(pipeline);
    const it = iter(pipeline);
    const seen = await readUntil(it, EventType.TEXT_MESSAGE_CONTENT);
    await turns(10);
    expect(backend.active).toBe(1); // held back by the backlog, not run ahead
    await pipeline.close();
    await turns(3);
    expect(pipeline.activeRuns).toBe(0);
    expect(backend.active).toBe(0);
    expect(backend.cancelled).toBe(1);
    expect(log).toEqual(["run:started", "run:cancelled"]);
    const events = await rest(it, seen);
    await expectValidStream(events);
    expect(terminal(events)).toMatchObject({ type: EventType.RUN_FINISHED, outcome: { type: "cancelled" } });
  });

  it("return() while next() is pending, and return() before the first next()", async () => {
    const backend = scriptedBackend({ firstChunkDelayMs: 60_000 });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const log = hostLog(pipeline);
    const it = iter(pipeline);
    for (let r = await it.next(); !r.done; r = await it.next()) {
      if (r.value.type === EventType.STEP_STARTED && r.value.stepName === "generate") break;
    }
    await turns(3);
    expect(backend.active).toBe(1);
    const waiting = it.next(); // the model has not answered: this waits
    expect(await it.return!()).toEqual({ value: undefined, done: true });
    expect(await waiting).toEqual({ value: undefined, done: true });
    expect(pipeline.activeRuns).toBe(0);
    expect(backend.active).toBe(0);
    expect(log).toEqual(["run:started", "run:cancelled"]);
    const unused = iter(pipeline);
    expect(await unused.return!()).toEqual({ value: undefined, done: true });
    expect(await unused.next()).toEqual({ value: undefined, done: true });
    expect(log).toEqual(["run:started", "run:cancelled"]);
  });

  it("a cached answer with a consumer that breaks at the first token: cancelled, nothing new stored, no model call", async () => {
    const backend = scriptedBackend({ script: textChunks("cached answer here") });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), history: { load: 0 }, responseCache: {} });
    await collect(pipeline.run(input));
    const log = hostLog(pipeline);
    for await (const e of pipeline.run(input)) if (e.type === EventType.TEXT_MESSAGE_CONTENT) break;
    expect(log).toEqual(["run:started", "run:cancelled"]);
    expect(await pipeline.history.get("u", "t")).toHaveLength(2);
    expect(backend.requests).toHaveLength(1);
    expect(pipeline.activeRuns).toBe(0);
  });

  it("a backend that throws synchronously, or yields an invalid chunk mid-answer, ends with one RUN_ERROR", async () => {
    const throwing: ModelBackend = {
      name: "throws",
      chat() {
        throw new Error("boom");
      },
    };
    const invalid: ModelBackend = {
      name: "invalid",
      async *chat() {
        yield { type: "text", text: "hi " };
        yield { type: "bogus" } as unknown as ChatChunk;
      },
    };
    for (const [backend, code] of [
      [throwing, "MODEL_ERROR"],
      [invalid, "MODEL_INVALID_CHUNK"],
    ] as const) {
      const pipeline = createZoePipeline({ backend, router: fixedRouter() });
      const log = hostLog(pipeline);
      const events = await collect(pipeline.run(input));
      await expectValidStream(events);
      expect(terminal(events)).toMatchObject({ type: EventType.RUN_ERROR, code });
      expect(log).toEqual(["run:started", "run:error"]);
      expect(pipeline.activeRuns).toBe(0);
    }
  });

  it("a slow consumer with server tools and code blocks gets the whole answer, valid and in order", async () => {
    const script = (request: ChatRequest): ScriptStep[] =>
      request.messages.at(-1)!.role === "tool"
        ? [...textChunks(`Now code:\n\`\`\`js\n1+1\n\`\`\`\n${"word ".repeat(80)}`), { type: "done" }]
        : [...textChunks("word ".repeat(40)), { type: "tool_call", call: { id: "c1", name: "clock", arguments: {} } }];
    const backend = scriptedBackend({ script });
    const pipeline = createZoePipeline({
      backend,
      router: fixedRouter(),
      tools: [{ name: "clock", execute: async () => "noon" }],
      codeExecutor: { languages: ["js"], execute: async () => ({ ok: true, output: "2" }) },
    });
    const events: AGUIEvent[] = [];
    for await (const e of pipeline.run(input)) {
      events.push(e);
      if (events.length % 5 === 0) await turns(1);
    }
    await expectValidStream(events);
    expect(textOf(events)).toBe(`${"word ".repeat(40)}Now code:\n\`\`\`js\n1+1\n\`\`\`\n${"word ".repeat(80)}`);
    const results = events.filter((e) => e.type === EventType.TOOL_CALL_RESULT).map((e) => (e as { content: string }).content);
    expect(results).toEqual(["noon", "2"]);
    expect(await pipeline.history.get("u", "t")).toHaveLength(2);
  });

  it("options.signal aborting while the consumer has stopped reading closes the model and ends the stream cancelled", async () => {
    const backend = scriptedBackend({ script: textChunks("x ".repeat(500)) });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const log = hostLog(pipeline);
    const controller = new AbortController();
    const it = iter(pipeline, { signal: controller.signal });
    const seen = await readUntil(it, EventType.TEXT_MESSAGE_CONTENT);
    await turns(10);
    controller.abort();
    await turns(3);
    expect(backend.active).toBe(0);
    expect(pipeline.activeRuns).toBe(0);
    const events = await rest(it, seen);
    await expectValidStream(events);
    expect(terminal(events)).toMatchObject({ type: EventType.RUN_FINISHED, outcome: { type: "cancelled" } });
    expect(log).toEqual(["run:started", "run:cancelled"]);
    expect(await pipeline.history.get("u", "t")).toEqual([]);
  });
});
