/**
 * Defects of the OpenTelemetry spans found by an attack (spans nesting, figures, clocks, hostile
 * tracers and context managers, cancellation, failures): each test describes the behaviour a host
 * relies on.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { context, ROOT_CONTEXT, SpanKind, type Context, type ContextManager, type Tracer } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type Span,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createZoePipeline, ModelError, type ChatChunk, type ModelBackend, type Router } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid, terminal } from "../helpers/ag-ui.js";
import { fixedRouter, sleep, testProvider } from "../helpers/fixtures.js";

/** An SDK tracer with an in-memory exporter, and the spans started but not ended. */
function tracer() {
  const exporter = new InMemorySpanExporter();
  const open = new Set<unknown>();
  const tracking: SpanProcessor = {
    onStart: (span) => void open.add(span),
    onEnd: (span) => void open.delete(span),
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const provider = new BasicTracerProvider({ spanProcessors: [tracking, new SimpleSpanProcessor(exporter)] });
  return {
    provider,
    tracer: provider.getTracer("test"),
    spans: () => exporter.getFinishedSpans(),
    open: () => [...open].map((s) => (s as Span).name),
  };
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const named = (spans: ReadableSpan[], name: string) => {
  const found = spans.find((s) => s.name === name);
  if (!found) throw new Error(`no span "${name}" in ${spans.map((s) => s.name).join(", ")}`);
  return found;
};
const millis = (t: [number, number]) => t[0] * 1e3 + t[1] / 1e6;

/** A context manager on AsyncLocalStorage, as `@opentelemetry/context-async-hooks` (and NodeSDK) registers. */
class AlsContextManager implements ContextManager {
  private readonly als = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.als.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A) {
    return this.als.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable() {
    return this;
  }
  disable() {
    this.als.disable();
    return this;
  }
}

afterEach(() => {
  context.disable();
  vi.restoreAllMocks();
});

describe("spans made by the backend, tools and providers (a context manager registered)", () => {
  it("are children of chat / execute_tool / zoe.provider, all in the run's one trace", async () => {
    context.setGlobalContextManager(new AlsContextManager());
    const t = tracer();
    const lib = t.provider.getTracer("instrumentation");
    let calls = 0;
    const backend: ModelBackend = {
      name: "ollama",
      async *chat(): AsyncGenerator<ChatChunk> {
        lib.startSpan(`backend http ${calls}`).end();
        if (calls++ === 0) {
          yield { type: "tool_call", call: { id: "c1", name: "lookup", arguments: {} } };
          yield { type: "done", doneReason: "tool_calls" };
        } else yield { type: "text", text: "done" };
      },
    };
    const pipeline = createZoePipeline({
      backend,
      router: fixedRouter(),
      telemetry: { tracer: t.tracer },
      providers: [
        {
          name: "crm",
          fetch: async () => {
            await sleep(1);
            lib.startSpan("provider db").end();
            return "x";
          },
        },
      ],
      tools: [
        {
          name: "lookup",
          execute: async () => {
            await sleep(1);
            lib.startSpan("tool http").end();
            return "ok";
          },
        },
      ],
    });
    await runValid(pipeline.run({ userId: "u", message: "hi" }));
    await pipeline.close();
    const all = t.spans();
    const chats = all.filter((s) => s.name === "chat test-model");
    expect(chats).toHaveLength(2);
    expect(parentOf(named(all, "backend http 0"))).toBe(idOf(chats[0]!));
    expect(parentOf(named(all, "backend http 1"))).toBe(idOf(chats[1]!));
    expect(parentOf(named(all, "tool http"))).toBe(idOf(named(all, "execute_tool lookup")));
    expect(parentOf(named(all, "provider db"))).toBe(idOf(named(all, "zoe.provider crm")));
    expect(new Set(all.map((s) => s.spanContext().traceId)).size).toBe(1);
    // The live spans cover the work they stand for: each ended after the spans made in it (the
    // exporter lists spans as they end).
    const endOrder = all.map((s) => s.name);
    expect(endOrder.indexOf("tool http")).toBeLessThan(endOrder.indexOf("execute_tool lookup"));
    expect(endOrder.indexOf("provider db")).toBeLessThan(endOrder.indexOf("zoe.provider crm"));
    expect(t.open()).toEqual([]);
  });
});

describe("chat span figures", () => {
  it("leaves out token counts and request options that are not valid numbers", async () => {
    for (const done of [
      { outputTokens: Number.NaN, inputTokens: -5, doneReason: "stop" },
      { outputTokens: Number.POSITIVE_INFINITY, inputTokens: Number.NEGATIVE_INFINITY },
      { outputTokens: "12", inputTokens: "7" },
    ]) {
      const t = tracer();
      const backend: ModelBackend = {
        name: "custom",
        async *chat(): AsyncGenerator<ChatChunk> {
          yield { type: "text", text: "hello there" };
          yield { type: "done", ...done } as unknown as ChatChunk;
        },
      };
      const router: Router = {
        route: () => ({
          model: "m",
          kind: "chat",
          fastPath: false,
          reason: "test",
          options: { num_predict: Number.NaN, temperature: Number.POSITIVE_INFINITY, top_p: "0.9" },
        }),
      };
      const pipeline = createZoePipeline({ backend, router, telemetry: { tracer: t.tracer } });
      await runValid(pipeline.run({ userId: "u", message: "hi" }));
      await pipeline.close();
      const chat = named(t.spans(), "chat m");
      for (const key of [
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.input_tokens",
        "gen_ai.request.max_tokens",
        "gen_ai.request.temperature",
        "gen_ai.request.top_p",
      ]) {
        expect(chat.attributes, `${key} with ${JSON.stringify(done)}`).not.toHaveProperty([key]);
      }
    }
  });

  it("keeps valid request options (max_tokens a non-negative integer, temperature and top_p finite)", async () => {
    const t = tracer();
    const route = (options: Record<string, unknown>): Router => ({
      route: () => ({ model: "m", kind: "chat", fastPath: false, reason: "test", options }),
    });
    for (const [options, expected] of [
      [
        { num_predict: 128, temperature: 0.2, top_p: 0.9 },
        { "gen_ai.request.max_tokens": 128, "gen_ai.request.temperature": 0.2, "gen_ai.request.top_p": 0.9 },
      ],
      [{ num_predict: 1.5, temperature: 0 }, { "gen_ai.request.temperature": 0 }],
      [{ num_predict: -1 }, {}],
    ] as const) {
      const pipeline = createZoePipeline({ backend: scriptedBackend(), router: route(options), telemetry: { tracer: t.tracer } });
      await runValid(pipeline.run({ userId: "u", message: "hi" }));
      await pipeline.close();
      const chat = t
        .spans()
        .filter((s) => s.name === "chat m")
        .at(-1)!;
      const requested = Object.fromEntries(
        Object.entries(chat.attributes).filter(([k]) => k.startsWith("gen_ai.request.") && k !== "gen_ai.request.model"),
      );
      expect(requested).toEqual(expected);
    }
  });
});

describe("spans recorded after the fact", () => {
  it("stay within their parent when the wall clock has moved since the process started", async () => {
    const realNow = Date.now.bind(Date);
    // A wall clock 1.5 s ahead of performance.timeOrigin + performance.now() (an NTP step).
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + 1_500);
    const t = tracer();
    let calls = 0;
    const pipeline = createZoePipeline({
      backend: scriptedBackend({
        script: () =>
          calls++ === 0
            ? [{ type: "tool_call", call: { id: "c1", name: "clock", arguments: {} } }]
            : [{ type: "text", text: "ok\n```js\n1\n```\n" }],
      }),
      router: fixedRouter(),
      telemetry: { tracer: t.tracer },
      providers: [testProvider("profile", "Ada", { delayMs: 2 })],
      tools: [{ name: "clock", execute: () => "12:00" }],
      codeExecutor: { languages: ["js"], execute: async () => ({ ok: true, output: "1" }) },
    });
    await runValid(pipeline.run({ userId: "u", message: "hi" }));
    await pipeline.close();
    const all = t.spans();
    expect(all.map((s) => s.name)).toContain("zoe.code js");
    const byId = new Map(all.map((s) => [idOf(s), s]));
    const outside: string[] = [];
    for (const span of all) {
      const parent = byId.get(parentOf(span) ?? "");
      if (!parent) continue;
      // Each span's clock correction is read from Date.now() (whole milliseconds): a few ms of slack.
      if (millis(span.startTime) < millis(parent.startTime) - 5) outside.push(`${span.name} starts before ${parent.name}`);
      if (millis(span.endTime) > millis(parent.endTime) + 5) outside.push(`${span.name} ends after ${parent.name}`);
    }
    expect(outside).toEqual([]);
  });
});

describe("a hostile tracer or context manager", () => {
  it.each([
    ["after its first call", 1],
    ["on every call", 0],
  ])("a context manager whose active() throws %s: the run ends well, nothing left open", async (_when, working) => {
    let n = 0;
    const manager: ContextManager = {
      active: () => {
        if (++n > working) throw new Error("context manager down");
        return ROOT_CONTEXT;
      },
      with: (_ctx, fn, thisArg, ...args) => fn.call(thisArg, ...args),
      bind: (_ctx, target) => target,
      enable() {
        return this;
      },
      disable() {
        return this;
      },
    };
    context.setGlobalContextManager(manager);
    const t = tracer();
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), telemetry: { tracer: t.tracer } });
    const events = await runValid(pipeline.run({ userId: "u", message: "hi" }));
    expect(terminal(events).type).toBe("RUN_FINISHED");
    expect(pipeline.activeRuns).toBe(0);
    expect(t.open()).toEqual([]);
    await pipeline.close();
  });

  it("a span whose setAttribute, setStatus or isRecording throws is still ended", async () => {
    for (const method of ["setAttribute", "setStatus", "isRecording"] as const) {
      const t = tracer();
      const hostile = {
        startSpan: (...args: Parameters<Tracer["startSpan"]>) => {
          const span = t.tracer.startSpan(...args);
          span[method] = () => {
            throw new Error(`${method} failed`);
          };
          return span;
        },
      } as unknown as Tracer;
      let calls = 0;
      const pipeline = createZoePipeline({
        backend: scriptedBackend({
          script: () =>
            calls++ === 0 ? [{ type: "tool_call", call: { id: "c1", name: "broken", arguments: {} } }] : [{ type: "text", text: "ok" }],
        }),
        router: fixedRouter(),
        telemetry: { tracer: hostile },
        providers: [testProvider("profile", "Ada"), testProvider("bad", "x", { fail: true })],
        tools: [
          {
            name: "broken",
            execute: () => {
              throw new Error("tool failed");
            },
          },
        ],
      });
      const events = await runValid(pipeline.run({ userId: "u", message: "hi" }));
      expect(terminal(events).type).toBe("RUN_FINISHED");
      expect(t.open(), method).toEqual([]);
      await pipeline.close();
    }
  });
});

describe("retries", () => {
  it("a model call that fails after exhausting its retries records them", async () => {
    const t = tracer();
    const backend: ModelBackend = {
      name: "flaky",
      // biome-ignore lint/correctness/useYield: fails before its first chunk
      async *chat(): AsyncGenerator<ChatChunk> {
        throw new ModelError("busy", { code: "BACKEND_BUSY" });
      },
    };
    const pipeline = createZoePipeline({
      backend,
      router: fixedRouter(),
      telemetry: { tracer: t.tracer },
      retry: { attempts: 2, backoffMs: 1 },
    });
    const events = await runValid(pipeline.run({ userId: "u", message: "hi" }));
    expect(terminal(events)).toMatchObject({ type: "RUN_ERROR", code: "BACKEND_BUSY" });
    await pipeline.close();
    const chat = named(t.spans(), "chat test-model");
    expect(chat.attributes).toMatchObject({ "zoe.retries": 2, "error.type": "BACKEND_BUSY" });
  });
});

describe("cancellation is not a failure", () => {
  const notFailed = (span: ReadableSpan) => {
    expect(span.status.code, span.name).not.toBe(2);
    expect(span.attributes, span.name).not.toHaveProperty(["error.type"]);
    expect(span.attributes["zoe.outcome"], span.name).toBe("cancelled");
  };

  it("a run cancelled during the model call: the chat span and the root are cancelled, not failed", async () => {
    const t = tracer();
    const pipeline = createZoePipeline({
      backend: scriptedBackend({
        script: [
          { type: "text", text: "a" },
          { type: "delay", ms: 10_000 },
          { type: "text", text: "b" },
        ],
      }),
      router: fixedRouter(),
      telemetry: { tracer: t.tracer },
    });
    const host = new AbortController();
    for await (const event of pipeline.run({ userId: "u", message: "hi" }, { signal: host.signal })) {
      if (event.type === "TEXT_MESSAGE_CONTENT") host.abort();
    }
    await pipeline.close();
    notFailed(named(t.spans(), "chat test-model"));
    notFailed(named(t.spans(), "invoke_agent zoe"));
  });

  it("a run cancelled during a stage: the stage span is cancelled, not failed, and a provider still running has its span ended", async () => {
    const t = tracer();
    const host = new AbortController();
    const pipeline = createZoePipeline({
      backend: scriptedBackend(),
      router: fixedRouter(),
      telemetry: { tracer: t.tracer },
      providers: [
        {
          name: "deaf",
          timeoutMs: 10_000,
          // Cancels the run, then never answers (nor listens to its signal).
          fetch: () => {
            host.abort();
            return new Promise<string>(() => {});
          },
        },
      ],
    });
    const events = await runValid(pipeline.run({ userId: "u", message: "hi" }, { signal: host.signal }));
    expect(terminal(events)).toMatchObject({ type: "RUN_FINISHED", outcome: { type: "cancelled" } });
    expect(t.open()).toEqual([]);
    notFailed(named(t.spans(), "zoe.context"));
    notFailed(named(t.spans(), "zoe.provider deaf"));
    await pipeline.close();
  });
});

describe("span kinds", () => {
  it("a model call is a CLIENT span; the in-process llama.cpp engine's is INTERNAL", async () => {
    for (const [name, kind] of [
      ["ollama", SpanKind.CLIENT],
      ["llama-cpp", SpanKind.INTERNAL],
    ] as const) {
      const t = tracer();
      const backend = Object.assign(scriptedBackend(), { name });
      const pipeline = createZoePipeline({ backend, router: fixedRouter(), telemetry: { tracer: t.tracer } });
      await runValid(pipeline.run({ userId: "u", message: "hi" }));
      await pipeline.close();
      expect(named(t.spans(), "chat test-model").kind, name).toBe(kind);
      expect(named(t.spans(), "invoke_agent zoe").kind).toBe(SpanKind.INTERNAL);
    }
  });
});

describe("token usage is never made up", () => {
  it("a response-cache hit's root span has no usage and no request model, and says it was a cache hit", async () => {
    const t = tracer();
    const backend = scriptedBackend({
      script: [...textChunks("The answer is forty-two."), { type: "done", inputTokens: 20, outputTokens: 9, doneReason: "stop" }],
    });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), telemetry: { tracer: t.tracer }, responseCache: {} });
    await runValid(pipeline.run({ userId: "u", threadId: "t1", message: "what is the answer" }));
    await runValid(pipeline.run({ userId: "u", threadId: "t2", message: "what is the answer" }));
    await pipeline.close();
    expect(backend.requests).toHaveLength(1);
    const [first, second] = t.spans().filter((s) => s.name === "invoke_agent zoe");
    expect(first!.attributes).toMatchObject({ "gen_ai.usage.output_tokens": 9, "gen_ai.request.model": "test-model" });
    expect(second!.attributes["zoe.answer_cache.hit"]).toBe(true);
    for (const key of ["gen_ai.usage.output_tokens", "gen_ai.usage.input_tokens", "gen_ai.request.model"]) {
      expect(second!.attributes).not.toHaveProperty([key]);
    }
  });

  it("a model call whose backend gave no output count has no output usage on its chat span", async () => {
    const t = tracer();
    const pipeline = createZoePipeline({
      backend: scriptedBackend({ script: [...textChunks("three chunks here"), { type: "done", doneReason: "stop" }] }),
      router: fixedRouter(),
      telemetry: { tracer: t.tracer },
    });
    const events = await runValid(pipeline.run({ userId: "u", message: "hi" }));
    await pipeline.close();
    const chat = named(t.spans(), "chat test-model");
    expect(chat.attributes).not.toHaveProperty(["gen_ai.usage.output_tokens"]);
    expect(chat.attributes["gen_ai.response.finish_reasons"]).toEqual(["stop"]);
    // The run's metrics keep their own fallback (the chunks counted).
    expect(terminal(events)).toMatchObject({ result: { metrics: { tokens: { output: 3 } } } });
  });
});

describe("failed or in-flight work leaves a span", () => {
  it("an unknown tool the model called gets an execute_tool span with error.type tool_not_found", async () => {
    const t = tracer();
    let calls = 0;
    const pipeline = createZoePipeline({
      backend: scriptedBackend({
        script: () =>
          calls++ === 0 ? [{ type: "tool_call", call: { id: "c1", name: "nope", arguments: {} } }] : [{ type: "text", text: "ok" }],
      }),
      router: fixedRouter(),
      telemetry: { tracer: t.tracer },
      tools: [{ name: "clock", execute: () => "12:00" }],
    });
    await runValid(pipeline.run({ userId: "u", message: "hi" }));
    await pipeline.close();
    const span = named(t.spans(), "execute_tool nope");
    expect(span.attributes).toMatchObject({ "gen_ai.tool.name": "nope", "gen_ai.tool.call.id": "c1", "error.type": "tool_not_found" });
    expect(span.status.code).toBe(2);
    expect(parentOf(span)).toBe(idOf(named(t.spans(), "invoke_agent zoe")));
  });

  it("a tool still running when the run is cancelled has its span ended, cancelled", async () => {
    const t = tracer();
    const host = new AbortController();
    const pipeline = createZoePipeline({
      backend: scriptedBackend({ script: [{ type: "tool_call", call: { id: "c1", name: "slow", arguments: {} } }] }),
      router: fixedRouter(),
      telemetry: { tracer: t.tracer },
      tools: [
        {
          name: "slow",
          // Cancels the run, then never answers (nor listens to its signal).
          execute: () => {
            host.abort();
            return new Promise<string>(() => {});
          },
        },
      ],
    });
    const events = await runValid(pipeline.run({ userId: "u", message: "hi" }, { signal: host.signal }));
    expect(terminal(events)).toMatchObject({ type: "RUN_FINISHED", outcome: { type: "cancelled" } });
    expect(t.open()).toEqual([]);
    const span = named(t.spans(), "execute_tool slow");
    expect(span.attributes["zoe.outcome"]).toBe("cancelled");
    expect(span.status.code).not.toBe(2);
    await pipeline.close();
  });
});
