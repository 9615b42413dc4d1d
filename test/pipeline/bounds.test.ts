import { describe, expect, it } from "vitest";
import { createKeyBuilder, createZoePipeline, memoryCacheStore, type ContextProvider } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { collect, runValid, terminal } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

const LONE_HIGH = "\uD800";
const LONE_LOW = "\uDC00";

const agUi = (overrides: Record<string, unknown> = {}) => ({
  threadId: "t",
  runId: "r",
  userId: "u",
  messages: [{ id: "m1", role: "user", content: "what is the tide today" }],
  tools: [],
  context: [],
  state: {},
  forwardedProps: {},
  ...overrides,
});

/** A value nested `depth` levels deep. */
function nested(depth: number): unknown {
  let value: unknown = "bottom";
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

describe("ids and text are well-formed and bounded", () => {
  it("a lone surrogate in the message reaches the model as U+FFFD, and the run succeeds", async () => {
    const backend = scriptedBackend();
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const events = await runValid(pipeline.run({ userId: "u", message: `tide ${LONE_HIGH} today ${LONE_LOW}` }));
    expect(terminal(events).type).toBe("RUN_FINISHED");
    expect(backend.requests[0]?.messages.at(-1)?.content).toBe("tide \uFFFD today \uFFFD");
    await pipeline.close();
  });

  for (const [field, input] of [
    ["userId", { userId: `u${LONE_HIGH}`, message: "hi" }],
    ["threadId", { userId: "u", threadId: `t${LONE_LOW}`, message: "hi" }],
    ["runId", { userId: "u", runId: `r${LONE_HIGH}x`, message: "hi" }],
    ["userId", { userId: "u".repeat(257), message: "hi" }],
    ["threadId", agUi({ threadId: "t".repeat(257) })],
    ["runId", agUi({ runId: "r".repeat(100_000) })],
    // The conversation's ids go into the stream, the history and the prompt too.
    ["messages[0].id", agUi({ messages: [{ id: "m".repeat(300_000), role: "user", content: "hi" }] })],
    ["messages[0].id", agUi({ messages: [{ id: `m${LONE_LOW}`, role: "user", content: "hi" }] })],
    [
      "messages[1].toolCalls[0].id",
      agUi({
        messages: [
          { id: "m1", role: "user", content: "hi" },
          { id: "a1", role: "assistant", toolCalls: [{ id: "c".repeat(257), type: "function", function: { name: "f", arguments: "{}" } }] },
          { id: "m2", role: "user", content: "again" },
        ],
      }),
    ],
    [
      "messages[1].toolCallId",
      agUi({
        messages: [
          { id: "m1", role: "user", content: "hi" },
          { id: "t1", role: "tool", toolCallId: `c${LONE_HIGH}`, content: "r" },
          { id: "m2", role: "user", content: "again" },
        ],
      }),
    ],
  ] as const) {
    it(`a ${field} that is too long or not well-formed UTF-16 is INVALID_ID, and the error stream stays valid`, async () => {
      const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter() });
      const events = await runValid(pipeline.run(input as never));
      expect(terminal(events)).toMatchObject({ type: "RUN_ERROR", code: "INVALID_ID", message: expect.stringContaining(field) });
      // The RUN_STARTED of the error carries no bad id.
      const started = events.find((e) => e.type === "RUN_STARTED") as { threadId: string; runId: string } | undefined;
      if (started) expect(started.threadId.length + started.runId.length).toBeLessThan(600);
      await pipeline.close();
    });
  }

  it("a userId from the host (getUserId) is checked too", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter() });
    const events = await runValid(pipeline.run({ message: "hi" } as never, { userId: `x${LONE_LOW}` }));
    expect(terminal(events)).toMatchObject({ type: "RUN_ERROR", code: "INVALID_ID" });
    await pipeline.close();
  });

  it("the id limit is an option", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), maxIdLength: 1000 });
    const events = await runValid(pipeline.run({ userId: "u".repeat(900), message: "hi" }));
    expect(terminal(events).type).toBe("RUN_FINISHED");
    await pipeline.close();
  });

  it("cache keys never throw and stay one-to-one with lone surrogates", () => {
    const keys = createKeyBuilder();
    const ids = [LONE_HIGH, LONE_LOW, `${LONE_HIGH}${LONE_HIGH}`, "\uD83D\uDE00", "%uD800", "\u0000uD800", "", "a"];
    const seen = new Set<string>();
    for (const id of ids) {
      const key = keys.key("context", id, id);
      expect(seen.has(key)).toBe(false);
      seen.add(key);
    }
  });

  it("history.get() never throws on an id with a lone surrogate", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter() });
    await expect(pipeline.history.get(`u${LONE_HIGH}`, `t${LONE_LOW}`)).resolves.toEqual([]);
    await pipeline.close();
  });

  it("a provider cacheKey that slices an emoji in half (as the example's memory provider did) works", async () => {
    const provider: ContextProvider = { name: "memory", fetch: async () => "remembered", cacheKey: ({ text }) => text.slice(0, 80) };
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), providers: [provider] });
    const text = `${"x".repeat(79)}😀 and more`;
    const events = await runValid(pipeline.run({ userId: "u", message: text }));
    expect(terminal(events).type).toBe("RUN_FINISHED");
    await pipeline.close();
  });
});

describe("the input's shape is bounded before anything walks it", () => {
  it("state nested 4,000 levels deep is INPUT_TOO_DEEP, not a stack overflow while encoding", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter() });
    const events = await runValid(pipeline.run(agUi({ state: nested(4_000) }) as never));
    expect(terminal(events)).toMatchObject({ type: "RUN_ERROR", code: "INPUT_TOO_DEEP" });
    expect(pipeline.activeRuns).toBe(0);
    await pipeline.close();
  });

  it("state as deep as the limit is accepted", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), maxInputDepth: 64 });
    // The input object itself is level 1 and state level 2.
    const events = await runValid(pipeline.run(agUi({ state: nested(62) }) as never));
    expect(terminal(events).type).toBe("RUN_FINISHED");
    await pipeline.close();
  });

  it("an input with too many values is INPUT_TOO_LARGE", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), maxInputNodes: 1_000 });
    const events = await runValid(pipeline.run(agUi({ state: { list: Array.from({ length: 2_000 }, (_, i) => i) } }) as never));
    expect(terminal(events)).toMatchObject({ type: "RUN_ERROR", code: "INPUT_TOO_LARGE" });
    await pipeline.close();
  });
});

describe("every message and context item the client sends is bounded", () => {
  it("10,001 messages after the last user turn do not all reach the model", async () => {
    const backend = scriptedBackend();
    // 10,001 tool round-trip messages hold more values than the default bound: raised here, as
    // the point is what reaches the model.
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), maxInputNodes: 1_000_000 });
    const after = Array.from({ length: 10_001 }, (_, i) =>
      i % 2 === 0
        ? {
            id: `a${i}`,
            role: "assistant",
            content: `step ${i}`,
            toolCalls: [{ id: `c${i}`, type: "function", function: { name: "f", arguments: "{}" } }],
          }
        : { id: `t${i}`, role: "tool", content: `result ${i}`, toolCallId: `c${i - 1}` },
    );
    const events = await runValid(pipeline.run(agUi({ messages: [{ id: "m1", role: "user", content: "go" }, ...after] }) as never, {}));
    expect(terminal(events).type).toBe("RUN_FINISHED");
    const sent = backend.requests[0]?.messages ?? [];
    expect(sent.length).toBeLessThanOrEqual(1 + 3 + 1 + 8);
    // The window starts at an assistant message, so every tool result keeps its call.
    const trailing = sent.slice(sent.findIndex((m) => m.role === "user") + 1);
    expect(trailing[0]?.role).toBe("assistant");
    expect(trailing.at(-1)?.content).toBe("step 10000");
    await pipeline.close();
  });

  it("a past message of 500,000 characters is cut to maxInputChars", async () => {
    const backend = scriptedBackend();
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), maxInputChars: 1_000 });
    const messages = [
      { id: "m0", role: "user", content: "first" },
      { id: "a0", role: "assistant", content: "y".repeat(500_000) },
      { id: "m1", role: "user", content: "second" },
    ];
    await runValid(pipeline.run(agUi({ messages }) as never));
    const total = (backend.requests[0]?.messages ?? []).reduce((n, m) => n + m.content.length, 0);
    expect(total).toBeLessThan(3_000);
    await pipeline.close();
  });

  for (const [what, item] of [
    ["value", { description: "notes", value: "z".repeat(500_000) }],
    ["description", { description: "d".repeat(500_000), value: "v" }],
  ] as const) {
    it(`a client context item with a 500,000-character ${what} stays inside contextTokens`, async () => {
      const backend = scriptedBackend();
      const pipeline = createZoePipeline({ backend, router: fixedRouter(), contextTokens: 570 });
      await runValid(pipeline.run(agUi({ context: [item] }) as never));
      const total = (backend.requests[0]?.messages ?? []).reduce((n, m) => n + m.content.length, 0);
      expect(total).toBeLessThan(2_000 + 500);
      await pipeline.close();
    });
  }
});

describe("memory store byte cap", () => {
  it("counts keys: 1,000 entries with 200,000-character keys stay under maxBytes", async () => {
    const maxBytes = 8 * 1024 * 1024;
    const store = memoryCacheStore({ maxBytes });
    for (let i = 0; i < 1_000; i++) {
      const key = `${i}:${"k".repeat(200_000)}`;
      await store.listAppend(key, [{ n: i }], { maxLength: 10, ttlMs: 60_000 });
    }
    // Each key alone is ~400 KB: at most about 20 can be held under 8 MiB.
    let held = 0;
    for (let i = 0; i < 1_000; i++) if ((await store.listTail(`${i}:${"k".repeat(200_000)}`, 1)).length > 0) held++;
    expect(held).toBeGreaterThan(0);
    expect(held * 400_000).toBeLessThanOrEqual(maxBytes);
    await store.close();
  });
});

describe("run options", () => {
  it("a signal that is not an AbortSignal is refused with INVALID_INPUT (no run left behind); null options are no options", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend({ script: () => textChunks("ok") }), router: fixedRouter() });
    const hostile = Object.defineProperty({}, "aborted", {
      get() {
        throw new Error("no");
      },
    });
    for (const signal of [{ aborted: false }, "yes", 42, hostile]) {
      const events = await collect(pipeline.run({ userId: "u", message: "hi" }, { signal: signal as never }));
      expect(events.map((e) => e.type)).toEqual(["RUN_STARTED", "RUN_ERROR"]);
      expect(events[1]).toMatchObject({ code: "INVALID_INPUT" });
    }
    const ok = await collect(pipeline.run({ userId: "u", message: "hi" }, null as never));
    expect(ok.at(-1)?.type).toBe("RUN_FINISHED");
    expect(pipeline.activeRuns).toBe(0);
    await pipeline.close();
  });

  it("a signal whose getters or addEventListener throw only when the run follows it is refused the same way", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend({ script: () => textChunks("ok") }), router: fixedRouter() });
    const errors: string[] = [];
    pipeline.on("run:error", (e) => errors.push(e.error.code));
    // Passes the first look (a boolean `aborted`, a function `addEventListener`), then throws.
    let reads = 0;
    const flipping = {
      get aborted() {
        if (++reads > 1) throw new Error("no");
        return false;
      },
      addEventListener() {},
    };
    const refusing = {
      aborted: false,
      addEventListener() {
        throw new Error("no listeners here");
      },
    };
    for (const signal of [flipping, refusing]) {
      const events = await collect(pipeline.run({ userId: "u", message: "hi" }, { signal: signal as never }));
      expect(events.map((e) => e.type)).toEqual(["RUN_STARTED", "RUN_ERROR"]);
      expect(events[1]).toMatchObject({ code: "INVALID_INPUT" });
    }
    expect(errors).toEqual(["INVALID_INPUT", "INVALID_INPUT"]);
    expect(pipeline.activeRuns).toBe(0);
    await pipeline.close();
  });

  it("options whose getters throw are refused with INVALID_INPUT; each option is read once", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend({ script: () => textChunks("ok") }), router: fixedRouter() });
    const throwing = Object.defineProperty({}, "signal", {
      get() {
        throw new Error("no");
      },
    });
    const events = await collect(pipeline.run({ userId: "u", message: "hi" }, throwing as never));
    expect(events.map((e) => e.type)).toEqual(["RUN_ERROR"]);
    expect(events[0]).toMatchObject({ code: "INVALID_INPUT" });
    // A getter that answers differently on a second read is read once: here, no signal at all.
    let reads = 0;
    const shifting = Object.defineProperty({}, "signal", {
      get() {
        return ++reads === 1 ? undefined : { aborted: "maybe" };
      },
    });
    const ran = await collect(pipeline.run({ userId: "u", message: "hi" }, shifting as never));
    expect(ran.at(-1)?.type).toBe("RUN_FINISHED");
    expect(reads).toBe(1);
    expect(pipeline.activeRuns).toBe(0);
    await pipeline.close();
  });

  it("input that throws when read (a Proxy) is refused with INVALID_INPUT, not thrown from next()", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend({ script: () => textChunks("ok") }), router: fixedRouter() });
    const refused: string[] = [];
    pipeline.on("run:error", (e) => refused.push(e.error.code));
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error("keys boom");
        },
        ownKeys() {
          throw new Error("keys boom");
        },
        has() {
          throw new Error("keys boom");
        },
      },
    );
    const events = await collect(pipeline.run(hostile as never, { userId: "u" }));
    expect(events.map((e) => e.type)).toEqual(["RUN_ERROR"]);
    expect(events[0]).toMatchObject({ code: "INVALID_INPUT" });
    expect((events[0] as { message: string }).message).toContain("keys boom");
    expect(refused).toEqual(["INVALID_INPUT"]);
    expect(pipeline.activeRuns).toBe(0);
    await pipeline.close();
  });

  it("a signal refused once (its addEventListener threw) is followed when it works the next time", async () => {
    const pipeline = createZoePipeline({
      backend: scriptedBackend({ script: () => [...textChunks("a b"), { type: "delay", ms: 60_000 }, ...textChunks("c")] }),
      router: fixedRouter(),
    });
    let calls = 0;
    const listeners: Array<() => void> = [];
    const signal = {
      aborted: false,
      reason: new DOMException("host", "AbortError"),
      addEventListener(_type: string, listener: () => void) {
        if (++calls === 1) throw new Error("transient");
        listeners.push(listener);
      },
      removeEventListener() {},
    };
    const first = await collect(pipeline.run({ userId: "u", message: "hi" }, { signal: signal as never }));
    expect(first.at(-1)).toMatchObject({ type: "RUN_ERROR", code: "INVALID_INPUT" });
    const types: string[] = [];
    for await (const event of pipeline.run({ userId: "u", message: "hi" }, { signal: signal as never })) {
      types.push(event.type);
      if (event.type === "TEXT_MESSAGE_CONTENT" && !signal.aborted) {
        signal.aborted = true;
        for (const listener of listeners) listener();
      }
    }
    expect(listeners).toHaveLength(1);
    expect(types.at(-1)).toBe("RUN_FINISHED");
    expect(types).not.toContain("RUN_ERROR");
    expect(types.filter((t) => t === "TEXT_MESSAGE_CONTENT").length).toBeLessThan(3);
    expect(pipeline.activeRuns).toBe(0);
    await pipeline.close();
  });

  it("a signal whose addEventListener calls the listener at once, having aborted, cancels the run", async () => {
    const backend = scriptedBackend({ script: () => [{ type: "delay", ms: 60_000 }, ...textChunks("never")] });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const signal = {
      aborted: false,
      reason: new DOMException("host", "AbortError"),
      addEventListener(_type: string, listener: () => void) {
        signal.aborted = true;
        listener();
      },
      removeEventListener() {},
    };
    const events = await collect(pipeline.run({ userId: "u", message: "hi" }, { signal: signal as never }));
    expect(events.at(-1)).toMatchObject({ type: "RUN_FINISHED", outcome: { type: "cancelled" } });
    expect(events.map((e) => e.type)).not.toContain("TEXT_MESSAGE_CONTENT");
    expect(pipeline.activeRuns).toBe(0);
    await pipeline.close();
  });

  it("a host listener that throws loses its event, never the run: every stream ends with its own terminal event", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend({ script: () => textChunks("ok") }), router: fixedRouter() });
    for (const event of ["run:started", "run:finished", "run:error", "run:cancelled", "history:write", "cache:miss"] as const) {
      pipeline.on(event, () => {
        throw new Error(`${event} listener`);
      });
    }
    const ok = await runValid(pipeline.run({ userId: "u", message: "hi" }));
    expect(ok.at(-1)?.type).toBe("RUN_FINISHED");
    const refused = await collect(pipeline.run({ userId: "u", message: "" }));
    expect(refused.at(-1)?.type).toBe("RUN_ERROR");
    const controller = new AbortController();
    const cancelled: string[] = [];
    for await (const event of pipeline.run({ userId: "u", message: "hi" }, { signal: controller.signal })) {
      cancelled.push(event.type);
      controller.abort();
    }
    expect(cancelled.at(-1)).toBe("RUN_FINISHED");
    expect(pipeline.activeRuns).toBe(0);
    await pipeline.close();
  });

  it("a host signal whose reason cannot be read still cancels the run, and nothing is thrown at the host", async () => {
    const backend = scriptedBackend({ script: () => [{ type: "delay", ms: 60_000 }, ...textChunks("never")] });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const listeners: Array<() => void> = [];
    const signal = {
      aborted: false,
      get reason(): unknown {
        throw new Error("no reason");
      },
      addEventListener(_type: string, listener: () => void) {
        listeners.push(listener);
      },
      removeEventListener() {},
    };
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on("uncaughtException", onUncaught);
    try {
      const events: string[] = [];
      for await (const event of pipeline.run({ userId: "u", message: "hi" }, { signal: signal as never })) {
        events.push(event.type);
        // The model request is out (held events are released with it): the host aborts now.
        if (events.length === 1) {
          signal.aborted = true;
          for (const listener of listeners) listener();
        }
      }
      expect(events.at(-1)).toBe("RUN_FINISHED");
      expect(listeners).toHaveLength(1);
      expect(backend.cancelled).toBe(1);
      // Let any error a hook would rethrow from a microtask surface.
      await new Promise((resolve) => setImmediate(resolve));
      expect(uncaught).toEqual([]);
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(pipeline.activeRuns).toBe(0);
    await pipeline.close();
  });
});
