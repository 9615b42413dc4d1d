/**
 * A child process of test/redis/startup.test.ts: `node --import tsx test/redis/startup-worker.ts`
 * with a JSON config in ZOE_STARTUP. As soon as its modules are loaded it creates a
 * `resilientRedisStore` and a pipeline, runs `runs` concurrent turns on distinct threads at once
 * (start-up load), then a second turn on every thread, and reports the store's events.
 */
import { createZoePipeline, heuristicRouter } from "../../src/index.js";
import { resilientRedisStore } from "../../src/redis/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { collect } from "../helpers/ag-ui.js";

export interface StartupConfig {
  url: string;
  /** Store prefix (the key prefix of the pipeline stays "zoe"). */
  prefix: string;
  worker: number;
  runs: number;
  /** Turns per thread, each round `runs` concurrent runs. */
  rounds: number;
}
export interface StartupReport {
  worker: number;
  failures: string[];
  events: string[];
  /** Redis calls that failed or missed their deadline (served by memory, then written back). */
  failedCalls: number;
  state: string;
}

const config = JSON.parse(process.env.ZOE_STARTUP ?? "{}") as StartupConfig;
const events: string[] = [];
const store = resilientRedisStore({ url: config.url, prefix: config.prefix });
store.on("degraded", ({ error }) => events.push(`degraded: ${error instanceof Error ? error.message : String(error)}`));
store.on("recovered", (e) => events.push(`recovered: ${JSON.stringify(e)}`));
store.on("writeBack", (e) => events.push(`writeBack: ${JSON.stringify(e)}`));
let failedCalls = 0;
store.on("error", () => failedCalls++);
const pipeline = createZoePipeline({
  backend: scriptedBackend({ script: textChunks("An answer."), record: false }),
  router: heuristicRouter({ models: { fast: "fast-model", default: "default-model" } }),
  cache: store,
});

const failures: string[] = [];
for (let round = 0; round < config.rounds; round++) {
  await Promise.all(
    Array.from({ length: config.runs }, async (_, i) => {
      const message = `w${config.worker} t${i} turn ${round}: tell me about the sea`;
      const all = await collect(pipeline.run({ userId: `user${config.worker}`, threadId: `t${i}`, message }));
      const last = all.at(-1);
      if (last?.type !== "RUN_FINISHED") failures.push(`${message}: ${JSON.stringify(last)}`);
    }),
  );
}
// Let a pending switch back to Redis (and its write-back) finish, as a host that keeps running would.
for (let i = 0; i < 100 && store.state !== "primary"; i++) await new Promise((r) => setTimeout(r, 50));
const report: StartupReport = { worker: config.worker, failures, events, failedCalls, state: store.state };
await new Promise<void>((resolve) => process.send?.(report, () => resolve()));
await pipeline.close();
process.exit(0);
