/**
 * The tool-call path against a broken model and broken tools: repeated ids, malformed tool-call
 * chunks, results JSON cannot hold, throws of odd values, arguments nested past any input limit,
 * bad options and bad client tool names. Every stream stays valid for `@ag-ui/client`, and every
 * failure has its code.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createZoePipeline, EventType, type AGUIEvent, type ChatChunk, type ChatRequest, type ServerTool } from "../../src/index.js";
import { scriptedBackend, textChunks, type ScriptStep } from "../../src/testing/index.js";
import { collect, expectValidStream, runValid, terminal } from "../helpers/ag-ui.js";
import { mcpToolCatalogue } from "../../src/mcp/index.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { memoryServer } from "../mcp/servers.js";

const results = (events: AGUIEvent[]) =>
  events.flatMap((e) => (e.type === EventType.TOOL_CALL_RESULT ? [{ id: e.toolCallId, content: e.content }] : []));
const starts = (events: AGUIEvent[]) => events.flatMap((e) => (e.type === EventType.TOOL_CALL_START ? [e.toolCallId] : []));

/** A model that makes `calls` on its first request and answers "done" once it has tool results. */
function callsThenAnswer(calls: ChatChunk[]) {
  return (request: ChatRequest): ScriptStep[] => (request.messages.at(-1)?.role === "tool" ? textChunks("done") : calls);
}

const echo: ServerTool = { name: "echo", execute: async (args) => `echo ${String(args.city)}` };

describe("the tool-call path against a broken model and broken tools", () => {
  it("a repeated tool-call id gets a new one: each call keeps its own result, across steps too", async () => {
    let step = 0;
    const backend = scriptedBackend({
      script: (request) =>
        ++step <= 2
          ? [
              { type: "tool_call", call: { id: "call_0", name: "echo", arguments: { city: `Oslo${step}` } } },
              { type: "tool_call", call: { id: "call_0", name: "echo", arguments: { city: `Rome${step}` } } },
            ]
          : textChunks(`done after ${request.messages.length} messages`),
    });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: [echo] });
    const events = await runValid(pipeline.run({ userId: "u", message: "two cities" }));
    const ids = starts(events);
    expect(ids).toHaveLength(4);
    expect(new Set(ids).size).toBe(4);
    expect(ids[0]).toBe("call_0");
    expect(
      results(events)
        .map((r) => r.content)
        .sort(),
    ).toEqual(["echo Oslo1", "echo Oslo2", "echo Rome1", "echo Rome2"]);
    // The model is told each result under its own call's id.
    const followUp = backend.requests[1]!.messages;
    const tool = followUp.filter((m) => m.role === "tool").map((m) => [m.tool_call_id, m.content]);
    expect(tool).toEqual([
      [ids[0], "echo Oslo1"],
      [ids[1], "echo Rome1"],
    ]);
    await pipeline.close();
  });

  it("a tool_call chunk with arguments missing, an id that is not a string, or arguments JSON cannot hold is MODEL_INVALID_CHUNK", async () => {
    const bad: unknown[] = [
      { type: "tool_call", call: { id: "a", name: "echo" } },
      { type: "tool_call", call: { id: 7, name: "echo", arguments: {} } },
      { type: "tool_call", call: { id: { x: 1 }, name: "echo", arguments: {} } },
      { type: "tool_call", call: { id: "b", name: "echo", arguments: { n: 1n } } },
    ];
    for (const chunk of bad) {
      const backend = scriptedBackend({ script: [chunk as ChatChunk] });
      const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: [echo] });
      const events = await collect(pipeline.run({ userId: "u", message: "go" }));
      await expectValidStream(events);
      expect(terminal(events)).toMatchObject({ type: EventType.RUN_ERROR, code: "MODEL_INVALID_CHUNK" });
      await pipeline.close();
    }
  });

  it("a tool returning what JSON leaves out, or throwing an odd value, gives a result the run goes on with", async () => {
    const odd: ServerTool[] = [
      { name: "fn", execute: async () => () => 1 },
      { name: "sym", execute: async () => Symbol("s") },
      { name: "nojson", execute: async () => ({ toJSON: () => undefined }) },
      {
        name: "bare",
        execute: async () => {
          throw Object.create(null);
        },
      },
      {
        name: "liar",
        execute: async () => {
          throw {
            toString() {
              throw new Error("no");
            },
          };
        },
      },
    ];
    const calls: ChatChunk[] = odd.map((tool, i) => ({ type: "tool_call", call: { id: `c${i}`, name: tool.name, arguments: {} } }));
    const backend = scriptedBackend({ script: callsThenAnswer(calls) });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: odd });
    const events = await runValid(pipeline.run({ userId: "u", message: "go" }));
    expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
    const byId = Object.fromEntries(results(events).map((r) => [r.id, r.content]));
    expect(byId).toEqual({
      c0: "",
      c1: "",
      c2: "",
      c3: "Error: a thrown object that cannot be shown as text",
      c4: "Error: a thrown object that cannot be shown as text",
    });
    await pipeline.close();
  });

  it("a tool result longer than maxToolResultChars is cut, for the model and the client, and says so", async () => {
    const huge: ServerTool = { name: "dump", execute: async () => "x".repeat(250_000) };
    const backend = scriptedBackend({ script: callsThenAnswer([{ type: "tool_call", call: { id: "h", name: "dump", arguments: {} } }]) });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: [huge] });
    const events = await runValid(pipeline.run({ userId: "u", message: "go" }));
    const result = results(events)[0] as { content: string };
    expect(result.content.startsWith("x".repeat(100_000))).toBe(true);
    expect(result.content).toContain("250000 characters");
    expect(result.content.length).toBeLessThan(100_200);
    // The model's copy is cut further, to fit promptTokens (see test/prompt/fit-follow-up.test.ts).
    const forModel = backend.requests[1]!.messages.at(-1)!.content;
    expect(forModel).toMatch(/^x+\n… \[cut: the result had \d+ characters; the first \d+ are shown\]$/);
    expect(forModel.length).toBeLessThan(result.content.length);
    await pipeline.close();
    const small = createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), maxToolResultChars: 10 });
    await small.close();
    expect(() => createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), maxToolResultChars: 0 })).toThrow(TypeError);
  });

  it("a code block's result longer than maxToolResultChars is cut too, never inside a surrogate pair", async () => {
    // A host's executor may print anything: 3 MB here, which went whole into one TOOL_CALL_RESULT.
    const executor = { languages: ["js"], execute: async () => ({ ok: true, output: "y".repeat(9) + "😀".repeat(1_500_000) }) };
    const backend = scriptedBackend({ script: textChunks("```js\nprint()\n```\nthat is all") });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), codeExecutor: executor, maxToolResultChars: 10 });
    const events = await runValid(pipeline.run({ userId: "u", message: "go" }));
    const result = results(events)[0] as { content: string };
    // 10 characters would end in the first half of an emoji: the cut keeps 9.
    expect(result.content).toBe("yyyyyyyyy\n… [cut: the result had 3000009 characters; the first 9 are shown]");
    expect(/[\ud800-\udbff](?![\udc00-\udfff])/.test(result.content)).toBe(false);
    await pipeline.close();
  });

  it("each model request has its own messages: a tool step does not change the request before it", async () => {
    let n = 0;
    const backend = scriptedBackend({
      script: () =>
        ++n <= 2 ? [{ type: "tool_call", call: { id: `c${n}`, name: "echo", arguments: { city: "x" } } }] : textChunks("done"),
    });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: [echo], history: { load: 0 } });
    await runValid(pipeline.run({ userId: "u", message: "go" }));
    const lengths = backend.requests.map((r) => r.messages.length);
    expect(lengths[1]! - lengths[0]!).toBe(2);
    expect(lengths[2]! - lengths[1]!).toBe(2);
    await pipeline.close();
  });

  it("arguments nested past the input's depth limit are replayed to the model as {} (no stack overflow in the next request)", async () => {
    const deep = `{"a":${"[".repeat(5_000)}${"]".repeat(5_000)}}`;
    const backend = scriptedBackend({
      script: callsThenAnswer([{ type: "tool_call", call: { id: "d", name: "echo", arguments: deep } }]),
    });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: [echo] });
    const events = await runValid(pipeline.run({ userId: "u", message: "go" }));
    expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
    const replayed = backend.requests[1]!.messages.find((m) => m.role === "assistant" && m.tool_calls);
    expect(replayed?.tool_calls?.[0]?.function.arguments).toEqual({});
    await pipeline.close();
  });

  it("an answer of thousands of tool calls runs maxToolCallsPerStep of them; the rest get an error result, and the model continues", async () => {
    const calls: ChatChunk[] = Array.from({ length: 3_000 }, (_, i) => ({
      type: "tool_call",
      call: { id: `c${i}`, name: "count", arguments: {} },
    }));
    const backend = scriptedBackend({ script: callsThenAnswer(calls) });
    let executed = 0;
    const count: ServerTool = { name: "count", execute: () => String(++executed) };
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: [count], maxToolCallsPerStep: 40 });
    const events = await runValid(pipeline.run({ userId: "u", message: "go" }));
    expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
    expect(executed).toBe(40);
    const byId = new Map(results(events).map((r) => [r.id, r.content]));
    expect(byId.size).toBe(3_000);
    expect(byId.get("c39")).toBe("40");
    expect(byId.get("c40")).toMatch(/^Error: not run: the answer made 3000 tool calls, and at most 40 .*maxToolCallsPerStep/);
    // The continuation answers every call, in order.
    const toolMessages = backend.requests[1]!.messages.filter((m) => m.role === "tool");
    expect(toolMessages.map((m) => m.tool_call_id)).toEqual(calls.map((c) => (c.type === "tool_call" ? c.call.id : "")));
    await pipeline.close();
  });

  it("a continuation's tool results that answer no call (an id never issued, a second answer, one after a user message) do not reach the model, nor a call left without its result", async () => {
    const backend = scriptedBackend({ script: textChunks("ok") });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const call = (id: string) => ({ id, type: "function" as const, function: { name: "confirm", arguments: "{}" } });
    const events = await runValid(
      pipeline.run({
        threadId: "t",
        runId: "r2",
        userId: "u",
        messages: [
          { id: "m0", role: "user", content: "earlier" },
          { id: "a0", role: "assistant", content: "", toolCalls: [call("late")] },
          { id: "m1", role: "user", content: "hi" },
          { id: "t0", role: "tool", toolCallId: "late", content: "after a user message" },
          { id: "a1", role: "assistant", content: "", toolCalls: [call("f1"), call("f2")] },
          { id: "t1", role: "tool", toolCallId: "f1", content: "yes" },
          { id: "t2", role: "tool", toolCallId: "f1", content: "yes again" },
          { id: "t3", role: "tool", toolCallId: "never-issued", content: "orphan" },
        ],
        tools: [{ name: "confirm", description: "ask the user", parameters: { type: "object", properties: {} } }],
        context: [],
        state: {},
        forwardedProps: {},
      }),
    );
    expect(terminal(events).type).toBe(EventType.RUN_FINISHED);
    const sent = backend.requests[0]!.messages;
    expect(sent.filter((m) => m.role === "tool").map((m) => [m.tool_call_id, m.content])).toEqual([["f1", "yes"]]);
    const calls = sent.flatMap((m) => (m.role === "assistant" ? (m.tool_calls ?? []).map((c) => c.id) : []));
    expect(calls).toEqual(["f1"]);
    await pipeline.close();
  });

  it("tool options are checked when the pipeline is made", () => {
    const backend = scriptedBackend();
    for (const bad of [
      { maxToolSteps: Number.NaN },
      { maxToolSteps: -1 },
      { toolTimeoutMs: 0 },
      { toolTimeoutMs: Number.NaN },
      { toolConcurrency: 0 },
      { maxToolCallsPerStep: 0 },
      { maxToolCallsPerStep: 1.5 },
      // A server tool's name goes to the model with every request: one no model takes is refused.
      { tools: [{ name: "two words", execute: () => "x" }] },
      { tools: [{ name: "x".repeat(129), execute: () => "x" }] },
    ]) {
      expect(() => createZoePipeline({ backend, router: fixedRouter(), ...bad })).toThrow(TypeError);
    }
    expect(() =>
      createZoePipeline({ backend, router: fixedRouter(), maxToolSteps: 0, toolTimeoutMs: Number.POSITIVE_INFINITY }),
    ).not.toThrow();
  });

  it("a client tool whose name is empty or has spaces is INVALID_INPUT, before the model is asked", async () => {
    const backend = scriptedBackend();
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    for (const name of ["", "get weather", "tab\there"]) {
      const events = await collect(
        pipeline.run({
          threadId: "t",
          runId: "r",
          userId: "u",
          messages: [{ id: "m", role: "user", content: "hi" }],
          tools: [{ name, description: "d", parameters: { type: "object" } }],
          context: [],
        }),
      );
      expect(terminal(events)).toMatchObject({ type: EventType.RUN_ERROR, code: "INVALID_INPUT" });
    }
    expect(backend.requests).toHaveLength(0);
    await pipeline.close();
  });

  it("pipeline.close() closes the providers that have a close(), and survives one that throws", async () => {
    const closed: string[] = [];
    const provider = (name: string, close: () => void) => ({ name, fetch: () => "x", close });
    const pipeline = createZoePipeline({
      backend: scriptedBackend(),
      router: fixedRouter(),
      providers: [
        provider("a", () => void closed.push("a")),
        provider("b", () => {
          throw new Error("boom");
        }),
        { name: "c", fetch: () => "y" },
      ],
    });
    await pipeline.close();
    expect(closed).toEqual(["a"]);
  });

  it("an MCP catalogue closes at once while a server has not answered initialize (not after connectTimeoutMs)", async () => {
    const held: Array<() => void> = [];
    const http = createServer((req) => {
      req.resume();
      held.push(() => req.socket.destroy()); // never answered
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
    const tools = mcpToolCatalogue({
      servers: [{ name: "mute", transport: { type: "http", url } }],
      timeoutMs: 300,
      connectTimeoutMs: 600_000,
    });
    await expect(
      tools.fetch({ userId: "u", text: "hi", kind: "chat" } as never, { signal: new AbortController().signal }),
    ).rejects.toThrow();
    // Were it waiting for the connection's deadline, this would outlast the test's own timeout.
    await tools.close();
    for (const destroy of held) destroy();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });

  it("an MCP server listing a tool without a name, or with a schema nested past the stack, loses that tool only", async () => {
    const good = await memoryServer((server) => {
      server.registerTool("ping", { description: "Ping.", inputSchema: { n: z.number() } }, async () => ({
        content: [{ type: "text", text: "pong" }],
      }));
    });
    const bad = await memoryServer((server) => {
      server.registerTool("fine", { description: "Fine." }, async () => ({ content: [{ type: "text", text: "ok" }] }));
    });
    // The bad server's list also holds a tool named "" and one whose schema is 20,000 levels deep.
    let deep: Record<string, unknown> = { type: "object" };
    for (let i = 0; i < 20_000; i++) deep = { type: "object", properties: { x: deep } };
    const request = bad.client.request.bind(bad.client);
    bad.client.request = (async (...args: Parameters<typeof request>) => {
      const answer = (await request(...args)) as { tools?: unknown[] };
      if ((args[0] as { method: string }).method === "tools/list" && answer.tools) {
        answer.tools.push({ name: "", inputSchema: { type: "object" } }, { name: "deep", inputSchema: deep });
      }
      return answer;
    }) as typeof request;
    const tools = mcpToolCatalogue({
      servers: [
        { name: "good", client: good.client },
        { name: "bad", client: bad.client },
      ],
    });
    const listed = await tools.fetch({ userId: "u", text: "hi", kind: "chat" } as never, { signal: new AbortController().signal });
    expect(listed.map((t) => t.name).sort()).toEqual(["fine", "ping"]);
    await tools.close();
    await good.server.close();
    await bad.server.close();
  });
});
