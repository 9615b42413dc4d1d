/**
 * On a Cluster, `ping()` goes to one (random) node, and `disconnect(true)` would reset the whole
 * Cluster (every node's connection): a PING that a slow node does not answer never reconnects a
 * Cluster, so calls to the healthy nodes go on.
 */
import type { Cluster } from "ioredis";
import { expect, it } from "vitest";
import { clusterSlot, redisCacheStore } from "../../src/redis/index.js";
import { describeRedis, rawCommand, startCluster, uniquePrefix } from "./redis-servers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeRedis("store.ping() on a Cluster with one slow node", () => {
  it("does not make calls to the healthy nodes fail", async () => {
    const servers = await startCluster();
    // 2 s, not the default 1: a healthy node's answer must not miss it on a machine that runs the
    // whole suite twice at once (it did, once, at 1 s: a redis-server starved of CPU for a second).
    const timeoutMs = 2_000;
    const prefix = `${uniquePrefix("attack-cl")}:`;
    const store = redisCacheStore({ nodes: servers.nodes, prefix, timeoutMs });
    try {
      await store.ping();
      await store.set("warm", 1, 60_000);
      const cluster = store.client as Cluster;
      const portOf = (key: string) => Number(String((cluster.slots[clusterSlot(prefix + key)] ?? [])[0]).split(":")[1]);
      const slowPort = servers.ports[0] as number;
      // Keys on the healthy nodes only.
      const healthy: string[] = [];
      for (let i = 0; healthy.length < 20; i++) if (portOf(`k${i}`) !== slowPort) healthy.push(`k${i}`);

      expect(await rawCommand(slowPort, `CLIENT PAUSE ${1.5 * timeoutMs} ALL`)).toMatch(/^\+OK/);
      // A health check's PINGs (each goes to a random master): all but surely (1 in 10^10 not) some reach the slow node.
      const pings = Promise.all(
        Array.from({ length: 60 }, () =>
          store.ping().then(
            () => "answered",
            (e: Error) => e.name,
          ),
        ),
      );
      const failures: string[] = [];
      let writes = 0;
      const started = performance.now();
      while (performance.now() - started < 1.8 * timeoutMs) {
        const key = healthy[writes % healthy.length] as string;
        writes++;
        await store.set(key, writes, 60_000).catch((e: Error) => void failures.push(e.message));
        await sleep(20);
      }
      const pinged = await pings;
      expect(pinged).toContain("CacheTimeoutError"); // the slow node did not answer: expected
      expect({ writes: writes > 20, failedOnHealthyNodes: failures.slice(0, 3) }).toEqual({ writes: true, failedOnHealthyNodes: [] });
    } finally {
      await store.close();
      await servers.stop();
    }
  }, 60_000);
});
