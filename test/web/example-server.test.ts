import type { BaseEvent } from "@ag-ui/client";
import { describe, expect, it } from "vitest";
import { createZoePipeline, EventType } from "../../src/index.js";
import { scriptedBackend, textChunks, type ScriptedBackend } from "../../src/testing/index.js";
import { exampleAgent, exampleServers, visitorCookie } from "../helpers/example-server.js";
import { fixedRouter, sleep, testProvider } from "../helpers/fixtures.js";

const serve = exampleServers();

async function start(backend: ScriptedBackend, providers = [testProvider("profile", "Ada")]) {
  return serve(createZoePipeline({ backend, router: fixedRouter(), providers }));
}

async function turn(url: string, text: string, abortOn?: (e: BaseEvent) => boolean, cookie?: string) {
  const agent = exampleAgent(url, text, cookie);
  const events: BaseEvent[] = [];
  await agent.runAgent({}, { onEvent: ({ event }) => void (events.push(event), abortOn?.(event) && agent.abortRun()) }).catch(() => {});
  return { agent, events };
}

describe("the Express example server, judged by @ag-ui/client HttpAgent", () => {
  it("a normal run: the client rebuilds the messages and the state", async () => {
    const url = await start(scriptedBackend({ script: textChunks("Hi Ada!") }));
    const { agent, events } = await turn(url, "hello, what can you do");
    expect(events.at(-1)?.type).toBe(EventType.RUN_FINISHED);
    // The context providers arrive as an activity message; the conversation is the user and assistant turns.
    expect(agent.messages.filter((m) => m.role !== "activity").map((m) => [m.role, m.content])).toEqual([
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

  it("answers GET, PUT and DELETE on the agent route with a JSON 405, and unknown API paths with a JSON 404", async () => {
    const url = await start(scriptedBackend());
    for (const method of ["GET", "PUT", "DELETE"]) {
      const response = await fetch(`${url}/api/agent`, {
        method,
        ...(method === "GET" ? {} : { headers: { "content-type": "application/json" }, body: "{}" }),
      });
      expect(response.status).toBe(405);
      expect(response.headers.get("allow")).toBe("POST");
      expect(((await response.json()) as any).error.code).toBe("METHOD_NOT_ALLOWED");
    }
    const unknown = await fetch(`${url}/api/nope`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as any).error.code).toBe("NOT_FOUND");
  });

  it("labels 413 and 415 with their own codes, not SERVER_ERROR", async () => {
    const url = await start(scriptedBackend());
    const form = await fetch(`${url}/api/agent`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "message=hi",
    });
    expect([form.status, ((await form.json()) as any).error.code]).toEqual([415, "UNSUPPORTED_MEDIA_TYPE"]);
    const big = await fetch(`${url}/api/agent`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message: "x".repeat(1_100_000) }),
    });
    expect([big.status, ((await big.json()) as any).error.code]).toEqual([413, "BODY_TOO_LARGE"]);
  });

  it("each visitor gets a signed cookie; a forged or tampered cookie is a new visitor, never someone else", async () => {
    const backend = scriptedBackend({ script: textChunks("Noted.") });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const url = await serve(pipeline);
    const say = (cookie: string, body: Record<string, unknown>) =>
      fetch(`${url}/api/agent`, {
        method: "POST",
        headers: { "content-type": "application/json", cookie },
        body: JSON.stringify({ threadId: "t", ...body }),
      }).then((r) => r.text());
    const alice = await visitorCookie(url);
    const bob = await visitorCookie(url);
    expect(alice).toMatch(/^zoe_visitor=visitor-[\w-]+\.[\w-]+$/);
    expect(alice).not.toBe(bob);
    const aliceId = alice.slice("zoe_visitor=".length, alice.lastIndexOf("."));
    expect(await say(alice, { message: "my locker code is 3141" })).toContain("RUN_FINISHED");
    const before = await pipeline.history.get(aliceId, "t");
    expect(before.map((e) => e.content)).toEqual(["my locker code is 3141", "Noted."]);

    // Bob claims Alice's id: in the body, with an unsigned cookie, and with Alice's id under his own signature.
    const seen = backend.requests.length;
    const bobSig = bob.slice(bob.lastIndexOf("."));
    for (const cookie of [bob, `zoe_visitor=${aliceId}`, `zoe_visitor=${aliceId}${bobSig}`]) {
      expect(await say(cookie, { userId: aliceId, message: "what is my locker code?" })).toContain("RUN_FINISHED");
    }
    expect(JSON.stringify(backend.requests.slice(seen).map((r) => r.messages))).not.toContain("3141");
    expect(await pipeline.history.get(aliceId, "t")).toEqual(before);
  });
});
