import { fileURLToPath } from "node:url";
import type { Worker } from "node:worker_threads";
import { afterAll, describe, expect, it } from "vitest";
import { QuickJSExecutor, type QuickJSExecutorOptions } from "../../src/quickjs/executor.js";
import type { QuickJSCodeResult } from "../../src/quickjs/results.js";

/** Real QuickJS workers. No wall-clock assertion: only the order in which blocks settle, and outcomes. */

const created: QuickJSExecutor[] = [];
afterAll(async () => {
  await Promise.all(created.map((e) => e.close()));
});

interface Tracked {
  executor: QuickJSExecutor;
  workers: Worker[];
  exits: Worker[];
}

function pool(options: QuickJSExecutorOptions = {}): Tracked {
  const workers: Worker[] = [];
  const exits: Worker[] = [];
  const executor = new QuickJSExecutor(options, {
    onWorker: (worker) => {
      workers.push(worker);
      worker.once("exit", () => exits.push(worker));
    },
  });
  created.push(executor);
  return { executor, workers, exits };
}

/** A block whose settlement is recorded in `order` under `name`. */
interface Block {
  name: string;
  settled: boolean;
  result: Promise<QuickJSCodeResult>;
}

function submitter(executor: QuickJSExecutor, order: string[]) {
  return (name: string, userId: string, code: string, signal = new AbortController().signal): Block => {
    const block: Block = { name, settled: false, result: undefined as unknown as Promise<QuickJSCodeResult> };
    block.result = executor.execute(code, { signal, language: "javascript", userId }).then((result) => {
      block.settled = true;
      order.push(name);
      return result;
    });
    return block;
  };
}

const LOOP = "while (true) {}";
const never = new AbortController().signal;
const until = async (condition: () => boolean): Promise<void> => {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
};

describe("quickjsExecutor: per-user fairness", () => {
  it("runs user B's harmless block while one user A's ten infinite loops are running or queued", async () => {
    // A time limit far beyond the test: A's loops only end when the executor closes.
    const { executor } = pool({ maxWorkers: 2, timeoutMs: 600_000, maxQueuedPerUser: 10 });
    const order: string[] = [];
    const submit = submitter(executor, order);
    const loops = Array.from({ length: 10 }, (_, i) => submit(`a${i}`, "user-a", LOOP));
    const harmless = submit("b", "user-b", "console.log('hello from b'); 6 * 7");

    expect(await harmless.result).toEqual({ ok: true, output: "hello from b\n42" });
    expect(order).toEqual(["b"]);
    expect(loops.some((block) => block.settled)).toBe(false);
    // A has one block running (perUserConcurrency 1), nine waiting: the second worker stayed free for B.
    expect(executor.status()).toMatchObject({ running: 1, queued: 9, users: 1 });

    await executor.close();
    const results = await Promise.all(loops.map((block) => block.result));
    expect(results.every((result) => result.code === "CLOSED")).toBe(true);
  });

  it("runs user B's harmless block while ten other users' infinite loops are running or queued", async () => {
    // The defect: a harmless block waited 10 s behind ten other users' infinite loops. Each loop
    // now gets a first slice of 100 ms, then waits for its second run; only one worker of two
    // takes second runs, so first slices (B's block) keep moving.
    const { executor } = pool({ maxWorkers: 2, timeoutMs: 600_000, sliceMs: 100 });
    const order: string[] = [];
    const submit = submitter(executor, order);
    const loops = Array.from({ length: 10 }, (_, i) => submit(`u${i}`, `user-${i}`, LOOP));
    const harmless = submit("b", "user-b", "console.log('hello from b'); 6 * 7");

    expect(await harmless.result).toEqual({ ok: true, output: "hello from b\n42" });
    expect(order).toEqual(["b"]);
    expect(loops.some((block) => block.settled)).toBe(false);

    await executor.close();
    const results = await Promise.all(loops.map((block) => block.result));
    expect(results.every((result) => result.code === "CLOSED")).toBe(true);
  });

  it("runs a block that outlasts its first slice again, in full, and shows only that run's output", async () => {
    const { executor } = pool({ maxWorkers: 1, timeoutMs: 10_000, sliceMs: 20 });
    await executor.prewarm();
    const runsBefore = (await executor.stats())?.runs ?? 0;
    const result = await executor.execute(
      "console.log('start'); let n = 0; const t = Date.now(); while (Date.now() - t < 200) n++; console.log('end'); 'done'",
      { signal: never, language: "js", userId: "a" },
    );
    expect(result).toEqual({ ok: true, output: 'start\nend\n"done"' });
    expect((await executor.stats())?.runs).toBe(runsBefore + 2);
  });

  it("takes the next block from the user who has had the least sandbox time, quick blocks first", async () => {
    const { executor } = pool({ maxWorkers: 1, timeoutMs: 1_000, sliceMs: 500 });
    const order: string[] = [];
    const submit = submitter(executor, order);
    // A's first block uses its whole time limit; every other block is quick.
    const blocks = [
      submit("a1", "a", LOOP),
      submit("a2", "a", "'a2'"),
      submit("a3", "a", "'a3'"),
      submit("b1", "b", "'b1'"),
      submit("b2", "b", "'b2'"),
      submit("c1", "c", "'c1'"),
    ];
    const results = await Promise.all(blocks.map((block) => block.result));
    expect(results[0]).toMatchObject({ ok: false, code: "TIMEOUT" });
    expect(results.slice(1).every((result) => result.ok)).toBe(true);
    // One queue in arrival order would give a1 a2 a3 b1 b2 c1. Here a1 runs its first slice
    // (500 ms, charged to A), then waits for its second run behind every quick block; B and C,
    // who have used less time than A, go before A's next blocks.
    expect(order).toEqual(["b1", "c1", "b2", "a2", "a3", "a1"]);
  });

  it("runs at most perUserConcurrency blocks of one user at once", async () => {
    const { executor } = pool({ maxWorkers: 3, perUserConcurrency: 2, timeoutMs: 600_000 });
    const order: string[] = [];
    const submit = submitter(executor, order);
    await executor.prewarm();
    const loops = [submit("a1", "a", LOOP), submit("a2", "a", LOOP), submit("a3", "a", LOOP)];
    // Three workers are up, but A's third block waits.
    expect(executor.status()).toMatchObject({ workers: 3, running: 2, queued: 1 });
    // B's block takes the free worker.
    const b = submit("b", "b", "'b'");
    expect(await b.result).toMatchObject({ ok: true });
    expect(executor.status()).toMatchObject({ running: 2, queued: 1 });
    expect(loops.some((block) => block.settled)).toBe(false);
    await executor.close();
    expect((await Promise.all(loops.map((block) => block.result))).map((r) => r.code)).toEqual(["CLOSED", "CLOSED", "CLOSED"]);
  });
});

describe("quickjsExecutor: a bounded queue", () => {
  it("keeps no state for users who have nothing waiting or running", async () => {
    const { executor } = pool({ maxWorkers: 2 });
    const results = await Promise.all(
      // One signal per block, as each run has its own (one shared by 64 waiting blocks draws Node's
      // MaxListenersExceededWarning).
      Array.from({ length: 200 }, (_, i) =>
        executor.execute(`${i} * 2`, { signal: new AbortController().signal, language: "js", userId: `user-${i}` }),
      ),
    );
    // 200 blocks from 200 users at once, before any worker is up: 64 wait (the bound), the rest
    // are refused at once.
    const codes = results.map((result) => (result.ok ? "ok" : result.code));
    expect(codes.filter((code) => code === "ok")).toHaveLength(64);
    expect(codes.filter((code) => code === "QUEUE_FULL")).toHaveLength(136);
    expect(results.find((result) => result.ok)).toEqual({ ok: true, output: "0" });
    expect(executor.status()).toMatchObject({ running: 0, queued: 0, users: 0 });
  });

  it("refuses a block at once when its user's queue, or the whole queue, is full", async () => {
    const { executor } = pool({ maxWorkers: 1, maxQueued: 2, maxQueuedPerUser: 1, timeoutMs: 600_000, sliceMs: 0 });
    await executor.prewarm(); // the worker is up: the next block starts at once
    const order: string[] = [];
    const submit = submitter(executor, order);
    const a1 = submit("a1", "a", LOOP); // running
    const a2 = submit("a2", "a", "'a2'"); // waiting: a's queue is full
    const a3 = submit("a3", "a", "'a3'");
    const b1 = submit("b1", "b", "'b1'"); // waiting: the whole queue is full
    const c1 = submit("c1", "c", "'c1'");

    expect(await a3.result).toEqual({
      ok: false,
      output: "",
      code: "QUEUE_FULL",
      error: "this user's code queue is full (1 blocks waiting); try again when earlier blocks have finished",
    });
    expect(await c1.result).toEqual({
      ok: false,
      output: "",
      code: "QUEUE_FULL",
      error: "the code queue is full (2 blocks waiting); try again when earlier blocks have finished",
    });
    expect(order).toEqual(["a3", "c1"]);
    expect([a1, a2, b1].some((block) => block.settled)).toBe(false);
    expect(executor.status()).toMatchObject({ running: 1, queued: 2 });

    await executor.close();
    expect((await Promise.all([a1, a2, b1].map((block) => block.result))).map((r) => r.code)).toEqual(["CLOSED", "CLOSED", "CLOSED"]);
  });

  it("with maxQueued 0, runs a block that can start at once and refuses one that would wait", async () => {
    const { executor } = pool({ maxWorkers: 1, maxQueued: 0, timeoutMs: 600_000 });
    await executor.prewarm();
    const order: string[] = [];
    const submit = submitter(executor, order);
    const loop = submit("a", "a", LOOP);
    expect(await submit("b", "b", "'b'").result).toMatchObject({ ok: false, code: "QUEUE_FULL" });
    expect(loop.settled).toBe(false);
    await executor.close();
    expect(await loop.result).toMatchObject({ code: "CLOSED" });
  });

  it("ends a block that waited queueTimeoutMs without running it, while the loop ahead still runs", async () => {
    const { executor } = pool({ maxWorkers: 1, queueTimeoutMs: 100, timeoutMs: 600_000, sliceMs: 0 });
    await executor.prewarm();
    const order: string[] = [];
    const submit = submitter(executor, order);
    const loop = submit("loop", "a", LOOP);
    const waiting = submit("waiting", "b", "console.log('ran')");
    expect(await waiting.result).toEqual({
      ok: false,
      output: "",
      code: "QUEUE_TIMEOUT",
      error: "queue time limit of 100 ms exceeded: every sandbox stayed busy, the code did not run",
    });
    expect(order).toEqual(["waiting"]);
    expect(executor.status()).toMatchObject({ running: 1, queued: 0, users: 1 });
    await executor.close();
    expect(await loop.result).toMatchObject({ code: "CLOSED" });
  });
});

describe("quickjsExecutor: deadlines and cancellation per block", () => {
  it("counts the wait before a block's first slice and before its second run against queueTimeoutMs", async () => {
    const { executor } = pool({ maxWorkers: 1, queueTimeoutMs: 300, timeoutMs: 600_000, sliceMs: 50 });
    await executor.prewarm();
    const order: string[] = [];
    const submit = submitter(executor, order);
    // Both loops run a first slice; then one's second run holds the only worker and the other's
    // second run waits until its queue time is used up.
    const loops = [submit("a", "a", LOOP), submit("b", "b", `console.log("dropped"); ${LOOP}`)];
    const first = await Promise.race(loops.map((block) => block.result));
    expect(first).toEqual({
      ok: false,
      output: "",
      code: "QUEUE_TIMEOUT",
      error:
        "queue time limit of 300 ms exceeded: every sandbox stayed busy, the code did not finish in its first 50 ms and was not run again",
    });
    expect(order).toHaveLength(1);
    expect(executor.status()).toMatchObject({ running: 1, queued: 0 });
    await executor.close();
    const still = loops.find((block) => block.name !== order[0]) as Block;
    expect(await still.result).toMatchObject({ code: "CLOSED" });
  });

  it("removes a queued block when its signal aborts, and stops a running one when its signal aborts", async () => {
    const { executor } = pool({ maxWorkers: 1, timeoutMs: 600_000, sliceMs: 0 });
    await executor.prewarm();
    const order: string[] = [];
    const submit = submitter(executor, order);
    const runningAbort = new AbortController();
    const queuedAbort = new AbortController();
    const running = submit("running", "a", `console.log("looping"); ${LOOP}`, runningAbort.signal);
    const queued = submit("queued", "b", "console.log('never')", queuedAbort.signal);
    const after = submit("after", "c", "'after'");

    queuedAbort.abort();
    expect(await queued.result).toEqual({ ok: false, output: "", code: "ABORTED", error: "execution aborted" });
    expect(order).toEqual(["queued"]);
    expect(executor.status()).toMatchObject({ running: 1, queued: 1 });

    runningAbort.abort();
    expect(await running.result).toMatchObject({ ok: false, code: "ABORTED", error: "execution aborted" });
    expect(await after.result).toEqual({ ok: true, output: '"after"' });
    expect(order).toEqual(["queued", "running", "after"]);
  });

  it("terminates a worker stuck past its time limit in native code and replaces it", async () => {
    const { executor, workers, exits } = pool({ maxWorkers: 1, timeoutMs: 100 });
    const order: string[] = [];
    const submit = submitter(executor, order);
    const stuck = submit("stuck", "a", "Array(2 ** 32 - 1).join('')");
    const next = submit("next", "b", "'next'");
    expect(await stuck.result).toMatchObject({ ok: false, code: "TIMEOUT", error: "time limit of 100 ms exceeded" });
    expect(await next.result).toEqual({ ok: true, output: '"next"' });
    expect(order).toEqual(["stuck", "next"]);
    await until(() => exits.length >= 1);
    expect(exits[0]).toBe(workers[0]); // the stuck worker was terminated
    expect(workers.length).toBe(2); // and a new one ran the next block
    expect(executor.status().workers).toBe(1);
  });

  it("stops an infinite loop at its limit even when every worker is busy with others' loops", async () => {
    const { executor } = pool({ maxWorkers: 2, timeoutMs: 200 });
    const order: string[] = [];
    const submit = submitter(executor, order);
    const loops = ["u1", "u2", "u3", "u4"].map((user) => submit(user, user, LOOP));
    const results = await Promise.all(loops.map((block) => block.result));
    expect(results.map((result) => result.code)).toEqual(["TIMEOUT", "TIMEOUT", "TIMEOUT", "TIMEOUT"]);
    expect(await executor.execute("'fine'", { signal: never, language: "js", userId: "u5" })).toEqual({ ok: true, output: '"fine"' });
  });
});

describe("quickjsExecutor: close() leaves nothing behind", () => {
  const timers = () => process.getActiveResourcesInfo().filter((resource) => resource === "Timeout").length;

  it("with a full queue and busy workers: settles every block with CLOSED and every worker exits", async () => {
    const timersBefore = timers();
    const { executor, workers, exits } = pool({ maxWorkers: 2, timeoutMs: 600_000, maxQueued: 20, maxQueuedPerUser: 5 });
    const order: string[] = [];
    const submit = submitter(executor, order);
    const blocks: Block[] = [];
    await executor.prewarm();
    for (const user of ["a", "b", "c", "d", "e"]) {
      for (let i = 0; i < 5; i++) blocks.push(submit(`${user}${i}`, user, LOOP));
    }
    // a0 and b0 run; 20 wait; e2, e3, e4 are refused (the queue is full).
    expect(executor.status()).toMatchObject({ workers: 2, running: 2, queued: 20 });
    const refused = await Promise.all(blocks.slice(22).map((block) => block.result));
    expect(refused.map((r) => r.code)).toEqual(["QUEUE_FULL", "QUEUE_FULL", "QUEUE_FULL"]);
    expect(order).toEqual(["e2", "e3", "e4"]);

    await executor.close();
    // Every block is settled by the time close() resolves.
    expect(blocks.every((block) => block.settled)).toBe(true);
    const results = await Promise.all(blocks.slice(0, 22).map((block) => block.result));
    expect(results.every((result) => result.ok === false && result.code === "CLOSED")).toBe(true);
    expect(workers.length).toBe(2);
    expect(exits.length).toBe(workers.length);
    expect(executor.status()).toEqual({ workers: 0, running: 0, queued: 0, users: 0, closed: true });
    expect(timers()).toBeLessThanOrEqual(timersBefore);
    expect(await executor.execute("1", { signal: never, language: "js" })).toMatchObject({ code: "CLOSED" });
  });

  it("while workers are still starting: settles the waiting blocks and no worker survives", async () => {
    const { executor, workers, exits } = pool({ maxWorkers: 2 });
    const order: string[] = [];
    const submit = submitter(executor, order);
    const blocks = ["a", "b", "c"].map((user) => submit(user, user, "'never started'"));
    expect(executor.status()).toMatchObject({ workers: 2, running: 0, queued: 3 });
    await executor.close();
    expect(blocks.every((block) => block.settled)).toBe(true);
    expect((await Promise.all(blocks.map((block) => block.result))).map((r) => r.code)).toEqual(["CLOSED", "CLOSED", "CLOSED"]);
    expect(exits.length).toBe(workers.length);
    expect(executor.status().workers).toBe(0);
  });

  it("waits for a worker terminated just before it (a block stuck in native code) to exit", async () => {
    const { executor, workers, exits } = pool({ maxWorkers: 1, timeoutMs: 100, sliceMs: 0 });
    const result = await executor.execute("Array(2 ** 32 - 1).join('')", { signal: never, language: "js" });
    expect(result.code).toBe("TIMEOUT"); // its worker was terminated
    await executor.close();
    expect(workers.length).toBeGreaterThan(0);
    expect(exits.length).toBe(workers.length);
  });

  it("fails the waiting blocks when no worker can start, and tries again only for a new block", async () => {
    const workers: Worker[] = [];
    const broken = new QuickJSExecutor(
      { maxWorkers: 2 },
      { packageName: fileURLToPath(new URL("./fixtures/broken-quickjs.cjs", import.meta.url)), onWorker: (worker) => workers.push(worker) },
    );
    created.push(broken);
    const results = await Promise.all(["a", "b", "c"].map((userId) => broken.execute("1", { signal: never, language: "js", userId })));
    for (const result of results) {
      expect(result).toEqual({
        ok: false,
        output: "",
        code: "SANDBOX_ERROR",
        error: "the JavaScript sandbox could not start: this build is broken on purpose",
      });
    }
    const tried = workers.length;
    expect(tried).toBeLessThanOrEqual(2); // one start per worker slot, no retry loop
    expect(broken.status()).toMatchObject({ queued: 0, running: 0 });
    expect(await broken.execute("1", { signal: never, language: "js" })).toMatchObject({ code: "SANDBOX_ERROR" });
    expect(workers.length).toBe(tried + 1);
  });
});
