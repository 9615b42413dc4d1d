/**
 * Values that throw when looked at (a revoked Proxy, a Proxy whose traps throw) or that JSON and
 * AG-UI cannot hold, handed over by a dependency: a provider, a tool catalogue, a custom cache
 * store, a model backend's chunks, `getUserId`. Each is that dependency's failure (or a cache
 * miss); none hangs the run, ends it with the wrong code, or breaks its last events. Found by an
 * attack; each case failed before its fix.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import {
  createZoePipeline,
  EventType,
  memoryCacheStore,
  type CacheStore,
  type ChatChunk,
  type ModelBackend,
  type ToolCatalogueProvider,
  type ToolSpec,
  ZoeError,
} from "../../src/index.js";
import { createAgUiHandler } from "../../src/express/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { expectModelError, runWithFailingProvider } from "../helpers/throwing-dependencies.js";
import { fixedRouter } from "../helpers/fixtures.js";

const revoked = (): object => {
  const r = Proxy.revocable({}, {});
  r.revoke();
  return r.proxy;
};
const protoTrap = (): object =>
  new Proxy(new Error("x"), {
    getPrototypeOf() {
      throw new Error("trap");
    },
  });
/** A tool-catalogue provider whose `fetch` is given. */
const catalogue = (fetch: () => Promise<ToolSpec[]>): ToolCatalogueProvider => ({
  name: "cat",
  provides: "tools",
  fetch,
  callTool: async () => "",
});
const input = { userId: "u", threadId: "t", message: "tell me about the weather patterns" };
const finished = (events: Array<{ type: string }>) => expect(events.at(-1)?.type).toBe(EventType.RUN_FINISHED);

/** A backend that answers, then ends with `done` carrying `figures`. */
const answerThenDone = (figures: object): ModelBackend =>
  ({
    name: "figures",
    async *chat() {
      yield { type: "text", text: "the whole answer" };
      yield { type: "done", ...figures } as ChatChunk;
    },
  }) as ModelBackend;

describe("hostile values from dependencies", () => {
  it("a provider rejecting with a Proxy that throws when tested: the provider failed, the run finishes", async () => {
    for (const make of [revoked, protoTrap]) {
      const events = await runWithFailingProvider(make);
      finished(events);
    }
  });

  it("a tool catalogue holding Proxies, fetched or read from the cache: that provider fails alone", async () => {
    for (const value of [[revoked()], [{ name: "t", parameters: revoked() }], revoked()]) {
      const pipeline = createZoePipeline({
        backend: scriptedBackend({ script: textChunks("ok") }),
        router: fixedRouter(),
        providers: [catalogue(async () => value as ToolSpec[])],
      });
      finished(await runValid(pipeline.run(input)));
      await pipeline.close();
    }
    const inner = memoryCacheStore();
    const store: CacheStore = { ...inner, read: async (batch) => ({ values: batch.keys.map(() => [revoked()]), lists: [[]] }) };
    const pipeline = createZoePipeline({
      backend: scriptedBackend({ script: textChunks("ok") }),
      router: fixedRouter(),
      cache: store,
      providers: [catalogue(async () => [])],
    });
    finished(await runValid(pipeline.run(input)));
    await pipeline.close();
  });

  it("a custom store returning Proxies as the route, a history entry, or a result re-read: misses", async () => {
    const inner = memoryCacheStore();
    const reads: Array<CacheStore["read"]> = [
      async (batch) => ({ values: batch.keys.map(() => revoked()), lists: [[]] }),
      async (batch) => ({ values: batch.keys.map(() => undefined), lists: [[revoked()]] }),
      async (batch) => {
        let n = 0;
        return {
          get values() {
            if (n++ > 0) throw new Error("read twice");
            return batch.keys.map(() => undefined);
          },
          lists: [[]],
        };
      },
    ];
    for (const read of reads) {
      const pipeline = createZoePipeline({
        backend: scriptedBackend({ script: textChunks("ok") }),
        router: fixedRouter(),
        cache: { ...inner, read },
      });
      finished(await runValid(pipeline.run(input)));
      await pipeline.close();
    }
  });

  it("a backend throwing a Proxy fails with MODEL_ERROR, before or during the answer", async () => {
    for (const make of [revoked, protoTrap]) for (const partial of [false, true]) await expectModelError(make, partial);
  });

  it("tool-call arguments whose toJSON leaves no JSON are MODEL_INVALID_CHUNK", async () => {
    const backend = scriptedBackend({
      script: [
        {
          type: "tool_call",
          call: { id: "c", name: "echo", arguments: { toJSON: () => undefined } as unknown as Record<string, unknown> },
        },
      ],
    });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: [{ name: "echo", execute: async () => "x" }] });
    const events = await runValid(pipeline.run(input));
    expect(events.at(-1)).toMatchObject({ type: EventType.RUN_ERROR, code: "MODEL_INVALID_CHUNK" });
    await pipeline.close();
  });

  it("done figures that are not what the contract says are left out: the run's last events stay valid", async () => {
    const odd = [
      { outputTokens: 1.5 },
      { inputTokens: 2.5 },
      { outputTokens: 2 ** 60 },
      { evalMs: 5n },
      { evalMs: Symbol("x") },
      { evalMs: Object.create(null) },
      { queueMs: 5n, model: { toJSON: () => 1 } },
    ];
    for (const figures of odd) {
      const pipeline = createZoePipeline({ backend: answerThenDone(figures), router: fixedRouter() });
      const events = await runValid(pipeline.run(input));
      finished(events);
      // The figures reach RUN_FINISHED as JSON (an SSE frame): nothing there that JSON cannot hold.
      expect(() => JSON.stringify(events.at(-1))).not.toThrow();
      const metrics = (events.at(-1) as unknown as { result: { metrics: { backend: Record<string, unknown> } } }).result.metrics;
      for (const value of Object.values(metrics.backend)) expect(["number", "string"]).toContain(typeof value);
      await pipeline.close();
    }
  });

  it("a custom store whose arrays throw when an element is read: the read is a miss (cache:error), the run finishes", async () => {
    const inner = memoryCacheStore();
    const throwingAt0 = (base: unknown[]) =>
      Object.defineProperty(base, 0, {
        get() {
          throw new Error("boom");
        },
      });
    const reads: Array<CacheStore["read"]> = [
      async (batch) => ({ values: throwingAt0(batch.keys.map(() => undefined)), lists: [[]] }),
      async (batch) => ({ values: batch.keys.map(() => undefined), lists: [throwingAt0([undefined])] }),
    ];
    for (const read of reads) {
      const pipeline = createZoePipeline({
        backend: scriptedBackend({ script: textChunks("ok") }),
        router: fixedRouter(),
        cache: { ...inner, read },
      });
      const statuses: string[] = [];
      pipeline.on("cache:error", (e) => statuses.push(e.status));
      finished(await runValid(pipeline.run(input)));
      expect(statuses).toEqual(["error"]);
      await pipeline.close();
    }
  });

  it("a backend throwing a ZoeError whose code or message is not a readable string: RUN_ERROR MODEL_ERROR, a valid stream", async () => {
    const makes: Array<() => unknown> = [
      () =>
        Object.defineProperty(new ZoeError("MODEL_ERROR", "x"), "message", {
          get() {
            throw new Error("boom");
          },
        }),
      () => Object.assign(new ZoeError("MODEL_ERROR", "x"), { code: { a: 1 } }),
      () => Object.defineProperty(new ZoeError("MODEL_ERROR", "x"), "message", { value: { a: 1 } }),
      () =>
        new Proxy(new ZoeError("MODEL_ERROR", "x"), {
          get() {
            throw new Error("boom");
          },
        }),
    ];
    for (const make of makes) await expectModelError(make);
  });

  it("getUserId throwing a Proxy: 500 GET_USER_ID_FAILED, reported at the getUserId stage", async () => {
    for (const make of [
      revoked,
      () =>
        new Proxy(
          {},
          {
            get: () => {
              throw new Error("get");
            },
          },
        ),
    ]) {
      const stages: string[] = [];
      const pipeline = createZoePipeline({ backend: scriptedBackend({ script: textChunks("ok") }), router: fixedRouter() });
      const handler = createAgUiHandler(pipeline, {
        getUserId: () => {
          throw make();
        },
        onError: (_error, context) => stages.push(context.stage),
      });
      const server = createServer((req, res) => void handler(req, res));
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect(response.status).toBe(500);
      expect(await response.json()).toMatchObject({ error: { code: "GET_USER_ID_FAILED" } });
      expect(stages).toEqual(["getUserId"]);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pipeline.close();
    }
  });
});
