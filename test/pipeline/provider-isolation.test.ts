import { describe, expect, it } from "vitest";
import { EventType, type AGUIEvent } from "@ag-ui/core";
import { type ContextProvider, createZoePipeline } from "../../src/index.js";
import { scriptedBackend } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

/** Every provider's status, from the run's state deltas. */
function statuses(events: AGUIEvent[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of events) {
    if (e.type !== EventType.STATE_DELTA) continue;
    for (const op of e.delta as Array<{ path: string; value: { status?: string } }>) {
      const name = /^\/zoe\/providers\/(.+)$/.exec(op.path)?.[1];
      if (name) out[name] = op.value.status ?? "";
    }
  }
  return out;
}

const good: ContextProvider = { name: "good", ttlMs: 0, fetch: async () => "fine" };

describe("a provider that misbehaves fails alone", () => {
  it("a promise whose `constructor` getter throws, or a getter of the provider's that throws once it has fetched", async () => {
    // Promise.resolve reads a promise's `constructor`.
    const hostilePromise = Promise.resolve("x");
    Object.defineProperty(hostilePromise, "constructor", {
      get() {
        throw new Error("constructor getter boom");
      },
    });
    let fetched = false;
    const flaky: ContextProvider = {
      name: "flaky",
      fetch: () => {
        fetched = true;
        return Promise.resolve("v");
      },
    };
    Object.defineProperty(flaky, "timeoutMs", {
      get() {
        if (fetched) throw new Error("timeoutMs getter boom");
        return 500;
      },
    });
    const pipeline = createZoePipeline({
      backend: scriptedBackend(),
      router: fixedRouter(),
      providers: [good, { name: "hostile", ttlMs: 0, fetch: () => hostilePromise }, flaky],
    });
    const events = await runValid(pipeline.run({ userId: "u", message: "hello there" }));
    expect(events.at(-1)?.type).toBe(EventType.RUN_FINISHED);
    expect(statuses(events)).toEqual({ good: "ok", hostile: "error", flaky: "error" });
    await pipeline.close();
  });

  it("the context a provider gets has `signal` as its own property: a spread of it still aborts at the deadline", async () => {
    const seen: Record<string, unknown> = {};
    let spread: AbortSignal | undefined;
    const pipeline = createZoePipeline({
      backend: scriptedBackend(),
      router: fixedRouter(),
      providers: [
        {
          name: "slow",
          ttlMs: 0,
          timeoutMs: 20,
          fetch: (_request, context) => {
            seen.keys = Object.keys(context);
            seen.proxied = new Proxy(context, {}).signal === context.signal;
            seen.inherited = Object.create(context).signal === context.signal;
            spread = { ...context }.signal;
            return new Promise(() => {});
          },
        },
      ],
    });
    const events = await runValid(pipeline.run({ userId: "u", message: "hello there" }));
    expect(statuses(events)).toEqual({ slow: "timeout" });
    expect(seen).toEqual({ keys: ["signal"], proxied: true, inherited: true });
    expect(spread?.aborted).toBe(true);
    await pipeline.close();
  });

  it("a host that cancels the run on an outcome known at once starts no fetch", async () => {
    let started = 0;
    const noKey: ContextProvider = {
      name: "noKey",
      cacheKey: () => {
        throw new Error("no key");
      },
      fetch: async () => "z",
    };
    const counted: ContextProvider = {
      name: "counted",
      ttlMs: 0,
      fetch: async () => {
        started++;
        return "y";
      },
    };
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), providers: [counted, noKey] });
    const host = new AbortController();
    pipeline.on("provider:error", () => host.abort(new Error("the host cancels")));
    const events = await runValid(pipeline.run({ userId: "u", message: "hello there" }, { signal: host.signal }));
    const last = events.at(-1);
    expect(last?.type === EventType.RUN_FINISHED && last.outcome).toEqual({ type: "cancelled" });
    expect(statuses(events)).toEqual({ noKey: "error" });
    expect(started).toBe(0);
    await pipeline.close();
  });
});

describe("a provider's deadline", () => {
  it("is refused at creation unless it is a positive number: 0, a negative one or NaN would arm no timer, and a hung provider would hold the run", async () => {
    const provider = (timeoutMs: unknown): ContextProvider => ({ name: "p", fetch: () => "x", timeoutMs: timeoutMs as number });
    for (const bad of [0, -1, Number.NaN, "1000", null]) {
      expect(() => createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), providers: [provider(bad)] })).toThrow(
        /provider "p" needs a positive number of milliseconds as its `timeoutMs`/,
      );
    }
    for (const good of [undefined, 1, 2.5, Number.POSITIVE_INFINITY]) {
      await createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), providers: [provider(good)] }).close();
    }
  });
});
