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

  it("refuses calls after close()", async () => {
    const store = memoryCacheStore();
    await store.close();
    await expect(store.get("x")).rejects.toThrow(/closed/);
  });
});
