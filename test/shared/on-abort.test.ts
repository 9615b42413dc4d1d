import { getEventListeners } from "node:events";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TIMED_OUT, withDeadline } from "../../src/shared/deadline.js";
import {
  abortHookCount,
  abortListenerCount,
  readsListenerMap,
  abortOwned,
  hasAbortListeners,
  onAbort,
  ownedAbortController,
} from "../../src/shared/on-abort.js";

const listeners = (s: AbortSignal) => getEventListeners(s, "abort").length;
const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

describe("onAbort", () => {
  it("runs each hook once, in order, through one listener", () => {
    const c = new AbortController();
    const calls: string[] = [];
    onAbort(c.signal, () => calls.push("a"));
    onAbort(c.signal, () => calls.push("b"));
    const unhook = onAbort(c.signal, () => calls.push("c"));
    expect(listeners(c.signal)).toBe(1);
    expect(abortHookCount(c.signal)).toBe(3);
    unhook();
    c.abort();
    c.abort();
    expect(calls).toEqual(["a", "b"]);
    expect(abortHookCount(c.signal)).toBe(0);
  });

  it("a hook added after the abort runs once, in a microtask, unless unhooked first", async () => {
    const c = new AbortController();
    c.abort();
    let calls = 0;
    onAbort(c.signal, () => calls++);
    const unhook = onAbort(c.signal, () => calls++);
    unhook();
    expect(calls).toBe(0);
    await Promise.resolve();
    expect(calls).toBe(1);
  });

  it("a hook that throws does not keep the next ones from running", async () => {
    const c = new AbortController();
    const calls: string[] = [];
    const thrown: unknown[] = [];
    const onError = (e: unknown) => thrown.push(e);
    process.on("uncaughtException", onError);
    try {
      onAbort(c.signal, () => {
        throw new Error("bad hook");
      });
      onAbort(c.signal, () => calls.push("next"));
      c.abort();
      expect(calls).toEqual(["next"]);
      await new Promise((r) => setImmediate(r));
      expect((thrown[0] as Error).message).toBe("bad hook");
    } finally {
      process.off("uncaughtException", onError);
    }
  });

  it("tells whether an abort would reach anything", () => {
    const c = new AbortController();
    expect(hasAbortListeners(c.signal)).toBe(false);
    const unhook = onAbort(c.signal, () => {});
    expect(hasAbortListeners(c.signal)).toBe(true);
    unhook();
    expect(hasAbortListeners(c.signal)).toBe(false); // only the registry's own listener is left
    c.signal.addEventListener("abort", () => {});
    expect(hasAbortListeners(c.signal)).toBe(true);
  });

  it("reads the listener map directly on this Node (the check of the map's shape accepts Node's own Map class)", () => {
    // Node's EventTarget keeps its listeners in a primordials SafeMap, which is not `instanceof Map`:
    // a check that asked for one silently fell back to getEventListeners (about 0.6 µs a run).
    expect(readsListenerMap).toBe(true);
  });

  it("counts abort listeners as node:events getEventListeners does, whatever is added, removed or fired", () => {
    // abortListenerCount reads the EventTarget's own listener map (fewer lookups on a signal);
    // this holds it to the public answer, on the Node that runs the tests.
    const ops = fc.array(fc.record({ op: fc.constantFrom("add", "once", "remove", "hook", "unhook"), which: fc.nat(3) }), {
      maxLength: 30,
    });
    fc.assert(
      fc.property(ops, fc.boolean(), fc.boolean(), (steps, owned, abortAtEnd) => {
        const c = owned ? ownedAbortController() : new AbortController();
        const listeners = [0, 1, 2, 3].map(() => () => {});
        const unhooks: Array<() => void> = [];
        const check = () => expect(abortListenerCount(c.signal)).toBe(getEventListeners(c.signal, "abort").length);
        for (const { op, which } of steps) {
          const listener = listeners[which] as () => void;
          if (op === "add") c.signal.addEventListener("abort", listener);
          else if (op === "once") c.signal.addEventListener("abort", listener, { once: true });
          else if (op === "remove") c.signal.removeEventListener("abort", listener);
          else if (op === "hook") unhooks.push(onAbort(c.signal, () => {}));
          else unhooks.pop()?.();
          check();
        }
        // AbortSignal.any follows the signal without a listener of its own on it.
        AbortSignal.any([c.signal]);
        check();
        if (abortAtEnd) {
          if (owned) abortOwned(c, new Error("end"));
          else c.abort(new Error("end"));
          check();
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("withDeadline", () => {
  it("work that has already settled arms no timer and leaves no hook", async () => {
    const c = new AbortController();
    const before = timers();
    const pending = withDeadline(Promise.resolve(7), 500, c.signal);
    await Promise.resolve();
    await Promise.resolve();
    expect(timers()).toBe(before);
    expect(await pending).toBe(7);
    expect(abortHookCount(c.signal)).toBe(0);
  });

  it("times out, rejects on abort, and keeps a late rejection quiet", async () => {
    const c = new AbortController();
    let fail: (e: Error) => void = () => {};
    const late = new Promise<number>((_, reject) => {
      fail = reject;
    });
    expect(await withDeadline(late, 5, c.signal)).toBe(TIMED_OUT);
    fail(new Error("late")); // no unhandled rejection
    const hung = withDeadline(new Promise<number>(() => {}), 10_000, c.signal);
    c.abort(new Error("stop"));
    await expect(hung).rejects.toThrow("stop");
    expect(abortHookCount(c.signal)).toBe(0);
  });

  it("a signal given by a function is asked for only while the work waits, and its abort clears the timer", async () => {
    let asked = 0;
    const c = new AbortController();
    const signal = () => {
      asked++;
      return c.signal;
    };
    expect(await withDeadline(Promise.resolve("at once"), 500, signal)).toBe("at once");
    expect(asked).toBe(0);
    const before = timers();
    const hung = withDeadline(new Promise<number>(() => {}), 60_000, signal);
    await Promise.resolve();
    await Promise.resolve();
    expect(asked).toBe(1);
    expect(timers()).toBe(before + 1);
    c.abort(new Error("every caller left"));
    await expect(hung).rejects.toThrow("every caller left");
    expect(timers()).toBe(before);
  });
});

describe("owned controllers (a run's own signal)", () => {
  it("hooks need no abort listener; abortOwned runs them once, in order, and listeners added directly still fire", () => {
    const c = ownedAbortController();
    const calls: string[] = [];
    onAbort(c.signal, () => calls.push("a"));
    const unhook = onAbort(c.signal, () => calls.push("b"));
    onAbort(c.signal, () => calls.push("c"));
    expect(listeners(c.signal)).toBe(0);
    expect(hasAbortListeners(c.signal)).toBe(true);
    unhook();
    c.signal.addEventListener("abort", () => calls.push("listener"));
    abortOwned(c, new Error("stop"));
    abortOwned(c, new Error("again"));
    expect(calls).toEqual(["listener", "a", "c"]);
    expect(c.signal.reason).toEqual(new Error("stop"));
    expect(abortHookCount(c.signal)).toBe(0);
  });

  it("counts a listener added directly, and nothing else, as something to abort", () => {
    const c = ownedAbortController();
    const unhook = onAbort(c.signal, () => {});
    unhook();
    expect(hasAbortListeners(c.signal)).toBe(false);
    const listener = () => {};
    c.signal.addEventListener("abort", listener);
    expect(hasAbortListeners(c.signal)).toBe(true);
    c.signal.removeEventListener("abort", listener);
    expect(hasAbortListeners(c.signal)).toBe(false);
  });

  it("withDeadline on an owned signal ends at once when it is aborted", async () => {
    const c = ownedAbortController();
    const hung = withDeadline(new Promise<never>(() => {}), 60_000, c.signal);
    await new Promise((r) => setImmediate(r));
    expect(abortHookCount(c.signal)).toBe(1);
    expect(timers()).toBeGreaterThan(0);
    abortOwned(c, new Error("stop"));
    await expect(hung).rejects.toThrow("stop");
    expect(abortHookCount(c.signal)).toBe(0);
  });

  it("withDeadline sets no hook for work that has already settled, and still sees an abort that comes first", async () => {
    const c = ownedAbortController();
    await expect(withDeadline(Promise.resolve(7), 1_000, c.signal)).resolves.toBe(7);
    expect(abortHookCount(c.signal)).toBe(0);
    const pending = withDeadline(new Promise<number>((r) => setTimeout(() => r(1), 50)), 1_000, c.signal);
    abortOwned(c, new Error("first"));
    await expect(pending).rejects.toThrow("first");
  });
});

describe("owned controllers alive at once", () => {
  it("each keeps its own hooks, whichever was made last, and each abort runs only its own, once", () => {
    const made = Array.from({ length: 4 }, () => ownedAbortController());
    const calls: string[] = [];
    made.forEach((c, i) => {
      onAbort(c.signal, () => calls.push(`a${i}`));
      onAbort(c.signal, () => calls.push(`b${i}`));
    });
    for (const c of made) expect([abortHookCount(c.signal), listeners(c.signal)]).toEqual([2, 0]);
    // Out of order: the last one made first, then the first, then the rest.
    for (const i of [3, 0, 2, 1]) abortOwned(made[i] as AbortController, new Error(`stop ${i}`));
    expect(calls).toEqual(["a3", "b3", "a0", "b0", "a2", "b2", "a1", "b1"]);
    for (const c of made) expect(abortHookCount(c.signal)).toBe(0);
  });
});

describe("where the hooks live", () => {
  it("a signal that takes no new property (non-extensible) still runs each hook once", () => {
    const c = new AbortController();
    Object.preventExtensions(c.signal);
    const calls: string[] = [];
    onAbort(c.signal, () => calls.push("a"));
    const unhook = onAbort(c.signal, () => calls.push("b"));
    unhook();
    expect(hasAbortListeners(c.signal)).toBe(true);
    c.abort();
    expect(calls).toEqual(["a"]);
  });

  it("nothing is written onto a signal: its hooks are kept beside it", () => {
    const host = new AbortController();
    onAbort(host.signal, () => {});
    const c = ownedAbortController();
    onAbort(c.signal, () => {});
    for (const s of [host.signal, c.signal]) {
      expect(Object.getOwnPropertySymbols(s).map((x) => x.description)).not.toEqual(
        expect.arrayContaining([expect.stringMatching(/^zoe/)]),
      );
      expect(Object.keys(s)).toEqual([]);
    }
  });
});
