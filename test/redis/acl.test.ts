import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { resilientRedisStore } from "../../src/redis/index.js";
import { describeRedis, startRedis } from "./redis-servers.js";

describeRedis("a Redis user that may not PING", () => {
  it("is a Redis that answers: the store starts on Redis, stays there and writes to it", async () => {
    const server = await startRedis();
    const admin = new Redis(server.url);
    await admin.call("ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all", "-ping");
    const store = resilientRedisStore({ url: `redis://app:pw@127.0.0.1:${server.port}`, prefix: "acl:" });
    const degraded: unknown[] = [];
    store.on("degraded", ({ error }) => degraded.push(error));

    expect(await store.whenStarted()).toBe("primary");
    await store.set("k", { a: 1 }, 60_000);
    await store.listAppend("h", ["m0"], { maxLength: 5, ttlMs: 60_000 });
    expect(await store.get("k")).toEqual({ a: 1 });
    await expect(store.redis.ping()).resolves.toBeUndefined(); // NOPERM is an answer
    expect(store.state).toBe("primary");
    expect(degraded).toEqual([]);
    expect(await admin.get("acl:k")).toBe('{"a":1}');
    expect(await admin.lrange("acl:h", 0, -1)).toEqual(['"m0"']);

    await store.close();
    await admin.quit();
    await server.stop();
  });
});
