import net from "node:net";
import { describe, expect, it } from "vitest";
import { loopDeadline } from "../../src/redis/deadline.js";
import { WriteJournal } from "../../src/redis/journal.js";
import { writeBackPass, type WriteBackTarget } from "../../src/redis/write-back.js";
import { blockEventLoop } from "./store-state.js";

describe("WriteJournal: what waits for write-back", () => {
  const list = { maxLength: 3, ttlMs: 60_000 };

  it("keeps one record per key: the last value or delete wins, list appends merge in order and trim", () => {
    const journal = new WriteJournal();
    journal.set("v", { a: 1 }, 1_000);
    journal.set("v", { a: 2 }, 1_000);
    journal.delete("d");
    journal.listAppend("l", [1, 2], list);
    journal.listAppend("l", [3, 4], list);
    expect(journal.size).toBe(3);
    const entries = Object.fromEntries(journal.entries());
    expect(entries.v).toMatchObject({ kind: "set", json: '{"a":2}' });
    expect(entries.d).toEqual({ kind: "delete" });
    expect(entries.l).toMatchObject({ kind: "list", items: ["2", "3", "4"], replace: false });
  });

  it("puts the items of a write recorded late (its call failed last) before those of the writes made after it", () => {
    const journal = new WriteJournal();
    journal.listAppend("l", ["m3"], { maxLength: 10, ttlMs: 60_000 }, 3);
    journal.listAppend("l", ["m1a", "m1b"], { maxLength: 10, ttlMs: 60_000 }, 1);
    journal.listAppend("l", ["m2"], { maxLength: 10, ttlMs: 60_000 }, 2);
    journal.listAppend("l", ["m4"], list, 4); // trims to the last 3
    expect(journal.entries()).toMatchObject([["l", { kind: "list", items: ['"m2"', '"m3"', '"m4"'], seqs: [2, 3, 4] }]]);
  });

  it("starts a list afresh after a delete or a value on its key", () => {
    const journal = new WriteJournal();
    journal.delete("a");
    journal.listAppend("a", ["x"], list);
    journal.set("b", 1, 1_000);
    journal.listAppend("b", ["y"], list);
    journal.listAppend("b", ["z"], list);
    expect(journal.entries()).toMatchObject([
      ["a", { kind: "list", items: ['"x"'], replace: true }],
      ["b", { kind: "list", items: ['"y"', '"z"'], replace: true }],
    ]);
  });

  it("orders keys by their last write and drops the oldest past maxKeys or maxBytes, counting them", () => {
    const journal = new WriteJournal({ maxKeys: 2 });
    journal.set("a", 1, 1_000);
    journal.set("b", 1, 1_000);
    journal.set("a", 2, 1_000); // a is now the most recent
    journal.set("c", 1, 1_000); // drops b
    expect(journal.entries().map(([k]) => k)).toEqual(["a", "c"]);
    expect(journal.takeDropped()).toBe(1);
    expect(journal.takeDropped()).toBe(0);

    const small = new WriteJournal({ maxBytes: 1_000 });
    small.set("x", "y".repeat(300), 1_000);
    small.set("z", "y".repeat(300), 1_000); // 2 × ~700 bytes: x goes
    expect(small.entries().map(([k]) => k)).toEqual(["z"]);
    small.set("huge", "y".repeat(10_000), 1_000); // larger than the bound on its own: everything goes
    expect(small.size).toBe(0);
    expect(small.takeDropped()).toBe(3);
  });

  it("settles a record only when its key was not written again meanwhile", () => {
    const journal = new WriteJournal();
    journal.listAppend("l", [1], list);
    const [[, first]] = journal.entries() as [[string, never]];
    journal.listAppend("l", [2], list);
    journal.settle("l", first); // a newer record waits: kept
    expect(journal.size).toBe(1);
    const [[, second]] = journal.entries() as [[string, never]];
    journal.settle("l", second);
    expect(journal.size).toBe(0);
  });

  it("refuses a value JSON cannot hold, synchronously, before anything is kept", () => {
    const journal = new WriteJournal();
    expect(() => journal.set("k", 1n, 1_000)).toThrow(TypeError);
    expect(() => journal.listAppend("k", [undefined], list)).toThrow(TypeError);
    expect(journal.size).toBe(0);
  });
});

describe("loopDeadline: a deadline that does not count event-loop stalls", () => {
  const timeout = () => new Error("late");

  it("rejects work that never settles, and passes on work that does", async () => {
    await expect(loopDeadline(new Promise(() => {}), 20, timeout)).rejects.toThrow("late");
    await expect(loopDeadline(Promise.resolve(7), 20, timeout)).resolves.toBe(7);
    await expect(loopDeadline(Promise.reject(new Error("no")), 20, timeout)).rejects.toThrow("no");
  });

  it("lets a reply that arrived during a 700 ms stall win over a 50 ms deadline (a real socket)", async () => {
    const server = net.createServer((socket) => socket.on("data", (d) => socket.write(d)));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const socket = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    const echoed = new Promise<string>((resolve) => socket.once("data", (d) => resolve(d.toString())));
    socket.write("ping");
    const answer = loopDeadline(echoed, 50, timeout);
    blockEventLoop(700); // the echo arrives meanwhile and waits in the socket
    await expect(answer).resolves.toBe("ping");
    socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
});

describe("writeBackPass: a record the arguments make impossible", () => {
  it("is settled and reported, as a TypeError is, not retried for ever (a RangeError: too much for one call)", async () => {
    const journal = new WriteJournal();
    journal.listAppend("huge", [1, 2], { maxLength: 10, ttlMs: 60_000 });
    journal.set("fine", 1, 60_000);
    const written: string[] = [];
    const primary: WriteBackTarget = {
      set: async (key) => void written.push(key),
      delete: async () => {},
      listAppend: async () => {
        throw new RangeError("Maximum call stack size exceeded");
      },
    };
    const refused: unknown[] = [];
    const report = { written: 0, dropped: 0, failed: 0 };
    const stop = await writeBackPass(
      journal,
      primary,
      (work) => work(),
      report,
      (error) => refused.push(error),
    );
    expect(stop).toBeUndefined();
    expect(journal.size).toBe(0);
    expect(written).toEqual(["fine"]);
    expect(report).toEqual({ written: 1, dropped: 0, failed: 1 });
    expect(refused).toEqual([expect.any(RangeError)]);
  });
});
