import { createZoePipeline, heuristicRouter, type ContextProvider } from "zoe-pipeline";
import { resilientRedisStore } from "zoe-pipeline/redis";
import { scriptedBackend, textChunks } from "zoe-pipeline/testing";
import { recordWrites } from "../test/helpers/redis-wire.js";
import { benchOverhead } from "./overhead.js";

const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/**
 * Redis round trips of one warm run: reads, and writes. `near`: the store's near cache on, routes
 * not cached, and the warm run on a new message of the same thread (what a conversation does).
 */
async function roundTrips(near = false) {
  const store = resilientRedisStore({ url, prefix: `bench-rt-${process.pid}-${near ? "near" : "plain"}:`, nearCache: near });
  await store.whenStarted();
  while (near && !store.redis.nearCacheStats()?.active) await new Promise((r) => setTimeout(r, 5));
  const providers: ContextProvider[] = ["profile", "memory", "tools"].map((name) => ({
    name,
    ttlMs: 600_000,
    fetch: () => `${name} context`,
  }));
  const pipeline = createZoePipeline({
    backend: scriptedBackend({ script: textChunks("ok") }),
    router: heuristicRouter({ models: { fast: "f", default: "d" } }),
    providers,
    cache: store,
    ...(near ? { ttl: { routeMs: 0 } } : {}),
  });
  const run = async (message: string) => {
    for await (const _ of pipeline.run({ userId: "bench", threadId: "t", message })) void _;
  };
  await run("why is the sky blue?"); // cold: fills the caches
  await new Promise((r) => setTimeout(r, 50));
  const wire = recordWrites([store.redis.client as never]);
  await run(near ? "and why is the sea blue?" : "why is the sky blue?");
  await new Promise((r) => setTimeout(r, 50));
  wire.stop();
  await pipeline.close();
  const reads = wire.writes.filter((w) => w.commands.some((c) => c === "MGET" || c === "LRANGE")).length;
  const writes = wire.writes.filter((w) => w.commands.includes("MULTI") || w.commands.includes("SET")).length;
  return { total: wire.writes.length, reads, writes, batches: wire.writes.map((w) => w.commands.join(" ")) };
}

/** Memory store against the resilient Redis store, warm caches: added time to first token and round trips. */
export async function benchRedis(iterations: number) {
  const memory = await benchOverhead(iterations);
  const store = resilientRedisStore({ url, prefix: `bench-${process.pid}:` });
  await store.whenStarted();
  const redis = await benchOverhead(iterations, store);
  return { url, memory: memory.shorthand, redis: redis.shorthand, roundTrips: await roundTrips(), nearRoundTrips: await roundTrips(true) };
}
