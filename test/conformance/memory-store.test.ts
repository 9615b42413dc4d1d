import { describe, expect, it } from "vitest";
import { memoryCacheStore } from "../../src/index.js";
import { cacheStoreConformance } from "./cache-store.js";

cacheStoreConformance("memory", () => memoryCacheStore());

describe("memoryCacheStore bounds", () => {
  it("keeps at most maxEntries entries, dropping the least recently used", async () => {
    const store = memoryCacheStore({ maxEntries: 1_000 });
    for (let i = 0; i < 100_000; i++) await store.set(`user:${i}`, { i }, 60_000);
    const all = await store.getMany(Array.from({ length: 100_000 }, (_, i) => `user:${i}`));
    expect(all.filter((v) => v !== undefined)).toHaveLength(1_000);
    expect(all.at(-1)).toEqual({ i: 99_999 });
    expect(all[0]).toBeUndefined();
  });

  it("keeps at most maxBytes of values", async () => {
    const store = memoryCacheStore({ maxBytes: 100_000 });
    const big = "x".repeat(10_000); // ~20 KB each
    for (let i = 0; i < 50; i++) await store.set(`big:${i}`, big, 60_000);
    const kept = (await store.getMany(Array.from({ length: 50 }, (_, i) => `big:${i}`))).filter(Boolean);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThanOrEqual(5);
  });

  it("refuses a value JSON cannot hold, as Redis would, and stores nothing for it", async () => {
    const store = memoryCacheStore();
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    await expect(store.set("big", { n: 1n }, 60_000)).rejects.toThrow(TypeError);
    await expect(store.set("cycle", cycle, 60_000)).rejects.toThrow(TypeError);
    await expect(store.listAppend("list", [{ n: 1n }], { maxLength: 5, ttlMs: 60_000 })).rejects.toThrow(TypeError);
    expect(await store.getMany(["big", "cycle"])).toEqual([undefined, undefined]);
    expect(await store.listTail("list", 5)).toEqual([]);
  });

  it("copies only a value's own fields, whatever Object.prototype holds", async () => {
    const store = memoryCacheStore();
    await store.set("v", { a: 1 }, 60_000);
    Object.defineProperty(Object.prototype, "polluted", { value: "yes", enumerable: true, configurable: true, writable: true });
    try {
      const read = (await store.get("v")) as Record<string, unknown>;
      expect(Object.keys(read)).toEqual(["a"]);
      expect(Object.hasOwn(read, "polluted")).toBe(false);
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
  });

  it("refuses calls after close()", async () => {
    const store = memoryCacheStore();
    await store.close();
    await expect(store.get("x")).rejects.toThrow(/closed/);
  });
});
