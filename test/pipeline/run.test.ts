import { describe, expect, it } from "vitest";
import { createZoePipeline, EventType, memoryCacheStore, type AGUIEvent, type CacheStore, type ChatRequest } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { collect, expectValidStream, runValid, terminal, textOf } from "../helpers/ag-ui.js";
import { fixedRouter, testProvider, offerChoicesInput } from "../helpers/fixtures.js";

const stateDeltas = (events: AGUIEvent[]) =>
  events.flatMap((e) => (e.type === EventType.STATE_DELTA ? e.delta : [])) as Array<{ path: string; value: unknown }>;
const providerState = (events: AGUIEvent[], name: string) =>
  stateDeltas(events)
    .filter((op) => op.path === `/zoe/providers/${name}`)
    .at(-1)?.value as { status: string; ms: number } | undefined;
const finished = (events: AGUIEvent[]) => {
  const last = terminal(events);
  if (last.type !== EventType.RUN_FINISHED) throw new Error(`expected RUN_FINISHED, got ${JSON.stringify(last)}`);
  return last;
};
const metricsOf = (events: AGUIEvent[]) => (finished(events).result as { metrics: Record<string, any> }).metrics;

describe("a run", () => {
  it("streams a whole turn as valid AG-UI events, in order", async () => {
    const backend = scriptedBackend({ script: textChunks("Hi there, friend.") });
    const pipeline = createZoePipeline({ backend, router: fixedRouter("chat") });
    const events = await runValid(pipeline.run({ userId: "u1", message: "tell me something" }));
    const types = events.map((e) => e.type);
    expect(types.slice(0, 3)).toEqual([EventType.RUN_STARTED, EventType.STATE_SNAPSHOT, EventType.STEP_STARTED]);
    const steps = events.flatMap((e) => (e.type === EventType.STEP_STARTED ? [e.stepName] : []));
    expect(steps).toEqual(["route", "context", "generate"]);
    expect(textOf(events)).toBe("Hi there, friend.");
    expect(types.filter((t) => t === EventType.TEXT_MESSAGE_START)).toHaveLength(1);
    const custom = events.find((e) => e.type === EventType.CUSTOM);
    expect(custom?.type === EventType.CUSTOM && custom.name).toBe("zoe.metrics");
    const m = metricsOf(events);
    expect(m.kind).toBe("chat");
    expect(m.model).toBe("test-model");
    expect(m.fastPath).toBe(false);
    expect(m.tokens.output).toBe(3);
    expect(m.ttftMs).toBeGreaterThan(0);
    expect(m.totalMs).toBeGreaterThanOrEqual(m.ttftMs);
    expect(Object.keys(m.stages).sort()).toEqual(["cacheReadMs", "contextMs", "generateMs", "promptMs", "routeMs"]);
    expect(finished(events).outcome).toEqual({ type: "success" });
    for (const e of events) expect(Number.isInteger(e.timestamp)).toBe(true);
  });

  it("accepts an AG-UI RunAgentInput with a userId and narrows events by type", async () => {
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter() });
    const events = await runValid(
      pipeline.run({
        threadId: "t1",
        runId: "r1",
        userId: "u1",
        messages: [{ id: "m1", role: "user", content: "hello?" }],
        tools: [],
        context: [],
        state: { mine: 1 },
        forwardedProps: {},
      }),
    );
    const started = events[0]!;
    if (started.type !== EventType.RUN_STARTED) throw new Error("first event must be RUN_STARTED");
    expect(started.threadId).toBe("t1");
    expect(started.runId).toBe("r1");
    const snapshot = events[1]!;
    if (snapshot.type !== EventType.STATE_SNAPSHOT) throw new Error("second event must be STATE_SNAPSHOT");
    expect(snapshot.snapshot).toMatchObject({ mine: 1, zoe: { runId: "r1", stage: "route" } });
  });

  it("reports route facts in state, and serves a repeated turn's route from cache", async () => {
    const router = fixedRouter("chat");
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router });
    const first = await runValid(pipeline.run({ userId: "u1", message: "What is love?" }));
    const second = await runValid(pipeline.run({ userId: "u1", message: "  what IS love ?" }));
    const route = (events: AGUIEvent[]) => stateDeltas(events).find((op) => op.path === "/zoe/route")?.value as any;
    expect(route(first)).toMatchObject({ kind: "chat", model: "test-model", reason: "fixed: chat", cached: false });
    expect(route(second)).toMatchObject({ kind: "chat", cached: true });
    expect(router.calls).toBe(1);
    expect(metricsOf(second).cache.byPart.route).toEqual({ hits: 1, misses: 0 });
  });

  it("with ttl.routeMs 0, routes are neither read from the store nor written; cached context still lines up", async () => {
    const memoryStore = memoryCacheStore();
    const read: string[][] = [];
    const written: string[] = [];
    const store: CacheStore = {
      ...memoryStore,
      read: (batch) => {
        read.push([...batch.keys]);
        return memoryStore.read(batch);
      },
      set: (key, value, ttlMs) => {
        written.push(key);
        return memoryStore.set(key, value, ttlMs);
      },
    };
    const router = fixedRouter("chat");
    const memory = testProvider("memory", "Ada likes tea.");
    const backend = scriptedBackend();
    const systemPrompt = ({ kind }: { kind: string }) => `You are Zoe (${kind}).`;
    const pipeline = createZoePipeline({ backend, router, cache: store, providers: [memory], systemPrompt, ttl: { routeMs: 0 } });
    await runValid(pipeline.run({ userId: "u1", message: "What is love?" }));
    const second = await runValid(pipeline.run({ userId: "u1", message: "What is love?" }));
    expect(router.calls).toBe(2);
    expect(read.flat().some((k) => k.includes("route"))).toBe(false);
    expect(written.some((k) => k.includes("route"))).toBe(false);
    expect(metricsOf(second).cache.byPart).toMatchObject({ context: { hits: 1, misses: 0 }, system: { hits: 1, misses: 0 } });
    expect(metricsOf(second).cache.byPart.route).toEqual({ hits: 0, misses: 0 });
    expect(providerState(second, "memory")).toEqual({ status: "cached", ms: 0 });
    expect(memory.calls).toBe(1);
    expect(backend.requests[1]?.messages[0]?.content).toContain("You are Zoe (chat).");
    expect(backend.requests[1]?.messages.at(-1)?.content).toContain("Ada likes tea.");
  });

  it("takes the fast path: no providers, the route's short num_predict", async () => {
    const backend = scriptedBackend();
    const memory = testProvider("memory", "likes tea");
    const pipeline = createZoePipeline({ backend, router: fixedRouter("greeting"), providers: [memory] });
    const events = await runValid(pipeline.run({ userId: "u1", message: "hi" }));
    expect(memory.calls).toBe(0);
    expect(providerState(events, "memory")).toEqual({ status: "skipped", ms: 0 });
    expect(backend.requests[0]?.options).toEqual({ num_predict: 64 });
    expect(metricsOf(events).fastPath).toBe(true);
  });

  it("on the fast path, a stable provider served from the cache keeps the thread's system prompt (and KV prefix)", async () => {
    const backend = scriptedBackend();
    const profile = testProvider("profile", "The user is Ada.", { placement: "stable" });
    const memory = testProvider("memory", "likes tea");
    const router = {
      route: ({ text }: { text: string }) =>
        text === "hi"
          ? { model: "m", kind: "greeting" as const, fastPath: true, reason: "greeting", options: {} }
          : { model: "m", kind: "chat" as const, fastPath: false, reason: "chat", options: {} },
    };
    const pipeline = createZoePipeline({ backend, router, providers: [profile, memory], ttl: { routeMs: 0 } });
    await runValid(pipeline.run({ userId: "u1", threadId: "t", message: "What is love?" }));
    const greeting = await runValid(pipeline.run({ userId: "u1", threadId: "t", message: "hi" }));
    expect(providerState(greeting, "profile")).toEqual({ status: "cached", ms: 0 });
    expect(providerState(greeting, "memory")).toEqual({ status: "skipped", ms: 0 });
    expect(profile.calls + memory.calls).toBe(2);
    const [first, second] = backend.requests as [ChatRequest, ChatRequest];
    expect(second.messages[0]).toEqual(first.messages[0]);
    expect(second.messages[0]?.content).toContain("The user is Ada.");
    // Not cached (another user): skipped, not fetched, as before.
    const cold = await runValid(pipeline.run({ userId: "u2", threadId: "t", message: "hi" }));
    expect(providerState(cold, "profile")).toEqual({ status: "skipped", ms: 0 });
    expect(profile.calls).toBe(1);
  });

  it("fetches providers in parallel, puts their context in the prompt, and caches them per user", async () => {
    const backend = scriptedBackend();
    const profile = testProvider("profile", { name: "Ada" }, { placement: "stable", delayMs: 20 });
    const memory = testProvider("memory", "Ada likes tea.", { delayMs: 20 });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), providers: [profile, memory] });
    const first = await runValid(pipeline.run({ userId: "u1", message: "what do I like?" }));
    expect(providerState(first, "profile")?.status).toBe("ok");
    expect(providerState(first, "memory")?.status).toBe("ok");
    const [system, user] = backend.requests[0]!.messages;
    expect(system?.content).toContain('[profile]\n{"name":"Ada"}');
    expect(user?.content).toBe("<context>\n[memory]\nAda likes tea.\n</context>\n\nwhat do I like?");

    const second = await runValid(pipeline.run({ userId: "u1", message: "and what else?" }));
    expect(providerState(second, "memory")).toEqual({ status: "cached", ms: 0 });
    expect(memory.calls).toBe(1);
    expect(metricsOf(second).cache.byPart.context).toEqual({ hits: 2, misses: 0 });

    await runValid(pipeline.run({ userId: "u2", message: "what do I like?" }));
    expect(memory.calls).toBe(2);
  });

  it("goes on without a provider that times out, and aborts its work", async () => {
    const slow = testProvider("search", "late", { delayMs: 5_000, timeoutMs: 30 });
    const fast = testProvider("profile", "ok");
    const timeouts: string[] = [];
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), providers: [slow, fast] });
    pipeline.on("provider:timeout", ({ name }) => timeouts.push(name));
    const events = await runValid(pipeline.run({ userId: "u1", message: "search something" }));
    const state = providerState(events, "search");
    expect(state?.status).toBe("timeout");
    expect(state?.ms).toBeGreaterThanOrEqual(29);
    expect(providerState(events, "profile")?.status).toBe("ok");
    expect(slow.aborts).toBe(1);
    expect(timeouts).toEqual(["search"]);
    expect(finished(events).outcome).toEqual({ type: "success" });
  });

  it("goes on without a provider that throws", async () => {
    const broken = testProvider("broken", null, { fail: true });
    const errors: string[] = [];
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), providers: [broken] });
    pipeline.on("provider:error", ({ error }) => errors.push(error));
    const events = await runValid(pipeline.run({ userId: "u1", message: "anything" }));
    expect(providerState(events, "broken")?.status).toBe("error");
    expect(errors).toEqual(["broken failed on purpose"]);
    expect(textOf(events)).toBe("Hello from the scripted model.");
  });

  it("runs one provider fetch for many concurrent runs of one user (single-flight)", async () => {
    const memory = testProvider("memory", "shared", { delayMs: 30 });
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), providers: [memory] });
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => runValid(pipeline.run({ userId: "u1", threadId: `t${i}`, message: `q${i}` }))),
    );
    expect(memory.calls).toBe(1);
    for (const events of runs) expect(providerState(events, "memory")?.status).toBe("ok");
  });

  it("fetches a provider that is not cached (ttlMs 0) for each run: concurrent runs of one user never get another thread's context", async () => {
    let calls = 0;
    const docs = {
      name: "docs",
      ttlMs: 0,
      fetch: async (request: { threadId: string; text: string }) => {
        calls++;
        await new Promise((r) => setTimeout(r, 20));
        return `docs for ${request.threadId}: ${request.text}`;
      },
    };
    const requests: ChatRequest[] = [];
    const backend = scriptedBackend();
    const chat = backend.chat.bind(backend);
    backend.chat = (request, options) => (requests.push(request), chat(request, options));
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), providers: [docs] });
    await Promise.all([
      runValid(pipeline.run({ userId: "alice", threadId: "work", message: "the merger memo" })),
      runValid(pipeline.run({ userId: "alice", threadId: "personal", message: "my blood test" })),
    ]);
    expect(calls).toBe(2);
    const prompt = (thread: string) =>
      JSON.stringify(requests.find((r) => JSON.stringify(r.messages).includes(`docs for ${thread}`))?.messages);
    expect(prompt("work")).toContain("the merger memo");
    expect(prompt("work")).not.toContain("my blood test");
    expect(prompt("personal")).toContain("my blood test");
    expect(prompt("personal")).not.toContain("the merger memo");
  });

  it("ends with RUN_ERROR and the backend's code when the model fails", async () => {
    const backend = scriptedBackend({
      script: [...textChunks("partial "), { type: "error", message: "model exploded", code: "MODEL_NOT_FOUND" }],
    });
    const errors: string[] = [];
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    pipeline.on("run:error", ({ error }) => errors.push(error.code));
    const events = await runValid(pipeline.run({ userId: "u1", threadId: "t", message: "go" }));
    const last = terminal(events);
    expect(last.type).toBe(EventType.RUN_ERROR);
    if (last.type === EventType.RUN_ERROR) {
      expect(last.code).toBe("MODEL_NOT_FOUND");
      expect(last.message).toBe("model exploded");
    }
    expect(errors).toEqual(["MODEL_NOT_FOUND"]);
    expect(await pipeline.history.get("u1", "t")).toEqual([]);
  });

  it("maps a backend's plain Error to MODEL_ERROR", async () => {
    const backend = {
      name: "broken",
      // biome-ignore lint/correctness/useYield: a backend that fails before its first chunk
      async *chat() {
        throw new Error("socket hang up");
      },
    };
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const last = terminal(await runValid(pipeline.run({ userId: "u1", message: "go" })));
    expect(last.type === EventType.RUN_ERROR && last.code).toBe("MODEL_ERROR");
  });

  it("streams thinking as REASONING events and tool calls as TOOL_CALL events left pending", async () => {
    const backend = scriptedBackend({
      script: [
        { type: "thinking", text: "Let me think." },
        ...textChunks("Sure."),
        { type: "tool_call", call: { id: "call-1", name: "offer_choices", arguments: { options: ["a", "b"] } } },
        { type: "done", inputTokens: 12, outputTokens: 4, evalMs: 10, promptEvalMs: 2, loadMs: 1 },
      ],
    });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const events = await runValid(pipeline.run(offerChoicesInput("pick one", "u1")));
    const types = events.map((e) => e.type);
    expect(types).toContain(EventType.REASONING_MESSAGE_CONTENT);
    expect(types.indexOf(EventType.REASONING_END)).toBeLessThan(types.indexOf(EventType.TEXT_MESSAGE_START));
    const args = events.find((e) => e.type === EventType.TOOL_CALL_ARGS);
    expect(args?.type === EventType.TOOL_CALL_ARGS && JSON.parse(args.delta)).toEqual({ options: ["a", "b"] });
    const done = finished(events);
    expect(done.outcome).toEqual({ type: "success", pendingToolCallIds: ["call-1"] });
    expect(done.usage).toEqual([{ provider: "scripted", model: "test-model", inputTokens: 12, outputTokens: 4, totalTokens: 16 }]);
    const m = metricsOf(events);
    expect(m.tokensPerSecond).toBe(400);
    expect(m.backend).toEqual({ loadMs: 1, promptEvalMs: 2, evalMs: 10 });
  });
});

describe("bad input", () => {
  const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), maxInputChars: 50 });
  const agui = (over: Record<string, unknown>) => ({
    threadId: "t",
    runId: "r",
    userId: "u",
    messages: [{ id: "m", role: "user", content: "hi" }],
    tools: [],
    context: [],
    ...over,
  });
  const cases: Array<[string, unknown, string, boolean]> = [
    ["not an object", "hello", "INVALID_INPUT", false],
    ["null", null, "INVALID_INPUT", false],
    ["neither form", { userId: "u" }, "INVALID_INPUT", false],
    ["AG-UI without ids", agui({ threadId: undefined }), "MISSING_IDS", false],
    ["AG-UI with empty runId", agui({ runId: "" }), "MISSING_IDS", false],
    ["AG-UI with wrong types", agui({ messages: "hi" }), "INVALID_INPUT", true],
    ["AG-UI with a bad message", agui({ messages: [{ role: "user", content: 5 }] }), "INVALID_INPUT", true],
    ["AG-UI without user", agui({ userId: undefined }), "MISSING_USER_ID", true],
    ["no user message", agui({ messages: [{ id: "a", role: "assistant", content: "yo" }] }), "NO_USER_MESSAGE", true],
    ["empty messages", agui({ messages: [] }), "NO_USER_MESSAGE", true],
    ["whitespace text", agui({ messages: [{ id: "m", role: "user", content: " \n\t " }] }), "EMPTY_MESSAGE", true],
    ["shorthand empty", { userId: "u", message: "" }, "EMPTY_MESSAGE", true],
    ["shorthand too long", { userId: "u", message: "x".repeat(51) }, "MESSAGE_TOO_LONG", true],
    ["shorthand without user", { message: "hi" }, "MISSING_USER_ID", true],
    ["shorthand wrong type", { userId: "u", message: 42 }, "INVALID_INPUT", true],
  ];
  for (const [name, input, code, started] of cases) {
    it(`${name}: ${started ? "RUN_STARTED then " : "only "}RUN_ERROR ${code}`, async () => {
      const events = await collect(pipeline.run(input as never));
      await expectValidStream(events);
      expect(events.map((e) => e.type)).toEqual(started ? [EventType.RUN_STARTED, EventType.RUN_ERROR] : [EventType.RUN_ERROR]);
      const last = terminal(events);
      expect(last.type === EventType.RUN_ERROR && last.code).toBe(code);
      expect(last.type === EventType.RUN_ERROR && last.message.length).toBeGreaterThan(10);
    });
  }
});

describe("the cache never breaks a run", () => {
  it("runs with a store whose every call fails", async () => {
    const failing = new Proxy(memoryCacheStore(), {
      get: (target, prop) =>
        prop === "name"
          ? "failing"
          : typeof (target as any)[prop] === "function"
            ? async () => {
                throw new Error("store down");
              }
            : (target as any)[prop],
    }) as CacheStore;
    const memory = testProvider("memory", "ctx");
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), cache: failing, providers: [memory] });
    const events = await runValid(pipeline.run({ userId: "u1", message: "hello there" }));
    expect(finished(events).outcome).toEqual({ type: "success" });
    expect(providerState(events, "memory")?.status).toBe("ok");
  });
});
