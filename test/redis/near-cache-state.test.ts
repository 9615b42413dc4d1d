import { describe, expect, it } from "vitest";
import { MISS, NearCacheState, type NearEntry } from "../../src/redis/near-cache.js";

const value = (v: unknown, expiresAt = Number.POSITIVE_INFINITY): NearEntry => ({ kind: "value", value: v, expiresAt, bytes: 100 });
const list = (items: unknown[], whole: boolean): NearEntry => ({
  kind: "list",
  items,
  whole,
  expiresAt: Number.POSITIVE_INFINITY,
  bytes: 100,
});

function active(options = {}) {
  const state = new NearCacheState(options);
  state.enable();
  return state;
}

describe("NearCacheState: what a near cache keeps and serves", () => {
  it("keeps what a read returned and serves it", () => {
    const state = active();
    const read = state.begin(["k"]);
    state.keep(read, "k", value(1));
    state.end(read);
    expect(state.value("k", 0)).toBe(1);
    expect(state.stats()).toMatchObject({ active: true, entries: 1, hits: 1, inFlight: 0 });
  });

  it("does not keep a reply that an invalidation of its key overtook", () => {
    const state = active();
    const read = state.begin(["a", "b"]);
    state.invalidate("a");
    state.keep(read, "a", value("old"));
    state.keep(read, "b", value("b"));
    state.end(read);
    expect(state.value("a", 0)).toBe(MISS);
    expect(state.value("b", 0)).toBe("b");
  });

  it("an invalidation after the read ended does not touch later reads", () => {
    const state = active();
    const first = state.begin(["a"]);
    state.end(first);
    state.invalidate("a");
    const second = state.begin(["a"]);
    state.keep(second, "a", value("new"));
    state.end(second);
    expect(state.value("a", 0)).toBe("new");
  });

  it("a flush (null) or a lost connection forgets everything and every read in flight", () => {
    for (const lose of [(s: NearCacheState) => s.invalidate(null), (s: NearCacheState) => s.disable()]) {
      const state = active();
      const done = state.begin(["a"]);
      state.keep(done, "a", value(1));
      state.end(done);
      const inFlight = state.begin(["b"]);
      lose(state);
      state.enable();
      state.keep(inFlight, "b", value(2));
      expect(state.value("a", 0)).toBe(MISS);
      expect(state.value("b", 0)).toBe(MISS);
    }
  });

  it("serves nothing and keeps nothing while inactive", () => {
    const state = new NearCacheState();
    expect(state.begin(["a"])).toBeUndefined();
    state.keep(undefined, "a", value(1));
    state.enable();
    expect(state.value("a", 0)).toBe(MISS);
    const read = state.begin(["a"]);
    state.keep(read, "a", value(1));
    state.disable();
    expect(state.value("a", 0)).toBe(MISS);
  });

  it("a value ends with its TTL", () => {
    const state = active();
    const read = state.begin(["a"]);
    state.keep(read, "a", value(1, 100));
    expect(state.value("a", 99)).toBe(1);
    expect(state.value("a", 100)).toBe(MISS);
    expect(state.stats().entries).toBe(0);
  });

  it("a list tail serves shorter tails, and any tail once the whole list is held", () => {
    const state = active();
    const read = state.begin(["part", "whole"]);
    state.keep(read, "part", list([3, 4, 5], false));
    state.keep(read, "whole", list([1, 2], true));
    expect(state.tail("part", 2, 0)).toEqual([4, 5]);
    expect(state.tail("part", 3, 0)).toEqual([3, 4, 5]);
    expect(state.tail("part", 4, 0)).toBe(MISS);
    expect(state.tail("whole", 10, 0)).toEqual([1, 2]);
    expect(state.tail("whole", Number.POSITIVE_INFINITY, 0)).toEqual([1, 2]);
    expect(state.tail("whole", 1, 0)).toEqual([2]);
    // A value is not a list, and a list is not a value.
    expect(state.value("whole", 0)).toBe(MISS);
  });

  it("is bounded by entries and bytes", () => {
    const state = active({ maxEntries: 3, maxBytes: 250 });
    const read = state.begin(["a", "b", "c", "d"]);
    for (const k of ["a", "b", "c", "d"]) state.keep(read, k, value(k));
    expect(state.stats().entries).toBe(2);
    expect(state.value("d", 0)).toBe("d");
    expect(state.value("a", 0)).toBe(MISS);
  });

  it("counts a key's bytes too: long keys (a route key holds the whole message) cannot hold more than maxBytes", () => {
    const state = active({ maxBytes: 10_000 });
    const keys = Array.from({ length: 20 }, (_, i) => `${i}:${"x".repeat(2_000)}`); // 4 KB a key, 100 B a value
    const read = state.begin(keys);
    for (const k of keys) state.keep(read, k, value(k));
    state.end(read);
    expect(state.stats().entries).toBe(2);
  });

  it("an own write keeps what it read back; invalidations before its marker, and the one right after it, are its own", () => {
    const state = active();
    const write = state.write("k", true)!;
    expect(write.marker).toMatch(/^w\d+$/);
    state.keep(write, "k", value("mine"));
    state.end(write);
    state.invalidate("k"); // older than the write's read-back
    expect(state.value("k", 0)).toBe("mine");
    state.marked(write.marker!);
    state.invalidate("k"); // the write's own
    expect(state.value("k", 0)).toBe("mine");
    state.invalidate("k"); // a later change
    expect(state.value("k", 0)).toBe(MISS);
  });

  it("an own write's reply that comes after its own invalidation is still kept; one after a later change is not", () => {
    const state = active();
    const first = state.write("k", true)!;
    state.marked(first.marker!);
    state.invalidate("k");
    state.keep(first, "k", value("first"));
    state.end(first);
    expect(state.value("k", 0)).toBe("first");

    const second = state.write("k", true)!;
    state.marked(second.marker!);
    state.invalidate("k"); // its own
    state.invalidate("k"); // someone else's, after it
    state.keep(second, "k", value("second"));
    state.end(second);
    expect(state.value("k", 0)).toBe(MISS);
  });

  it("an own write drops the copy and stops every read of the key in flight, an earlier own write's included", () => {
    const state = active();
    const read = state.begin(["k"]);
    const earlier = state.write("k", true)!;
    state.write("k", false);
    state.keep(read, "k", value("read"));
    state.keep(earlier, "k", value("earlier"));
    expect(state.value("k", 0)).toBe(MISS);
    state.end(read);
    state.end(earlier);
  });

  it("forgets every read and own write once nothing can come of it: back-to-back own writes of one key leave nothing behind (found by an attack)", () => {
    const state = active();
    for (let i = 0; i < 1_000; i++) {
      const write = state.write("k", true)!;
      state.keep(write, "k", value(i));
      state.end(write);
      // The next write is called before this one's marker and own invalidation have come.
    }
    expect(state.stats().inFlight).toBeLessThanOrEqual(1);
    const last = state.write("k", true)!;
    state.marked(last.marker!);
    state.keep(last, "k", value("last"));
    state.end(last);
    state.invalidate("k");
    expect(state.stats().inFlight).toBe(0);
    expect(state.value("k", 0)).toBe("last");
  });

  it("an append built on the copy keeps nothing when the key changed before its marker (found by an attack)", () => {
    const state = active();
    const write = state.write("l", true, true)!;
    state.keep(write, "l", list(["a", "b", "new"], true));
    state.end(write);
    state.invalidate("l"); // someone changed the list the copy held
    state.marked(write.marker!);
    state.invalidate("l"); // the write's own
    expect(state.tail("l", 10, 0)).toBe(MISS);
    expect(state.stats().inFlight).toBe(0);
  });

  it("a lost connection forgets own writes waiting for their marker", () => {
    const state = active();
    const write = state.write("k", true)!;
    state.keep(write, "k", value("mine"));
    state.end(write);
    state.disable();
    state.enable();
    state.marked(write.marker!);
    state.invalidate("k");
    const read = state.begin(["k"]);
    state.keep(read, "k", value("fresh"));
    state.invalidate("k");
    expect(state.value("k", 0)).toBe(MISS);
  });

  it("refuses options that are not positive integers", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new NearCacheState({ maxEntries: bad })).toThrow(TypeError);
      expect(() => new NearCacheState({ maxBytes: bad })).toThrow(TypeError);
    }
  });
});
