/**
 * A child process of test/redis/close.test.ts: `node --import tsx test/redis/close-worker.ts` with
 * a JSON config in ZOE_CLOSE. It opens a `resilientRedisStore`, freezes its Redis (SIGSTOP), makes
 * a write that gets no answer, closes the store, and reports what still keeps the process alive.
 */
import { resilientRedisStore } from "../../src/redis/index.js";

export interface CloseConfig {
  url: string;
  /** The redis-server's pid, to SIGSTOP it. */
  pid: number;
  nearCache: boolean;
}
export interface CloseReport {
  state: string;
  /** process.getActiveResourcesInfo() once close() has resolved, the IPC channel left out. */
  resources: string[];
}

const config = JSON.parse(process.env.ZOE_CLOSE ?? "{}") as CloseConfig;
const store = resilientRedisStore({ url: config.url, prefix: "close:", nearCache: config.nearCache });
const state = await store.whenStarted();
if (config.nearCache) while (store.redis.nearCacheStats()?.active !== true) await new Promise((r) => setTimeout(r, 5));
await store.set("k", 1, 60_000);
process.kill(config.pid, "SIGSTOP");
await store.set("k", 2, 60_000); // no answer: served by memory, kept for write-back
await store.close();
const resources = process.getActiveResourcesInfo().filter((r) => r !== "PipeWrap" && r !== "TTYWrap");
const report: CloseReport = { state, resources };
process.send?.(report, () => process.disconnect()); // then nothing of this process is left: it exits
