/**
 * What a run reads back that is not what this library wrote — a cached route, a tool catalogue,
 * stored history entries, a batched read, written by other code or damaged — is a miss (or is
 * left out), never a failed run nor a stream the AG-UI client rejects. The same for a router, a
 * catalogue or a backend that answers in a shape the contract does not allow.
 */
import { describe, expect, it } from "vitest";
import { createKeyBuilder } from "../../src/cache/keys.js";
import type { AGUIEvent } from "@ag-ui/core";
import { sseFrame } from "../../src/adapters/encode-events.js";
import {
  type CacheStore,
  type ChatChunk,
  createZoePipeline,
  EventType,
  memoryCacheStore,
  type ModelBackend,
  type Router,
  runResult,
  zoeState,
} from "../../src/index.js";
import { normaliseText } from "../../src/pipeline/stages/route.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid, terminal } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

const keys = createKeyBuilder();
const MESSAGE = "hello there";
const input = { userId: "u", threadId: "t", message: MESSAGE };

describe("a cached route that is not a decision", () => {
  it("options that are not an object make it a miss: the router decides", async () => {
    const cache = memoryCacheStore();
    const router = fixedRouter();
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router, cache });
    await cache.set(
      keys.key("route", "u", normaliseText(MESSAGE)),
      { model: "stale", kind: "chat", fastPath: false, reason: "x", options: "fast" },
      60_000,
    );
    const events = await runValid(pipeline.run(input));
    expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
    expect(router.calls).toBe(1);
    expect(pipeline.metrics().cache.route).toMatchObject({ hits: 0, misses: 1 });
    await pipeline.close();
  });

  it("a decision without options is used, auto-tuning or not (a router in JavaScript may leave them out)", async () => {
    for (const autoTune of [undefined, {}]) {
      const cache = memoryCacheStore();
      const backend = scriptedBackend();
      const router = fixedRouter();
      const pipeline = createZoePipeline({ backend, router, cache, ...(autoTune ? { autoTune } : {}) });
      await cache.set(
        keys.key("route", "u", normaliseText(MESSAGE)),
        { model: "cached-model", kind: "chat", fastPath: false, reason: "x" },
        60_000,
      );
      const events = await runValid(pipeline.run(input));
      // Before, with autoTune this run failed: RUN_ERROR INTERNAL_ERROR (reading `num_predict` of undefined).
      expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
      expect(router.calls).toBe(0);
      expect(backend.requests.at(-1)?.model).toBe("cached-model");
      await pipeline.close();
    }
  });

  it("a router answering `options: null` gets the fallback, as for any answer that is not a decision", async () => {
    const router: Router = {
      route: () => ({ model: "m", kind: "chat", fastPath: false, reason: "r", options: null }) as never,
      models: () => ["m"],
    };
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router, autoTune: {} });
    const fallbacks: string[] = [];
    pipeline.on("route:fallback", (e) => fallbacks.push(e.reason));
    const events = await runValid(pipeline.run(input));
    expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
    expect(fallbacks).toEqual(["the router's answer is not a route decision"]);
    await pipeline.close();
  });
});

describe("a decision whose other fields are not of their type", () => {
  /** The client's view after the run: the `zoe` state (route added, as on the wire) and the result. */
  const clientView = (events: AGUIEvent[]) => {
    const snapshot = events.find((e) => e.type === EventType.STATE_SNAPSHOT) as { snapshot: { zoe: object } };
    const route = events.flatMap((e) => (e.type === EventType.STATE_DELTA ? (e.delta as { path: string; value: unknown }[]) : []));
    const value: unknown = JSON.parse(JSON.stringify(route.find((op) => op.path === "/zoe/route")?.value));
    return { zoe: zoeState({ zoe: { ...snapshot.snapshot.zoe, route: value } }), result: runResult(terminal(events)) };
  };
  const odd: Array<[string, object]> = [
    ["no fastPath nor reason (a router in JavaScript)", { model: "m", kind: "chat", options: {} }],
    ["fastPath a string", { model: "m", kind: "chat", fastPath: "yes", reason: "r", options: {} }],
    ["reason a number, confidence NaN", { model: "m", kind: "chat", fastPath: false, reason: 42, confidence: Number.NaN, options: {} }],
    ["confidence a string", { model: "m", kind: "chat", fastPath: false, reason: "r", confidence: "0.9", options: {} }],
  ];

  for (const [what, decision] of odd) {
    it(`${what}, from the router or the route cache: the client's zoeState() and runResult() still read the run`, async () => {
      for (const via of ["router", "cache"] as const) {
        const cache = memoryCacheStore();
        const router: Router = via === "router" ? { route: () => decision as never, models: () => ["m"] } : fixedRouter("chat", "m");
        if (via === "cache") await cache.set(keys.key("route", "u", normaliseText(MESSAGE)), decision, 60_000);
        const pipeline = createZoePipeline({ backend: scriptedBackend(), router, cache });
        const events = await runValid(pipeline.run(input));
        const { zoe, result } = clientView(events);
        // Before, the route state was published as given: zoeState() gave undefined (and runResult() too for fastPath).
        expect(zoe?.route).toMatchObject({ model: "m", kind: "chat", fastPath: false, cached: via === "cache" });
        expect(typeof zoe?.route?.reason).toBe("string");
        expect(zoe?.route && "confidence" in zoe.route).toBe(false);
        expect(result && !result.cancelled && result.metrics.fastPath).toBe(false);
        await pipeline.close();
      }
    });
  }

  it("fields a decision does not have (a BigInt, a cycle) are not published: the route state still encodes", async () => {
    const decision: Record<string, unknown> = { model: "m", kind: "chat", fastPath: false, reason: "r", options: {}, debug: 1n };
    decision.self = decision;
    const pipeline = createZoePipeline({ backend: scriptedBackend(), router: { route: () => decision as never } });
    const events = await runValid(pipeline.run(input));
    expect(() => events.map(sseFrame)).not.toThrow();
    expect(clientView(events).zoe?.route).toEqual({ model: "m", kind: "chat", fastPath: false, reason: "r", options: {}, cached: false });
    await pipeline.close();
  });
});

describe("a tool catalogue that is not one", () => {
  const catalogue = (value: () => unknown) => ({
    name: "tools",
    provides: "tools" as const,
    ttlMs: 60_000,
    calls: 0,
    fetch() {
      this.calls++;
      return value();
    },
    callTool: async () => "ok",
  });

  it("stored under its key, it is a miss: the provider is asked again and its tools reach the model", async () => {
    for (const junk of [[null], [{ name: "" }], [{ name: "x", parameters: "none" }], [{ name: "x", description: 3 }], "lookup"]) {
      const cache = memoryCacheStore();
      const backend = scriptedBackend();
      const provider = catalogue(() => [{ name: "lookup", parameters: { type: "object" } }]);
      const pipeline = createZoePipeline({ backend, router: fixedRouter(), cache, providers: [provider] });
      await cache.set(keys.key("context", "u", "tools"), junk, 60_000);
      const events = await runValid(pipeline.run(input));
      expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
      expect(provider.calls).toBe(1);
      expect(backend.requests.at(-1)?.tools?.map((t) => t.function.name)).toEqual(["lookup"]);
      await pipeline.close();
    }
  });

  it("given by the provider, it fails that provider alone", async () => {
    const backend = scriptedBackend();
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), providers: [catalogue(() => [null])] });
    const errors: string[] = [];
    pipeline.on("provider:error", (e) => errors.push(e.error));
    const events = await runValid(pipeline.run(input));
    // Before, the whole run failed: RUN_ERROR INTERNAL_ERROR (reading `name` of null).
    expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
    expect(errors).toEqual([
      "a tool catalogue must give an array of tools, each an object with a name (a tool name is 1 to 128 characters without spaces or control characters)",
    ]);
    expect(backend.requests.at(-1)?.tools ?? []).toEqual([]);
    await pipeline.close();
  });
});

describe("stored history entries that are not messages", () => {
  const good = { id: "m0", role: "user", content: "an earlier question", seq: 0, at: 1 };
  const junk: Array<[string, Record<string, unknown>]> = [
    ["no id", { role: "assistant", content: "x", seq: 1, at: 1 }],
    ["a numeric id", { id: 7, role: "assistant", content: "x", seq: 1, at: 1 }],
    ["toolCalls a string", { id: "a", role: "assistant", content: "x", seq: 1, at: 1, toolCalls: "abc" }],
    ["toolCalls [null]", { id: "a", role: "assistant", content: "x", seq: 1, at: 1, toolCalls: [null] }],
    ["a tool call without a name", { id: "a", role: "assistant", content: "x", seq: 1, at: 1, toolCalls: [{ id: "c", arguments: "{}" }] }],
    ["seq a string", { id: "a", role: "assistant", content: "x", seq: "1", at: 1 }],
    ["sent a number", { id: "a", role: "user", content: "x", seq: 1, at: 1, sent: 5 }],
  ];

  it.each(junk)("an entry with %s is left out of the snapshot and the prompt; the rest stays", async (_name, entry) => {
    const cache = memoryCacheStore();
    const backend = scriptedBackend();
    await cache.listAppend(keys.key("history", "u", "t"), [good, entry], { maxLength: 100, ttlMs: 60_000 });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), cache });
    // Before, these gave a MESSAGES_SNAPSHOT the AG-UI client rejects, or RUN_ERROR INTERNAL_ERROR.
    const events = await runValid(pipeline.run(input));
    expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
    const snapshot = events.find((e) => e.type === EventType.MESSAGES_SNAPSHOT);
    expect(snapshot?.type === EventType.MESSAGES_SNAPSHOT && snapshot.messages.map((m) => m.id)).toEqual(["m0", expect.any(String)]);
    expect(backend.requests.at(-1)?.messages.map((m) => m.content)).toContain("an earlier question");
    expect(backend.requests.at(-1)?.messages.map((m) => m.content)).not.toContain("x");
    await pipeline.close();
  });
});

describe("a batched read in the wrong shape", () => {
  it("a list that is not an array is a miss; the values read with it are kept", async () => {
    const inner = memoryCacheStore();
    for (const list of ["abc", 5, {}, null]) {
      const store: CacheStore = Object.assign(Object.create(inner) as CacheStore, {
        read: async (batch: { keys: readonly string[] }) => ({ values: batch.keys.map(() => undefined), lists: [list] }),
      });
      const router = fixedRouter();
      const pipeline = createZoePipeline({ backend: scriptedBackend(), router, cache: store });
      const events = await runValid(pipeline.run(input));
      // Before, the route stage threw: RUN_ERROR INTERNAL_ERROR ("raw.filter is not a function").
      expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
      expect(events.some((e) => e.type === EventType.MESSAGES_SNAPSHOT)).toBe(false);
      await pipeline.close();
    }
  });
});

describe("a backend whose iterator's return() throws", () => {
  it("a finished answer stays finished", async () => {
    const backend: ModelBackend = {
      name: "throws-on-return",
      chat(): AsyncIterator<ChatChunk> & AsyncIterable<ChatChunk> {
        const chunks: ChatChunk[] = [...textChunks("all of it"), { type: "done", outputTokens: 3, doneReason: "stop" }];
        return {
          next: async () => (chunks.length > 0 ? { value: chunks.shift()!, done: false } : { value: undefined, done: true }),
          return: () => {
            throw new Error("return() failed");
          },
          [Symbol.asyncIterator]() {
            return this;
          },
        };
      },
    };
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const events = await runValid(pipeline.run(input));
    // Before: RUN_ERROR INTERNAL_ERROR "return() failed", after the whole answer had streamed.
    expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
    await pipeline.close();
  });
});
