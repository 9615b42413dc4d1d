/**
 * Counted work, not time: a run whose tools fit tokenizes its first prompt once; the call after a
 * tool step reuses the run's counts (a backend's tokenizer is synchronous work).
 */
import { describe, expect, it } from "vitest";
import { createZoePipeline } from "../../../src/index.js";
import { scriptedBackend } from "../../../src/testing/index.js";
import { collect } from "../../helpers/ag-ui.js";
import { fixedRouter } from "../../helpers/fixtures.js";

function counting() {
  const seen = new Map<string, number>();
  let chars = 0;
  let calls = 0;
  const counter = (text: string) => {
    calls++;
    chars += text.length;
    seen.set(text, (seen.get(text) ?? 0) + 1);
    return Math.ceil(text.length / 3.5);
  };
  return {
    counter,
    seen,
    get chars() {
      return chars;
    },
    get calls() {
      return calls;
    },
  };
}

async function run(withToolCall: boolean, systemPrompt: string) {
  const c = counting();
  let n = 0;
  const inner = scriptedBackend({
    script: () =>
      withToolCall && n++ === 0
        ? [{ type: "tool_call", call: { id: "s1", name: "lookup", arguments: { q: "x" } } }]
        : [{ type: "text", text: "ok" }],
  });
  const backend = Object.assign(Object.create(inner), { tokenCounter: () => c.counter, chat: inner.chat, requests: inner.requests });
  const pipeline = createZoePipeline({
    backend,
    router: fixedRouter(),
    systemPrompt,
    promptTokens: 100_000,
    tools: [{ name: "lookup", description: "Look up", execute: async () => "short" }],
  });
  await collect(pipeline.run({ userId: "u", message: "What is the price?" }));
  await pipeline.close();
  return { c, requests: inner.requests };
}

describe("tokenizer work of a run whose tools fit", () => {
  it("the system prompt is tokenized once per run, tool step or not", async () => {
    const system = "You are a careful assistant. ".repeat(2_000); // 58,000 characters
    const plain = await run(false, system);
    const stepped = await run(true, system);
    expect(stepped.requests).toHaveLength(2);
    const systemText = stepped.requests[0]!.messages[0]!.content;
    expect(plain.c.seen.get(systemText)).toBe(1);
    // eslint-disable-next-line no-console
    console.log("chars counted: no tool step", plain.c.chars, "one tool step that fits", stepped.c.chars);
    expect(stepped.c.seen.get(systemText)).toBe(1);
    expect(stepped.c.chars).toBeLessThan(plain.c.chars + 1_000);
  });
});
