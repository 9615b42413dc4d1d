import type { AGUIEvent } from "@ag-ui/core";
import { describe, expect, it } from "vitest";
import { createAgUiResponse, EventType, type ZoePipeline } from "../../src/index.js";
import { runInput } from "../helpers/http.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A host pipeline (docs/http.md: "a pipeline of your own ... gets an options.signal that aborts when
 * the client leaves") whose first event waits on slow work (a lookup, a model load) that honours its signal.
 */
function slowStartPipeline() {
  const state = { started: 0, aborted: 0, open: 0 };
  const pipeline = {
    activeRuns: 0,
    run(_input: unknown, options: { signal?: AbortSignal } = {}) {
      return (async function* () {
        state.started++;
        state.open++;
        try {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, 5_000);
            options.signal?.addEventListener("abort", () => {
              clearTimeout(t);
              state.aborted++;
              resolve();
            });
          });
          if (options.signal?.aborted) {
            yield { type: EventType.RUN_ERROR, message: "aborted", code: "ABORTED", timestamp: 1 } as AGUIEvent;
            return;
          }
          yield { type: EventType.RUN_STARTED, threadId: "t", runId: "r", timestamp: 1 } as AGUIEvent;
          yield { type: EventType.RUN_FINISHED, threadId: "t", runId: "r", timestamp: 1 } as AGUIEvent;
        } finally {
          state.open--;
        }
      })();
    },
    close: async () => {},
  } as unknown as ZoePipeline;
  return { pipeline, state };
}

describe("createAgUiResponse: the request's signal aborts before the run's first event", () => {
  it("cancels the run at once (as the Node handler does), not when the run happens to yield", async () => {
    const { pipeline, state } = slowStartPipeline();
    const client = new AbortController();
    const request = new Request("http://app.local/agent", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(runInput("hi")),
      signal: client.signal,
    });
    const answer = createAgUiResponse(pipeline, request, { getUserId: () => "u1", onError: () => {} });
    await sleep(50);
    expect(state.started).toBe(1);
    client.abort();
    await sleep(200);
    // The client left 200 ms ago; the run's signal should have aborted.
    expect({ aborted: state.aborted, open: state.open }).toEqual({ aborted: 1, open: 0 });
    await answer;
  });
});
