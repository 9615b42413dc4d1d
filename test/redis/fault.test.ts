import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { createKeyBuilder, createZoePipeline, type AGUIEvent } from "../../src/index.js";
import { resilientRedisStore } from "../../src/redis/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { collect, expectValidStream } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { describeRedis, startRedis } from "./redis-servers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(2);
}

describeRedis("Redis killed during 500 runs", () => {
  it("fails no run, keeps every stream valid, and is back on Redis within the probe interval of the restart", async () => {
    const server = await startRedis();
    const probeIntervalMs = 500;
    const store = resilientRedisStore({ url: server.url, probeIntervalMs, timeoutMs: 250, prefix: "fault:" });
    const timeline: Record<string, number> = {};
    const degradedAt: number[] = [];
    const recoveredAt: number[] = [];
    let failedCalls = 0;
    store.on("degraded", () => degradedAt.push(performance.now()));
    store.on("recovered", () => recoveredAt.push(performance.now()));
    store.on("error", () => failedCalls++);
    const pipeline = createZoePipeline({
      // ~6 chunks 8 ms apart: about 50 ms a run, 8 at a time, so the 500 runs span ~3 s.
      backend: scriptedBackend({ script: textChunks("The answer, in a few words."), chunkDelayMs: 8, record: false }),
      router: fixedRouter("chat"),
      cache: store,
      providers: [{ name: "profile", ttlMs: 60_000, fetch: ({ userId }) => `profile of ${userId}` }],
      keyPrefix: "zoe",
    });
    expect(await store.whenStarted()).toBe("primary");

    const total = 500;
    const results: AGUIEvent[][] = [];
    const startedAt: number[] = [];
    let next = 0;
    let completed = 0;
    const lane = async () => {
      while (next < total) {
        const i = next++;
        startedAt[i] = performance.now();
        results[i] = await collect(pipeline.run({ userId: `user${i % 100}`, threadId: "t", message: `message ${i}` }));
        completed++;
      }
    };
    const chaos = (async () => {
      await until(() => completed >= 150);
      timeline.killed = performance.now();
      await server.kill(); // SIGKILL while runs are in flight
      await until(() => completed >= 300);
      await server.restart(); // same port; resolves when it answers PING
      timeline.restarted = performance.now();
    })();
    await Promise.all([...Array.from({ length: 8 }, lane), chaos]);

    for (const events of results) {
      await expectValidStream(events);
      const last = events.at(-1);
      expect(last?.type).toBe("RUN_FINISHED");
      expect(last?.type === "RUN_FINISHED" && last.outcome).toMatchObject({ type: "success" });
    }
    expect(results).toHaveLength(total);

    const { killed = 0, restarted = 0 } = timeline;
    // The first switch after the kill, and the first recovery after the restart (a very busy
    // machine could add a spurious switch earlier; it would not change the outcome of any run).
    const degraded = degradedAt.find((t) => t >= killed) ?? Number.NaN;
    const recovered = recoveredAt.find((t) => t >= restarted) ?? Number.NaN;
    expect(degraded).toBeLessThan(restarted);
    expect(recovered).toBeGreaterThan(restarted);
    const recoveryMs = recovered - restarted;
    const runsAfter = startedAt.map((t, i) => ({ t, i })).filter(({ t }) => t > recovered);
    console.log(
      `fault: degraded ${Math.round(degraded - killed)} ms after SIGKILL, recovered ${Math.round(recoveryMs)} ms after the restart ` +
        `(probe interval ${probeIntervalMs} ms); ${failedCalls} failed Redis calls served by memory; ` +
        `${runsAfter.length} runs started after recovery`,
    );
    expect(recoveryMs).toBeLessThanOrEqual(probeIntervalMs);
    expect(store.state).toBe("primary");

    // Runs started after the recovery wrote their history to Redis.
    expect(runsAfter.length).toBeGreaterThan(20);
    const raw = new Redis(server.url);
    const keys = createKeyBuilder("zoe");
    let found = 0;
    for (const { i } of runsAfter) {
      const items = await raw.lrange(`fault:${keys.key("history", `user${i % 100}`, "t")}`, 0, -1);
      if (items.some((s) => (JSON.parse(s) as { content: string }).content === `message ${i}`)) found++;
    }
    // The history keeps the last 10 messages (5 turns) per thread; at most 2 turns a user started after recovery (100 users).
    expect(found).toBe(runsAfter.length);
    await raw.quit();
    await pipeline.close();
    await server.stop();
  }, 60_000);
});
