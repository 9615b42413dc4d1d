import { describe, expect, it } from "vitest";
import { createZoePipeline, EventType, type AGUIEvent, type ChatRequest, type CodeExecutor, type ServerTool } from "../../src/index.js";
import { scriptedBackend, textChunks, type ScriptStep } from "../../src/testing/index.js";
import { collect, expectValidStream, runValid, terminal, textOf } from "../helpers/ag-ui.js";
import { fixedRouter, sleep, offerChoicesInput } from "../helpers/fixtures.js";

const results = (events: AGUIEvent[]) =>
  events.flatMap((e) => (e.type === EventType.TOOL_CALL_RESULT ? [{ id: e.toolCallId, content: e.content }] : []));
const finished = (events: AGUIEvent[]) => {
  const last = terminal(events);
  if (last.type !== EventType.RUN_FINISHED) throw new Error(`expected RUN_FINISHED, got ${JSON.stringify(last)}`);
  return last;
};

/** A model that calls `tool` until it sees a tool result, then answers with the result. */
function toolModel(tool: string, args: Record<string, unknown> = {}, answer = (r: string) => `The answer is ${r}.`) {
  let n = 0;
  return (request: ChatRequest): ScriptStep[] => {
    const last = request.messages.at(-1)!;
    if (last.role === "tool") return textChunks(answer(last.content));
    return [...textChunks("Let me check. "), { type: "tool_call", call: { id: `call-${++n}`, name: tool, arguments: args } }];
  };
}

const clock: ServerTool = {
  name: "get_time",
  description: "The current time",
  parameters: { type: "object", properties: { zone: { type: "string" } } },
  execute: async (args) => `12:00 in ${String(args.zone)}`,
};

describe("tool calls", () => {
  it("runs a server tool, streams its result, and gives it back to the model for the continuation", async () => {
    const backend = scriptedBackend({ script: toolModel("get_time", { zone: "Tokyo" }) });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: [clock] });
    const events = await runValid(pipeline.run({ userId: "u", message: "what time is it in Tokyo" }));
    expect(results(events)).toEqual([{ id: "call-1", content: "12:00 in Tokyo" }]);
    expect(textOf(events)).toBe("Let me check. The answer is 12:00 in Tokyo.");
    expect(backend.requests).toHaveLength(2);
    expect(backend.requests[0]!.tools?.map((t) => t.function.name)).toEqual(["get_time"]);
    expect(backend.requests[1]!.messages.slice(-2)).toEqual([
      // The call's id goes back with the call and with its result (Ollama ≥ 0.12.10, OpenAI protocol).
      {
        role: "assistant",
        content: "Let me check. ",
        tool_calls: [{ id: "call-1", function: { name: "get_time", arguments: { zone: "Tokyo" } } }],
      },
      { role: "tool", content: "12:00 in Tokyo", tool_name: "get_time", tool_call_id: "call-1" },
    ]);
    // The continuation is the first call's prompt and options, then the step; the counted prompt
    // size went with the first call only.
    const [first, second] = backend.requests as [ChatRequest, ChatRequest];
    expect(second.messages.slice(0, first.messages.length)).toEqual(first.messages);
    expect(second.messages).toHaveLength(first.messages.length + 2);
    const { messages: _m1, promptTokens: counted, ...firstRest } = first;
    const { messages: _m2, ...secondRest } = second;
    expect(counted).toBeGreaterThan(0);
    expect(secondRest).toEqual(firstRest);
    const done = finished(events);
    expect(done.outcome).toEqual({ type: "success" });
    expect((done.result as any).metrics.tools).toEqual({ calls: 1, steps: 1, codeRuns: 0 });
    const types = events.map((e) => e.type);
    expect(types.indexOf(EventType.TOOL_CALL_END)).toBeLessThan(types.indexOf(EventType.TOOL_CALL_RESULT));
  });

  it("leaves frontend tools declared in the input pending for the client, without running them", async () => {
    const backend = scriptedBackend({ script: toolModel("offer_choices", { options: ["a", "b"] }) });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: [clock] });
    const events = await runValid(pipeline.run(offerChoicesInput("help me pick")));
    expect(results(events)).toEqual([]);
    expect(backend.requests).toHaveLength(1);
    expect(backend.requests[0]!.tools?.map((t) => t.function.name)).toEqual(["get_time", "offer_choices"]);
    expect(finished(events).outcome).toEqual({ type: "success", pendingToolCallIds: ["call-1"] });
  });

  it("gives the model an error result when a tool throws, and goes on", async () => {
    const broken: ServerTool = {
      name: "lookup",
      execute: () => {
        throw new Error("database offline");
      },
    };
    const backend = scriptedBackend({ script: toolModel("lookup", {}, (r) => `Sorry: ${r}`) });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: [broken] });
    const events = await runValid(pipeline.run({ userId: "u", message: "look it up" }));
    expect(results(events)[0]?.content).toBe("Error: database offline");
    expect(textOf(events)).toContain("Sorry: Error: database offline");
  });

  it("gives the model an error result when a tool misses its deadline, and aborts the tool", async () => {
    let aborted = false;
    const slow: ServerTool = {
      name: "slow",
      timeoutMs: 30,
      execute: async (_args, { signal }) => {
        signal.addEventListener("abort", () => (aborted = true));
        await sleep(5_000, signal);
      },
    };
    const backend = scriptedBackend({ script: toolModel("slow") });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: [slow] });
    const events = await runValid(pipeline.run({ userId: "u", message: "go slow" }));
    expect(results(events)[0]?.content).toMatch(/^Error: the tool took longer than its 30 ms deadline/);
    expect(aborted).toBe(true);
    expect(backend.requests).toHaveLength(2);
  });

  it("answers a call of an unknown tool with an error result", async () => {
    const backend = scriptedBackend({ script: toolModel("no_such_tool") });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: [clock] });
    const events = await runValid(pipeline.run({ userId: "u", message: "do it" }));
    expect(results(events)[0]?.content).toBe('Error: there is no tool named "no_such_tool".');
    expect(backend.requests).toHaveLength(2);
  });

  it("enforces the step limit: calls beyond it are not run", async () => {
    let runs = 0;
    const counter: ServerTool = { name: "again", execute: () => `run ${++runs}` };
    let n = 0;
    const backend = scriptedBackend({
      script: () => [{ type: "tool_call", call: { id: `c${++n}`, name: "again", arguments: {} } }],
    });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), tools: [counter], maxToolSteps: 2 });
    const events = await runValid(pipeline.run({ userId: "u", message: "loop forever" }));
    expect(runs).toBe(2);
    expect(backend.requests).toHaveLength(3);
    expect(results(events).map((r) => r.content)).toEqual([
      "run 1",
      "run 2",
      "Error: not run, the limit of 2 tool steps per run was reached.",
    ]);
    expect((finished(events).result as any).metrics.tools).toEqual({ calls: 3, steps: 3, codeRuns: 0 });
  });

  it("cancelling while a tool runs aborts the tool and ends the run as cancelled", async () => {
    let aborted = false;
    const slow: ServerTool = {
      name: "slow",
      execute: async (_a, { signal }) => {
        signal.addEventListener("abort", () => (aborted = true));
        await sleep(5_000, signal);
      },
    };
    const pipeline = createZoePipeline({ backend: scriptedBackend({ script: toolModel("slow") }), router: fixedRouter(), tools: [slow] });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const events = await collect(pipeline.run({ userId: "u", message: "go" }, { signal: controller.signal }));
    await expectValidStream(events);
    expect(finished(events).outcome).toEqual({ type: "cancelled" });
    expect(aborted).toBe(true);
  });
});

describe("code execution while streaming", () => {
  /** An executor that "runs" JavaScript by echoing it after a delay. */
  const echoExecutor = (delayMs: number): CodeExecutor & { seen: string[] } => {
    const seen: string[] = [];
    return {
      languages: ["javascript", "js"],
      seen,
      async execute(code) {
        seen.push(code);
        await sleep(delayMs);
        return { ok: true, output: `ran ${code.trim()}` };
      },
    };
  };
  const fenced = (lang: string) => [
    ...textChunks("Here is code:\n"),
    { type: "text" as const, text: "``" },
    { type: "text" as const, text: `\`${lang}\nconsole.log(1 + 1)\n` },
    { type: "text" as const, text: "```\n" },
    ...textChunks("and the answer goes on while it runs, word by word."),
  ];

  it("runs a complete block at once as a run_code tool call, while the answer streams on", async () => {
    const executor = echoExecutor(30);
    const backend = scriptedBackend({ script: [...fenced("js")], chunkDelayMs: 10 });
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), codeExecutor: executor });
    const events = await runValid(pipeline.run({ userId: "u", message: "show me code" }));
    expect(executor.seen).toEqual(["console.log(1 + 1)\n"]);
    const start = events.findIndex((e) => e.type === EventType.TOOL_CALL_START);
    expect(events[start]).toMatchObject({ toolCallName: "run_code" });
    const args = events.find((e) => e.type === EventType.TOOL_CALL_ARGS);
    expect(args?.type === EventType.TOOL_CALL_ARGS && JSON.parse(args.delta)).toEqual({ language: "js", code: "console.log(1 + 1)\n" });
    const result = events.findIndex((e) => e.type === EventType.TOOL_CALL_RESULT);
    expect(results(events)[0]?.content).toBe("ran console.log(1 + 1)");
    // text kept streaming between the call and its result
    expect(events.slice(start, result).some((e) => e.type === EventType.TEXT_MESSAGE_CONTENT)).toBe(true);
    expect((finished(events).result as any).metrics.tools.codeRuns).toBe(1);
  });

  it("does not run languages the executor does not support, nor anything when no executor is set", async () => {
    const executor = echoExecutor(1);
    const python = await runValid(
      createZoePipeline({ backend: scriptedBackend({ script: fenced("python") }), router: fixedRouter(), codeExecutor: executor }).run({
        userId: "u",
        message: "x",
      }),
    );
    expect(executor.seen).toEqual([]);
    expect(python.some((e) => e.type === EventType.TOOL_CALL_START)).toBe(false);
    const off = await runValid(
      createZoePipeline({ backend: scriptedBackend({ script: fenced("js") }), router: fixedRouter() }).run({ userId: "u", message: "x" }),
    );
    expect(off.some((e) => e.type === EventType.TOOL_CALL_START)).toBe(false);
  });
});
