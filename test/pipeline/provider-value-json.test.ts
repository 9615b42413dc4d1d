import { describe, expect, it } from "vitest";
import { createZoePipeline, type ContextProvider } from "../../src/index.js";
import { scriptedBackend } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

/**
 * A provider's value was rendered as it came from `fetch()` on a miss, but as its JSON round trip
 * on a hit (the store keeps JSON). A value JSON does not give back as it was (a Date, anything
 * with `toJSON`) was then rendered two ways: `format(value)` got a Date fresh and a string cached,
 * and the default rendering changed from `"2019-…"` (quoted) to `2019-…`, so a stable provider's
 * system message, and with it the model server's KV prefix and the exact answer cache's key,
 * changed between the first turn and the next. A cached provider's value is now its JSON form on
 * every run.
 */
describe("a provider value that JSON does not give back as it was", () => {
  it("format() gets the same value, its JSON form, fresh and cached", async () => {
    const seen: unknown[] = [];
    const account: ContextProvider<{ since: unknown }> = {
      name: "account",
      placement: "stable",
      fetch: async () => ({ since: new Date(Date.UTC(2019, 0, 1)) }),
      format: (v) => {
        seen.push(v.since);
        return `Customer since ${String(v.since).slice(0, 4)}.`;
      },
    };
    const backend = scriptedBackend();
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), providers: [account as ContextProvider] });
    await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "hello there" }));
    await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "hello there" }));
    await pipeline.close();
    expect(seen).toEqual(["2019-01-01T00:00:00.000Z", "2019-01-01T00:00:00.000Z"]);
    const systems = backend.requests.map((r) => r.messages[0]?.content);
    expect(systems[0]).toContain("Customer since 2019.");
    expect(systems[1]).toBe(systems[0]);
  });

  it("a value JSON cannot hold (a BigInt) is used as it is, and not cached", async () => {
    let calls = 0;
    const counter: ContextProvider<{ n: bigint }> = {
      name: "counter",
      fetch: async () => (calls++, { n: 7n }),
      format: (v) => `n is ${v.n}`,
    };
    const backend = scriptedBackend();
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), providers: [counter as ContextProvider] });
    await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "hello there" }));
    await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "hello there" }));
    await pipeline.close();
    expect(calls).toBe(2);
    expect(String(backend.requests[1]?.messages.at(-1)?.content)).toContain("n is 7");
  });

  it("the default rendering of a stable provider's value is the same fresh and cached (same system message)", async () => {
    const backend = scriptedBackend();
    const clock: ContextProvider = { name: "signup", placement: "stable", fetch: async () => new Date(Date.UTC(2019, 0, 1)) };
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), providers: [clock] });
    await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "hello there" }));
    await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "hello there" }));
    await pipeline.close();
    const systems = backend.requests.map((r) => r.messages[0]?.content);
    expect(systems[1]).toBe(systems[0]);
  });
});
