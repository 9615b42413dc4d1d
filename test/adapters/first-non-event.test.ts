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

/**
 * A host pipeline whose second value is not an AG-UI event (a number), then finishes normally:
 * the first values are checked as the later ones are (startHttpRun), never streamed as a frame.
 */
function pipelineYieldingSecond(value: unknown) {
  const errors: unknown[] = [];
  const pipeline = {
    activeRuns: 0,
    run() {
      return (async function* () {
        yield { type: EventType.RUN_STARTED, threadId: "t", runId: "r", timestamp: 1 } as AGUIEvent;
        yield value as AGUIEvent;
        yield { type: EventType.RUN_FINISHED, threadId: "t", runId: "r", timestamp: 1 } as AGUIEvent;
      })();
    },
    close: async () => {},
  } as unknown as ZoePipeline;
  return { pipeline, errors };
}

const cases: Array<[string, unknown]> = [
  ["a number", 42],
  ["a string", "hello"],
  ["an object without a type", { foo: 1 }],
];

describe("a non-event among the run's first two values (before streaming starts)", () => {
  for (const [name, value] of cases) {
    it(`Web adapter: ${name} is not streamed as an SSE frame; the stream ends with a RUN_ERROR`, async () => {
      const { pipeline, errors } = pipelineYieldingSecond(value);
      const request = new Request("http://app.local/agent", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(runInput("hi")),
      });
      const response = await createAgUiResponse(pipeline, request, { getUserId: () => "u1", onError: (e) => void errors.push(e) });
      const text = await response.text();
      const frames = text
        .split("\n\n")
        .filter((f) => f.startsWith("data: "))
        .map((f) => JSON.parse(f.slice(6)) as unknown);
      const nonEvents = frames.filter((f) => typeof f !== "object" || f === null || typeof (f as { type?: unknown }).type !== "string");
      expect({ nonEvents, reported: errors.length > 0 }).toEqual({ nonEvents: [], reported: true });
    });

    it(`Node handler: ${name} is not streamed as an SSE frame; the stream ends with a RUN_ERROR`, async () => {
      const { pipeline, errors } = pipelineYieldingSecond(value);
      const server = await listen(createAgUiHandler(pipeline, { getUserId: () => "u1", onError: (e) => void errors.push(e) }));
      cleanups.push(() => server.close());
      const response = await fetch(server.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(runInput("hi")),
      });
      const text = await response.text();
      const frames = text
        .split("\n\n")
        .filter((f) => f.startsWith("data: "))
        .map((f) => JSON.parse(f.slice(6)) as unknown);
      const nonEvents = frames.filter((f) => typeof f !== "object" || f === null || typeof (f as { type?: unknown }).type !== "string");
      expect({ nonEvents, reported: errors.length > 0 }).toEqual({ nonEvents: [], reported: true });
    });
  }
});
