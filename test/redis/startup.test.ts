import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createKeyBuilder, type HistoryEntry } from "../../src/index.js";
import { describeRedis, sharedRedis, uniquePrefix } from "./redis-servers.js";
import type { StartupConfig, StartupReport } from "./startup-worker.js";

const PROCESSES = 6;
const RUNS = 20;
const ROUNDS = 2;
const workerFile = fileURLToPath(new URL("./startup-worker.ts", import.meta.url));

/** Start every worker at once (fresh processes: module loading and the first runs overlap). */
function runWorkers(base: Omit<StartupConfig, "worker">): Promise<StartupReport[]> {
  return Promise.all(
    Array.from(
      { length: PROCESSES },
      (_, worker) =>
        new Promise<StartupReport>((resolve, reject) => {
          const child = fork(workerFile, [], {
            execArgv: ["--import", "tsx"],
            env: { ...process.env, ZOE_STARTUP: JSON.stringify({ ...base, worker }) },
            stdio: ["ignore", "inherit", "inherit", "ipc"],
          });
          let report: StartupReport | undefined;
          child.on("message", (m: StartupReport) => (report = m));
          child.once("exit", (code) =>
            report && code === 0 ? resolve(report) : reject(new Error(`worker ${worker} exited with ${code} without a report`)),
          );
        }),
    ),
  );
}

describeRedis(`${PROCESSES} fresh processes on a healthy Redis, ${RUNS} concurrent runs each at start-up`, () => {
  let shared: Awaited<ReturnType<typeof sharedRedis>>;
  let raw: Redis;
  const prefix = `${uniquePrefix("startup")}:`;
  let reports: StartupReport[];
  beforeAll(async () => {
    shared = await sharedRedis();
    raw = new Redis(shared.url);
    reports = await runWorkers({ url: shared.url, prefix, runs: RUNS, rounds: ROUNDS });
  }, 300_000);
  afterAll(async () => {
    const keys = await raw?.keys(`${prefix}*`);
    if (keys?.length) await raw.del(...keys);
    await raw?.quit();
    await shared?.stop();
  });

  it("loses no history entry: every thread holds its turns in Redis, in order, exactly once", async () => {
    const keys = createKeyBuilder("zoe");
    let lost = 0;
    let duplicated = 0;
    const problems: string[] = [];
    for (let worker = 0; worker < PROCESSES; worker++) {
      for (let t = 0; t < RUNS; t++) {
        const stored = (await raw.lrange(prefix + keys.key("history", `user${worker}`, `t${t}`), 0, -1)).map(
          (s) => JSON.parse(s) as HistoryEntry,
        );
        const expected = Array.from({ length: ROUNDS }, (_, round) => [
          `w${worker} t${t} turn ${round}: tell me about the sea`,
          "An answer.",
        ]).flat();
        const contents = stored.map((e) => e.content);
        lost += expected.length - Math.min(expected.length, contents.length);
        duplicated += Math.max(0, contents.length - expected.length);
        if (JSON.stringify(contents) !== JSON.stringify(expected)) problems.push(`user${worker}/t${t}: ${JSON.stringify(contents)}`);
      }
    }
    const events = reports.flatMap((r) => r.events.map((e) => `worker ${r.worker}: ${e}`));
    console.log(
      `startup: ${PROCESSES} processes × ${RUNS} runs × ${ROUNDS} turns: ${lost} of ${PROCESSES * RUNS * ROUNDS * 2} history entries lost, ` +
        `${duplicated} duplicated; ${reports.reduce((n, r) => n + r.failedCalls, 0)} failed Redis calls; ` +
        `store events: ${events.length ? events.join("; ") : "none"}`,
    );
    expect(reports.flatMap((r) => r.failures)).toEqual([]);
    expect(problems).toEqual([]);
    expect(lost).toBe(0);
    expect(duplicated).toBe(0);
  });
});
