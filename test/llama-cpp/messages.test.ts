import { describe, expect, it } from "vitest";
import { toChatHistory, toFunctions, toGenerationSettings } from "../../src/llama-cpp/messages.js";
import { ChunkQueue } from "../../src/llama-cpp/chunk-queue.js";

describe("llama.cpp message mapping", () => {
  it("maps roles, tool calls and tool results to node-llama-cpp chat history", () => {
    const history = toChatHistory([
      { role: "system", content: "Be brief." },
      { role: "user", content: "Weather in Paris?" },
      { role: "assistant", content: "", tool_calls: [{ function: { name: "weather", arguments: { city: "Paris" } } }] },
      { role: "tool", tool_name: "weather", content: '{"c":21}' },
      { role: "tool", tool_name: "clock", content: "12:00" },
    ]);
    expect(history).toEqual([
      { type: "system", text: "Be brief." },
      { type: "user", text: "Weather in Paris?" },
      { type: "model", response: [{ type: "functionCall", name: "weather", params: { city: "Paris" }, result: { c: 21 } }] },
      { type: "user", text: "Result of clock:\n12:00" },
    ]);
  });

  it("gives each result to its own call by id, when results come in another order than two calls of one tool", () => {
    const call = (id: string, item: string) => ({ id, function: { name: "add_item", arguments: { item } } });
    const history = toChatHistory([
      { role: "user", content: "add apple and pear" },
      { role: "assistant", content: "", tool_calls: [call("c1", "apple"), call("c2", "pear")] },
      { role: "tool", tool_name: "add_item", tool_call_id: "c2", content: '"pear added"' },
      { role: "tool", tool_name: "add_item", tool_call_id: "c1", content: '"apple out of stock"' },
    ]);
    expect(history[1]).toEqual({
      type: "model",
      response: [
        { type: "functionCall", name: "add_item", params: { item: "apple" }, result: "apple out of stock" },
        { type: "functionCall", name: "add_item", params: { item: "pear" }, result: "pear added" },
      ],
    });
  });

  it("maps tools to functions", () => {
    expect(toFunctions(undefined)).toBeUndefined();
    expect(toFunctions([])).toBeUndefined();
    expect(
      toFunctions([
        { type: "function", function: { name: "weather", description: "Weather now", parameters: { type: "object", properties: {} } } },
        { type: "function", function: { name: "noop" } },
      ]),
    ).toEqual({ weather: { description: "Weather now", params: { type: "object", properties: {} } }, noop: {} });
  });

  it("maps Ollama option names; num_predict becomes maxTokens", () => {
    expect(toGenerationSettings({}, 1024)).toEqual({ maxTokens: 1024 });
    expect(toGenerationSettings({ num_predict: -1 }, 256)).toEqual({ maxTokens: 256 });
    expect(
      toGenerationSettings(
        {
          num_predict: 32,
          temperature: 0.7,
          top_k: 40,
          top_p: 0.9,
          min_p: 0.05,
          seed: 7,
          stop: ["\n\n", 3],
          repeat_penalty: 1.2,
          repeat_last_n: 32,
        },
        1024,
      ),
    ).toEqual({
      maxTokens: 32,
      temperature: 0.7,
      topK: 40,
      topP: 0.9,
      minP: 0.05,
      seed: 7,
      stop: ["\n\n"],
      repeatPenalty: { penalty: 1.2, lastTokens: 32 },
    });
  });
});

describe("ChunkQueue", () => {
  it("hands pushed items to next() in order, then ends or fails after the buffered items", async () => {
    const q = new ChunkQueue<number>();
    const waiting = q.next();
    q.push(1);
    q.push(2);
    expect(await waiting).toEqual({ value: 1, done: false });
    q.end();
    expect(await q.next()).toEqual({ value: 2, done: false });
    expect(await q.next()).toEqual({ value: undefined, done: true });

    const failing = new ChunkQueue<number>();
    failing.push(1);
    failing.end({ error: new Error("boom") });
    expect(await failing.next()).toEqual({ value: 1, done: false });
    await expect(failing.next()).rejects.toThrow("boom");
  });
});
