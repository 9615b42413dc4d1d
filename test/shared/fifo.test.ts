import { describe, expect, it } from "vitest";
import { Fifo } from "../../src/shared/fifo.js";

describe("Fifo", () => {
  it("gives items back in order, and undefined when empty", () => {
    const q = new Fifo<number>();
    expect(q.shift()).toBeUndefined();
    expect(q.peek()).toBeUndefined();
    q.push(1);
    q.push(2);
    expect(q.size).toBe(2);
    expect(q.peek()).toBe(1);
    expect(q.shift()).toBe(1);
    q.push(3);
    expect([q.shift(), q.shift(), q.shift()]).toEqual([2, 3, undefined]);
    expect(q.size).toBe(0);
  });

  it("keeps its order across emptying and refilling, as a run's event queue does after every event", () => {
    const q = new Fifo<number>();
    const out: number[] = [];
    for (let i = 0; i < 100; i++) {
      q.push(2 * i);
      q.push(2 * i + 1);
      out.push(q.shift() as number);
      if (i % 3 === 0) while (q.size > 0) out.push(q.shift() as number);
    }
    while (q.size > 0) out.push(q.shift() as number);
    expect(out).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it("a queue that is never read to empty stays in order and does not keep what it gave back", () => {
    const q = new Fifo<{ n: number }>();
    let next = 0;
    let expected = 0;
    // Always one item behind: the queue never empties, so it compacts itself.
    q.push({ n: next++ });
    for (let i = 0; i < 5_000; i++) {
      q.push({ n: next++ });
      expect(q.shift()?.n).toBe(expected++);
    }
    expect(q.size).toBe(1);
    // What it holds is what waits, not every slot it ever used.
    expect((q as unknown as { items: unknown[] }).items.length).toBeLessThan(2_100);
    expect(q.shift()?.n).toBe(expected);
  });

  it("clear() empties it", () => {
    const q = new Fifo<string>();
    q.push("a");
    q.clear();
    expect(q.size).toBe(0);
    expect(q.shift()).toBeUndefined();
    q.push("b");
    expect(q.shift()).toBe("b");
  });
});
