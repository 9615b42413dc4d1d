/**
 * A child process of test/redis/concurrency.test.ts: `node --import tsx test/redis/worker.ts`
 * with a JSON config in ZOE_WORKER. For each phase it builds a pipeline on a Redis store, says
 * "ready", waits for "go", runs `runs` concurrent turns on one user and thread, and reports the
 * runs that failed and the order in which Redis acknowledged its history appends.
 */
import { createZoePipeline, type CacheStore, type ZoePipeline } from "../../src/index.js";
import { redisCacheStore } from "../../src/redis/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { collect } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

export interface WorkerPhase {
  keyPrefix: string;
  keep?: number;
}
export interface WorkerConfig {
  url: string;
  worker: number;
  runs: number;
  userId: string;
  threadId: string;
  phases: WorkerPhase[];
}
export type WorkerMessage = { type: "ready"; phase: number } | { type: "done"; phase: number; failures: string[]; appendOrder: string[] };

const config = JSON.parse(process.env.ZOE_WORKER ?? "{}") as WorkerConfig;
const send = (message: WorkerMessage) => new Promise<void>((resolve) => process.send?.(message, () => resolve()));
const nextGo = () => new Promise<void>((resolve) => process.once("message", () => resolve()));

const lastUserText = (messages: ReadonlyArray<{ role: string; content?: unknown }>) =>
  String([...messages].reverse().find((m) => m.role === "user")?.content ?? "");

function pipelineFor(phase: WorkerPhase): { pipeline: ZoePipeline; appendOrder: string[]; ready: Promise<void> } {
  // A generous timeout: four busy processes on two cores must not turn slow replies into errors.
  const redis = redisCacheStore({ url: config.url, timeoutMs: 10_000 });
  const appendOrder: string[] = [];
  // A transparent proxy that notes when each history append is acknowledged (one connection:
  // acknowledgements arrive in the order Redis ran the MULTIs).
  const store: CacheStore = {
    name: redis.name,
    get: (k) => redis.get(k),
    getMany: (k) => redis.getMany(k),
    read: (b) => redis.read(b),
    set: (k, v, t) => redis.set(k, v, t),
    delete: (k) => redis.delete(k),
    listTail: (k, l) => redis.listTail(k, l),
    close: () => redis.close(),
    async listAppend(key, items, options) {
      await redis.listAppend(key, items, options);
      appendOrder.push((items[0] as { content: string }).content);
    },
  };
  const pipeline = createZoePipeline({
    backend: scriptedBackend({ script: (req) => textChunks(`answer to ${lastUserText(req.messages)}`), record: false }),
    router: fixedRouter("chat"),
    cache: store,
    keyPrefix: phase.keyPrefix,
    ...(phase.keep === undefined ? {} : { history: { keep: phase.keep } }),
  });
  return { pipeline, appendOrder, ready: redis.ping() };
}

for (const [p, phase] of config.phases.entries()) {
  const { pipeline, appendOrder, ready } = pipelineFor(phase);
  await ready;
  const go = nextGo();
  await send({ type: "ready", phase: p });
  await go;
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: config.runs }, async (_, i) => {
      const message = `m w${config.worker} r${i}`;
      const events = await collect(pipeline.run({ userId: config.userId, threadId: config.threadId, message }));
      const last = events.at(-1);
      if (last?.type !== "RUN_FINISHED") failures.push(`${message}: ${JSON.stringify(last)}`);
    }),
  );
  await send({ type: "done", phase: p, failures, appendOrder });
  await pipeline.close();
}
process.exit(0);
