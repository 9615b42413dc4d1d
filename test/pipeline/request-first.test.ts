import { describe, expect, it } from "vitest";
import {
  type CacheBatch,
  type CacheStore,
  type ChatChunk,
  type ChatRequest,
  type ContextProvider,
  createZoePipeline,
  EventType,
  type ModelBackend,
  type Router,
  memoryCacheStore,
  runResult,
} from "../../src/index.js";
import { textChunks } from "../../src/testing/index.js";
import { fixedRouter, testProvider } from "../helpers/fixtures.js";
import { expectValidStream } from "../helpers/ag-ui.js";

/** A backend that notes how many events the consumer had seen when the request reached it. */
function watchedBackend(seen: () => number) {
  const atRequest: number[] = [];
  const backend: ModelBackend = {
    name: "watched",
    async *chat(_request: ChatRequest): AsyncGenerator<ChatChunk> {
      atRequest.push(seen());
      yield* textChunks("An answer.");
    },
  };
  return { backend, atRequest };
}

describe("the model request goes out before the events that can wait", () => {
  it("a warm run sends its request before the consumer has seen any event, then every event in order", async () => {
    let count = 0;
    const { backend, atRequest } = watchedBackend(() => count);
    const pipeline = createZoePipeline({
      backend,
      router: fixedRouter(),
      providers: [testProvider("profile", "likes tea", { ttlMs: 60_000 }), testProvider("tools", "none", { ttlMs: 60_000 })],
    });
    for (let turn = 0; turn < 3; turn++) {
      const events = [];
      for await (const e of pipeline.run({ userId: "u", threadId: "t", message: `question ${turn}` })) {
        count++;
        events.push(e);
      }
      await expectValidStream(events);
      expect(events[0]!.type).toBe(EventType.RUN_STARTED);
      expect(events.at(-1)!.type).toBe(EventType.RUN_FINISHED);
      count = 0;
    }
    // Every turn (cold providers included: they answer at once) reached the model first.
    expect(atRequest).toEqual([0, 0, 0]);
    await pipeline.close();
  });

  it("a run with many providers answering at once (more setup events than the stream's backlog) still sends its request first", async () => {
    let count = 0;
    const { backend, atRequest } = watchedBackend(() => count);
    // Not cached (ttlMs 0): each provider is fetched every turn. Each answers a few microtasks
    // after the one before it, with no turn of the event loop: its outcome lands alone, as events
    // of its own (outcomes that land together share them).
    const providers: ContextProvider[] = Array.from({ length: 40 }, (_, i) => ({
      name: `p${i}`,
      ttlMs: 0,
      fetch: async () => {
        for (let hop = 0; hop < 10 * i; hop++) await null;
        return `value ${i}`;
      },
    }));
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), providers });
    for (let turn = 0; turn < 2; turn++) {
      count = 0;
      const events = [];
      for await (const e of pipeline.run({ userId: "u", threadId: "t", message: `question ${turn}` })) {
        count++;
        events.push(e);
      }
      await expectValidStream(events);
      expect(events.length).toBeGreaterThan(40);
    }
    expect(atRequest).toEqual([0, 0]);
    await pipeline.close();
  });

  it("a warm run's cached providers and its next stage are one state delta, whatever their number; so are fetches that land together", async () => {
    const providers = Array.from({ length: 40 }, (_, i) => testProvider(`p${i}`, `value ${i}`, { ttlMs: 60_000 }));
    const pipeline = createZoePipeline({ backend: watchedBackend(() => 0).backend, router: fixedRouter(), providers });
    for (let turn = 0; turn < 2; turn++) {
      const events = [];
      for await (const e of pipeline.run({ userId: "u", threadId: "t", message: `question ${turn}` })) events.push(e);
      await expectValidStream(events);
      const from = events.findIndex((e) => e.type === EventType.STEP_STARTED && e.stepName === "context");
      const to = events.findIndex((e) => e.type === EventType.STEP_FINISHED && e.stepName === "context");
      const deltas = events.slice(from + 1, to).filter((e) => e.type === EventType.STATE_DELTA);
      const paths = deltas.flatMap((e) => (e.type === EventType.STATE_DELTA ? e.delta.map((op: { path: string }) => op.path) : []));
      // Every provider's outcome and the stage, in either turn; the warm one in a single event.
      expect(paths).toHaveLength(41);
      expect(paths.at(-1)).toBe("/zoe/stage");
      // The warm turn's from the cache; the first turn's fetched, all answering at once, so
      // landing together.
      expect(deltas).toHaveLength(1);
    }
    await pipeline.close();
  });

  it("a run cancelled inside its context step still sends the outcomes it knew at once", async () => {
    const noKey = testProvider("nokey", "n", {
      cacheKey: () => {
        throw new Error("no key");
      },
    });
    const providers = [testProvider("a", "A", { ttlMs: 60_000 }), testProvider("b", "B", { ttlMs: 60_000 }), noKey];
    const pipeline = createZoePipeline({ backend: watchedBackend(() => 0).backend, router: fixedRouter(), providers });
    let host: AbortController | undefined;
    // A host listener that cancels the run while the context step runs, before anything is fetched.
    pipeline.on("provider:error", () => host?.abort());
    for await (const _ of pipeline.run({ userId: "u", threadId: "t", message: "warm up" }));
    host = new AbortController();
    const events = [];
    for await (const e of pipeline.run({ userId: "u", threadId: "t", message: "question" }, { signal: host.signal })) events.push(e);
    await expectValidStream(events);
    const last = events.at(-1);
    expect(last?.type === EventType.RUN_FINISHED && last.outcome).toEqual({ type: "cancelled" });
    const outcomes: Record<string, string> = {};
    for (const e of events) {
      if (e.type !== EventType.STATE_DELTA) continue;
      for (const op of e.delta as Array<{ path: string; value: { status?: string } }>) {
        if (op.path.startsWith("/zoe/providers/")) outcomes[op.path.slice("/zoe/providers/".length)] = op.value.status ?? "";
      }
    }
    expect(outcomes).toEqual({ a: "cached", b: "cached", nokey: "error" });
    await pipeline.close();
  });

  it("a run that waits on I/O passes its first events on while it waits", async () => {
    // The provider answers only once the consumer has seen the run start: a run that held its
    // first events until the provider answered would only get there after the provider's
    // deadline, and the provider's outcome would be a timeout.
    let release: (value: string) => void = () => {};
    const gate = new Promise<string>((resolve) => {
      release = resolve;
    });
    const waiting: ContextProvider = { name: "waiting", ttlMs: 0, timeoutMs: 10_000, fetch: () => gate };
    const pipeline = createZoePipeline({ backend: watchedBackend(() => 0).backend, router: fixedRouter(), providers: [waiting] });
    const types: string[] = [];
    let providerStatus: string | undefined;
    for await (const e of pipeline.run({ userId: "u", threadId: "t", message: "hello there" })) {
      if (types.length === 0) release("context");
      types.push(e.type);
      const result = runResult(e);
      if (result && !result.cancelled) providerStatus = result.metrics.providers.waiting?.status;
    }
    expect(types[0]).toBe(EventType.RUN_STARTED);
    expect(types.at(-1)).toBe(EventType.RUN_FINISHED);
    expect(providerStatus).toBe("ok");
    await pipeline.close();
  });

  it("a run back from I/O holds what it sends after the wait until its request is out (cache read, router, provider, system prompt)", async () => {
    // A wait on I/O that ends after the loop has turned once: its timer starts in the check phase,
    // after the run's held events went. A timer started at once could fire before that turn on a
    // busy machine (the timers phase comes first), and the run would rightly send nothing before
    // its request: the events held are then released with it.
    const later = () => new Promise((resolve) => setImmediate(() => setTimeout(resolve, 2)));
    const slowStore = (): CacheStore => {
      const store = memoryCacheStore();
      const read = store.read.bind(store);
      return Object.assign(store, { read: async (batch: CacheBatch) => (await later(), read(batch)) });
    };
    const slowRouter: Router = { route: async (request) => (await later(), fixedRouter().route(request)) };
    const setups = {
      "cache read": { cache: slowStore(), router: fixedRouter() },
      router: { router: slowRouter },
      provider: { router: fixedRouter(), providers: [{ name: "slow", ttlMs: 0, fetch: async () => (await later(), "ctx") }] },
      // Not cached: built on every turn.
      "system prompt": { router: fixedRouter(), systemPrompt: async () => (await later(), "You are Zoe."), ttl: { systemPromptMs: 0 } },
    };
    const seenAtRequest: Record<string, string[]> = {};
    for (const [name, options] of Object.entries(setups)) {
      const seen: string[] = [];
      const { backend, atRequest } = watchedBackend(() => seen.length);
      const pipeline = createZoePipeline({ backend, ...options });
      // The second turn starts from stored history: its read serves route and history.
      for (const message of ["first question", "second question"]) {
        seen.length = 0;
        const events = [];
        for await (const e of pipeline.run({ userId: "u", threadId: "t", message })) {
          seen.push(e.type);
          events.push(e);
        }
        await expectValidStream(events);
      }
      seenAtRequest[name] = seen.slice(0, atRequest.at(-1));
      await pipeline.close();
    }
    // What went out while each run waited, and nothing sent after the wait.
    const start = [EventType.RUN_STARTED, EventType.STATE_SNAPSHOT, EventType.STEP_STARTED];
    expect(seenAtRequest["cache read"]).toEqual(start);
    expect(seenAtRequest.router).toEqual([...start, EventType.MESSAGES_SNAPSHOT]);
    expect(seenAtRequest.provider).toEqual([
      ...start,
      EventType.MESSAGES_SNAPSHOT,
      EventType.STATE_DELTA,
      EventType.STEP_FINISHED,
      EventType.STEP_STARTED,
      EventType.ACTIVITY_SNAPSHOT,
    ]);
    expect(seenAtRequest["system prompt"]?.at(-1)).toBe(EventType.STEP_STARTED); // the generate step, before the prompt
    expect(seenAtRequest["system prompt"]?.filter((t) => t === EventType.STEP_STARTED)).toHaveLength(3);
  });

  it("the run's one cache read goes out before the run's setup: a store across the network answers while the run starts", async () => {
    const store = memoryCacheStore();
    const read = store.read.bind(store);
    let started = 0;
    const startedAtRead: number[] = [];
    Object.assign(store, { read: (batch: CacheBatch) => (startedAtRead.push(started), read(batch)) });
    const pipeline = createZoePipeline({ backend: watchedBackend(() => 0).backend, router: fixedRouter(), cache: store });
    pipeline.on("run:started", () => started++);
    for (let turn = 0; turn < 2; turn++) for await (const _ of pipeline.run({ userId: "u", threadId: "t", message: `q${turn}` })) void _;
    // Each read went out before its run was reported started.
    expect(startedAtRead).toEqual([0, 1]);
    expect(started).toBe(2);
    await pipeline.close();
  });

  it("a run whose setup fails while its cache read is out ends with RUN_ERROR, and the read rejects nowhere", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      // A store across the network (its read answers after a timer), and a client state whose getter
      // works when the input is validated and throws when the run copies it for STATE_SNAPSHOT.
      const store = memoryCacheStore();
      const read = store.read.bind(store);
      Object.assign(store, { read: async (batch: CacheBatch) => (await new Promise((r) => setTimeout(r, 5)), read(batch)) });
      const pipeline = createZoePipeline({ backend: watchedBackend(() => 0).backend, router: fixedRouter(), cache: store });
      let reads = 0;
      const state = {
        get mood() {
          if (++reads > 1) throw new Error("state getter failed");
          return "ok";
        },
      };
      const input = {
        threadId: "t",
        runId: "r1",
        messages: [{ id: "m", role: "user" as const, content: "hi there" }],
        tools: [],
        context: [],
        state,
        forwardedProps: {},
      };
      const types: string[] = [];
      for await (const e of pipeline.run(input, { userId: "u" })) types.push(e.type);
      expect(types).toEqual([EventType.RUN_STARTED, EventType.RUN_ERROR]);
      await new Promise((r) => setTimeout(r, 20)); // the read has answered, or been aborted
      await pipeline.close();
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  it("a run that fails before its model call still starts with RUN_STARTED and ends with RUN_ERROR", async () => {
    const backend: ModelBackend = {
      name: "never",
      async *chat() {},
    };
    const router = {
      route: () => {
        throw new Error("no route");
      },
    };
    const pipeline = createZoePipeline({ backend, router });
    const events = [];
    for await (const e of pipeline.run({ userId: "u", threadId: "t", message: "hi" })) events.push(e);
    expect(events[0]!.type).toBe(EventType.RUN_STARTED);
    expect(events.at(-1)!.type).toBe(EventType.RUN_ERROR);
    await pipeline.close();
  });

  it("a consumer that leaves at the first event stops the model request", async () => {
    let closed = false;
    const backend: ModelBackend = {
      name: "long",
      async *chat(_request, { signal }) {
        try {
          for (let i = 0; i < 1000; i++) {
            if (signal.aborted) return;
            yield { type: "text", text: `t${i} ` };
            await new Promise((r) => setTimeout(r, 5));
          }
        } finally {
          closed = true;
        }
      },
    };
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    for await (const e of pipeline.run({ userId: "u", threadId: "t", message: "hi" })) {
      expect(e.type).toBe(EventType.RUN_STARTED);
      break;
    }
    expect(closed).toBe(true);
    expect(pipeline.activeRuns).toBe(0);
    await pipeline.close();
  });
});

describe("leaving a run that waits", () => {
  it("a consumer that leaves at the first event of a run waiting on a slow provider is not held by it", async () => {
    const slow = testProvider("slow", "ctx", { ttlMs: 0, delayMs: 5_000, timeoutMs: 10_000 });
    let answered = false; // the provider finished on its own: leaving waited for it
    const fetch = slow.fetch.bind(slow);
    slow.fetch = async (...args: Parameters<typeof fetch>) => {
      const value = await fetch(...args);
      answered = true;
      return value;
    };
    const pipeline = createZoePipeline({ backend: watchedBackend(() => 0).backend, router: fixedRouter(), providers: [slow] });
    for await (const e of pipeline.run({ userId: "u", threadId: "t", message: "hello there" })) {
      expect(e.type).toBe(EventType.RUN_STARTED);
      break;
    }
    expect(answered).toBe(false);
    expect(slow.aborts).toBe(1);
    expect(pipeline.activeRuns).toBe(0);
    await pipeline.close();
  });
});
