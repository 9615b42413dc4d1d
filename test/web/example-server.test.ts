import type { BaseEvent } from "@ag-ui/client";
import { describe, expect, it } from "vitest";
import { createZoePipeline, EventType } from "../../src/index.js";
import { scriptedBackend, textChunks, type ScriptedBackend } from "../../src/testing/index.js";
import { exampleAgent, exampleServers } from "../helpers/example-server.js";
import { fixedRouter, sleep, testProvider } from "../helpers/fixtures.js";

const serve = exampleServers();

async function start(backend: ScriptedBackend, providers = [testProvider("profile", "Ada")]) {
  return serve(createZoePipeline({ backend, router: fixedRouter(), providers }));
}

async function turn(url: string, text: string, abortOn?: (e: BaseEvent) => boolean) {
  const agent = exampleAgent(url, text);
  const events: BaseEvent[] = [];
  await agent
    .runAgent({}, { onEvent: ({ event }) => void (events.push(event), abortOn?.(event) && agent.abortRun()) })
    .catch(() => {});
  return { agent, events };
}

describe("the Express example server, judged by @ag-ui/client HttpAgent", () => {
  it("a normal run: the client rebuilds the messages and the state", async () => {
    const url = await start(scriptedBackend({ script: textChunks("Hi Ada!") }));
    const { agent, events } = await turn(url, "hello, what can you do");
    expect(events.at(-1)?.type).toBe(EventType.RUN_FINISHED);
    expect(agent.messages.map((m) => [m.role, m.content])).toEqual([
      ["user", "hello, what can you do"],
      ["assistant", "Hi Ada!"],
    ]);
    expect((agent.state as any).zoe.providers.profile.status).toBe("ok");
  });

  it("a provider timeout shows in the state; the run answers", async () => {
    const url = await start(scriptedBackend(), [testProvider("calendar", "x", { delayMs: 2_000, timeoutMs: 25 })]);
    const { agent } = await turn(url, "what is on today");
    expect((agent.state as any).zoe.providers.calendar.status).toBe("timeout");
    expect(agent.messages.at(-1)?.role).toBe("assistant");
  });

  it("a model error ends the run with RUN_ERROR and its code", async () => {
    const url = await start(scriptedBackend({ script: [{ type: "error", message: "no such model", code: "MODEL_NOT_FOUND" }] }));
    const { events } = await turn(url, "anything");
    expect(events.at(-1)).toMatchObject({ type: EventType.RUN_ERROR, code: "MODEL_NOT_FOUND" });
  });

  it("a client abort cancels the model request on the server", async () => {
    const backend = scriptedBackend({ script: textChunks("a b c d e f g h i j"), chunkDelayMs: 100 });
    const url = await start(backend);
    await turn(url, "talk", (e) => e.type === EventType.TEXT_MESSAGE_CONTENT);
    for (let i = 0; i < 50 && backend.cancelled === 0; i++) await sleep(20);
    expect(backend.cancelled).toBe(1);
  });

  it("bad JSON is a 400 with a JSON error body", async () => {
    const url = await start(scriptedBackend());
    const response = await fetch(`${url}/api/agent`, { method: "POST", headers: { "content-type": "application/json" }, body: "{oops" });
    expect(response.status).toBe(400);
    expect(((await response.json()) as any).error.code).toBe("INVALID_JSON");
  });
});
