import { describe, expect, it, vi } from "vitest";
import type { AGUIEvent } from "@ag-ui/core";
import {
  createZoePipeline,
  memoryCacheStore,
  type CacheStore,
  type ChatChunk,
  type CodeExecutor,
  type ContextProvider,
  type ModelBackend,
  type Router,
  type ZoePipelineOptions,
} from "../../src/index.js";
import { scriptedBackend } from "../../src/testing/index.js";
import { runValid, terminal, textOf } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

// Each part is made to hang (a promise that never settles and ignores every abort signal) or to
// throw synchronously. Every run must end by itself, with a valid AG-UI stream, through the part's
// fallback. The deadlines are short so that the suite is quick; their defaults are documented.
const never = <T>(): Promise<T> => new Promise<T>(() => {});
const boom = (): never => {
  throw new Error("boom (thrown synchronously)");
};
const deadlines = {
  routerMs: 30,
  systemPromptMs: 30,
  cacheReadMs: 30,
  historyWriteMs: 30,
  codeBlockMs: 50,
  firstTokenMs: 80,
  idleMs: 80,
};

/** A memory store with some of its methods replaced. */
function storeWith(overrides: Partial<CacheStore>): CacheStore {
  return { ...memoryCacheStore(), ...overrides } as CacheStore;
}

function pipelineWith(options: Partial<ZoePipelineOptions> = {}) {
  return createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), deadlines, ...options });
}

const stateDeltas = (events: AGUIEvent[]) =>
  events.flatMap((e) => (e.type === "STATE_DELTA" ? (e.delta as Array<{ path: string; value: unknown }>) : []));
const routeState = (events: AGUIEvent[]) =>
  stateDeltas(events).find((op) => op.path === "/zoe/route")?.value as { fallback?: string; model: string; kind: string };

/** A backend whose stream never produces its first chunk and ignores the abort. */
const hungBackend: ModelBackend = {
  name: "hung",
  chat: () => ({ [Symbol.asyncIterator]: () => ({ next: () => never<IteratorResult<ChatChunk>>() }) }),
};

describe("hung and throwing dependencies: every run ends by itself, through the part's fallback", () => {
  const routers: Array<[string, Router]> = [
    ["hangs", { route: () => never(), models: () => ["m-default"] }],
    ["throws synchronously", { route: boom, models: () => ["m-default"] }],
    ["answers something that is not a decision", { route: () => ({ model: 42 }) as never, models: () => ["m-default"] }],
  ];
  for (const [how, router] of routers) {
    it(`router ${how} → the heuristic fallback decides, the route state says why`, async () => {
      const pipeline = pipelineWith({ router });
      const fallbacks: string[] = [];
      pipeline.on("route:fallback", ({ reason }) => fallbacks.push(reason));
      const events = await runValid(pipeline.run({ userId: "u", message: "hello there" }));
      expect(terminal(events).type).toBe("RUN_FINISHED");
      const route = routeState(events);
      expect(route.fallback).toMatch(/router/);
      expect(route.model).toBe("m-default");
      expect(route.kind).toBe("greeting");
      expect(fallbacks).toHaveLength(1);
      await pipeline.close();
    });
  }

  it("a fallback decision uses the model the router chose before for that kind", async () => {
    let fail = false;
    const router: Router = {
      route: (r) =>
        fail ? never() : { model: r.text.includes("code") ? "coder" : "chatter", kind: "chat", fastPath: false, reason: "x", options: {} },
    };
    const pipeline = pipelineWith({ router, ttl: { routeMs: 0 } });
    await runValid(pipeline.run({ userId: "u", message: "tell me about the sea" }));
    fail = true;
    const events = await runValid(pipeline.run({ userId: "u", message: "tell me about the mountains, in some detail" }));
    expect(routeState(events)).toMatchObject({ model: "chatter", fallback: expect.stringMatching(/deadline/) });
    await pipeline.close();
  });

  it("a router that fails with no model to fall back to ends the run with ROUTER_ERROR", async () => {
    const pipeline = pipelineWith({ router: { route: boom } });
    const events = await runValid(pipeline.run({ userId: "u", message: "hi" }));
    expect(terminal(events)).toMatchObject({ type: "RUN_ERROR", code: "ROUTER_ERROR" });
    await pipeline.close();
  });

  for (const [how, systemPrompt] of [
    ["hangs", () => never<string>()],
    ["throws synchronously", boom],
    ["returns a non-string", () => 42 as unknown as string],
  ] as const) {
    it(`system prompt function ${how} → the default prompt, and the state says so`, async () => {
      const backend = scriptedBackend();
      const pipeline = pipelineWith({ backend, systemPrompt });
      const events = await runValid(pipeline.run({ userId: "u", message: "what is the tide today" }));
      expect(terminal(events).type).toBe("RUN_FINISHED");
      expect(stateDeltas(events).find((op) => op.path === "/zoe/systemPrompt")?.value).toMatchObject({ fallback: expect.any(String) });
      expect(backend.requests[0]?.messages[0]?.content).toMatch(/^You are Zoe/);
      await pipeline.close();
    });
  }

  for (const [how, read] of [
    ["hangs", () => never()],
    ["throws synchronously", boom],
    ["answers garbage", async () => null],
  ] as const) {
    it(`the batched cache read ${how} → every part is a miss, the run goes on`, async () => {
      const errors: string[] = [];
      const pipeline = pipelineWith({ cache: storeWith({ read: read as CacheStore["read"] }) });
      pipeline.on("cache:error", ({ status }) => errors.push(status));
      const events = await runValid(pipeline.run({ userId: "u", message: "what is the tide today" }));
      expect(terminal(events).type).toBe("RUN_FINISHED");
      expect(textOf(events)).toBe("Hello from the scripted model.");
      expect(errors).toEqual([how === "hangs" ? "timeout" : "error"]);
      await pipeline.close();
    });
  }

  for (const [how, listAppend] of [
    ["hangs", () => never()],
    ["throws synchronously", boom],
  ] as const) {
    it(`the history write ${how} → the run finishes and the host hears the outcome`, async () => {
      const writes: string[] = [];
      const pipeline = pipelineWith({ cache: storeWith({ listAppend: listAppend as CacheStore["listAppend"] }) });
      pipeline.on("history:write", ({ status }) => writes.push(status));
      const events = await runValid(pipeline.run({ userId: "u", message: "what is the tide today" }));
      expect(terminal(events).type).toBe("RUN_FINISHED");
      expect(writes).toEqual([how === "hangs" ? "timeout" : "error"]);
      await pipeline.close();
    });
  }

  it("a store that hangs on every call costs the history write its deadline once: the thread's number and the write share historyWriteMs", async () => {
    // Logical time: the run's timers and clock are faked, so the test asserts what the deadlines
    // allow, not how long anything took.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    try {
      const writes: Array<{ status: string; ms: number; error: string | undefined }> = [];
      const pipeline = pipelineWith({
        cache: storeWith({ read: () => never(), listTail: () => never(), listAppend: () => never() }),
        deadlines: { ...deadlines, cacheReadMs: 50, historyWriteMs: 1_000 },
      });
      pipeline.on("history:write", ({ status, ms, error }) => writes.push({ status, ms, error }));
      let ended: AGUIEvent[] | undefined;
      void runValid(pipeline.run({ userId: "u", message: "what is the tide today" })).then((events) => {
        ended = events;
      });
      await vi.advanceTimersByTimeAsync(50); // the batched read's deadline: every part a miss
      await vi.advanceTimersByTimeAsync(1_000); // the thread's number, then the write, in one deadline
      await vi.advanceTimersByTimeAsync(1); // the write's own least wait
      // One write, timed out; its `ms` (on the faked clock) covers the question for the number too.
      expect(writes.map((w) => w.status)).toEqual(["timeout"]);
      expect(writes[0]?.ms).toBeGreaterThanOrEqual(1_000);
      expect(writes[0]?.error).toMatch(/1000 ms deadline/);
      expect(ended && terminal(ended).type).toBe("RUN_FINISHED");
      await pipeline.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it("a store whose set() throws synchronously never fails a run", async () => {
    const pipeline = pipelineWith({
      cache: storeWith({ set: boom as CacheStore["set"] }),
      systemPrompt: () => "built prompt",
      providers: [{ name: "p", fetch: async () => "context" }],
    });
    const events = await runValid(pipeline.run({ userId: "u", message: "what is the tide today" }));
    expect(terminal(events).type).toBe("RUN_FINISHED");
    await pipeline.close();
  });

  const providers: Array<[string, ContextProvider, "timeout" | "error"]> = [
    ["fetch hangs", { name: "p", timeoutMs: 30, fetch: () => never() }, "timeout"],
    ["fetch throws synchronously", { name: "p", fetch: boom }, "error"],
    ["format() throws", { name: "p", fetch: async () => ({ a: 1 }), format: boom }, "error"],
    ["format() returns a non-string", { name: "p", fetch: async () => ({ a: 1 }), format: () => 7 as unknown as string }, "error"],
    ["cacheKey() throws", { name: "p", fetch: async () => "x", cacheKey: boom }, "error"],
    ["its value cannot be serialised", { name: "p", fetch: async () => ({ n: 1n }) }, "error"],
  ];
  for (const [how, provider, status] of providers) {
    it(`a provider whose ${how} fails alone (${status}); the run and the other providers go on`, async () => {
      const backend = scriptedBackend();
      const pipeline = pipelineWith({ backend, providers: [provider, { name: "ok", fetch: async () => "fine context" }] });
      const events = await runValid(pipeline.run({ userId: "u", message: "what is the tide today" }));
      expect(terminal(events).type).toBe("RUN_FINISHED");
      const state = Object.fromEntries(
        stateDeltas(events)
          .filter((op) => op.path.startsWith("/zoe/providers/"))
          .map((op) => [op.path.slice("/zoe/providers/".length), (op.value as { status: string }).status]),
      );
      expect(state).toEqual({ p: status, ok: "ok" });
      expect(JSON.stringify(backend.requests[0]?.messages)).toContain("fine context");
      await pipeline.close();
    });
  }

  it("a cached value whose format() throws fails that provider alone", async () => {
    let calls = 0;
    const provider: ContextProvider = { name: "p", fetch: async () => ({ a: 1 }), format: () => (calls++ === 0 ? "first" : boom()) };
    const pipeline = pipelineWith({ providers: [provider] });
    await runValid(pipeline.run({ userId: "u", message: "what is the tide today" }));
    const events = await runValid(pipeline.run({ userId: "u", message: "what is the tide today" }));
    expect(terminal(events).type).toBe("RUN_FINISHED");
    expect(stateDeltas(events).find((op) => op.path === "/zoe/providers/p")?.value).toMatchObject({ status: "error" });
    await pipeline.close();
  });

  it("a backend that never answers (and ignores the abort) ends with MODEL_TIMEOUT at the first-token deadline", async () => {
    const pipeline = pipelineWith({ backend: hungBackend });
    const events = await runValid(pipeline.run({ userId: "u", message: "what is the tide today" }));
    expect(terminal(events)).toMatchObject({ type: "RUN_ERROR", code: "MODEL_TIMEOUT", message: expect.stringMatching(/first-token/) });
    expect(pipeline.activeRuns).toBe(0);
    await pipeline.close();
  });

  it("a backend that stops mid-answer ends with MODEL_TIMEOUT at the idle deadline; open messages are closed", async () => {
    const backend: ModelBackend = {
      name: "stalls",
      async *chat() {
        yield { type: "text", text: "Half an ans" };
        await never();
      },
    };
    const pipeline = pipelineWith({ backend });
    const events = await runValid(pipeline.run({ userId: "u", message: "what is the tide today" }));
    expect(terminal(events)).toMatchObject({ type: "RUN_ERROR", code: "MODEL_TIMEOUT", message: expect.stringMatching(/idle/) });
    await pipeline.close();
  });

  it("a total generation deadline ends a model that keeps talking", async () => {
    const backend: ModelBackend = {
      name: "chatty",
      async *chat(_request, { signal }) {
        while (!signal.aborted) {
          yield { type: "text", text: "la " };
          await new Promise((r) => setTimeout(r, 5));
        }
      },
    };
    const pipeline = pipelineWith({ backend, deadlines: { ...deadlines, generationMs: 60 } });
    const events = await runValid(pipeline.run({ userId: "u", message: "sing" }));
    expect(terminal(events)).toMatchObject({ type: "RUN_ERROR", code: "MODEL_TIMEOUT", message: expect.stringMatching(/generationMs/) });
    await pipeline.close();
  });

  for (const [how, backend, code] of [
    ["chat() throws synchronously", { name: "b", chat: boom } as ModelBackend, "MODEL_ERROR"],
    ["chat() returns something that is not iterable", { name: "b", chat: () => 42 } as unknown as ModelBackend, "MODEL_ERROR"],
    [
      "next() throws synchronously",
      { name: "b", chat: () => ({ [Symbol.asyncIterator]: () => ({ next: boom }) }) } as unknown as ModelBackend,
      "MODEL_ERROR",
    ],
    [
      "it yields null",
      {
        name: "b",
        async *chat() {
          yield null;
        },
      } as unknown as ModelBackend,
      "MODEL_INVALID_CHUNK",
    ],
    [
      "it yields a text chunk without text",
      {
        name: "b",
        async *chat() {
          yield { type: "text", text: 5 };
        },
      } as unknown as ModelBackend,
      "MODEL_INVALID_CHUNK",
    ],
  ] as const) {
    it(`a backend where ${how} is a model error with a stable code (${code})`, async () => {
      const pipeline = pipelineWith({ backend });
      const events = await runValid(pipeline.run({ userId: "u", message: "what is the tide today" }));
      expect(terminal(events)).toMatchObject({ type: "RUN_ERROR", code });
      await pipeline.close();
    });
  }

  for (const [how, execute] of [
    ["hangs", () => never()],
    ["throws synchronously", boom],
  ] as const) {
    it(`a code executor that ${how}: the block's result is an error, the answer completes`, async () => {
      const executor: CodeExecutor = { languages: ["js"], execute: execute as CodeExecutor["execute"] };
      const backend = scriptedBackend({ script: [{ type: "text", text: "Run:\n```js\n1+1\n```\nDone." }] });
      const pipeline = pipelineWith({ backend, codeExecutor: executor });
      const events = await runValid(pipeline.run({ userId: "u", message: "what is one plus one" }));
      expect(terminal(events).type).toBe("RUN_FINISHED");
      const result = events.find((e) => e.type === "TOOL_CALL_RESULT");
      expect(result).toMatchObject({
        content: how === "hangs" ? expect.stringMatching(/deadline/) : expect.stringMatching(/^Error: boom/),
      });
      await pipeline.close();
    });
  }

  it("with every part hung at once, each run still ends by itself with an answer", async () => {
    const writes: string[] = [];
    const pipeline = pipelineWith({
      router: { route: () => never(), models: () => ["m"] },
      systemPrompt: () => never(),
      cache: storeWith({ read: () => never(), listAppend: () => never(), set: () => never() }),
      providers: [{ name: "p", timeoutMs: 30, fetch: () => never() }],
      codeExecutor: { languages: ["js"], execute: () => never() },
      backend: scriptedBackend({ script: [{ type: "text", text: "```js\n1\n```" }] }),
    });
    pipeline.on("history:write", ({ status }) => writes.push(status));
    const runs = await Promise.all(
      ["what is the weather", "write a poem", "hello"].map((message, i) => runValid(pipeline.run({ userId: `u${i}`, message }))),
    );
    for (const events of runs) expect(terminal(events).type).toBe("RUN_FINISHED");
    expect(writes).toEqual(["timeout", "timeout", "timeout"]);
    expect(pipeline.activeRuns).toBe(0);
    await pipeline.close();
  });
});

describe("close()", () => {
  it("reports every interrupted run as cancelled before it removes listeners, even when its consumer never pulls again", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend({ firstChunkDelayMs: 10_000 }), router: fixedRouter() });
    const cancelled: string[] = [];
    pipeline.on("run:cancelled", ({ runId }) => cancelled.push(runId));
    const iterators = ["a", "b"].map((runId) => pipeline.run({ userId: "u", runId, message: "hello" })[Symbol.asyncIterator]());
    // Each consumer reads RUN_STARTED and the first state, then stops pulling.
    for (const it of iterators) {
      await it.next();
      await it.next();
    }
    expect(pipeline.activeRuns).toBe(2);
    expect(pipeline.metrics().runs.inFlight).toBe(2);
    await pipeline.close();
    expect(cancelled.sort()).toEqual(["a", "b"]);
    expect(pipeline.activeRuns).toBe(0);
    // The runs end properly when their consumers come back, without a second report.
    for (const it of iterators) {
      const rest: AGUIEvent[] = [];
      for (let n = await it.next(); !n.done; n = await it.next()) rest.push(n.value);
      expect(rest.at(-1)).toMatchObject({ type: "RUN_FINISHED", outcome: { type: "cancelled" } });
    }
    expect(cancelled).toHaveLength(2);
  });
});

describe("a model slow to its first chunk", () => {
  it("is not stopped by the idle deadline, which counts from the first chunk on", async () => {
    const backend: ModelBackend = {
      name: "slow start",
      async *chat() {
        // Several idle periods pass before the first chunk: the model's one timer wakes and re-arms.
        await new Promise((r) => setTimeout(r, 150));
        yield { type: "text", text: "late" } as ChatChunk;
        yield { type: "done" } as ChatChunk;
      },
    };
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), deadlines: { idleMs: 30, firstTokenMs: 60_000 } });
    const events = await runValid(pipeline.run({ userId: "u", message: "hi" }));
    expect(terminal(events)).toMatchObject({ type: "RUN_FINISHED" });
    expect(textOf(events)).toBe("late");
    await pipeline.close();
  });
});

describe("a chunk that lands after the model call has ended", () => {
  /**
   * A backend whose first chunk comes at once and whose second waits for `release()`, ignoring the
   * abort (as a hung server does); it counts the chunks asked for.
   */
  function lateBackend() {
    let asked = 0;
    let release: () => void = () => {};
    const late = new Promise<void>((resolve) => {
      release = resolve;
    });
    const backend: ModelBackend = {
      name: "late",
      chat: () => ({
        [Symbol.asyncIterator]: () => ({
          next: async (): Promise<IteratorResult<ChatChunk>> => {
            asked++;
            if (asked === 1) return { done: false, value: { type: "text", text: "first" } };
            if (asked === 2) {
              await late;
              return { done: false, value: { type: "text", text: " late" } };
            }
            return { done: true, value: undefined };
          },
          return: async () => ({ done: true, value: undefined }),
        }),
      }),
    };
    return { backend, asked: () => asked, release };
  }
  /** Let the released chunk land, and whatever its reaction would start. */
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };

  it("after the idle deadline: it is not taken, and nothing more is asked of the backend", async () => {
    const late = lateBackend();
    const pipeline = pipelineWith({ backend: late.backend });
    const events = await runValid(pipeline.run({ userId: "u", message: "what is the tide today" }));
    expect(terminal(events)).toMatchObject({ type: "RUN_ERROR", code: "MODEL_TIMEOUT" });
    expect(textOf(events)).toBe("first");
    late.release();
    await settle();
    expect(late.asked()).toBe(2);
    await pipeline.close();
  });

  it("after the consumer left: it is not taken, and nothing more is asked of the backend", async () => {
    const late = lateBackend();
    const pipeline = pipelineWith({ backend: late.backend });
    const run = pipeline.run({ userId: "u", message: "what is the tide today" });
    for await (const event of run) if (event.type === "TEXT_MESSAGE_CONTENT") break;
    expect(pipeline.activeRuns).toBe(0);
    late.release();
    await settle();
    expect(late.asked()).toBe(2);
    await pipeline.close();
  });
});

describe("a backend iterator whose result is not one", () => {
  /** First a text chunk, then `bad()` as the second result of `next()`; counts `return()`. */
  const badStep = (bad: () => unknown) => {
    let returned = 0;
    const backend: ModelBackend = {
      name: "bad-step",
      chat: () => ({
        [Symbol.asyncIterator]: () => {
          let i = 0;
          return {
            next: () => Promise.resolve(i++ === 0 ? { done: false, value: { type: "text", text: "a" } } : bad()),
            return: async () => {
              returned++;
              return { done: true, value: undefined };
            },
          } as AsyncIterator<ChatChunk>;
        },
      }),
    };
    return { backend, returned: () => returned };
  };
  const cases: Array<[string, () => unknown]> = [
    ["null", () => null],
    ["undefined", () => undefined],
    [
      "an object whose done getter throws",
      () => ({
        get done(): boolean {
          throw new Error("done getter");
        },
      }),
    ],
  ];
  for (const [name, bad] of cases) {
    // With the default idle deadline (60 s), a run that missed it would outlast the test's timeout.
    it(`${name}: MODEL_INVALID_CHUNK at once, the request closed, the host process unharmed`, async () => {
      const { backend, returned } = badStep(bad);
      const pipeline = createZoePipeline({ backend, router: fixedRouter() });
      const events = await runValid(pipeline.run({ userId: "u", message: "hi" }));
      expect(terminal(events)).toMatchObject({ type: "RUN_ERROR", code: "MODEL_INVALID_CHUNK" });
      expect(returned()).toBe(1);
      expect(pipeline.activeRuns).toBe(0);
      await pipeline.close();
    });
  }
});

describe("the generation deadline while the consumer has fallen behind", () => {
  it("ends the call then (the request is closed while the consumer still pauses), and nothing more is asked", {
    timeout: 15_000,
  }, async () => {
    let asked = 0;
    let askedAtAbort = -1;
    let aborted: () => void = () => {};
    const backendAborted = new Promise<void>((resolve) => {
      aborted = resolve;
    });
    const backend: ModelBackend = {
      name: "endless",
      chat: (_request, { signal }) => {
        signal.addEventListener("abort", () => {
          askedAtAbort = asked;
          aborted();
        });
        return {
          [Symbol.asyncIterator]: () => ({
            next: async (): Promise<IteratorResult<ChatChunk>> => {
              asked++;
              return { done: false, value: { type: "text", text: "x" } };
            },
            return: async () => ({ done: true, value: undefined }),
          }),
        };
      },
    };
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), deadlines: { generationMs: 200 } });
    const events: AGUIEvent[] = [];
    let abortedWhilePaused = false;
    for await (const event of pipeline.run({ userId: "u", message: "hi" })) {
      events.push(event);
      if (events.length === 60) {
        // Far past the run's backlog: the model is held back, and only the generation deadline counts.
        const capped = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 10_000).unref());
        abortedWhilePaused = await Promise.race([backendAborted.then(() => true), capped]);
      }
    }
    expect(abortedWhilePaused).toBe(true);
    expect(terminal(events)).toMatchObject({ type: "RUN_ERROR", code: "MODEL_TIMEOUT", message: expect.stringMatching(/generation/) });
    expect(asked).toBe(askedAtAbort);
    await pipeline.close();
  });
});

describe("the model's deadlines and a consumer that reads slowly", () => {
  it("a consumer that stops reading longer than idleMs holds the model back without failing the run", async () => {
    const backend: ModelBackend = {
      name: "fast",
      async *chat() {
        for (let i = 0; i < 500; i++) yield { type: "text", text: "x" } as ChatChunk;
        yield { type: "done" } as ChatChunk;
      },
    };
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), deadlines: { idleMs: 250, firstTokenMs: 60_000 } });
    const events: AGUIEvent[] = [];
    for await (const event of pipeline.run({ userId: "u", message: "hi" })) {
      events.push(event);
      // Far past the backlog the run keeps, and several idle deadlines long: the wait is the consumer's.
      if (events.length === 60) await new Promise((r) => setTimeout(r, 1_000));
    }
    expect(terminal(events)).toMatchObject({ type: "RUN_FINISHED" });
    expect(textOf(events)).toBe("x".repeat(500));
    await pipeline.close();
  });

  it("after a consumer's pause, a model that then stalls is stopped by the idle deadline, not the generation one", async () => {
    const backend: ModelBackend = {
      name: "fast, then stalls",
      async *chat() {
        for (let i = 0; i < 100; i++) yield { type: "text", text: "x" } as ChatChunk;
        await never(); // and ignores its signal
      },
    };
    const deadlines = { idleMs: 250, firstTokenMs: 60_000, generationMs: 20_000 };
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), deadlines });
    const events: AGUIEvent[] = [];
    for await (const event of pipeline.run({ userId: "u", message: "hi" })) {
      events.push(event);
      if (events.length === 60) await new Promise((r) => setTimeout(r, 1_000));
    }
    expect(terminal(events)).toMatchObject({ type: "RUN_ERROR", code: "MODEL_TIMEOUT" });
    expect((terminal(events) as { message: string }).message).toContain("idle deadline of 250 ms");
    await pipeline.close();
  });

  it("an idleMs far shorter than the wait for the first chunk does not wake the process every idleMs", async () => {
    const backend: ModelBackend = {
      name: "slow start",
      async *chat() {
        await new Promise((r) => setTimeout(r, 600));
        yield { type: "text", text: "late" } as ChatChunk;
      },
    };
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), deadlines: { idleMs: 50, firstTokenMs: 60_000 } });
    const timers = vi.spyOn(globalThis, "setTimeout");
    try {
      const events = await runValid(pipeline.run({ userId: "u", message: "hi" }));
      expect(terminal(events)).toMatchObject({ type: "RUN_FINISHED" });
      // At most one wake a second before the first chunk (one per idleMs would be a dozen here).
      expect(timers.mock.calls.length).toBeLessThan(8);
    } finally {
      timers.mockRestore();
      await pipeline.close();
    }
  });
});

describe("a model that stalls after its first chunk", () => {
  for (const firstTokenMs of [60_000, Number.POSITIVE_INFINITY]) {
    it(`is stopped by the idle deadline, not the first-token one (firstTokenMs ${firstTokenMs})`, async () => {
      const backend: ModelBackend = {
        name: "stalls",
        async *chat() {
          yield { type: "text", text: "a" } as ChatChunk;
          await never(); // and ignores its signal
        },
      };
      const pipeline = createZoePipeline({ backend, router: fixedRouter(), deadlines: { idleMs: 30, firstTokenMs } });
      const events = await runValid(pipeline.run({ userId: "u", message: "hi" }));
      expect(terminal(events)).toMatchObject({ type: "RUN_ERROR", code: "MODEL_TIMEOUT" });
      expect((terminal(events) as { message: string }).message).toContain("idle deadline of 30 ms");
      expect(textOf(events)).toBe("a");
      await pipeline.close();
    });
  }
});
