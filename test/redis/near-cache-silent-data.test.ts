/**
 * The near cache's data connection is the one whose CLIENT TRACKING makes Redis send
 * invalidations. When the server loses it (a NAT dropped the idle flow and the server freed the
 * client; the client never hears of it, half-open), Redis stops invalidating the keys it read,
 * and reads served from the copy make no call on that connection. The liveness token (published on
 * the data connection, received on the invalidation connection) finds it: the copy is dropped.
 */
import net from "node:net";
import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { redisCacheStore } from "../../src/redis/index.js";
import { describeRedis, startRedis } from "./redis-servers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A proxy that can cut the server side of chosen connections, leaving the client side open and silent. */
async function halfOpenProxy(targetPort: number) {
  const conns: Array<{ client: net.Socket; upstream: net.Socket; subscriber: boolean; cut: boolean }> = [];
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: "127.0.0.1", port: targetPort });
    const c = { client, upstream, subscriber: false, cut: false };
    conns.push(c);
    client.on("data", (d: Buffer) => {
      if (/subscribe/i.test(d.toString("latin1"))) c.subscriber = true;
      if (!c.cut) upstream.write(d);
    });
    upstream.on("data", (d: Buffer) => {
      if (!c.cut) client.write(d);
    });
    client.on("error", () => upstream.destroy()).on("close", () => upstream.destroy());
    // The server side going away is NOT passed on once cut: the client keeps a half-open socket.
    upstream
      .on("error", () => {})
      .on("close", () => {
        if (!c.cut) client.destroy();
      });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    /** The server loses these connections; their clients hear nothing. */
    cut(which: (c: { subscriber: boolean }) => boolean) {
      let n = 0;
      for (const c of conns) {
        if (c.client.destroyed || c.cut || !which(c)) continue;
        c.cut = true;
        c.upstream.destroy();
        n++;
      }
      return n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) {
          c.client.destroy();
          c.upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}

describeRedis("near cache whose data connection the server lost (half-open)", () => {
  it("stops serving a value another client changed, within a generous multiple of the store's deadlines", async () => {
    const server = await startRedis();
    const proxy = await halfOpenProxy(server.port);
    const raw = new Redis(server.url);
    const timeoutMs = 250;
    const connectTimeoutMs = 500;
    const store = redisCacheStore({ url: proxy.url, prefix: "attack-data:", nearCache: true, timeoutMs, connectTimeoutMs });
    try {
      while (store.nearCacheStats()?.active !== true) await sleep(5);
      await store.set("k", "v1", 10 * 60_000);
      expect((await store.read({ keys: ["k"] })).values).toEqual(["v1"]);
      const hits = store.nearCacheStats()?.hits ?? 0;
      expect((await store.read({ keys: ["k"] })).values).toEqual(["v1"]);
      expect(store.nearCacheStats()?.hits).toBe(hits + 1); // served from the copy

      // The server frees the data connection (its tracking goes with it); the store hears nothing.
      expect(proxy.cut((c) => !c.subscriber)).toBe(1);
      // Wait until Redis has freed it (only the subscriber is left from the proxy).
      for (let i = 0; i < 100; i++) {
        const list = String(await raw.client("LIST"));
        if (list.split("\n").filter((l) => l.includes("cmd=")).length <= 2) break;
        await sleep(20);
      }
      await raw.set("attack-data:k", JSON.stringify("v2"), "PX", 10 * 60_000);

      // Generous: 20 x connectTimeoutMs (10 s), as the invalidation connection's own test allows.
      // The copy is dropped; a read then goes to Redis over the silent connection and misses its
      // deadline (a plain store has no probe to connect again; resilientRedisStore would fall back):
      // never the old value again.
      let last: unknown;
      const until = performance.now() + 20 * connectTimeoutMs;
      while (performance.now() < until) {
        last = await store.read({ keys: ["k"] }).then(
          (r) => r.values[0],
          (error: { code?: string }) => error.code,
        );
        if (last !== "v1") break;
        await sleep(100);
      }
      expect(["v2", "CACHE_TIMEOUT"]).toContain(last);
      expect(store.nearCacheStats()?.active).toBe(false);
    } finally {
      await store.close();
      await raw.quit();
      await proxy.close();
      await server.stop();
    }
  }, 30_000);
});
