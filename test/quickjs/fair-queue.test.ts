import { describe, expect, it } from "vitest";
import { FairQueue, type Ticket } from "../../src/quickjs/fair-queue.js";

/** Runs the queue on a pretend clock with `workers` slots; returns the items in the order they started. */
function simulate(
  queue: FairQueue<string>,
  workers: number,
  durations: Record<string, number>,
  arrivals: Array<{ at: number; user: string; item: string }> = [],
): string[] {
  const started: string[] = [];
  const running: Array<{ ticket: Ticket<string>; endsAt: number }> = [];
  let now = 0;
  const pending = [...arrivals].sort((a, b) => a.at - b.at);
  for (let guard = 0; guard < 10_000; guard++) {
    while (pending.length > 0 && (pending[0] as { at: number }).at <= now) {
      const { user, item } = pending.shift() as { user: string; item: string };
      queue.push(user, item, now);
    }
    for (;;) {
      if (running.length >= workers) break;
      const ticket = queue.take(now);
      if (ticket === undefined) break;
      started.push(ticket.item);
      running.push({ ticket, endsAt: now + (durations[ticket.item] ?? 1) });
    }
    if (running.length === 0 && pending.length === 0) return started;
    const nextEnd = Math.min(...running.map((r) => r.endsAt));
    const nextArrival = pending[0]?.at ?? Number.POSITIVE_INFINITY;
    now = Math.min(nextEnd, nextArrival);
    for (let i = running.length - 1; i >= 0; i--) {
      const r = running[i] as { ticket: Ticket<string>; endsAt: number };
      if (r.endsAt <= now) {
        queue.finished(r.ticket, now);
        running.splice(i, 1);
      }
    }
  }
  throw new Error("simulation did not end");
}

describe("FairQueue", () => {
  it("keeps each user's blocks in order and takes users in turn when their blocks are equal", () => {
    const queue = new FairQueue<string>(1);
    for (const item of ["a1", "a2", "a3"]) queue.push("a", item, 0);
    for (const item of ["b1", "b2"]) queue.push("b", item, 0);
    queue.push("c", "c1", 0);
    expect(simulate(queue, 1, {})).toEqual(["a1", "b1", "c1", "a2", "b2", "a3"]);
  });

  it("makes a user whose blocks ran long wait for users whose blocks are quick", () => {
    const queue = new FairQueue<string>(1);
    // a's first block is an infinite loop stopped at a 1,000 ms limit.
    for (const item of ["a1", "a2", "a3"]) queue.push("a", item, 0);
    for (const item of ["b1", "b2"]) queue.push("b", item, 0);
    queue.push("c", "c1", 0);
    expect(simulate(queue, 1, { a1: 1000 })).toEqual(["a1", "b1", "c1", "b2", "a2", "a3"]);
  });

  it("lets a newcomer in after one turn of the users ahead, not after all their queued loops", () => {
    const queue = new FairQueue<string>(1);
    const arrivals: Array<{ at: number; user: string; item: string }> = [];
    const durations: Record<string, number> = {};
    for (let u = 0; u < 10; u++) {
      for (let k = 0; k < 5; k++) {
        arrivals.push({ at: 0, user: `loop${u}`, item: `loop${u}-${k}` });
        durations[`loop${u}-${k}`] = 1000; // infinite loops, stopped at a 1,000 ms limit
      }
    }
    arrivals.push({ at: 3500, user: "b", item: "harmless" });
    const order = simulate(queue, 2, durations, arrivals);
    // Two workers: by 3,500 ms loop0..loop7 have had a turn. loop8 and loop9 have not, and have
    // waited longer than b: they go first (at 4,000 ms), then b (at 5,000 ms), ahead of the 40
    // loops still queued. In one FIFO queue it would be the 51st.
    expect(order.indexOf("harmless")).toBe(10);
    expect(order.slice(8, 10).sort()).toEqual(["loop8-0", "loop9-0"]);
    expect(order).toHaveLength(51);
  });

  it("never runs more than perUserConcurrency blocks of one user", () => {
    const queue = new FairQueue<string>(2);
    for (const item of ["a1", "a2", "a3"]) queue.push("a", item, 0);
    queue.push("b", "b1", 0);
    const first = queue.take(0);
    const second = queue.take(1); // a has run 1 ms, b nothing
    const third = queue.take(2);
    expect([first?.item, second?.item, third?.item]).toEqual(["a1", "b1", "a2"]);
    expect(queue.take(3)).toBeUndefined(); // a3 waits: a has two running
    expect(queue.startable()).toBe(0);
    queue.finished(first as Ticket<string>, 10);
    expect(queue.startable()).toBe(1);
    expect(queue.take(10)?.item).toBe("a3");
  });

  it("starts a newcomer level with the least-served user, never ahead of users already waiting", () => {
    const queue = new FairQueue<string>(1);
    queue.push("a", "a1", 0);
    queue.push("a", "a2", 0);
    const a1 = queue.take(0) as Ticket<string>;
    queue.finished(a1, 500); // a has used 500 ms
    queue.push("b", "b1", 500); // b starts at 500 too, but a2 has waited longer
    expect(queue.take(500)?.item).toBe("a2");
    expect(queue.take(500)?.item).toBe("b1");
  });

  it("removes a waiting block, counts, forgets idle users, and drains in arrival order", () => {
    const queue = new FairQueue<string>(1);
    queue.push("a", "a1", 0);
    queue.push("b", "b1", 0);
    queue.push("a", "a2", 0);
    expect([queue.size, queue.users, queue.queuedFor("a"), queue.eligible("a"), queue.eligible("z")]).toEqual([3, 2, 2, false, true]);
    expect(queue.remove("b", "b1")).toBe(true);
    expect(queue.remove("b", "b1")).toBe(false);
    expect([queue.size, queue.users]).toEqual([2, 1]);
    const running = queue.take(0) as Ticket<string>;
    expect(queue.drain()).toEqual(["a2"]);
    expect([queue.size, queue.running, queue.users]).toEqual([0, 1, 1]);
    queue.finished(running, 1);
    expect([queue.running, queue.users]).toEqual([0, 0]);
  });

  it("takes fresh blocks before second runs, and second runs only when allowed", () => {
    const queue = new FairQueue<string>(1);
    queue.push("a", "a1-second", 0, true);
    queue.push("b", "b1", 0);
    queue.push("c", "c1-second", 0, true);
    expect(queue.startable(true)).toBe(1);
    expect(queue.startable()).toBe(3);
    expect(queue.take(0, false)?.item).toBe("b1");
    expect(queue.take(0, false)).toBeUndefined(); // only second runs are left
    const second = queue.take(0, true) as Ticket<string>;
    expect(second).toMatchObject({ item: "a1-second", second: true });
    expect(queue.queuedFor("c")).toBe(1);
    expect(queue.eligible("c")).toBe(false);
  });
});
