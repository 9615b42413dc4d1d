import { describe, expect, it } from "vitest";
import { SharedFlights, type FlightControl } from "../../src/cache/shared-flights.js";
import { withDeadline } from "../../src/shared/deadline.js";

// The semantics that keep SharedFlights hand-written (docs/design.md, "What stays hand-written"):
// lru-cache's fetch() coalesces loads too, but the first caller's signal decides for everyone,
// and it keeps the value.

/** A load the test settles by hand, with the signal it was given. */
function manualLoad<T>() {
  const load = {
    starts: 0,
    signal: undefined as AbortSignal | undefined,
    resolve: (_value: T) => {},
    reject: (_error: unknown) => {},
    start: (signal: AbortSignal) => {
      load.starts++;
      load.signal = signal;
      return new Promise<T>((resolve, reject) => {
        load.resolve = resolve;
        load.reject = reject;
      });
    },
  };
  return load;
}

const live = () => new AbortController().signal;

describe("SharedFlights", () => {
  it("concurrent joins of one key share one load; other keys load on their own", async () => {
    const flights = new SharedFlights<string>();
    const a = manualLoad<string>();
    const b = manualLoad<string>();
    const joins = [flights.join("k", a.start, live()), flights.join("k", a.start, live()), flights.join("k", a.start, live())];
    const other = flights.join("other", b.start, live());
    expect(a.starts).toBe(1);
    expect(b.starts).toBe(1);
    expect(flights.size).toBe(2);
    a.resolve("v");
    b.resolve("w");
    expect(await Promise.all(joins)).toEqual(["v", "v", "v"]);
    expect(await other).toBe("w");
    expect(flights.size).toBe(0);
  });

  it("is not a cache: a join after the load ended starts a new one", async () => {
    const flights = new SharedFlights<number>();
    let n = 0;
    expect(await flights.join("k", async () => ++n, live())).toBe(1);
    expect(await flights.join("k", async () => ++n, live())).toBe(2);
  });

  it("a failure reaches every caller and is not kept: the next join loads again", async () => {
    const flights = new SharedFlights<string>();
    const load = manualLoad<string>();
    const boom = new Error("boom");
    const joins = [flights.join("k", load.start, live()), flights.join("k", load.start, live())];
    load.reject(boom);
    for (const join of joins) await expect(join).rejects.toBe(boom);
    expect(flights.size).toBe(0);
    expect(await flights.join("k", async () => "again", live())).toBe("again");
  });

  it("a caller that is not the first leaves on its own signal; the others still get the value", async () => {
    const flights = new SharedFlights<string>();
    const load = manualLoad<string>();
    const leaving = new AbortController();
    const first = flights.join("k", load.start, live());
    const joiner = flights.join("k", load.start, leaving.signal);
    const reason = new Error("joiner left");
    leaving.abort(reason);
    await expect(joiner).rejects.toBe(reason);
    expect(load.signal?.aborted).toBe(false);
    load.resolve("v");
    expect(await first).toBe("v");
  });

  it("the first caller leaving does not abort the load for the others", async () => {
    const flights = new SharedFlights<string>();
    const load = manualLoad<string>();
    const leaving = new AbortController();
    const first = flights.join("k", load.start, leaving.signal);
    const joiner = flights.join("k", load.start, live());
    leaving.abort(new Error("first left"));
    await expect(first).rejects.toThrow("first left");
    expect(load.signal?.aborted).toBe(false);
    load.resolve("v");
    expect(await joiner).toBe("v");
  });

  it("the load is aborted, with the reason of the last caller, once every caller has left", async () => {
    const flights = new SharedFlights<string>();
    const load = manualLoad<string>();
    const a = new AbortController();
    const b = new AbortController();
    const ja = flights.join("k", load.start, a.signal);
    const jb = flights.join("k", load.start, b.signal);
    a.abort(new Error("a left"));
    await expect(ja).rejects.toThrow("a left");
    expect(load.signal?.aborted).toBe(false);
    const last = new Error("b left");
    b.abort(last);
    await expect(jb).rejects.toBe(last);
    expect(load.signal?.aborted).toBe(true);
    expect(load.signal?.reason).toBe(last);
    // The key is free at once: a new join starts a new load, even before the old one settles.
    const next = manualLoad<string>();
    const again = flights.join("k", next.start, live());
    expect(next.starts).toBe(1);
    next.resolve("fresh");
    expect(await again).toBe("fresh");
    load.resolve("late");
  });

  it("a caller whose signal already aborted is refused without starting anything", async () => {
    const flights = new SharedFlights<string>();
    const load = manualLoad<string>();
    const reason = new Error("already gone");
    await expect(flights.join("k", load.start, AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(load.starts).toBe(0);
    expect(flights.size).toBe(0);
  });

  it("an undefined value is a value, shared like any other", async () => {
    const flights = new SharedFlights<string | undefined>();
    const load = manualLoad<string | undefined>();
    const joins = [flights.join("k", load.start, live()), flights.join("k", load.start, live())];
    load.resolve(undefined);
    expect(await Promise.all(joins)).toEqual([undefined, undefined]);
    expect(load.starts).toBe(1);
  });
});

describe("SharedFlights.joinControlled", () => {
  it("gives the work a signal only when it reads one, aborted if every caller left before", async () => {
    const flights = new SharedFlights<string>();
    let control: import("../../src/cache/shared-flights.js").FlightControl | undefined;
    let finish: (v: string) => void = () => {};
    const caller = new AbortController();
    const joined = flights.joinControlled(
      "k",
      (flight) => {
        control = flight;
        return new Promise<string>((resolve) => {
          finish = resolve;
        });
      },
      caller.signal,
    );
    caller.abort(new Error("left"));
    await expect(joined).rejects.toThrow("left");
    // The work had not read its signal; reading it now gives one already aborted, with the reason.
    expect(control!.signal.aborted).toBe(true);
    expect((control!.signal.reason as Error).message).toBe("left");
    finish("late");
    expect(flights.size).toBe(0);
  });

  it("lets the work abort its own flight (a deadline), and a signal read first sees it", async () => {
    const flights = new SharedFlights<string>();
    const caller = new AbortController();
    let seen: AbortSignal | undefined;
    const joined = flights.joinControlled(
      "k",
      async (flight) => {
        seen = flight.signal;
        flight.abort(new Error("deadline"));
        throw new Error("deadline");
      },
      caller.signal,
    );
    await expect(joined).rejects.toThrow("deadline");
    expect(seen!.aborted).toBe(true);
  });
  it("hooks a wait to the flight without a signal: once, with the reason, isolated, and after the abort from a microtask", async () => {
    const flights = new SharedFlights<string>();
    let control: import("../../src/cache/shared-flights.js").FlightControl | undefined;
    const caller = new AbortController();
    const joined = flights.joinControlled(
      "k",
      (flight) => {
        control = flight;
        return new Promise<string>(() => {});
      },
      caller.signal,
    );
    const seen: string[] = [];
    control!.onAbort(() => seen.push("first"));
    control!.onAbort(() => {
      throw new Error("a hook that throws");
    });
    const unhook = control!.onAbort(() => seen.push("unhooked"));
    control!.onAbort(() => seen.push(`third: ${(control!.reason as Error).message}`));
    unhook();
    expect(control!.aborted).toBe(false);
    const thrown = new Promise<unknown>((resolve) => process.once("uncaughtException", resolve));
    caller.abort(new Error("left"));
    await expect(joined).rejects.toThrow("left");
    expect(seen).toEqual(["first", "third: left"]);
    expect(control!.aborted).toBe(true);
    expect(((await thrown) as Error).message).toBe("a hook that throws");
    // Aborted again (a late deadline): nothing runs twice, the first reason stays.
    control!.abort(new Error("again"));
    expect(seen).toHaveLength(2);
    expect((control!.reason as Error).message).toBe("left");
    // A hook added after the abort runs from a microtask, unless unhooked first.
    let late = 0;
    control!.onAbort(() => late++);
    control!.onAbort(() => late++)();
    expect(late).toBe(0);
    await Promise.resolve();
    expect(late).toBe(1);
    // The signal, read only now, is made aborted with the reason.
    expect((control!.signal.reason as Error).message).toBe("left");
  });

  it("aborts the flight's signal before its hooks run, so a hook sees it aborted, after the work's own listeners", async () => {
    const flights = new SharedFlights<string>();
    let control!: FlightControl;
    const order: string[] = [];
    const caller = new AbortController();
    const joined = flights.joinControlled(
      "k",
      (flight) => {
        control = flight;
        flight.signal.addEventListener("abort", () => order.push("signal listener"));
        return new Promise<string>(() => {});
      },
      caller.signal,
    );
    control.onAbort(() => order.push(`hook: signal aborted ${control.signal.aborted}`));
    caller.abort(new Error("left"));
    await expect(joined).rejects.toThrow("left");
    expect(order).toEqual(["signal listener", "hook: signal aborted true"]);
  });

  it("aborted without a reason, gives every party the same AbortError: its signal, its hooks and a wait on it", async () => {
    let control!: FlightControl;
    void new SharedFlights<string>()
      .joinControlled(
        "k",
        (flight) => {
          control = flight;
          return new Promise<string>(() => {});
        },
        live(),
      )
      .catch(() => {});
    const signal = control.signal;
    const wait = withDeadline(new Promise(() => {}), 10_000, control);
    await Promise.resolve();
    await Promise.resolve();
    control.abort(undefined);
    const reason = await wait.catch((error: unknown) => error);
    expect(reason).toBeInstanceOf(DOMException);
    expect((reason as DOMException).name).toBe("AbortError");
    expect(reason).toBe(signal.reason);
    expect(control.reason).toBe(signal.reason);
  });

  it("does not let a join made while a flight aborts join the dying flight: it starts a new load", async () => {
    const flights = new SharedFlights<string>();
    let rejoined: Promise<string> | undefined;
    const first = flights.joinControlled(
      "k",
      (flight) => {
        // A caller that joins from the abort itself, before the flight's promise has settled.
        flight.onAbort(() => {
          rejoined = flights.joinControlled("k", async () => "fresh", live());
        });
        return new Promise<string>((_, reject) =>
          setTimeout(() => {
            const timeout = new Error("deadline passed");
            flight.abort(timeout);
            reject(timeout);
          }, 1),
        );
      },
      live(),
    );
    await expect(first).rejects.toThrow("deadline passed");
    await expect(rejoined!).resolves.toBe("fresh");
  });

  it("is a structural type a host can implement (a test double of its own)", () => {
    const controller = new AbortController();
    const double: FlightControl = {
      signal: controller.signal,
      abort: (reason: unknown) => controller.abort(reason),
      get aborted() {
        return controller.signal.aborted;
      },
      get reason() {
        return controller.signal.reason as unknown;
      },
      onAbort(fn: () => void) {
        controller.signal.addEventListener("abort", fn);
        return () => controller.signal.removeEventListener("abort", fn);
      },
    };
    let ran = 0;
    double.onAbort(() => ran++);
    double.abort(new Error("x"));
    expect([double.aborted, ran]).toEqual([true, 1]);
  });

  it("alone: work no caller shares is not recorded, and its caller's abort aborts it", async () => {
    const flights = new SharedFlights<string>();
    const first = manualLoad<string>();
    const second = manualLoad<string>();
    const caller = new AbortController();
    const a = flights.alone((flight) => first.start(flight.signal), live());
    const b = flights.alone((flight) => second.start(flight.signal), caller.signal);
    // Two loads, neither under a key another caller could join.
    expect([first.starts, second.starts, flights.size]).toEqual([1, 1, 0]);
    first.resolve("v");
    expect(await a).toBe("v");
    expect(first.signal?.aborted).toBe(false);
    caller.abort(new Error("left"));
    await expect(b).rejects.toThrow("left");
    expect(second.signal?.aborted).toBe(true);
    // A late outcome of the work it stopped waiting for changes nothing.
    second.resolve("late");
    await expect(flights.alone(async () => "x", caller.signal)).rejects.toThrow("left");
  });
});
