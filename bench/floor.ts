/**
 * The floor: a hand-written pipeline doing the same job as zoe-pipeline on the same store — one
 * batched read (route, three providers, history tail), the same AG-UI event sequence, the same
 * history append (the user message stored as the model saw it, for KV-cache reuse) — without deadlines, cancellation, metrics or any guard. zoe's added time over
 * the raw backend is measured beside it, interleaved, in one process.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { type AGUIEvent, EventType } from "@ag-ui/core";
import type { CacheStore, ChatMessage, ModelBackend } from "zoe-pipeline";
import { memoryCacheStore } from "zoe-pipeline";
import { resilientRedisStore } from "zoe-pipeline/redis";
import { overheadPipeline } from "./overhead.js";
import { printTable, summarise } from "./stats.js";

const MESSAGE = "why is the sky blue when the sun is white?";
const SYSTEM = "You are Zoe, a helpful assistant.";
const PROVIDERS = ["profile", "memory", "tools"] as const;
const HOUR = 3_600_000;
/** The wait before each run (and each raw backend call) of the memory-after-idle rows, ms. */
const IDLE_MS = 1;

/** A stored message; `sent` is the user message as the model saw it (with its volatile context), as zoe stores it. */
type Stored = { id: string; role: "user" | "assistant"; content: string; seq: number; at: number; sent?: string };

/** The one batched read of a floor run: its route, its three providers' context and its history tail. */
function floorReadBatch(userId: string, threadId: string) {
  return {
    keys: [`floor:route:${userId}:${MESSAGE}`, ...PROVIDERS.map((p) => `floor:context:${userId}:${p}`)],
    lists: [{ key: `floor:history:${userId}:${threadId}`, last: 12 }],
  };
}

/** One run of the hand-written pipeline: the events zoe yields for a warm run, in the same order. */
export async function* floorRun(store: CacheStore, backend: ModelBackend, userId: string, threadId: string): AsyncGenerator<AGUIEvent> {
  const runId = randomUUID();
  const ts = Date.now;
  yield { type: EventType.RUN_STARTED, threadId, runId, timestamp: ts() };
  const pending = { profile: { status: "pending" }, memory: { status: "pending" }, tools: { status: "pending" } };
  yield { type: EventType.STATE_SNAPSHOT, snapshot: { zoe: { runId, stage: "route", providers: pending } }, timestamp: ts() };
  yield { type: EventType.STEP_STARTED, stepName: "route", timestamp: ts() };
  const batch = floorReadBatch(userId, threadId);
  const historyKey = batch.lists[0]!.key;
  const read = await store.read(batch);
  const history = read.lists[0] as Stored[];
  if (history.length > 0) {
    const messages = history.map((e) => ({ id: e.id, role: e.role, content: e.content }));
    messages.push({ id: randomUUID(), role: "user", content: MESSAGE });
    yield { type: EventType.MESSAGES_SNAPSHOT, messages, timestamp: ts() };
  }
  let route = read.values[0] as { model: string; kind: string } | undefined;
  if (!route) {
    route = { model: "default", kind: "chat" };
    await store.set(`floor:route:${userId}:${MESSAGE}`, route, HOUR);
  }
  yield {
    type: EventType.STATE_DELTA,
    delta: [
      { op: "add", path: "/zoe/route", value: { ...route, cached: true } },
      { op: "add", path: "/zoe/stage", value: "context" },
    ],
    timestamp: ts(),
  };
  yield { type: EventType.STEP_FINISHED, stepName: "route", timestamp: ts() };
  yield { type: EventType.STEP_STARTED, stepName: "context", timestamp: ts() };
  const context: string[] = [];
  // The providers' outcomes, known at once from the read, and the next stage: one delta, as zoe sends it.
  const delta: Array<{ op: "add"; path: string; value: unknown }> = [];
  for (let i = 0; i < PROVIDERS.length; i++) {
    let value = read.values[i + 1] as string | undefined;
    if (value === undefined) {
      value = `${PROVIDERS[i]} context for the user, a line or two of text that the prompt will carry.`;
      await store.set(`floor:context:${userId}:${PROVIDERS[i]}`, value, HOUR);
    }
    context.push(value);
    delta.push({ op: "add", path: `/zoe/providers/${PROVIDERS[i]}`, value: { status: "cached", ms: 0 } });
  }
  delta.push({ op: "add", path: "/zoe/stage", value: "generate" });
  yield { type: EventType.STATE_DELTA, delta, timestamp: ts() };
  yield { type: EventType.STEP_FINISHED, stepName: "context", timestamp: ts() };
  yield { type: EventType.STEP_STARTED, stepName: "generate", timestamp: ts() };
  // Earlier user messages go back as the model saw them (`sent`), so that the server reuses its
  // KV cache for the whole conversation: the job zoe's prompt does.
  const userContent = `${context[1]}\n\n${MESSAGE}`;
  const messages: ChatMessage[] = [
    { role: "system", content: `${SYSTEM}\n\n${context[0]}\n${context[2]}` },
    ...history.map((e) => ({ role: e.role, content: e.sent ?? e.content })),
    { role: "user", content: userContent },
  ];
  const messageId = randomUUID();
  let text = "";
  const controller = new AbortController();
  for await (const chunk of backend.chat({ model: route.model, messages }, { signal: controller.signal })) {
    if (chunk.type !== "text") continue;
    if (text === "") yield { type: EventType.TEXT_MESSAGE_START, messageId, role: "assistant", timestamp: ts() };
    text += chunk.text;
    yield { type: EventType.TEXT_MESSAGE_CONTENT, messageId, delta: chunk.text, timestamp: ts() };
  }
  yield { type: EventType.TEXT_MESSAGE_END, messageId, timestamp: ts() };
  yield { type: EventType.STATE_DELTA, delta: [{ op: "add", path: "/zoe/stage", value: "done" }], timestamp: ts() };
  yield { type: EventType.STEP_FINISHED, stepName: "generate", timestamp: ts() };
  const seq = (history.at(-1)?.seq ?? -1) + 1;
  const at = Date.now();
  await store.listAppend(
    historyKey,
    [
      { id: randomUUID(), role: "user", content: MESSAGE, seq, at, sent: userContent },
      { id: messageId, role: "assistant", content: text, seq: seq + 1, at },
    ],
    { maxLength: 20, ttlMs: HOUR },
  );
  const metrics = { ttftMs: 0, totalMs: 0 };
  yield { type: EventType.CUSTOM, name: "zoe.metrics", value: metrics, timestamp: ts() };
  yield { type: EventType.RUN_FINISHED, threadId, runId, result: { metrics }, timestamp: ts() };
}

type Timing = { ttft: number; total: number };

/** Time to the first text and to the end of a stream of events (or of backend chunks). */
async function time(stream: AsyncIterable<{ type: string }>, isText: (x: { type: string }) => boolean): Promise<Timing> {
  const t0 = performance.now();
  let ttft = Number.NaN;
  for await (const x of stream) if (Number.isNaN(ttft) && isText(x)) ttft = performance.now() - t0;
  return { ttft, total: performance.now() - t0 };
}

const isTextEvent = (e: { type: string }) => e.type === EventType.TEXT_MESSAGE_CONTENT;

/** Every order of the three arms: each follows each other arm, and the raw backend, as often. */
const ORDERS = [
  ["floor", "zoe", "read"],
  ["zoe", "read", "floor"],
  ["read", "floor", "zoe"],
  ["floor", "read", "zoe"],
  ["zoe", "floor", "read"],
  ["read", "zoe", "floor"],
] as const;

/**
 * Added time over the raw backend of the floor and of zoe, on one store, interleaved run by run;
 * and of the run's one read alone (the floor's batched read, then the raw backend), in the same
 * sequence: the round trip as a run meets it, which a read timed back to back in a loop
 * (`redisRoundTrips`) can underestimate.
 */
async function compare(store: () => CacheStore, iterations: number, warmup: number, idleMs = 0) {
  const { backend, pipeline } = overheadPipeline({ cache: store() });
  const floorStore = store();
  const chat = () =>
    backend.chat(
      { model: "m", messages: [{ role: "user", content: MESSAGE }] },
      { signal: new AbortController().signal },
    ) as AsyncIterable<{
      type: string;
    }>;
  const isTextChunk = (c: { type: string }) => c.type === "text";
  const raw = () => time(chat(), isTextChunk);
  const batch = floorReadBatch("bench", "t-floor");
  /** The read, then the raw backend timed as `raw` is: no wrapper around the model's stream. */
  const readThenChat = async (): Promise<Timing> => {
    const t0 = performance.now();
    await floorStore.read(batch);
    const readMs = performance.now() - t0;
    const r = await raw();
    return { ttft: readMs + r.ttft, total: readMs + r.total };
  };
  const arms = {
    floor: () => time(floorRun(floorStore, backend, "bench", "t-floor"), isTextEvent),
    zoe: () => time(pipeline.run({ userId: "bench", threadId: "t-zoe", message: MESSAGE }), isTextEvent),
    read: readThenChat,
  };
  const added = {
    floor: { ttft: [] as number[], total: [] as number[] },
    zoe: { ttft: [] as number[], total: [] as number[] },
    read: { ttft: [] as number[], total: [] as number[] },
  };
  for (let i = 0; i < warmup + iterations; i++) {
    // Rotate the order so that no arm always runs right after the raw backend or after another.
    for (const name of ORDERS[i % ORDERS.length]!) {
      if (idleMs > 0) await sleep(idleMs);
      const r = await raw();
      if (idleMs > 0) await sleep(idleMs);
      const a = await arms[name]();
      if (i >= warmup) {
        added[name].ttft.push(a.ttft - r.ttft);
        added[name].total.push(a.total - r.total);
      }
    }
  }
  await pipeline.close();
  await floorStore.close();
  // To 0.1 µs: the floor adds about 10 µs, so whole µs would move its ratio by up to 5 % either way.
  const floor = { ttft: summarise(added.floor.ttft, 4), total: summarise(added.floor.total, 4) };
  const zoe = { ttft: summarise(added.zoe.ttft, 4), total: summarise(added.zoe.total, 4) };
  const read = { ttft: summarise(added.read.ttft, 4) };
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  return {
    runs: iterations,
    floor,
    zoe,
    /** The run's one read alone, then the raw backend: what that read adds to the first token, in the same sequence. */
    read,
    ratio: { ttftP50: ratio(zoe.ttft.p50, floor.ttft.p50), totalP50: ratio(zoe.total.p50, floor.total.p50) },
  };
}

/**
 * Redis round trips, p50 over `n`, ms: an MGET of five missing keys (the bare round trip), and the
 * read a warm floor run makes (four values and twelve history entries, filled by floor runs first):
 * the one round trip a run cannot do without.
 */
async function redisRoundTrips(url: string, n: number): Promise<{ bare: number; runRead: number }> {
  const store = resilientRedisStore({ url, prefix: `bench-rtt-${process.pid}:` });
  await store.whenStarted();
  const { backend, pipeline } = overheadPipeline();
  for (let i = 0; i < 8; i++) for await (const _ of floorRun(store, backend, "rtt", "t")) void _;
  await pipeline.close();
  const batch = floorReadBatch("rtt", "t");
  const samples = { bare: [] as number[], runRead: [] as number[] };
  for (let i = 0; i < n; i++) {
    let t0 = performance.now();
    await store.getMany(["a", "b", "c", "d", "e"]);
    samples.bare.push(performance.now() - t0);
    t0 = performance.now();
    const read = await store.read(batch);
    samples.runRead.push(performance.now() - t0);
    if (read.lists[0]?.length !== 12) throw new Error(`the run's read found ${read.lists[0]?.length} history entries, not 12`);
  }
  await store.close();
  return { bare: summarise(samples.bare.slice(n / 5)).p50, runRead: summarise(samples.runRead.slice(n / 5)).p50 };
}

/**
 * What every run pays on this Node, zoe and the floor alike: one `AbortSignal` for its backend.
 * Node creates one by setting the prototype of a new `EventTarget`, then adding its fields
 * (`createAbortSignal`, lib/internal/abort_controller.js); V8 gives such an object a slow shape.
 * CPU per object, creation and collection, 512 kept alive as runs in flight would, beside a plain
 * `EventTarget` and a subclass of it, interleaved, ns.
 */
function platformCosts(rounds: number) {
  class Subclass extends EventTarget {}
  const arms = {
    "new AbortController().signal": () => new AbortController().signal,
    "new EventTarget()": () => new EventTarget(),
    "new (class extends EventTarget)()": () => new Subclass(),
  };
  const samples = Object.fromEntries(Object.keys(arms).map((k) => [k, [] as number[]])) as Record<keyof typeof arms, number[]>;
  const n = 50_000;
  for (let r = 0; r < rounds + 1; r++) {
    for (const [name, make] of Object.entries(arms) as Array<[keyof typeof arms, () => object]>) {
      let kept: object[] = [];
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) {
        kept.push(make());
        if (kept.length > 512) kept = kept.slice(256);
      }
      const c = process.cpuUsage(c0);
      if (r > 0) samples[name].push(((c.user + c.system) * 1000) / n);
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, Math.round(summarise(v).p50)])) as Record<
    keyof typeof arms,
    number
  >;
}

/**
 * The floor arm beside zoe: memory store, and Redis when one answers at `REDIS_URL`: the plain
 * store (one round trip per run), and the store with its near cache (`nearCache: true`, reads
 * served in process while Redis keeps the copy coherent), which both arms then use.
 */
export async function benchFloor(opts: { quick: boolean }) {
  const iterations = opts.quick ? 1_500 : 10_000;
  const warmup = opts.quick ? 300 : 1_000;
  const memory = await compare(() => memoryCacheStore(), iterations, warmup);
  // A turn of a chat arrives after the process has waited: the same runs, each after a timer.
  const memoryAfterIdle = await compare(() => memoryCacheStore(), Math.round(iterations / 5), Math.round(warmup / 5), IDLE_MS);
  const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  let redis: (Awaited<ReturnType<typeof compare>> & { roundTripP50: number; runReadP50: number; url: string }) | undefined;
  let redisNear: (Awaited<ReturnType<typeof compare>> & { servedInProcess: number }) | undefined;
  try {
    const prefix = `bench-floor-${process.pid}-`;
    let n = 0;
    const stores: Array<ReturnType<typeof resilientRedisStore>> = [];
    const make = (nearCache: boolean) => () => {
      const s = resilientRedisStore({ url, prefix: `${prefix}${n++}:`, nearCache });
      stores.push(s);
      return s;
    };
    const probe = make(false)();
    await probe.whenStarted();
    const trips = await redisRoundTrips(url, opts.quick ? 500 : 2_000);
    redis = {
      ...(await compare(make(false), Math.round(iterations / 3), warmup)),
      roundTripP50: trips.bare,
      runReadP50: trips.runRead,
      url,
    };
    await probe.close();
    const near = stores.length;
    const nearRuns = await compare(make(true), Math.round(iterations / 3), warmup);
    // Share of the keys and tails the near-cached stores served in process: the warm-up fills them.
    const stats = stores.slice(near).map((s) => s.redis.nearCacheStats() ?? { hits: 0, misses: 0 });
    const hits = stats.reduce((a, s) => a + s.hits, 0);
    const misses = stats.reduce((a, s) => a + s.misses, 0);
    redisNear = { ...nearRuns, servedInProcess: Math.round((hits / Math.max(1, hits + misses)) * 1000) / 1000 };
  } catch (error) {
    console.warn(`Floor on Redis skipped: ${error instanceof Error ? error.message : String(error)}`);
  }
  const platform = platformCosts(opts.quick ? 3 : 7);
  return { iterations, warmup, memory, memoryAfterIdle, redis, redisNear, platform };
}

/** Print the floor tables. */
export function printFloor(r: Awaited<ReturnType<typeof benchFloor>>): void {
  const us = (ms: number) => Math.round(ms * 1000 * 10) / 10;
  const rows = (store: string, c: Awaited<ReturnType<typeof compare>>, target: { ttft: string; total: string }) => [
    {
      store,
      pipeline: "hand-written floor",
      "added ttft p50 µs": us(c.floor.ttft.p50),
      "added ttft p99 µs": us(c.floor.ttft.p99),
      "added run p50 µs": us(c.floor.total.p50),
      "added run p99 µs": us(c.floor.total.p99),
      "× floor (ttft / run)": "1 / 1",
      target: "",
    },
    {
      store,
      pipeline: "zoe-pipeline",
      "added ttft p50 µs": us(c.zoe.ttft.p50),
      "added ttft p99 µs": us(c.zoe.ttft.p99),
      "added run p50 µs": us(c.zoe.total.p50),
      "added run p99 µs": us(c.zoe.total.p99),
      "× floor (ttft / run)": `${c.ratio.ttftP50} / ${c.ratio.totalP50}`,
      target: [target.ttft, target.total].filter(Boolean).join("; "),
    },
  ];
  /** The row of the run's read alone, in the same interleaved sequence as the two pipelines. */
  const readRow = (store: string, c: Awaited<ReturnType<typeof compare>>) => ({
    store,
    pipeline: "the run's read alone",
    "added ttft p50 µs": us(c.read.ttft.p50),
    "added ttft p99 µs": us(c.read.ttft.p99),
    "added run p50 µs": "",
    "added run p99 µs": "",
    "× floor (ttft / run)": "",
    target: "",
  });
  const table: Array<Record<string, string | number>> = [
    readRow("memory", r.memory),
    ...rows("memory", r.memory, { ttft: "ttft ≤ 2× floor", total: "run ≤ 2× floor" }),
  ];
  table.push(
    ...rows(`memory, each run after ${IDLE_MS} ms idle (${r.memoryAfterIdle.runs} runs)`, r.memoryAfterIdle, { ttft: "", total: "" }),
  );
  if (r.redis) {
    // The round trip of the run's own read (its values and history tail), not of an empty MGET
    // (the reply's size is part of the one round trip a run needs), timed where a run meets it:
    // in the same interleaved sequence as the pipelines. Timed back to back in a loop, the same
    // read can take less (the figures in the label).
    const limit = Math.round((us(r.redis.read.ttft.p50) + 20) * 10) / 10;
    table.push(
      readRow("redis", r.redis),
      ...rows(
        `redis (in a loop, p50: bare round trip ${us(r.redis.roundTripP50)} µs, the run's read ${us(r.redis.runReadP50)} µs)`,
        r.redis,
        {
          ttft: `ttft ≤ 1 round trip + 20 µs = ${limit} µs`,
          total: "",
        },
      ),
    );
    if (r.redisNear) {
      table.push(
        ...rows(`redis, near cache (${Math.round(r.redisNear.servedInProcess * 1000) / 10} % served in process)`, r.redisNear, {
          ttft: `ttft ≤ 1 round trip + 20 µs = ${limit} µs`,
          total: "",
        }),
      );
    }
  }
  printTable(
    `Floor: time added over the raw backend, warm caches, 3 cached providers, history; ${r.iterations} runs per arm, interleaved (µs)`,
    table,
  );
  printTable(
    "What every run pays on this Node (zoe and the floor alike): CPU per object created and collected, 512 alive (ns)",
    Object.entries(r.platform).map(([object, ns]) => ({ object, "ns per object": ns })),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchFloor({ quick: process.argv.includes("--quick") });
  printFloor(r);
  process.exit(0);
}
