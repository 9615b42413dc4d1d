import { describe, expect, it } from "vitest";
import { SequencePool, type PoolSequence } from "../../src/llama-cpp/sequence-pool.js";

/** A stand-in for a context sequence: just the tokens it holds. */
class FakeSequence implements PoolSequence {
  tokens: number[] = [];
  get nextTokenIndex() {
    return this.tokens.length;
  }
  compareContextTokens(tokens: readonly number[]) {
    let i = 0;
    while (i < this.tokens.length && this.tokens[i] === tokens[i]) i++;
    return { firstDifferentIndex: i };
  }
}

const pool = (capacity: number) => {
  let made = 0;
  return new SequencePool<FakeSequence, number>(capacity, () => ({ sequence: new FakeSequence(), data: made++ }));
};

/** Lease for `prompt`, "evaluate" it plus an answer, and give the sequence back. */
function turn(p: SequencePool<FakeSequence, number>, prompt: number[], answer: number[] = [900, 901], owner?: string) {
  const lease = p.acquire(prompt, owner)!;
  lease.slot.sequence.tokens = [...prompt, ...answer];
  p.release(lease.slot);
  return lease;
}

const sys = [1, 10, 11, 12, 13];

describe("SequencePool", () => {
  it("gives a conversation's next turn the sequence holding its previous prompt", () => {
    const p = pool(3);
    const a1 = turn(p, [...sys, 20, 21]);
    expect(a1).toMatchObject({ pick: "fresh", reuse: 0 });
    const b1 = turn(p, [...sys, 30, 31]);
    expect(b1.pick).toBe("fresh"); // sharing only the system prompt is not a continuation
    expect(b1.slot).not.toBe(a1.slot);
    const a2 = turn(p, [...sys, 20, 21, 900, 901, 22]);
    expect(a2).toMatchObject({ pick: "continuation", reuse: 9 });
    expect(a2.slot).toBe(a1.slot);
  });

  it("still continues when the cached answer differs from the replayed one (re-tokenisation)", () => {
    const p = pool(2);
    const a1 = turn(p, [...sys, 20], [900, 901, 902]);
    const a2 = p.acquire([...sys, 20, 900, 555, 556, 22])!;
    expect(a2.slot).toBe(a1.slot);
    expect(a2).toMatchObject({ pick: "continuation", reuse: 7 });
  });

  it("always leaves the last prompt token to evaluate, even for an identical prompt", () => {
    const p = pool(1);
    turn(p, [...sys, 20]);
    expect(p.acquire([...sys, 20])).toMatchObject({ pick: "continuation", reuse: 5 });
  });

  it("never shares a busy sequence", () => {
    const p = pool(2);
    const a = p.acquire([...sys, 20])!;
    const b = p.acquire([...sys, 20])!;
    expect(b.slot).not.toBe(a.slot);
    expect(p.acquire([...sys, 20])).toBeUndefined();
    expect(p.busyCount).toBe(2);
    p.release(a.slot);
    expect(p.acquire([...sys, 21])!.slot).toBe(a.slot);
  });

  it("evicts the least recently used sequence when all are taken, reusing its common prefix", () => {
    const p = pool(2);
    const a = turn(p, [...sys, 20]);
    const b = turn(p, [...sys, 30]);
    turn(p, [...sys, 20, 900, 901, 21]); // a is used again: b is now the least recently used
    const c = turn(p, [...sys, 40]);
    expect(c).toMatchObject({ pick: "evicted", reuse: sys.length });
    expect(c.slot).toBe(b.slot);
    expect(p.acquire([...sys, 20, 900, 901, 21, 900, 901, 22])!.slot).toBe(a.slot);
  });

  it("prefers an emptied sequence to evicting one", () => {
    const p = pool(2);
    const a = turn(p, [...sys, 20]);
    const b = turn(p, [...sys, 30]);
    b.slot.sequence.tokens = [];
    expect(p.acquire([...sys, 40])).toMatchObject({ pick: "fresh", slot: b.slot });
    expect(a.slot.busy).toBe(false);
  });

  it("never picks a forgotten sequence as a continuation", () => {
    const p = pool(1);
    const a = p.acquire([...sys, 20])!;
    a.slot.sequence.tokens = [...sys, 20];
    p.release(a.slot, { forget: true });
    expect(p.acquire([...sys, 20, 21])).toMatchObject({ pick: "evicted" });
  });

  it("a thread that opens with another thread's prompt takes a fresh sequence while there is one, not the other's", () => {
    const p = pool(2);
    const hello = [...sys, 40, 41];
    const ada = turn(p, hello, [900, 901], "ada");
    const bob = turn(p, hello, [902, 903], "bob");
    expect(bob.pick).toBe("fresh");
    expect(bob.slot).not.toBe(ada.slot);
    // Each thread's next turn continues its own sequence, its answer included.
    expect(turn(p, [...hello, 902, 903, 60], [], "bob")).toMatchObject({ pick: "continuation", reuse: 9, slot: bob.slot });
    expect(turn(p, [...hello, 900, 901, 50], [], "ada")).toMatchObject({ pick: "continuation", reuse: 9, slot: ada.slot });
    // With no fresh sequence left, a new thread evicts the least recently used one (bob's), even
    // when its prompt continues the sequence another thread just used (ada's: she is the likelier
    // to come back). Its system prompt is still reused.
    const cy = turn(p, [...hello, 900, 901, 50, 70], [], "cy");
    expect(cy).toMatchObject({ pick: "evicted", slot: bob.slot, reuse: sys.length + 2 });
    expect(turn(p, [...hello, 900, 901, 50, 80], [], "ada")).toMatchObject({ pick: "continuation", slot: ada.slot });
  });
});
