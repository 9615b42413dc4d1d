/**
 * What a run keeps while it streams. With many runs in flight, everything each one holds is
 * copied by every young-generation garbage collection (bench/scaling.ts, concurrency 512): a run
 * in flight lets go of what only its earlier stages needed. Each case pauses a run inside the
 * model call, forces a full collection and checks, through a `WeakRef`, that the object is gone.
 */
import { describe, expect, it } from "vitest";
import {
  type CacheBatch,
  type CacheStore,
  type ChatChunk,
  createZoePipeline,
  EventType,
  memoryCacheStore,
  type ModelBackend,
} from "../../src/index.js";
import { newId } from "../../src/shared/new-id.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { gc } from "../helpers/gc.js";

/** Collect until nothing more goes (a WeakRef target dies in the collection after its last use). */
async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A backend that answers its first token, then waits until `open()`. */
function gatedBackend() {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const backend: ModelBackend = {
    name: "gated",
    async *chat(): AsyncGenerator<ChatChunk> {
      yield { type: "text", text: "first" };
      await gate;
      yield { type: "text", text: " and last" };
      yield { type: "done", outputTokens: 2, doneReason: "stop" };
    },
  };
  return { backend, open };
}

/** Iterate a run until its first token; the rest is read by `finish()`. */
async function pauseAtFirstToken(run: AsyncIterable<{ type: string }>) {
  const iterator = run[Symbol.asyncIterator]();
  for (;;) {
    const next = await iterator.next();
    if (next.done) throw new Error("the run ended before its first token");
    if (next.value.type === EventType.TEXT_MESSAGE_CONTENT) break;
  }
  return {
    async finish(): Promise<string[]> {
      const types: string[] = [];
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) types.push(next.value.type);
      return types;
    },
  };
}

describe("a run in flight", () => {
  it("does not hold its raw input (validation copied what the run needs)", async () => {
    const { backend, open } = gatedBackend();
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    let input: object | undefined = {
      threadId: "t",
      runId: "r",
      messages: [{ id: "m1", role: "user", content: "Why is the sky blue?" }],
      tools: [],
      context: [],
      state: {},
      forwardedProps: {},
    };
    const raw = new WeakRef(input);
    const paused = await pauseAtFirstToken(pipeline.run(input as never, { userId: "u" }));
    input = undefined;
    await collect();
    expect(raw.deref()).toBeUndefined();
    open();
    expect((await paused.finish()).at(-1)).toBe(EventType.RUN_FINISHED);
    await pipeline.close();
  });

  it("lets go of the stored history it read once the prompt is built", async () => {
    const { backend, open } = gatedBackend();
    const memory = memoryCacheStore();
    // The store's read hands out its history entries as they are; the test keeps a weak handle on them.
    const handedOut: Array<WeakRef<object>> = [];
    const store: CacheStore = {
      ...memory,
      async read(batch: CacheBatch) {
        const result = await memory.read!(batch);
        for (const list of result.lists)
          for (const entry of list) if (typeof entry === "object" && entry) handedOut.push(new WeakRef(entry));
        return result;
      },
    };
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), cache: store });
    // A first turn leaves two stored messages (its pipeline's close() leaves the shared store open).
    const first = gatedBackend();
    const warm = createZoePipeline({ backend: first.backend, router: fixedRouter(), cache: { ...memory, close: async () => {} } });
    first.open();
    for await (const _ of warm.run({ userId: "u", threadId: "t", message: "Hello" }));
    await warm.close();

    const paused = await pauseAtFirstToken(pipeline.run({ userId: "u", threadId: "t", message: "And then?" }));
    expect(handedOut.length).toBe(2);
    await collect();
    expect(handedOut.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);
    open();
    expect((await paused.finish()).at(-1)).toBe(EventType.RUN_FINISHED);
    // The turn is stored after the two before it: its sequence numbers were kept.
    const stored = await pipeline.history.get("u", "t");
    expect(stored.map((e) => [e.role, e.seq])).toEqual([
      ["user", 0],
      ["assistant", 1],
      ["user", 2],
      ["assistant", 3],
    ]);
    await pipeline.close();
  });
});

describe("runs in flight with long messages", () => {
  it("let go of their cache keys (a provider keyed by the message holds it whole, percent-encoded) once the route is decided", async () => {
    // A store that keeps nothing in process, as one across the network: only the runs hold keys.
    const memory = memoryCacheStore();
    const store: CacheStore = { ...memory, set: async () => {}, listAppend: async () => {} };
    const gates = Array.from({ length: 20 }, () => gatedBackend());
    let next = 0;
    const backend: ModelBackend = {
      name: "gated",
      chat: (...args) => (gates[next++] as ReturnType<typeof gatedBackend>).backend.chat(...args),
    };
    const provider = { name: "search", ttlMs: 60_000, cacheKey: (r: { text: string }) => r.text, fetch: async () => "found" };
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), cache: store, providers: [provider] });
    // 8,000 CJK characters: 16 KB as the run's text, 72 KB as each percent-encoded key.
    const message = (i: number) => `${i} ${"天".repeat(8_000)}`;
    await collect();
    const before = process.memoryUsage().heapUsed;
    const paused = [];
    for (let i = 0; i < gates.length; i++)
      paused.push(await pauseAtFirstToken(pipeline.run({ userId: "u", threadId: `t${i}`, message: message(i) })));
    await collect();
    const perRun = (process.memoryUsage().heapUsed - before) / gates.length;
    // The text itself (16 KB), the prompt that carries it (16 KB) and the run's own objects; not the keys (144 KB).
    console.log(`[in-flight] ${Math.round(perRun)} bytes per paused run`);
    expect(perRun).toBeLessThan(80_000);
    for (const gate of gates) gate.open();
    for (const p of paused) expect((await p.finish()).at(-1)).toBe(EventType.RUN_FINISHED);
    await pipeline.close();
  });
});

describe("newId", () => {
  it("is a version 4 UUID, different each time", () => {
    const ids = new Set(Array.from({ length: 1000 }, newId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("is one flat string: 100,000 kept ids take under 200 bytes each (58 when flat; a randomUUID() kept as it is, about 480)", async () => {
    const measure = async (make: () => string) => {
      const kept: string[] = new Array(100_000);
      await collect();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < kept.length; i++) kept[i] = make();
      await collect();
      const perId = (process.memoryUsage().heapUsed - before) / kept.length;
      expect(kept.length).toBe(100_000);
      return perId;
    };
    const { randomUUID } = await import("node:crypto");
    // The measurement itself can tell the two apart.
    expect(await measure(() => randomUUID())).toBeGreaterThan(350);
    expect(await measure(newId)).toBeLessThan(200);
  });
});
