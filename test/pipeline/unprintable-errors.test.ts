/**
 * Dependencies that throw or reject with a value that cannot be turned into text (an object
 * without a prototype, a throwing `toString` or `message` getter): reporting the failure must not
 * fail in turn. Before, a provider rejecting so left the run waiting forever (and the rejection
 * unhandled), and so did a code executor.
 */
import { describe, expect, it } from "vitest";
import { createZoePipeline, EventType, type CodeExecutor, type ServerTool } from "../../src/index.js";
import { errorMessage } from "../../src/errors/error-message.js";
import { scriptedBackend, textChunks, type ScriptStep } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { expectModelError, runWithFailingProvider } from "../helpers/throwing-dependencies.js";
import { fixedRouter } from "../helpers/fixtures.js";

const nullProto = () => Object.create(null) as object;
const throwingToString = () => ({
  toString() {
    throw new Error("no");
  },
});
const throwingMessage = () => {
  const error = new Error("x");
  Object.defineProperty(error, "message", {
    get() {
      throw new Error("no");
    },
  });
  return error;
};
const UNPRINTABLE = [nullProto, throwingToString, throwingMessage];

describe("errorMessage", () => {
  it("gives an Error's message or the value as text, and never throws", () => {
    expect(errorMessage(new TypeError("boom"))).toBe("boom");
    expect(errorMessage("plain")).toBe("plain");
    expect(errorMessage(undefined)).toBe("undefined");
    expect(errorMessage(nullProto())).toBe("a thrown object that cannot be shown as text");
    expect(errorMessage(throwingToString())).toBe("a thrown object that cannot be shown as text");
    expect(errorMessage(throwingMessage())).toBe("a thrown object that cannot be shown as text");
  });
});

describe("a run whose dependency fails with a value that cannot be shown", () => {
  it("a provider: the run finishes, the provider marked as failed", async () => {
    for (const make of UNPRINTABLE) {
      const events = await runWithFailingProvider(make);
      expect(events.at(-1)?.type).toBe(EventType.RUN_FINISHED);
      const metrics = (events.at(-1) as { result: { metrics: { providers: Record<string, { status: string }> } } }).result.metrics;
      expect(metrics.providers.bad?.status).toBe("error");
    }
  });

  it("a code executor: the block's result is an error and the run finishes", async () => {
    for (const make of UNPRINTABLE) {
      const executor: CodeExecutor = {
        languages: ["js"],
        execute: async () => {
          throw make();
        },
      };
      const script: ScriptStep[] = [{ type: "text", text: "```js\n1\n```\n" }, ...textChunks("done")];
      const pipeline = createZoePipeline({ backend: scriptedBackend({ script }), router: fixedRouter(), codeExecutor: executor });
      const events = await runValid(pipeline.run({ userId: "u", threadId: "t", message: "run it" }));
      const result = events.find((e) => e.type === EventType.TOOL_CALL_RESULT);
      expect(result && "content" in result && result.content).toBe("Error: a thrown object that cannot be shown as text");
      expect(events.at(-1)?.type).toBe(EventType.RUN_FINISHED);
      await pipeline.close();
    }
  });

  it("the model backend: RUN_ERROR with MODEL_ERROR", async () => {
    for (const make of UNPRINTABLE) await expectModelError(make);
  });

  it("a server tool, the router and the system prompt: the run goes on", async () => {
    for (const make of UNPRINTABLE) {
      const tool: ServerTool = {
        name: "bad_tool",
        execute: async () => {
          throw make();
        },
      };
      const script = (request: { messages: Array<{ role: string }> }): ScriptStep[] =>
        request.messages.at(-1)?.role === "tool"
          ? textChunks("after the tool")
          : [{ type: "tool_call", call: { id: "c1", name: "bad_tool", arguments: {} } }];
      const pipeline = createZoePipeline({
        backend: scriptedBackend({ script }),
        router: {
          route: () => {
            throw make();
          },
          models: () => ["m"],
        },
        fallbackRouter: fixedRouter(),
        systemPrompt: () => {
          throw make();
        },
        tools: [tool],
      });
      const events = await runValid(pipeline.run({ userId: "u", threadId: "t", message: "use the tool" }));
      const result = events.find((e) => e.type === EventType.TOOL_CALL_RESULT);
      expect(result && "content" in result && result.content).toContain("cannot be shown as text");
      expect(events.at(-1)?.type).toBe(EventType.RUN_FINISHED);
      await pipeline.close();
    }
  });
});
