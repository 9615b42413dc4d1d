import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createKeyBuilder, HISTORY_DEFAULTS, type HistoryEntry } from "../../src/index.js";
import { describeRedis, sharedRedis, uniquePrefix } from "./redis-servers.js";
import type { WorkerConfig, WorkerMessage, WorkerPhase } from "./worker.js";

const WORKERS = 4;
const RUNS = 250;
const USER = "shared-user";
const THREAD = "t";
const workerFile = fileURLToPath(new URL("./worker.ts", import.meta.url));
type Done = Extract<WorkerMessage, { type: "done" }>;

/**
 * Fork the workers (`node --import tsx worker.ts`); for each phase, start them together once all
 * are ready and collect their reports.
 */
async function runWorkers(base: Omit<WorkerConfig, "worker">): Promise<Done[][]> {
  const children: ChildProcess[] = [];
  const inbox: WorkerMessage[][] = [];
  const waiters = new Set<() => void>();
  const failed: Error[] = [];
  const wake = () => waiters.forEach((w) => w());
  const waitFor = async (predicate: () => boolean) => {
    while (!predicate()) {
      if (failed[0]) throw failed[0];
      await new Promise<void>((resolve) => {
        const w = () => {
          waiters.delete(w);
          resolve();
        };
        waiters.add(w);
      });
    }
  };
  try {
    for (let worker = 0; worker < WORKERS; worker++) {
      const child = fork(workerFile, [], {
        execArgv: ["--import", "tsx"],
        env: { ...process.env, ZOE_WORKER: JSON.stringify({ ...base, worker }) },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      children.push(child);
      inbox[worker] = [];
      child.on("message", (m: WorkerMessage) => {
        inbox[worker]?.push(m);
        wake();
      });
      child.once("exit", (code) => {
        if (code !== 0) failed.push(new Error(`worker ${worker} exited with ${code}`));
        wake();
      });
    }
    const results: Done[][] = [];
    for (let phase = 0; phase < base.phases.length; phase++) {
      const has = (type: string) => inbox.every((box) => box.some((m) => m.type === type && m.phase === phase));
      await waitFor(() => has("ready"));
      for (const child of children) child.send("go");
      await waitFor(() => has("done"));
      results.push(inbox.map((box) => box.find((m): m is Done => m.type === "done" && m.phase === phase) as Done));
    }
    return results;
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  }
}

const parseRun = (content: string) => {
  const match = /^m w(\d+) r(\d+)$/.exec(content);
  if (!match) throw new Error(`Not a user message of the test: ${content}`);
  return { worker: Number(match[1]), run: Number(match[2]) };
};

describeRedis("4 processes × 250 concurrent runs on one user and thread", () => {
  let shared: Awaited<ReturnType<typeof sharedRedis>>;
  let raw: Redis;
  const phases: WorkerPhase[] = [{ keyPrefix: uniquePrefix("conc5000"), keep: 5_000 }, { keyPrefix: uniquePrefix("conc10") }];
  let reports: Done[][];
  beforeAll(async () => {
    shared = await sharedRedis();
    raw = new Redis(shared.url);
    const t0 = performance.now();
    reports = await runWorkers({ url: shared.url, runs: RUNS, userId: USER, threadId: THREAD, phases });
    console.log(`4 processes × 250 runs, twice: ${Math.round(performance.now() - t0)} ms including process start-up`);
  }, 90_000);
  afterAll(async () => {
    await raw?.del(...phases.map((p) => createKeyBuilder(p.keyPrefix).key("history", USER, THREAD)));
    await raw?.quit();
    await shared?.stop();
  });

  const storedHistory = async (keyPrefix: string) => {
    const key = createKeyBuilder(keyPrefix).key("history", USER, THREAD);
    return (await raw.lrange(key, 0, -1)).map((s) => JSON.parse(s) as HistoryEntry);
  };

  it("stores all 1,000 turns exactly once, each answer right after its own message (keep 5000)", async () => {
    expect(reports[0]?.flatMap((r) => r.failures)).toEqual([]);
    const history = await storedHistory(phases[0]?.keyPrefix ?? "");
    expect(history).toHaveLength(2 * WORKERS * RUNS);
    const seen = new Set<string>();
    for (let j = 0; j < history.length; j += 2) {
      const [user, answer] = [history[j], history[j + 1]];
      expect(user?.role).toBe("user");
      expect(answer?.role).toBe("assistant");
      expect(answer?.content).toBe(`answer to ${user?.content}`);
      parseRun(user?.content ?? "");
      seen.add(user?.content ?? "");
    }
    expect(seen.size).toBe(WORKERS * RUNS);
  });

  it(`keeps the most recent turns with the default limit of ${HISTORY_DEFAULTS.keep} messages`, async () => {
    const done = reports[1] ?? [];
    expect(done.flatMap((r) => r.failures)).toEqual([]);
    const history = await storedHistory(phases[1]?.keyPrefix ?? "");
    expect(history).toHaveLength(HISTORY_DEFAULTS.keep);
    const pairs: Array<{ worker: number; run: number }> = [];
    for (let j = 0; j < history.length; j += 2) {
      const [user, answer] = [history[j], history[j + 1]];
      expect(user?.role).toBe("user");
      expect(answer?.content).toBe(`answer to ${user?.content}`);
      pairs.push(parseRun(user?.content ?? ""));
    }
    console.log(`default keep: stored runs ${JSON.stringify(pairs.map((p) => `w${p.worker} r${p.run}`))}`);
    expect(new Set(pairs.map((p) => `${p.worker}:${p.run}`)).size).toBe(HISTORY_DEFAULTS.keep / 2);
    for (const { worker, run } of pairs) {
      // Among the last runs its worker issued...
      expect(run).toBeGreaterThanOrEqual(RUNS - 50);
      // ...and among its worker's last acknowledged appends.
      const order = done[worker]?.appendOrder ?? [];
      const fromWorker = pairs.filter((p) => p.worker === worker).length;
      expect(order.slice(-fromWorker)).toContain(`m w${worker} r${run}`);
    }
  });
});
