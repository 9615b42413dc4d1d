import type { AGUIEvent } from "@ag-ui/core";
import { afterEach, describe, expect, it } from "vitest";
import { createAgUiResponse, EventType, type ZoePipeline } from "../../src/index.js";
import { createAgUiHandler } from "../../src/express/index.js";
import { listen, runInput } from "../helpers/http.js";

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A pipeline of the host's (an async generator) that yields `null` as its third event, then waits for its signal. */
function garbagePipeline() {
  const state = { open: 0, aborted: 0 };
  const pipeline = {
    activeRuns: 0,
    run(_input: unknown, options: { signal?: AbortSignal } = {}) {
      return (async function* () {
        state.open++;
        try {
          yield { type: EventType.RUN_STARTED, threadId: "t", runId: "r", timestamp: 1 } as AGUIEvent;
          yield { type: EventType.STEP_STARTED, stepName: "x", timestamp: 1 } as AGUIEvent;
          yield null as unknown as AGUIEvent;
          // Then the run waits (for a model) until it is cancelled.
          await new Promise<void>((resolve) => {
            if (options.signal?.aborted) return resolve();
            options.signal?.addEventListener("abort", () => resolve(), { once: true });
          });
          if (options.signal?.aborted) state.aborted++;
        } finally {
          state.open--;
        }
      })();
    },
    close: async () => {},
  } as unknown as ZoePipeline;
  return { pipeline, state };
}

describe("a pipeline that yields garbage (null) mid-stream", () => {
  it("Node handler: the stream ends with a RUN_ERROR frame (exactly one terminal event)", async () => {
    const { pipeline, state } = garbagePipeline();
    const server = await listen(createAgUiHandler(pipeline, { getUserId: () => "u1", onError: () => {} }));
    cleanups.push(() => server.close());
    const response = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(runInput("hi")),
    });
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(state.open).toBe(0);
    // docs/http.md: "the stream always ends with exactly one RUN_FINISHED or RUN_ERROR, unless the client left first".
    expect(text).toMatch(/"type":"RUN_ERROR"/);
  });

  it("Web adapter: the stream ends with a RUN_ERROR, the run is cancelled and no heartbeat timer is left", async () => {
    const { pipeline, state } = garbagePipeline();
    const request = new Request("http://app.local/agent", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(runInput("hi")),
    });
    const intervals = new Set<unknown>();
    const realSet = globalThis.setInterval;
    const realClear = globalThis.clearInterval;
    globalThis.setInterval = ((fn: () => void, ms: number) => {
      const t = realSet(fn, ms);
      intervals.add(t);
      return t;
    }) as typeof setInterval;
    globalThis.clearInterval = ((t: NodeJS.Timeout) => {
      intervals.delete(t);
      realClear(t);
    }) as typeof clearInterval;
    cleanups.push(async () => {
      globalThis.setInterval = realSet;
      globalThis.clearInterval = realClear;
      for (const t of intervals) realClear(t as NodeJS.Timeout);
    });
    const response = await createAgUiResponse(pipeline, request, { getUserId: () => "u1", heartbeatMs: 50, onError: () => {} });
    expect(response.status).toBe(200);
    let text = "";
    let failed: unknown;
    try {
      text = await response.text();
    } catch (error) {
      failed = error;
    }
    await sleep(200);
    expect({ failed, terminal: /"type":"RUN_ERROR"/.test(text), runsOpen: state.open, intervalsLeft: intervals.size }).toEqual({
      failed: undefined,
      terminal: true,
      runsOpen: 0,
      intervalsLeft: 0,
    });
  });
});
