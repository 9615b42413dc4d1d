import { describe, expect, it } from "vitest";
import { sortedBy } from "../../src/shared/sorted.js";

const byN = (a: { n: number }, b: { n: number }) => a.n - b.n;

describe("sortedBy", () => {
  it("gives an array already in order back as it is", () => {
    const items = [{ n: 1 }, { n: 2 }, { n: 2 }, { n: 5 }];
    expect(sortedBy(items, byN)).toBe(items);
    const empty: Array<{ n: number }> = [];
    expect(sortedBy(empty, byN)).toBe(empty);
  });

  it("sorts a copy of an array out of order, stably, and leaves the array alone", () => {
    const items = [
      { n: 3, id: "a" },
      { n: 1, id: "b" },
      { n: 3, id: "c" },
      { n: 2, id: "d" },
    ];
    const sorted = sortedBy(items, byN);
    expect(sorted).not.toBe(items);
    expect(sorted.map((x) => x.id)).toEqual(["b", "d", "a", "c"]);
    expect(items.map((x) => x.id)).toEqual(["a", "b", "c", "d"]);
  });

  it("sorts as Array.prototype.sort does (stable), short arrays by insertion and long ones by sort", () => {
    let seed = 7;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
    for (let round = 0; round < 500; round++) {
      const length = Math.floor(random() * 40);
      const items = Array.from({ length }, (_, id) => ({ n: Math.floor(random() * 6), id }));
      const before = items.map((x) => x.id);
      expect(sortedBy(items, byN).map((x) => `${x.n}:${x.id}`)).toEqual([...items].sort(byN).map((x) => `${x.n}:${x.id}`));
      expect(items.map((x) => x.id)).toEqual(before);
    }
  });
});
