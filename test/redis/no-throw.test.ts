import { afterAll, beforeAll, expect, it } from "vitest";
import type { CacheStore } from "../../src/index.js";
import { redisCacheStore, resilientRedisStore, type RedisCacheStore } from "../../src/redis/index.js";
import { describeRedis, sharedRedis, sparePort, uniquePrefix } from "./redis-servers.js";

const circular: Record<string, unknown> = {};
circular.self = circular;
const longKey = `history:{u}:${"x".repeat(1_000_000)}`;
const list = { maxLength: 5, ttlMs: 10_000 };

/** Calls a host could make by mistake, with ids of any length: none may throw synchronously. */
function hostileCalls(store: CacheStore & Partial<Pick<RedisCacheStore, "ping" | "listAppendOnce">>): Array<[string, () => unknown]> {
  const calls: Array<[string, () => unknown]> = [
    ["get(undefined)", () => store.get(undefined as never)],
    ["get(Symbol)", () => store.get(Symbol("k") as never)],
    ["get(1 MB key)", () => store.get(longKey)],
    ["getMany(null)", () => store.getMany(null as never)],
    ["getMany([Symbol])", () => store.getMany([Symbol("k")] as never)],
    ["read(null)", () => store.read(null as never)],
    ["read({ keys: null })", () => store.read({ keys: null } as never)],
    ["read(NaN tail)", () => store.read({ keys: [], lists: [{ key: "l", last: Number.NaN }] })],
    ["set(BigInt)", () => store.set("k", 1n, 1_000)],
    ["set(circular)", () => store.set("k", circular, 1_000)],
    ["set(NaN ttl)", () => store.set("k", 1, Number.NaN)],
    ["set(undefined)", () => store.set("k", undefined, 1_000)],
    ["set(1 MB key)", () => store.set(longKey, "v", 1_000)],
    ["delete(Symbol)", () => store.delete(Symbol("k") as never)],
    ["listAppend(null items)", () => store.listAppend("l", null as never, list)],
    ["listAppend(null options)", () => store.listAppend("l", [1], null as never)],
    ["listAppend(BigInt)", () => store.listAppend("l", [1n], list)],
    ["listAppend(NaN maxLength)", () => store.listAppend("l", [1], { maxLength: Number.NaN, ttlMs: 1_000 })],
    ["listAppend(1 MB key)", () => store.listAppend(longKey, [{ id: "m" }], list)],
    ["listTail(Symbol)", () => store.listTail(Symbol("k") as never, 3)],
    ["listTail(NaN)", () => store.listTail("l", Number.NaN)],
  ];
  if (store.ping) calls.push(["ping()", () => store.ping?.()]);
  if (store.listAppendOnce) {
    calls.push(["listAppendOnce(null items)", () => store.listAppendOnce?.("l", null as never, list)]);
    calls.push(["listAppendOnce(circular)", () => store.listAppendOnce?.("l", [circular], list)]);
  }
  return calls;
}

async function expectNoSyncThrow(label: string, store: CacheStore & Partial<Pick<RedisCacheStore, "ping" | "listAppendOnce">>) {
  for (const [name, call] of hostileCalls(store)) {
    let result: unknown;
    expect(() => (result = call()), `${label}: ${name}`).not.toThrow();
    expect(result, `${label}: ${name}`).toBeInstanceOf(Promise);
    await (result as Promise<unknown>).catch(() => {});
  }
}

describeRedis("no store method throws synchronously: each returns a promise", () => {
  let shared: Awaited<ReturnType<typeof sharedRedis>>;
  beforeAll(async () => {
    shared = await sharedRedis();
  });
  afterAll(async () => {
    await shared?.stop();
  });

  it("redisCacheStore, open and closed", async () => {
    const store = redisCacheStore({ url: shared.url, prefix: `${uniquePrefix("nothrow")}:` });
    await expectNoSyncThrow("redis", store);
    await store.delete(longKey);
    await store.close();
    await expectNoSyncThrow("redis (closed)", store);
  });

  it("resilientRedisStore on a healthy Redis (argument errors never count as Redis failures), on a Redis that is down, and closed", async () => {
    const up = resilientRedisStore({ url: shared.url, prefix: `${uniquePrefix("nothrow-fb")}:`, failureThreshold: 1 });
    expect(await up.whenStarted()).toBe("primary");
    await expectNoSyncThrow("resilient", up);
    expect(up.state).toBe("primary");
    await up.delete(longKey);
    await up.close();
    await expectNoSyncThrow("resilient (closed)", up);

    const down = resilientRedisStore({ url: `redis://127.0.0.1:${await sparePort()}` });
    expect(await down.whenStarted()).toBe("fallback");
    await expectNoSyncThrow("resilient (Redis down)", down);
    await down.close();
  });
});
