import fc from "fast-check";
import pLimit from "p-limit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commonCases, identityCases, type HostileCase } from "./cases.js";
import { startHostileServer, type HostileServer } from "./child.js";
import { expectWellFormed, partialUpload, send, type Answer } from "./clients.js";

/**
 * The hostile-input suite of issue 11: hand-written and generated (fast-check) requests against a
 * plain `node:http` server using `createAgUiHandler` and against the Express example, both in a
 * child process that an unhandled rejection would kill. Every answer must be well-formed (a JSON
 * error, or an SSE stream @ag-ui/client accepts, with one terminal event); afterwards the server
 * answers, no run is open and the heap is back near its baseline.
 */
let server: HostileServer;
let baselineHeap = 0;
const tally = { cases: 0, outcomes: new Map<string, number>() };

const targets = () => [
  { name: "node", url: `${server.nodeUrl}/agent`, auth: { authorization: "Bearer ada" } as Record<string, string> },
  { name: "express", url: `${server.expressUrl}/api/agent`, auth: {} as Record<string, string> },
];

const normal = (text: string) =>
  JSON.stringify({ threadId: "t", runId: "r", messages: [{ id: "m", role: "user", content: text }], tools: [], context: [] });

beforeAll(async () => {
  server = await startHostileServer();
  // Warm up both servers (JIT, caches, pools), then take the heap baseline.
  for (let i = 0; i < 30; i++) {
    for (const t of targets())
      await send(t.url, { headers: { "content-type": "application/json", ...t.auth }, body: normal(`warm up ${i}`) });
  }
  baselineHeap = (await server.debug()).heapUsed;
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

async function check(c: HostileCase, target: ReturnType<typeof targets>[number]): Promise<void> {
  const headers = { "content-type": "application/json", ...target.auth, ...c.headers };
  if (headers["content-type"] === "") delete (headers as Record<string, string>)["content-type"];
  const answer: Answer = await send(target.url, { method: c.method ?? "POST", headers, ...(c.body === undefined ? {} : { body: c.body }) });
  tally.cases++;
  const outcome = await expectWellFormed(answer);
  const key = `${answer.status} ${outcome}`;
  tally.outcomes.set(key, (tally.outcomes.get(key) ?? 0) + 1);
  if (c.status !== undefined) expect(answer.status, `${c.name}: ${answer.text.slice(0, 300)}`).toBe(c.status);
  if (c.code !== undefined) expect(outcome).toBe(c.code);
  if (answer.status === 405) expect(answer.text).toContain("METHOD_NOT_ALLOWED");
  if (answer.status >= 500) expect(outcome, `${c.name}: unexpected server error`).toMatch(/GET_USER_ID_FAILED/);
}

describe("hostile input against node:http + createAgUiHandler and the Express example (child process, strict unhandled rejections)", () => {
  it("hand-written cases: malformed, bytes, wrong types, unicode, huge, deep, methods, content types", async () => {
    const limit = pLimit(6);
    await Promise.all(targets().flatMap((t) => commonCases.map((c) => limit(() => check(c, t)))));
    expect(server.alive(), server.stderr()).toBe(true);
  });

  it("throwing, rejecting and odd getUserId hooks", async () => {
    const [node] = targets();
    for (const c of identityCases) await check(c, node!);
    expect(server.alive(), server.stderr()).toBe(true);
  });

  it("property: any JSON value as the body gets a well-formed answer", async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 6 }), fc.boolean(), async (value, toExpress) => {
        const target = targets()[toExpress ? 1 : 0]!;
        await check({ name: "json value", body: JSON.stringify(value) ?? "null" }, target);
      }),
      { numRuns: 60 },
    );
  });

  it("property: run inputs with arbitrary fields, ids and text (lone surrogates included) get a well-formed answer", async () => {
    const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));
    const text = fc.oneof(
      fc.string({ unit: anyUnit, maxLength: 120 }),
      fc.string({ unit: "grapheme", maxLength: 120 }),
      fc.string({ maxLength: 10 }),
    );
    const anyValue = fc.oneof(text, fc.integer(), fc.constant(null), fc.boolean(), fc.jsonValue({ maxDepth: 3 }));
    const role = fc.constantFrom("user", "assistant", "system", "tool", "developer", "hacker");
    const message = fc.record(
      {
        id: fc.oneof(text, anyValue),
        role,
        content: fc.oneof(text, anyValue, fc.array(fc.record({ type: fc.constantFrom("text", "binary"), text }), { maxLength: 3 })),
      },
      { requiredKeys: ["role"] },
    );
    const input = fc.record(
      {
        threadId: fc.oneof(text, anyValue),
        runId: fc.oneof(text, anyValue),
        userId: fc.oneof(text, anyValue),
        messages: fc.oneof(fc.array(message, { maxLength: 5 }), anyValue),
        message: text,
        tools: fc.oneof(
          fc.array(fc.record({ name: text, description: text, parameters: fc.jsonValue({ maxDepth: 3 }) }), { maxLength: 3 }),
          anyValue,
        ),
        context: fc.oneof(fc.array(fc.record({ description: text, value: text }), { maxLength: 3 }), anyValue),
        state: fc.jsonValue({ maxDepth: 4 }),
        forwardedProps: fc.jsonValue({ maxDepth: 3 }),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(input, fc.boolean(), async (value, toExpress) => {
        await check({ name: "run input", body: JSON.stringify(value) }, targets()[toExpress ? 1 : 0]!);
      }),
      { numRuns: 120 },
    );
  });

  it("property: arbitrary bytes and content types get a well-formed answer", async () => {
    const contentType = fc.oneof(
      fc.constantFrom("application/json", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-16", ""),
      fc.string({ unit: "grapheme-ascii", maxLength: 40 }).filter((s) => !/[\r\n]/.test(s)),
    );
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), contentType, fc.boolean(), async (body, type, toExpress) => {
        await check({ name: "bytes", body, headers: { "content-type": type } }, targets()[toExpress ? 1 : 0]!);
      }),
      { numRuns: 40 },
    );
  });

  it("clients that vanish mid-upload, send half a body and leave, or stall until the deadline", async () => {
    for (const port of [server.nodePort, server.expressPort]) {
      const path = port === server.nodePort ? "/agent" : "/api/agent";
      const leavers = Array.from({ length: 15 }, (_, i) =>
        partialUpload(port, path, { declared: 5_000, sent: 100 + i * 200, leaveAfterMs: i * 5 }),
      );
      const stallers = Array.from({ length: 5 }, () => partialUpload(port, path, { declared: 5_000, sent: 2_000 }));
      // A client that leaves is gone before its deadline (on a very slow machine it may get the 408 first).
      for (const outcome of await Promise.all(leavers))
        expect([JSON.stringify({ closed: true }), 408]).toContain("status" in outcome ? outcome.status : JSON.stringify(outcome));
      for (const outcome of await Promise.all(stallers)) expect(outcome).toMatchObject({ status: 408 });
      tally.cases += leavers.length + stallers.length;
    }
    expect(server.alive(), server.stderr()).toBe(true);
  });

  it("clients that leave mid-stream, or never read the stream", async () => {
    for (const t of targets()) {
      for (let i = 0; i < 10; i++) {
        const controller = new AbortController();
        const response = await fetch(t.url, {
          method: "POST",
          headers: { "content-type": "application/json", ...t.auth },
          body: normal("answer me slowly please"),
          signal: controller.signal,
        });
        const reader = response.body!.getReader();
        if (i % 2 === 0) await reader.read();
        controller.abort();
        await reader.cancel().catch(() => {});
        tally.cases++;
      }
    }
    expect(server.alive(), server.stderr()).toBe(true);
  });

  it("afterwards: the server answers, no run is open, the heap is back near its baseline", async () => {
    expect(server.alive(), server.stderr()).toBe(true);
    let debug = await server.debug();
    for (let i = 0; i < 100 && (debug.activeRuns > 0 || debug.inFlight > 0); i++) {
      await new Promise((r) => setTimeout(r, 50));
      debug = await server.debug();
    }
    expect(debug.gc).toBe(true);
    expect(debug.activeRuns).toBe(0);
    expect(debug.inFlight).toBe(0);
    for (const t of targets()) {
      const answer = await send(t.url, { headers: { "content-type": "application/json", ...t.auth }, body: normal("still alive?") });
      expect(await expectWellFormed(answer)).toBe("RUN_FINISHED");
    }
    // Memory, not time: a generous bound that a leak per case (a run, a body, a socket) would break.
    const grown = debug.heapUsed - baselineHeap;
    const outcomes = [...tally.outcomes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`);
    console.log(
      `hostile suite: ${tally.cases} cases, 0 crashes, ${debug.activeRuns} runs open, heap ${(baselineHeap / 2 ** 20).toFixed(1)} → ${(debug.heapUsed / 2 ** 20).toFixed(1)} MiB\n  ${outcomes.join("\n  ")}`,
    );
    expect(grown).toBeLessThan(24 * 2 ** 20);
    expect(tally.cases).toBeGreaterThanOrEqual(200);
  });
});
