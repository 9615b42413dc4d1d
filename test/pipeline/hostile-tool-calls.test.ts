/**
 * The pipeline's tool loop against a hostile model: arguments past the client's SSE buffer, and a
 * tool-call id the conversation already holds (a later or continued run).
 */
import { HttpAgent, type BaseEvent } from "@ag-ui/client";
import { afterEach, describe, expect, it } from "vitest";
import { createZoePipeline, EventType, type ChatRequest, type ServerTool } from "../../src/index.js";
import { MAX_TOOL_ARGUMENT_CHARS } from "../../src/tools/argument-limit.js";
import { createAgUiHandler } from "../../src/express/index.js";
import { scriptedBackend, textChunks, type ScriptStep } from "../../src/testing/index.js";
import { collect } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { listen } from "../helpers/http.js";

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

const echo: ServerTool = { name: "echo", execute: async (args) => `echo ${String(args.text).length} chars` };

describe("the tool loop against a hostile model", () => {
  it("tool-call arguments of 11 MB end the run with TOOL_ARGUMENTS_TOO_LONG, in a stream the client can read (not past its 10 MB SSE buffer)", async () => {
    const huge = JSON.stringify({ text: "x".repeat(11 * 1024 * 1024) });
    let executed = 0;
    const counted: ServerTool = { ...echo, execute: async (args) => (executed++, echo.execute(args, undefined as never)) };
    const backend = scriptedBackend({
      script: (request: ChatRequest): ScriptStep[] =>
        request.messages.at(-1)?.role === "tool"
          ? textChunks("done")
          : [{ type: "tool_call", call: { id: "c1", name: "echo", arguments: huge } }],
    });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: [counted] });
    const server = await listen(createAgUiHandler(pipeline, { getUserId: () => "u1" }));
    cleanups.push(
      () => server.close(),
      () => pipeline.close(),
    );
    const agent = new HttpAgent({ url: server.url, threadId: "thread-1" });
    agent.addMessage({ id: "m1", role: "user", content: "echo this" });
    const seen: BaseEvent[] = [];
    await agent.runAgent({ forwardedProps: {} }, { onEvent: ({ event }) => void seen.push(event) }).catch(() => undefined);
    const last = seen.at(-1) as BaseEvent & { code?: string };
    expect(last?.type).toBe(EventType.RUN_ERROR);
    expect(last.code).toBe("TOOL_ARGUMENTS_TOO_LONG");
    expect(seen.some((e) => e.type === EventType.TOOL_CALL_ARGS)).toBe(false);
    expect(executed).toBe(0);
  });

  it("arguments as an object past the limit are refused the same way; at the limit they pass", async () => {
    const args = (chars: number) => ({ text: "y".repeat(chars - '{"text":""}'.length) });
    for (const [chars, code] of [
      [MAX_TOOL_ARGUMENT_CHARS + 1, "TOOL_ARGUMENTS_TOO_LONG"],
      [MAX_TOOL_ARGUMENT_CHARS, undefined],
    ] as const) {
      const backend = scriptedBackend({ script: [{ type: "tool_call", call: { id: "c1", name: "confirm", arguments: args(chars) } }] });
      const pipeline = createZoePipeline({ backend, router: fixedRouter() });
      const events = await collect(
        pipeline.run({
          threadId: "t",
          runId: "r",
          userId: "u",
          messages: [{ id: "m0", role: "user", content: "go" }],
          tools: [{ name: "confirm", description: "ask the user", parameters: { type: "object", properties: {} } }],
          context: [],
          state: {},
          forwardedProps: {},
        }),
      );
      await pipeline.close();
      const last = events.at(-1) as { type: string; code?: string };
      expect(last.code).toBe(code);
      expect(last.type).toBe(code ? EventType.RUN_ERROR : EventType.RUN_FINISHED);
    }
  });

  it("a model's tool-call id that a call of the conversation already has gets a new one in a continued run", async () => {
    const backend = scriptedBackend({
      script: [{ type: "tool_call", call: { id: "call_0", name: "confirm", arguments: { q: "again?" } } }],
    });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    cleanups.push(() => pipeline.close());
    const call = { id: "call_0", type: "function" as const, function: { name: "confirm", arguments: '{"q":"first?"}' } };
    const events = await collect(
      pipeline.run({
        threadId: "t",
        runId: "r3",
        userId: "u",
        messages: [
          { id: "m0", role: "user", content: "first" },
          { id: "a0", role: "assistant", content: "", toolCalls: [call] },
          { id: "t0", role: "tool", toolCallId: "call_0", content: "yes" },
          { id: "a1", role: "assistant", content: "ok, done" },
          { id: "m1", role: "user", content: "and again" },
        ],
        tools: [{ name: "confirm", description: "ask the user", parameters: { type: "object", properties: {} } }],
        context: [],
        state: {},
        forwardedProps: {},
      }),
    );
    const started = events.flatMap((e) => (e.type === EventType.TOOL_CALL_START ? [e.toolCallId] : []));
    expect(started).toHaveLength(1);
    // @ag-ui/client applies a TOOL_CALL_START whose id it already holds to that old call (its args
    // are appended to the old call's), so the new call must not reuse an id of the conversation.
    expect(started[0]).not.toBe("call_0");
  });

  it("through @ag-ui/client: a frontend call of a later turn with a repeated id leaves the earlier call and its arguments as they were", async () => {
    let n = 0;
    const backend = scriptedBackend({
      script: (): ScriptStep[] => {
        n++;
        // Turns 1 and 3 ask the frontend tool under the same id; turn 2 answers after the result.
        if (n === 2) return textChunks("ok");
        return [{ type: "tool_call", call: { id: "call_0", name: "confirm", arguments: { q: `ask ${n}` } } }];
      },
    });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const server = await listen(createAgUiHandler(pipeline, { getUserId: () => "u1" }));
    cleanups.push(
      () => server.close(),
      () => pipeline.close(),
    );
    const agent = new HttpAgent({ url: server.url, threadId: "thread-1" });
    const tools = [{ name: "confirm", description: "ask the user", parameters: { type: "object", properties: {} } }];
    agent.addMessage({ id: "m1", role: "user", content: "first question" });
    await agent.runAgent({ tools });
    agent.addMessage({ id: "r1", role: "tool", toolCallId: "call_0", content: "yes" });
    await agent.runAgent({ tools });
    agent.addMessage({ id: "m2", role: "user", content: "second question" });
    await agent.runAgent({ tools });
    const calls = agent.messages.flatMap((m) => (m.role === "assistant" ? (m.toolCalls ?? []) : []));
    // Two calls were made, each with its own arguments.
    expect(calls.map((c) => c.function.arguments)).toEqual(['{"q":"ask 1"}', '{"q":"ask 3"}']);
  });

  it("a frontend call at the argument limit can be sent back with its result through the HTTP adapter (the thread goes on)", async () => {
    // Each "\n" of the text is two characters of arguments and more bytes in the continuation's JSON body.
    const args = JSON.stringify({ text: "\n".repeat((MAX_TOOL_ARGUMENT_CHARS - 11) / 2) });
    expect(args.length).toBeLessThanOrEqual(MAX_TOOL_ARGUMENT_CHARS);
    const backend = scriptedBackend({
      script: (request: ChatRequest): ScriptStep[] =>
        request.messages.at(-1)?.role === "tool"
          ? textChunks("Saved.")
          : [{ type: "tool_call", call: { id: "c1", name: "save", arguments: args } }],
    });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const server = await listen(createAgUiHandler(pipeline, { getUserId: () => "u1" }));
    cleanups.push(
      () => server.close(),
      () => pipeline.close(),
    );
    const tools = [{ name: "save", description: "save a note", parameters: { type: "object", properties: {} } }];
    const agent = new HttpAgent({ url: server.url, threadId: "thread-1" });
    agent.addMessage({ id: "m1", role: "user", content: "write down a long note" });
    await agent.runAgent({ tools });
    agent.addMessage({ id: "r1", role: "tool", toolCallId: "c1", content: "saved" });
    const second = await agent.runAgent({ tools }).then(
      () => "ok",
      (error: unknown) => String(error),
    );
    expect(second).toBe("ok");
  });
});
