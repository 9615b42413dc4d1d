import type { AGUIEvent } from "@ag-ui/core";
import { describe, expect, it } from "vitest";
import { createAgUiResponse, EventType, type ZoePipeline } from "../../src/index.js";
import { runInput } from "../helpers/http.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A host pipeline that yields a value that cannot be encoded (null) mid-stream; when it is returned
 * (cancelled) its `finally` takes a moment (it releases a resource).
 */
function slowReturnPipeline() {
  const state = { finallyDone: 0 };
  const pipeline = {
    activeRuns: 0,
    run() {
      return (async function* () {
        try {
          yield { type: EventType.RUN_STARTED, threadId: "t", runId: "r", timestamp: 1 } as AGUIEvent;
          yield { type: EventType.STEP_STARTED, stepName: "x", timestamp: 1 } as AGUIEvent;
          await sleep(20); // the bad value comes on a later pull
          yield null as unknown as AGUIEvent;
          await sleep(10_000);
        } finally {
          await sleep(150);
          state.finallyDone++;
        }
      })();
    },
    close: async () => {},
  } as unknown as ZoePipeline;
  return { pipeline, state };
}

describe("createAgUiResponse: the client cancels the body after its RUN_ERROR frame, while the run is being returned", () => {
  it("reports the encode failure once, and no 'internal' failure for the client's cancel", async () => {
    const { pipeline, state } = slowReturnPipeline();
    const reports: Array<{ stage: string; error: unknown }> = [];
    const request = new Request("http://app.local/agent", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(runInput("hi")),
    });
    const response = await createAgUiResponse(pipeline, request, {
      getUserId: () => "u1",
      heartbeatMs: 0,
      onError: (error, { stage }) => void reports.push({ stage, error }),
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    // Read until the RUN_ERROR frame, then leave (as a client does once it has a terminal event).
    while (!/"type":"RUN_ERROR"/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    expect(text).toMatch(/EVENT_ENCODING_FAILED/);
    await reader.cancel();
    await sleep(400); // > the run's 150 ms finally
    expect(state.finallyDone).toBe(1);
    // docs: onError is "never [told] of client mistakes, aborts".
    expect(reports.map((r) => r.stage)).toEqual(["encode"]);
  });
});
