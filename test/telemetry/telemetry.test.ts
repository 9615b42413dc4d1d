import { Writable } from "node:stream";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { createZoePipeline, ModelError, type ChatChunk, type ModelBackend, type RunMetrics } from "../../src/index.js";
import { scriptedBackend } from "../../src/testing/index.js";
import { runValid, terminal } from "../helpers/ag-ui.js";
import { fixedRouter, testProvider } from "../helpers/fixtures.js";

function tracer() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { tracer: provider.getTracer("test"), spans: () => exporter.getFinishedSpans() };
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

describe("OpenTelemetry spans", () => {
  it("a run is one span with a child per stage, provider, model call, tool and code run (GenAI attributes)", async () => {
    const { tracer: t, spans } = tracer();
    let calls = 0;
    const backend = scriptedBackend({
      script: () =>
        calls++ === 0
          ? [
              { type: "tool_call", call: { id: "c1", name: "clock", arguments: {} } },
              { type: "done", inputTokens: 30, outputTokens: 5, doneReason: "tool_calls" },
            ]
          : [
              { type: "text", text: "It is noon.\n```js\n1+1\n```\n" },
              { type: "done", inputTokens: 40, outputTokens: 6, doneReason: "stop" },
            ],
    });
    const pipeline = createZoePipeline({
      backend,
      router: fixedRouter("chat", "llama3.2"),
      telemetry: { tracer: t },
      providers: [testProvider("profile", "Ada"), testProvider("slow", "x", { delayMs: 5_000, timeoutMs: 20 })],
      tools: [{ name: "clock", execute: () => "12:00" }],
      codeExecutor: { languages: ["js"], execute: async () => ({ ok: true, output: "2" }) },
    });
    await runValid(pipeline.run({ userId: "u", threadId: "t1", message: "what time is it" }));
    await pipeline.close();
    const all = spans();
    const byName = new Map(all.map((s) => [s.name, s]));
    const root = byName.get("invoke_agent zoe")!;
    expect(root.attributes).toMatchObject({
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.conversation.id": "t1",
      "zoe.outcome": "success",
      "zoe.route.kind": "chat",
      "gen_ai.usage.output_tokens": 11,
    });
    for (const stage of ["zoe.route", "zoe.context", "zoe.prompt", "zoe.remember"]) {
      expect(parentOf(byName.get(stage)!), stage).toBe(root.spanContext().spanId);
    }
    expect(byName.get("zoe.route")!.attributes).toMatchObject({ "zoe.route.kind": "chat", "gen_ai.request.model": "llama3.2" });
    const context = byName.get("zoe.context")!;
    expect(parentOf(byName.get("zoe.provider profile")!)).toBe(context.spanContext().spanId);
    expect(byName.get("zoe.provider slow")!.attributes).toMatchObject({ "zoe.provider.status": "timeout" });
    expect(byName.get("zoe.provider slow")!.status.code).toBe(2); // ERROR
    const chats = all.filter((s) => s.name === "chat llama3.2");
    expect(chats).toHaveLength(2);
    expect(chats[0]!.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "scripted",
      "gen_ai.request.model": "llama3.2",
      "gen_ai.usage.input_tokens": 30,
      "gen_ai.usage.output_tokens": 5,
      "gen_ai.response.finish_reasons": ["tool_calls"],
    });
    expect(byName.get("execute_tool clock")!.attributes).toMatchObject({
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.call.id": "c1",
    });
    expect(byName.get("zoe.code js")!.attributes).toMatchObject({ "zoe.code.ok": true });
    // Every span belongs to the run's trace; none is left open.
    expect(new Set(all.map((s) => s.spanContext().traceId)).size).toBe(1);
  });

  it("a failed run's span carries its error code", async () => {
    const { tracer: t, spans } = tracer();
    const pipeline = createZoePipeline({
      backend: scriptedBackend({ script: [{ type: "error", message: "nope", code: "BACKEND_ERROR" }] }),
      router: fixedRouter(),
      telemetry: { tracer: t },
    });
    const events = await runValid(pipeline.run({ userId: "u", message: "hi" }));
    expect(terminal(events)).toMatchObject({ code: "BACKEND_ERROR" });
    const root = spans().find((s) => s.name === "invoke_agent zoe")!;
    expect(root.status.code).toBe(2);
    expect(root.attributes["error.type"]).toBe("BACKEND_ERROR");
    expect(spans().find((s) => s.name.startsWith("chat "))!.attributes["error.type"]).toBe("BACKEND_ERROR");
    await pipeline.close();
  });

  it("with no tracer provider registered, the global tracer records nothing and the run is unchanged", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter() });
    const events = await runValid(pipeline.run({ userId: "u", message: "hi" }));
    expect(terminal(events).type).toBe("RUN_FINISHED");
    await pipeline.close();
  });
});

describe("logger (pino)", () => {
  function capture() {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split("\n")) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    return { logger: pino({ level: "info" }, stream), lines };
  }

  it("one info line per run with outcome and timings, warnings for fallbacks, errors with codes, never the user's text", async () => {
    const { logger, lines } = capture();
    const secret = "my secret diagnosis is xyzzy";
    let fail = false;
    const pipeline = createZoePipeline({
      backend: scriptedBackend({
        script: () => (fail ? [{ type: "error", message: "down", code: "BACKEND_UNREACHABLE" }] : [{ type: "text", text: "ok" }]),
      }),
      router: fixedRouter(),
      logger,
      providers: [testProvider("slow", "x", { delayMs: 5_000, timeoutMs: 20 })],
      systemPrompt: () => {
        throw new Error("template missing");
      },
    });
    await runValid(pipeline.run({ userId: "u", runId: "r1", message: secret }));
    fail = true;
    await runValid(pipeline.run({ userId: "u", runId: "r2", message: secret }));
    await pipeline.close();
    const info = lines.filter((l) => l.level === 30);
    const warn = lines.filter((l) => l.level === 40);
    const error = lines.filter((l) => l.level === 50);
    expect(info).toEqual([
      expect.objectContaining({
        msg: "zoe run finished",
        runId: "r1",
        outcome: "success",
        totalMs: expect.any(Number),
        stages: expect.any(Object),
      }),
    ]);
    expect(warn.map((l) => l.msg)).toEqual(expect.arrayContaining(["zoe context provider timed out", "zoe system prompt fallback"]));
    expect(error).toEqual([expect.objectContaining({ msg: "zoe run failed", runId: "r2", code: "BACKEND_UNREACHABLE" })]);
    expect(JSON.stringify(lines)).not.toContain("xyzzy");
  });
});

describe("retries (opt-in)", () => {
  /** Fails `failures` times before its first chunk with `code`, then answers. */
  function flaky(failures: number, code: string): ModelBackend & { calls: number } {
    const backend = {
      name: "flaky",
      calls: 0,
      async *chat(): AsyncGenerator<ChatChunk> {
        backend.calls++;
        if (backend.calls <= failures) throw new ModelError("busy", { code });
        yield { type: "text", text: "answer" };
      },
    };
    return backend;
  }

  it("retries a call that failed before its first chunk with a transient error, and counts it", async () => {
    const backend = flaky(2, "BACKEND_BUSY");
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), retry: { attempts: 2, backoffMs: 1 } });
    const events = await runValid(pipeline.run({ userId: "u", message: "hi" }));
    const result = terminal(events) as { result: { metrics: RunMetrics } };
    expect(result.result.metrics.retries).toBe(2);
    expect(backend.calls).toBe(3);
    await pipeline.close();
  });

  it("does not retry by default, nor errors that another try would meet again", async () => {
    for (const [options, code] of [
      [undefined, "BACKEND_BUSY"],
      [{ attempts: 3, backoffMs: 1 }, "MODEL_NOT_FOUND"],
    ] as const) {
      const backend = flaky(1, code);
      const pipeline = createZoePipeline({ backend, router: fixedRouter(), ...(options ? { retry: options } : {}) });
      const events = await runValid(pipeline.run({ userId: "u", message: "hi" }));
      expect(terminal(events)).toMatchObject({ type: "RUN_ERROR", code });
      expect(backend.calls).toBe(1);
      await pipeline.close();
    }
  });
});

describe("a tracer that throws", () => {
  it("loses its spans, never the run: a tracer throwing from startSpan, and one whose spans throw", async () => {
    const throwing = {
      startSpan: () => {
        throw new Error("tracer down");
      },
    } as never;
    const { tracer: real } = tracer();
    const brokenSpans = {
      startSpan: (...args: Parameters<typeof real.startSpan>) => {
        const span = real.startSpan(...args);
        span.end = () => {
          throw new Error("end failed");
        };
        span.setAttributes = () => {
          throw new Error("attributes failed");
        };
        return span;
      },
    } as never;
    for (const t of [throwing, brokenSpans]) {
      const pipeline = createZoePipeline({
        backend: scriptedBackend({ script: () => [{ type: "text", text: "fine" }] }),
        router: fixedRouter(),
        telemetry: { tracer: t },
        providers: [testProvider("profile", "Ada")],
      });
      const events = await runValid(pipeline.run({ userId: "u", threadId: "t", message: "hi" }));
      expect(terminal(events).type).toBe("RUN_FINISHED");
      expect(pipeline.activeRuns).toBe(0);
      await pipeline.close();
    }
  });
});
