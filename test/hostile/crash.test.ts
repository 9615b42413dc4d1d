import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startHostileServer, type HostileServer } from "./child.js";
import { partialUpload, send } from "./clients.js";

/**
 * The crash triggers of issue 11, each against a server in a child process that dies on any
 * unhandled rejection: after each one the server must still answer, with no run left open. A fresh
 * server per test, so that each trigger is tried on its own.
 */
let server: HostileServer;
beforeEach(async () => {
  server = await startHostileServer();
}, 120_000);
afterEach(async () => {
  await server?.stop();
});

const run = (text: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ threadId: "t", runId: "r", messages: [{ id: "m", role: "user", content: text }], tools: [], context: [], ...extra });

/** An 8.4 KB body whose `state` is nested about 4,000 levels deep. */
const deepBody = `{"threadId":"t","runId":"r","messages":[{"id":"m","role":"user","content":"hi"}],"tools":[],"context":[],"state":{"a":${"[".repeat(4_100)}${"]".repeat(4_100)}}}`;

async function expectStillServing() {
  expect(server.alive(), server.stderr()).toBe(true);
  const debug = await server.debug();
  expect(debug.activeRuns).toBe(0);
  expect(debug.inFlight).toBe(0);
  const ok = await send(server.nodeUrl, {
    headers: { "content-type": "application/json", authorization: "Bearer ada" },
    body: run("still there?"),
  });
  expect(ok.status).toBe(200);
  expect(ok.text).toContain("RUN_FINISHED");
}

describe("the crash triggers of issue 11 leave the host serving", () => {
  it("a client that closes the socket mid-upload", async () => {
    for (let i = 0; i < 5; i++) {
      expect(await partialUpload(server.nodePort, "/agent", { declared: 4_000, sent: 1_000, leaveAfterMs: 20 })).toEqual({ closed: true });
    }
    await expectStillServing();
  });

  it("many slow clients that send half a body and leave, or wait and get a 408", async () => {
    const leavers = Array.from({ length: 40 }, (_, i) =>
      partialUpload(server.nodePort, "/agent", { declared: 2_000, sent: 1_000, leaveAfterMs: 10 + (i % 7) * 20 }),
    );
    const waiters = Array.from({ length: 10 }, () => partialUpload(server.nodePort, "/agent", { declared: 2_000, sent: 1_000 }));
    // A client that leaves is gone before its deadline (on a very slow machine it may get the 408 first).
    for (const outcome of await Promise.all(leavers))
      expect([JSON.stringify({ closed: true }), 408]).toContain("status" in outcome ? outcome.status : JSON.stringify(outcome));
    for (const outcome of await Promise.all(waiters)) {
      expect(outcome).toMatchObject({ status: 408 });
      expect(JSON.parse((outcome as { body: string }).body).error.code).toBe("BODY_TIMEOUT");
    }
    await expectStillServing();
  });

  it("a getUserId that throws is a 500 JSON (or the 401 it names), never a crash", async () => {
    const as = (token: string) =>
      send(server.nodeUrl, { headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: run("hello") });
    for (const token of ["throw", "throw-string", "reject-later", "number"]) {
      const answer = await as(token);
      expect(answer.status).toBe(500);
      expect(JSON.parse(answer.text).error.code).toBe("GET_USER_ID_FAILED");
    }
    const expired = await as("throw-401");
    expect(expired.status).toBe(401);
    expect(JSON.parse(expired.text).error.code).toBe("UNAUTHENTICATED");
    await expectStillServing();
  });

  it("an 8.4 KB body nested 4,000 levels deep is a 400 INPUT_TOO_DEEP, on Node http and on the Express example", async () => {
    expect(deepBody.length).toBeGreaterThan(8_000);
    expect(deepBody.length).toBeLessThan(8_600);
    const viaNode = await send(server.nodeUrl, {
      headers: { "content-type": "application/json", authorization: "Bearer ada" },
      body: deepBody,
    });
    expect(viaNode.status).toBe(400);
    expect(JSON.parse(viaNode.text).error.code).toBe("INPUT_TOO_DEEP");
    const viaExpress = await send(`${server.expressUrl}/api/agent`, { body: deepBody });
    expect(viaExpress.status).toBe(400);
    expect(JSON.parse(viaExpress.text).error.code).toBe("INPUT_TOO_DEEP");
    await expectStillServing();
  });
});
