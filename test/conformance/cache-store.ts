import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CacheStore } from "../../src/index.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The behaviour every CacheStore must have. Each implementation's test file calls this with a
 * factory that returns a fresh, empty store on a real backend.
 */
export function cacheStoreConformance(name: string, create: () => Promise<CacheStore> | CacheStore): void {
  describe(`CacheStore conformance: ${name}`, () => {
    let store: CacheStore;
    let n = 0;
    const k = (label: string) => `conf:${name}:${process.pid}:${Date.now()}:${n++}:${label}`;

    beforeAll(async () => {
      store = await create();
    });
    afterAll(async () => {
      await store?.close();
    });

    it("has a name", () => {
      expect(typeof store.name).toBe("string");
      expect(store.name.length).toBeGreaterThan(0);
    });

    it("misses on an unknown key", async () => {
      expect(await store.get(k("missing"))).toBeUndefined();
    });

    it("round-trips JSON values", async () => {
      const values = [{ a: 1, b: [1, "two", { c: null }] }, [1, 2, 3], "text ✓ 日本", 42, 0, false, true, null, ""];
      for (const v of values) {
        const key = k("v");
        await store.set(key, v, 10_000);
        expect(await store.get(key)).toEqual(v);
      }
    });

    it("returns a copy: changing a value after set or get does not change the stored one", async () => {
      const key = k("copy");
      const value = { list: [1] };
      await store.set(key, value, 10_000);
      value.list.push(2);
      const read = (await store.get(key)) as { list: number[] };
      expect(read).toEqual({ list: [1] });
      read.list.push(3);
      expect(await store.get(key)).toEqual({ list: [1] });
    });

    it("values go through JSON: undefined fields dropped, a Date as its ISO text, -0 as 0, a __proto__ key as an own key", async () => {
      const key = k("json");
      const at = new Date(Date.UTC(2026, 0, 2));
      await store.set(key, { a: undefined, at, zero: -0, list: [undefined, 1] }, 10_000);
      const read = (await store.get(key)) as Record<string, unknown>;
      expect(read).toEqual({ at: "2026-01-02T00:00:00.000Z", zero: 0, list: [null, 1] });
      expect(Object.is(read.zero, 0)).toBe(true);
      expect("a" in read).toBe(false);
      const proto = k("proto");
      await store.set(proto, JSON.parse('{"__proto__":{"admin":true},"x":1}'), 10_000);
      const got = (await store.get(proto)) as Record<string, unknown>;
      expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
      expect(Object.hasOwn(got, "__proto__")).toBe(true);
      expect((got as { admin?: unknown }).admin).toBeUndefined();
      expect(Object.keys(got)).toEqual(["__proto__", "x"]);
    });

    it("two reads never share an object, for values and list items", async () => {
      const key = k("shared");
      await store.set(key, { nested: { n: 1 } }, 10_000);
      const [a, b] = (await store.getMany([key, key])) as Array<{ nested: { n: number } }>;
      expect(a).not.toBe(b);
      (a as { nested: { n: number } }).nested.n = 2;
      expect(b).toEqual({ nested: { n: 1 } });
      expect(await store.get(key)).toEqual({ nested: { n: 1 } });
      const list = k("shared-list");
      await store.listAppend(list, [{ id: "m1", tools: [{ name: "t" }] }], { maxLength: 5, ttlMs: 10_000 });
      const [first] = (await store.listTail(list, 5)) as Array<{ id: string; tools: Array<{ name: string }> }>;
      (first as { tools: Array<{ name: string }> }).tools[0]!.name = "changed";
      const read = await store.read({ keys: [], lists: [{ key: list, last: 5 }] });
      expect(read.lists[0]).toEqual([{ id: "m1", tools: [{ name: "t" }] }]);
    });

    it("an append whose maxLength is past the safe integers keeps everything, as Infinity does", async () => {
      const list = k("huge-keep");
      for (const maxLength of [1e21, 2 ** 63, Number.MAX_VALUE]) await store.listAppend(list, [maxLength], { maxLength, ttlMs: 10_000 });
      expect(await store.listTail(list, 10)).toEqual([1e21, 2 ** 63, Number.MAX_VALUE]);
    });

    it("a list tail counts whole items: a fractional length is rounded down, NaN and 0 give nothing", async () => {
      const list = k("whole");
      await store.listAppend(list, ["a", "b", "c"], { maxLength: 10, ttlMs: 10_000 });
      expect(await store.listTail(list, 2.5)).toEqual(["b", "c"]);
      expect(await store.listTail(list, 0.5)).toEqual([]);
      expect(await store.listTail(list, Number.NaN)).toEqual([]);
      expect(await store.listTail(list, Number.POSITIVE_INFINITY)).toEqual(["a", "b", "c"]);
      expect(await store.listTail(list, 2 ** 63)).toEqual(["a", "b", "c"]);
      expect(await store.listTail(list, Number.MAX_VALUE)).toEqual(["a", "b", "c"]);
      expect((await store.read({ keys: [], lists: [{ key: list, last: 1.9 }] })).lists[0]).toEqual(["c"]);
    });

    it("refuses a value JSON cannot express (a function, a symbol) with a TypeError, and keeps what was stored", async () => {
      const key = k("fn");
      await store.set(key, "kept", 10_000);
      await expect(store.set(key, () => 1, 10_000)).rejects.toThrow(TypeError);
      await expect(store.set(key, Symbol("s"), 10_000)).rejects.toThrow(TypeError);
      expect(await store.get(key)).toBe("kept");
      const list = k("fn-list");
      await store.listAppend(list, ["a"], { maxLength: 10, ttlMs: 10_000 });
      await expect(store.listAppend(list, [() => 1], { maxLength: 10, ttlMs: 10_000 })).rejects.toThrow(TypeError);
      expect(await store.listTail(list, 10)).toEqual(["a"]);
    });

    it("overwrites a key", async () => {
      const key = k("over");
      await store.set(key, "a", 10_000);
      await store.set(key, "b", 10_000);
      expect(await store.get(key)).toBe("b");
    });

    it("getMany answers in order, with undefined for misses", async () => {
      const [a, b, c] = [k("a"), k("b"), k("c")];
      await store.set(a, 1, 10_000);
      await store.set(c, { three: 3 }, 10_000);
      expect(await store.getMany([a, b, c])).toEqual([1, undefined, { three: 3 }]);
      expect(await store.getMany([])).toEqual([]);
    });

    it("read() serves keys and list tails in one call", async () => {
      const [a, missing, list, none] = [k("a"), k("m"), k("list"), k("none")];
      await store.set(a, "x", 10_000);
      await store.listAppend(list, [1, 2, 3], { maxLength: 10, ttlMs: 10_000 });
      const result = await store.read({
        keys: [a, missing],
        lists: [
          { key: list, last: 2 },
          { key: none, last: 5 },
        ],
      });
      expect(result).toEqual({ values: ["x", undefined], lists: [[2, 3], []] });
      expect(await store.read({ keys: [] })).toEqual({ values: [], lists: [] });
    });

    it("expires values after their TTL", async () => {
      const key = k("ttl");
      await store.set(key, "short", 60);
      expect(await store.get(key)).toBe("short");
      await sleep(200);
      expect(await store.get(key)).toBeUndefined();
    });

    it("rejects a TTL that is not a positive number", async () => {
      for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
        await expect(store.set(k("bad"), 1, ttl)).rejects.toThrow(TypeError);
      }
    });

    it("deletes keys and lists", async () => {
      const [key, list] = [k("del"), k("dellist")];
      await store.set(key, 1, 10_000);
      await store.listAppend(list, ["x"], { maxLength: 5, ttlMs: 10_000 });
      await store.delete(key);
      await store.delete(list);
      await store.delete(k("never-set"));
      expect(await store.get(key)).toBeUndefined();
      expect(await store.listTail(list, 5)).toEqual([]);
    });

    it("appends to lists in order, keeps the last maxLength, reads tails oldest first", async () => {
      const list = k("list");
      await store.listAppend(list, ["a", "b"], { maxLength: 4, ttlMs: 10_000 });
      await store.listAppend(list, ["c"], { maxLength: 4, ttlMs: 10_000 });
      await store.listAppend(list, [{ d: 1 }, "e"], { maxLength: 4, ttlMs: 10_000 });
      expect(await store.listTail(list, 10)).toEqual(["b", "c", { d: 1 }, "e"]);
      expect(await store.listTail(list, 2)).toEqual([{ d: 1 }, "e"]);
      expect(await store.listTail(list, 0)).toEqual([]);
      expect(await store.listTail(k("empty"), 3)).toEqual([]);
    });

    it("expires lists after their TTL, refreshed by each append", async () => {
      const list = k("listttl");
      await store.listAppend(list, [1], { maxLength: 5, ttlMs: 60 });
      await sleep(200);
      expect(await store.listTail(list, 5)).toEqual([]);
    });

    it("loses no item when many appends race", async () => {
      const list = k("race");
      await Promise.all(
        Array.from({ length: 200 }, (_, i) => store.listAppend(list, [`u${i}`, `a${i}`], { maxLength: 1000, ttlMs: 10_000 })),
      );
      const items = (await store.listTail(list, 1000)) as string[];
      expect(items).toHaveLength(400);
      for (let i = 0; i < 200; i++) expect(items.indexOf(`a${i}`)).toBe(items.indexOf(`u${i}`) + 1);
    });

    it("keeps keys that differ only in special characters apart", async () => {
      const keys = ["a:b", "a{b}", "a*b", "a b", "a\u00e9b", "ae\u0301b", "a\u{1F600}b", "a%3Ab"].map((s) => k(s));
      await Promise.all(keys.map((key, i) => store.set(key, i, 10_000)));
      expect(await store.getMany(keys)).toEqual(keys.map((_, i) => i));
    });
  });
}
