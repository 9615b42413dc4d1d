import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { HttpAgent } from "@ag-ui/client";
import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
// The application's side: the browser-safe entry only. Nothing below casts a zoe payload.
import { isZoeRunResult, runResult, zoeMetrics, zoeState, type RunMetrics, type ZoeRunResult, type ZoeState } from "zoe-pipeline/client";
// The server's side.
import { createZoePipeline, type ContextProvider, type Router } from "zoe-pipeline";
import * as main from "zoe-pipeline";
import { createAgUiHandler } from "zoe-pipeline/express";
import { scriptedBackend, textChunks } from "zoe-pipeline/testing";

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

const profile: ContextProvider = { name: "profile", placement: "stable", fetch: ({ userId }) => `The user is ${userId}.` };
const late: ContextProvider = {
  name: "calendar",
  timeoutMs: 20,
  fetch: (_r, { signal }) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve("free"), 2_000);
      signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
    }),
};

const router: Router = { route: () => ({ model: "big", kind: "chat", fastPath: false, reason: "always chat", options: {} }) };

/** A real node:http server running a pipeline behind the Node handler. */
async function serve(script: Parameters<typeof scriptedBackend>[0]): Promise<string> {
  const pipeline = createZoePipeline({
    backend: scriptedBackend(script),
    router,
    providers: [profile, late],
  });
  const handler = createAgUiHandler(pipeline, { getUserId: () => "ada" });
  const server: Server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
    () => pipeline.close(),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/agent`;
}

describe("typed payloads, read by an @ag-ui/client app over real HTTP", () => {
  it("RUN_FINISHED result, zoe state and zoe.metrics arrive typed, without casts", async () => {
    const url = await serve({ script: textChunks("Porto is lovely in spring.") });
    const agent = new HttpAgent({ url, threadId: "t1" });
    agent.addMessage({ id: "m1", role: "user", content: "Tell me about Porto and its history" });

    let finished: ZoeRunResult | undefined;
    let metrics: RunMetrics | undefined;
    const stages: string[] = [];
    const { result } = await agent.runAgent(
      {},
      {
        onEvent: ({ event }) => {
          finished ??= runResult(event);
          metrics ??= zoeMetrics(event);
        },
        onStateChanged: ({ state }) => {
          const zoe = zoeState(state);
          if (zoe && stages.at(-1) !== zoe.stage) stages.push(zoe.stage);
        },
      },
    );

    expectTypeOf(runResult).returns.toEqualTypeOf<ZoeRunResult | undefined>();
    expectTypeOf(zoeState).returns.toEqualTypeOf<ZoeState | undefined>();
    expect(finished).toBeDefined();
    if (!finished || finished.cancelled) throw new Error("expected a completed run");
    // Narrowed: `metrics` is RunMetrics, `kind` a RouteKind, providers typed by status.
    expect(finished.metrics.kind).toBe("chat");
    expect(finished.metrics.model).toBe("big");
    expect(finished.metrics.tokens.output).toBeGreaterThan(0);
    expect(finished.metrics.providers.profile?.status).toBe("ok");
    expect(finished.metrics.providers.calendar?.status).toBe("timeout");
    expect(finished.pendingToolCalls).toBeUndefined();
    expect(metrics?.totalMs).toBe(finished.metrics.totalMs);
    // runAgent()'s own `result` is `any`: the guard gives it a type.
    expect(isZoeRunResult(result)).toBe(true);

    const zoe = zoeState(agent.state);
    expect(zoe?.stage).toBe("done");
    expect(stages).toEqual(["route", "context", "generate", "done"]);
    expect(zoe?.route).toMatchObject({ kind: "chat", model: "big", fastPath: false, cached: false });
    expect(zoe?.providers.calendar).toMatchObject({ status: "timeout" });
    expect(zoe?.providers.profile?.ms).toBeTypeOf("number");
  });

  it("a frontend tool call comes back as pendingToolCalls", async () => {
    const url = await serve({
      script: [
        ...textChunks("Pick one. "),
        { type: "tool_call", call: { id: "call-1", name: "offer_choices", arguments: { options: ["a", "b"] } } },
      ],
    });
    const agent = new HttpAgent({ url, threadId: "t2" });
    agent.addMessage({ id: "m1", role: "user", content: "Help me choose a dessert for tonight" });
    let finished: ZoeRunResult | undefined;
    await agent.runAgent(
      {
        tools: [
          {
            name: "offer_choices",
            description: "Show buttons",
            parameters: { type: "object", properties: { options: { type: "array" } } },
          },
        ],
      },
      { onRunFinishedEvent: ({ event }) => void (finished = runResult(event)) },
    );
    if (!finished || finished.cancelled) throw new Error("expected a completed run");
    expect(finished.pendingToolCalls).toEqual([
      { id: "call-1", name: "offer_choices", arguments: JSON.stringify({ options: ["a", "b"] }) },
    ]);
  });

  it("the helpers answer undefined for anything else, and never throw", () => {
    for (const value of [
      undefined,
      null,
      0,
      "RUN_FINISHED",
      [],
      {},
      { type: "RUN_FINISHED" },
      { type: "RUN_FINISHED", result: { metrics: {} } },
      { type: "CUSTOM", name: "other", value: {} },
    ]) {
      expect(runResult(value)).toBeUndefined();
      expect(zoeMetrics(value)).toBeUndefined();
      expect(zoeState(value)).toBeUndefined();
    }
    expect(runResult({ type: "RUN_FINISHED", result: { cancelled: true } })).toEqual({ cancelled: true });
    expect(zoeState({ zoe: { runId: "r", stage: "route", providers: {} } })).toEqual({ runId: "r", stage: "route", providers: {} });
    expect(zoeState({ zoe: { runId: "r", stage: "elsewhere", providers: {} } })).toBeUndefined();
    // Every field present has its type, down to each provider: typed code never meets a null.
    const base = { runId: "r", stage: "context", providers: { profile: { status: "ok", ms: 3 } } };
    expect(zoeState({ zoe: base })).toEqual(base);
    const route = { model: "m", kind: "chat", fastPath: false, reason: "rule", options: {}, cached: false };
    expect(zoeState({ zoe: { ...base, route } })).toEqual({ ...base, route });
    for (const bad of [
      { ...base, providers: { profile: null } },
      { ...base, providers: { profile: { status: "lost" } } },
      { ...base, providers: { profile: { status: "ok", ms: "3" } } },
      { ...base, route: "fast" },
      { ...base, route: { ...route, model: undefined } },
      { ...base, answerCache: { hit: true } },
      { ...base, systemPrompt: null },
    ]) {
      expect(zoeState({ zoe: bad })).toBeUndefined();
    }
  });

  it("the main entry exports the same helpers", () => {
    expect(main.runResult).toBe(runResult);
    expect(main.zoeState).toBe(zoeState);
    expect(main.zoeMetrics).toBe(zoeMetrics);
  });
});
