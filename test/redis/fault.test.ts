import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { createKeyBuilder, createZoePipeline, type AGUIEvent } from "../../src/index.js";
import { resilientRedisStore } from "../../src/redis/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { collect, expectValidStream } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { describeRedis, startRedis } from "./redis-servers.js";
import { whenState } from "./store-state.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(2);
}

describeRedis("Redis killed during 500 runs", () => {
  it("fails no run, keeps every stream valid, goes back to Redis after the restart, and writes back every turn of the outage", async () => {
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
    await whenState(store, "primary");

    // Every run started after the kill is in Redis exactly once, in order: those of the outage
    // were written back before the switch, the later ones were appended after them. (Redis keeps
    // nothing on disk: what it held before the kill went with it.) 100 users, 5 turns each: 10
    // messages a thread, within the history's default keep (20), so nothing was trimmed.
    const raw = new Redis(server.url);
    const keys = createKeyBuilder("zoe");
    const afterKill = startedAt.map((t, i) => ({ t, i })).filter(({ t }) => t > killed);
    expect(afterKill.length).toBeGreaterThan(150);
    let found = 0;
    for (let user = 0; user < 100; user++) {
      const items = (await raw.lrange(`fault:${keys.key("history", `user${user}`, "t")}`, 0, -1)).map(
        (s) => (JSON.parse(s) as { content: string }).content,
      );
      const runs = items.filter((c) => c.startsWith("message ")).map((c) => Number(c.slice("message ".length)));
      expect(runs, `user${user}: in order, once each`).toEqual([...new Set(runs)].sort((a, b) => a - b));
      found += afterKill.filter(({ i }) => i % 100 === user && runs.includes(i)).length;
    }
    expect(found).toBe(afterKill.length);
    await raw.quit();
    await pipeline.close();
    await server.stop();
  }, 60_000);
});
