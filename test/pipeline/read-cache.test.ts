import { describe, expect, it } from "vitest";
import type { CacheBatch, CacheStore } from "../../src/cache/types.js";
import { createZoePipeline, EventType, memoryCacheStore } from "../../src/index.js";
import { readRunCache } from "../../src/pipeline/stages/read-cache.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { collect, expectValidStream, terminal } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

const batch = (): CacheBatch => ({ keys: ["a", "b"], lists: [{ key: "h", last: 10 }] });
const storeOf = (read: (b: CacheBatch) => unknown) => ({ read }) as unknown as CacheStore;

/** One read's outcome: a synchronous throw, a rejection, or its status and number of lists. */
async function outcome(read: (b: CacheBatch) => unknown, signal = new AbortController().signal, ms = 50): Promise<string> {
  let reading: Promise<{ status: string; result: { lists: unknown[][] } }>;
  try {
    reading = readRunCache(storeOf(read), batch(), ms, signal);
  } catch (error) {
    return `threw: ${(error as Error).message}`;
  }
  try {
    const r = await reading;
    return `${r.status}, ${r.result.lists.length} list`;
  } catch (error) {
    return `rejected: ${(error as Error).message}`;
  }
}

const boom = () => {
  throw new Error("boom");
};

describe("the run's cache read never throws or rejects", () => {
  it("a store that fails, hangs, or answers with something that is not a read is a miss with one empty list per list asked for", async () => {
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    expect(await outcome(boom)).toBe("error, 1 list");
    expect(await outcome(() => Promise.reject(new Error("down")))).toBe("error, 1 list");
    expect(await outcome(async () => new Proxy({}, { get: boom }))).toBe("error, 1 list");
    expect(await outcome(async () => revoked.proxy)).toBe("error, 1 list");
    expect(await outcome(async () => ({ values: "x", lists: 1 }))).toBe("error, 1 list");
    expect(await outcome(() => new Promise(() => {}), undefined, 10)).toBe("timeout, 1 list");
    expect(await outcome(async () => ({ values: [], lists: [5] }))).toBe("ok, 1 list");
  });

  it("a store that changes the batch it was given and then fails still gives the misses of the batch asked for", async () => {
    // The misses are counted before the store sees the batch (they were once built after it answered).
    const setLists = (value: unknown) => (b: CacheBatch) => {
      (b as { lists: unknown }).lists = value;
      return Promise.reject(new Error("down"));
    };
    expect(await outcome(setLists(5))).toBe("error, 1 list");
    expect(await outcome(setLists([]))).toBe("error, 1 list");
    expect(
      await outcome(
        (b) => {
          Object.defineProperty(b, "lists", { get: boom });
          return new Promise(() => {});
        },
        undefined,
        10,
      ),
    ).toBe("timeout, 1 list");
  });

  it("a run aborted before it reads, against a store whose promise throws from its own catch(), is aborted, not a throw", async () => {
    const aborted = AbortSignal.abort();
    const throwingCatch = () => Object.assign(Promise.resolve({ values: [], lists: [] }), { catch: boom });
    expect(await outcome(throwingCatch, aborted)).toBe("aborted, 1 list");
  });

  it("end to end: such stores leave a run that finishes (or is cancelled) with a valid stream, never a throw", async () => {
    const inner = memoryCacheStore();
    const mutating: CacheStore = {
      ...inner,
      read: (b) => {
        (b as { lists: unknown }).lists = 5;
        return Promise.reject(new Error("store down"));
      },
    };
    const pipeline = createZoePipeline({ backend: scriptedBackend({ script: textChunks("ok") }), router: fixedRouter(), cache: mutating });
    const events = await collect(pipeline.run({ userId: "u", threadId: "t", message: "hi" }));
    await expectValidStream(events);
    expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
    await pipeline.close();

    const other = memoryCacheStore();
    const throwing: CacheStore = { ...other, read: (b) => Object.assign(other.read(b), { catch: boom }) };
    const cancelled = createZoePipeline({ backend: scriptedBackend({ script: textChunks("ok") }), router: fixedRouter(), cache: throwing });
    const run = await collect(cancelled.run({ userId: "u", threadId: "t", message: "hi" }, { signal: AbortSignal.abort() }));
    await expectValidStream(run);
    expect(run[0]?.type).toBe(EventType.RUN_STARTED);
    expect(terminal(run)).toMatchObject({ type: EventType.RUN_FINISHED, outcome: { type: "cancelled" } });
    await cancelled.close();
  });
});
