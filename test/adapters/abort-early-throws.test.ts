import type { AGUIEvent } from "@ag-ui/core";
import { describe, expect, it } from "vitest";
import { createAgUiResponse, EventType, type ZoePipeline } from "../../src/index.js";
import { createAgUiHandler } from "../../src/express/index.js";
import { listen, runInput } from "../helpers/http.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A host pipeline whose first event waits on work that honours its signal the usual way: it rejects
 * with the signal's reason (an AbortError), as `fetch(url, { signal })` does.
 */
function fetchLikePipeline() {
  const pipeline = {
    activeRuns: 0,
    run(_input: unknown, options: { signal?: AbortSignal } = {}) {
      return (async function* () {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, 5_000);
          options.signal?.addEventListener("abort", () => {
            clearTimeout(t);
            reject(options.signal?.reason);
          });
        });
        yield { type: EventType.RUN_STARTED, threadId: "t", runId: "r", timestamp: 1 } as AGUIEvent;
        yield { type: EventType.RUN_FINISHED, threadId: "t", runId: "r", timestamp: 1 } as AGUIEvent;
      })();
    },
    close: async () => {},
  } as unknown as ZoePipeline;
  return pipeline;
}

describe("createAgUiResponse: a client that leaves before the first event of a host pipeline that throws on abort", () => {
  it("is not reported to onError as a run failure (onError is never told of aborts) and is not a 500", async () => {
    const reports: Array<{ stage: string; error: unknown }> = [];
    const client = new AbortController();
    const request = new Request("http://app.local/agent", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(runInput("hi")),
      signal: client.signal,
    });
    const answer = createAgUiResponse(fetchLikePipeline(), request, {
      getUserId: () => "u1",
      onError: (error, { stage }) => void reports.push({ stage, error }),
    });
    await sleep(50);
    client.abort();
    const response = await answer;
    expect({ status: response.status, reported: reports.map((r) => r.stage) }).toEqual({ status: 499, reported: [] });
  });

  it("Node handler (same pattern, pre-existing): the abort is not reported as a run failure", async () => {
    const reports: Array<{ stage: string; error: unknown }> = [];
    const server = await listen(
      createAgUiHandler(fetchLikePipeline(), { getUserId: () => "u1", onError: (error, { stage }) => void reports.push({ stage, error }) }),
    );
    try {
      const client = new AbortController();
      const pending = fetch(server.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(runInput("hi")),
        signal: client.signal,
      }).catch(() => undefined);
      await sleep(100);
      client.abort();
      await pending;
      await sleep(200);
      expect(reports.map((r) => r.stage)).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
