/**
 * Frontend-tool continuations as a real AG-UI client builds them: `@ag-ui/client` applies a run's
 * events to its messages (one assistant message per tool call without a parent message, one for
 * text after a call), the client appends its results, and the next run must show the model every
 * call it made with its result, in a conversation OpenAI-style servers take.
 */
import { defaultApplyEvents, type Message, type Tool } from "@ag-ui/client";
import { from, lastValueFrom, toArray } from "rxjs";
import { describe, expect, it } from "vitest";
import { createZoePipeline, type AGUIEvent, type ChatChunk, type ChatMessage } from "../../src/index.js";
import { scriptedBackend } from "../../src/testing/index.js";
import { collect, expectValidStream } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

type Input = {
  threadId: string;
  runId: string;
  userId: string;
  messages: Message[];
  tools: Tool[];
  context: [];
  state: Record<string, never>;
  forwardedProps: Record<string, never>;
};

/** The messages after a run, as `@ag-ui/client` builds them from its events. */
async function applied(input: Input, events: AGUIEvent[]): Promise<Message[]> {
  const agent = { messages: structuredClone(input.messages), state: {} };
  const updates = await lastValueFrom(defaultApplyEvents(input as never, from(events) as never, agent as never, []).pipe(toArray()));
  return (updates.filter((u) => u.messages).at(-1)?.messages as Message[] | undefined) ?? agent.messages;
}

/** The first run: a user asks, with one frontend tool the model may call. */
const firstRun = (): Input => ({
  threadId: "t",
  runId: "r1",
  userId: "u",
  messages: [{ id: "m1", role: "user", content: "pick" }],
  tools: [{ name: "offer_choices", description: "Offer options", parameters: { type: "object" } }],
  context: [],
  state: {},
  forwardedProps: {},
});

/** OpenAI's rule: an assistant message with tool calls is followed by one result per call, and results answer only those. */
function validToolSequence(messages: readonly ChatMessage[]): boolean {
  let pending = new Set<string>();
  for (const m of messages) {
    if (m.role === "tool") {
      if (!pending.delete(String(m.tool_call_id))) return false;
      continue;
    }
    if (pending.size > 0) return false;
    pending = new Set((m.tool_calls ?? []).map((c) => String(c.id)));
  }
  return pending.size === 0;
}

const c1: ChatChunk = { type: "tool_call", call: { id: "c1", name: "offer_choices", arguments: { options: ["a", "b"] } } };
const c2: ChatChunk = { type: "tool_call", call: { id: "c2", name: "offer_choices", arguments: { options: ["x", "y"] } } };
const s1: ChatChunk = { type: "tool_call", call: { id: "s1", name: "get_time", arguments: {} } };

describe("a frontend continuation built by @ag-ui/client", () => {
  for (const [name, first, expected] of [
    ["two frontend calls, no text", [c1, c2], ["c1", "c2"]],
    ["text, then two frontend calls", [{ type: "text", text: "Let me ask. " }, c1, c2], ["c1", "c2"]],
    ["a frontend call, then text", [c1, { type: "text", text: " (pick one)" }], ["c1"]],
    ["a server call and a frontend call", [s1, c1], ["s1", "c1"]],
  ] as Array<[string, ChatChunk[], string[]]>) {
    it(`keeps every call and its result, in a conversation OpenAI-style servers take (${name})`, async () => {
      let n = 0;
      const backend = scriptedBackend({ script: () => (n++ === 0 ? first : [{ type: "text", text: "thanks" }]) });
      const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: [{ name: "get_time", execute: () => "noon" }] });
      const input = firstRun();
      const events = await collect(pipeline.run(input));
      await expectValidStream(events);
      const messages = await applied(input, events);
      for (const id of expected) if (id.startsWith("c")) messages.push({ id: `t-${id}`, role: "tool", toolCallId: id, content: "picked" });
      await collect(pipeline.run({ ...input, runId: "r2", messages }));
      const sent = backend.requests[1]!.messages.filter((m) => m.role !== "system");
      expect(sent.filter((m) => m.role === "tool").map((m) => m.tool_call_id)).toEqual(expected);
      expect(sent.flatMap((m) => (m.tool_calls ?? []).map((c) => c.id))).toEqual(expected);
      expect(validToolSequence(sent)).toBe(true);
      await pipeline.close();
    });
  }

  for (const [name, first] of [
    ["two calls", [c1, c2]],
    ["text, then two calls", [{ type: "text", text: "Let me ask. " }, c1, c2]],
    ["a call, text, a call", [c1, { type: "text", text: "mid" }, c2]],
  ] as Array<[string, ChatChunk[]]>) {
    it(`results placed after their call's message, as CopilotKit places them, give a valid conversation that ends in a result (${name})`, async () => {
      let n = 0;
      const backend = scriptedBackend({ script: () => (n++ === 0 ? first : [{ type: "text", text: "thanks" }]) });
      const pipeline = createZoePipeline({ backend, router: fixedRouter() });
      const input = firstRun();
      const messages = await applied(input, await collect(pipeline.run(input)));
      // CopilotKit core's placement: after the message that holds the call, after results already there.
      for (const id of ["c1", "c2"]) {
        let at = messages.findIndex((m) => m.role === "assistant" && m.toolCalls?.some((c) => c.id === id)) + 1;
        while (messages[at]?.role === "tool") at++;
        messages.splice(at, 0, { id: `t-${id}`, role: "tool", toolCallId: id, content: "picked" });
      }
      await collect(pipeline.run({ ...input, runId: "r2", messages }));
      const sent = backend.requests[1]!.messages.filter((m) => m.role !== "system");
      expect(sent.flatMap((m) => (m.tool_calls ?? []).map((c) => c.id))).toEqual(["c1", "c2"]);
      expect(validToolSequence(sent)).toBe(true);
      expect(sent.at(-1)?.role).toBe("tool");
      await pipeline.close();
    });
  }

  it("an answer that began with tool calls is stored under the client's message id: a later MESSAGES_SNAPSHOT keeps it before the next question", async () => {
    let n = 0;
    const backend = scriptedBackend({
      script: () => (n++ === 0 ? [{ type: "thinking", text: "hmm" }, c1, c2] : [{ type: "text", text: "end" }]),
    });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const input = firstRun();
    const messages = await applied(input, await collect(pipeline.run(input)));
    const answer = messages.find((m) => m.role === "assistant");
    expect(answer?.toolCalls?.map((c) => c.id)).toEqual(["c1", "c2"]);
    // The next run sends only its question: the pipeline sends the stored thread as a snapshot.
    const next: Input = { ...input, runId: "r2", messages: [{ id: "m2", role: "user", content: "next" }] };
    const events = await collect(pipeline.run(next));
    expect(events.some((e) => e.type === "MESSAGES_SNAPSHOT")).toBe(true);
    const after = await applied({ ...next, messages: [...messages, ...next.messages] }, events);
    const ids = after.map((m) => m.id);
    expect(ids.indexOf(answer!.id)).toBeGreaterThanOrEqual(0);
    expect(ids.indexOf(answer!.id)).toBeLessThan(ids.indexOf("m2"));
    await pipeline.close();
  });

  it("after a step of parallel server tool calls, the next turn's prompt repeats the one the step's follow-up was given (KV-cache reuse)", async () => {
    const call = (id: string, city: string): ChatChunk => ({ type: "tool_call", call: { id, name: "weather", arguments: { city } } });
    let k = 0;
    const backend = scriptedBackend({
      script: () =>
        k++ === 0
          ? [{ type: "text", text: "Checking both. " }, call("s1", "Paris"), call("s2", "Rome")]
          : [{ type: "text", text: "Sunny." }],
    });
    const weather = { name: "weather", execute: ({ city }: Record<string, unknown>) => `sunny in ${String(city)}` };
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: [weather] });
    let messages: Message[] = [];
    for (const [i, text] of ["Weather in Paris and Rome?", "Thanks"].entries()) {
      const input: Input = {
        ...firstRun(),
        runId: `r${i}`,
        tools: [],
        messages: [...messages, { id: `u${i}`, role: "user", content: text }],
      };
      const events = await collect(pipeline.run(input));
      await expectValidStream(events);
      messages = await applied(input, events);
    }
    const [, followUp, next] = backend.requests.map((r) => r.messages);
    expect(JSON.stringify(next!.slice(0, followUp!.length))).toBe(JSON.stringify(followUp));
    expect(validToolSequence(next!.filter((m) => m.role !== "system"))).toBe(true);
    await pipeline.close();
  });

  it("an answer of more frontend calls than the trailing window holds keeps its message and the results that fit", async () => {
    const calls: ChatChunk[] = Array.from({ length: 12 }, (_, i) => ({
      type: "tool_call",
      call: { id: `c${i}`, name: "offer_choices", arguments: { options: [String(i)] } },
    }));
    let n = 0;
    const backend = scriptedBackend({ script: () => (n++ === 0 ? calls : [{ type: "text", text: "done" }]) });
    const pipeline = createZoePipeline({ backend, router: fixedRouter() });
    const input = firstRun();
    const messages = await applied(input, await collect(pipeline.run(input)));
    for (let i = 0; i < 12; i++) messages.push({ id: `t${i}`, role: "tool", toolCallId: `c${i}`, content: `picked ${i}` });
    await collect(pipeline.run({ ...input, runId: "r2", messages }));
    const sent = backend.requests[1]!.messages.filter((m) => m.role !== "system");
    // The default window after the turn is 12 messages: the answer and the first 11 results (the
    // 12th call goes with its result). Before, the last 12 were all results, and nothing was kept.
    expect(sent.flatMap((m) => (m.tool_calls ?? []).map((c) => c.id))).toEqual(Array.from({ length: 11 }, (_, i) => `c${i}`));
    expect(validToolSequence(sent)).toBe(true);
    await pipeline.close();
  });

  for (const [name, given] of [
    ["past maxIdLength", `call_${"x".repeat(295)}`],
    ["with a lone surrogate", "call_\uD800"],
  ] as const) {
    it(`a model's tool call id the next run would refuse (${name}) is replaced, and the continuation goes on`, async () => {
      let n = 0;
      const backend = scriptedBackend({
        script: () =>
          n++ === 0 ? [{ type: "tool_call", call: { id: given, name: "offer_choices", arguments: {} } }] : [{ type: "text", text: "ok" }],
      });
      const pipeline = createZoePipeline({ backend, router: fixedRouter() });
      const input = firstRun();
      const events = await collect(pipeline.run(input));
      await expectValidStream(events);
      const start = events.find((e) => e.type === "TOOL_CALL_START") as { toolCallId: string } | undefined;
      expect(start?.toolCallId).not.toBe(given);
      expect(start?.toolCallId.length).toBeLessThanOrEqual(256);
      const messages = await applied(input, events);
      messages.push({ id: "t1", role: "tool", toolCallId: start!.toolCallId, content: "a" });
      const next = await collect(pipeline.run({ ...input, runId: "r2", messages }));
      expect(next.at(-1)?.type).toBe("RUN_FINISHED");
      expect(backend.requests[1]!.messages.filter((m) => m.role === "tool").map((m) => m.tool_call_id)).toEqual([start!.toolCallId]);
      await pipeline.close();
    });
  }
});
