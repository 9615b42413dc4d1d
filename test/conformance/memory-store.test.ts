import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it, vi } from "vitest";
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

  it("keeps at most maxBytes across lists that grow by appends, dropping the least recently used", async () => {
    const maxBytes = 200_000;
    const store = memoryCacheStore({ maxBytes });
    const item = "x".repeat(1_000); // about 2 KB each as counted
    // Each list stays under maxBytes alone (about 160 KB); together they are 40 times it.
    for (let list = 0; list < 50; list++) {
      for (let i = 0; i < 80; i++) await store.listAppend(`history:${list}`, [item], { maxLength: 1_000, ttlMs: 60_000 });
    }
    let held = 0;
    const kept: number[] = [];
    for (let list = 0; list < 50; list++) {
      const items = (await store.listTail(`history:${list}`, 1_000)) as string[];
      if (items.length > 0) kept.push(list);
      held += items.length * item.length * 2;
    }
    expect(held).toBeLessThanOrEqual(maxBytes);
    expect(kept).toEqual([49]);
    expect(await store.listTail("history:49", 1_000)).toHaveLength(80);
  });

  it("reads arm no timer: a read after the process has waited (a chat turn) leaves no timer behind", async () => {
    const store = memoryCacheStore();
    await store.set("v", { a: 1 }, 60_000);
    await store.listAppend("l", [{ a: 1 }], { maxLength: 5, ttlMs: 60_000 });
    for (let turn = 0; turn < 3; turn++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      const armed = vi.spyOn(globalThis, "setTimeout");
      try {
        const read = await store.read({ keys: ["v"], lists: [{ key: "l", last: 5 }] });
        expect(read).toEqual({ values: [{ a: 1 }], lists: [[{ a: 1 }]] });
        expect(armed).not.toHaveBeenCalled();
      } finally {
        armed.mockRestore();
      }
    }
  });

  it("a list that would grow past maxBytes loses its oldest items, not the whole list; items too large alone are refused", async () => {
    const store = memoryCacheStore({ maxBytes: 200_000 });
    const big = "x".repeat(30_000); // about 60 KB each
    for (let i = 0; i < 5; i++) await store.listAppend("thread", [{ i, big }], { maxLength: 20, ttlMs: 60_000 });
    const kept = (await store.listTail("thread", 20)) as Array<{ i: number }>;
    expect(kept.map((x) => x.i)).toEqual([2, 3, 4]);
    await expect(store.listAppend("thread", [{ huge: "y".repeat(120_000) }], { maxLength: 20, ttlMs: 60_000 })).rejects.toThrow(RangeError);
    expect(((await store.listTail("thread", 20)) as Array<{ i: number }>).map((x) => x.i)).toEqual([2, 3, 4]);
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

  it("a key that Object.prototype holds as a setter stays an own key of what is read, as JSON.parse makes it", async () => {
    const store = memoryCacheStore();
    await store.set("v", JSON.parse('{"trap":1,"list":[{"trap":2}]}'), 60_000);
    const caught: unknown[] = [];
    Object.defineProperty(Object.prototype, "trap", {
      set(value: unknown) {
        caught.push(value);
      },
      configurable: true,
    });
    try {
      const read = (await store.get("v")) as { trap: number; list: Array<{ trap: number }> };
      expect(Object.hasOwn(read, "trap")).toBe(true);
      expect(read.trap).toBe(1);
      expect(read.list[0]?.trap).toBe(2);
      expect(caught).toEqual([]);
    } finally {
      delete (Object.prototype as Record<string, unknown>).trap;
    }
  });

  it("reads values with keys like constructor and toString under a frozen Object.prototype", async () => {
    // Freezing Object.prototype cannot be undone: in a process of its own.
    const script = `
      import { memoryCacheStore } from "./src/index.ts";
      Object.freeze(Object.prototype);
      const store = memoryCacheStore();
      await store.set("v", { constructor: 1, toString: "s", nested: [{ valueOf: true }] }, 60_000);
      console.log(JSON.stringify(await store.get("v")));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
    });
    expect(JSON.parse(stdout)).toEqual({ constructor: 1, toString: "s", nested: [{ valueOf: true }] });
  });

  it("reads a deeply nested value from a caller deep in its own stack (the copy recurses only so far)", async () => {
    const store = memoryCacheStore();
    let deep: unknown = "bottom";
    for (let i = 0; i < 2_000; i++) deep = i % 2 ? { a: deep } : [deep];
    await store.set("deep", deep, 60_000);
    const fromDepth = (frames: number): Promise<unknown> => (frames === 0 ? store.get("deep") : fromDepth(frames - 1));
    const read = await fromDepth(7_000);
    expect(read).not.toBe(deep);
    expect(JSON.stringify(read)).toBe(JSON.stringify(deep));
  });

  it("refuses calls after close()", async () => {
    const store = memoryCacheStore();
    await store.close();
    await expect(store.get("x")).rejects.toThrow(/closed/);
  });
});
