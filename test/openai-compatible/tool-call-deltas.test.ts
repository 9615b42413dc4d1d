/**
 * Streamed tool-call deltas as llama.cpp's server writes them, beyond what the shared fake plays by
 * default. Each fake behaviour names the server's source file and function it follows.
 */
import { describe, expect, it } from "vitest";
import { MAX_TOOL_ARGUMENT_CHARS } from "../../src/tools/argument-limit.js";
import { ask, drain, setup, signal } from "./helpers.js";

const ID = "Xq2nR8bW0pLk4sTzYv7cJ1eHa9uFm3dG";

describe("llama.cpp: streamed tool-call deltas", () => {
  it("a tool name that grows while it is parsed is replaced by its longer form at the same index", async () => {
    // common/chat.cpp `common_chat_msg_diff::compute_diffs`: "Allow tool name to change during
    // incremental parsing: empty -> non-empty, prefix -> longer string"; when the last call's id or
    // name changed it emits a diff at the same index with the whole new name (not a suffix), and
    // `common_chat_msg_diff_to_json_oaicompat` writes it as
    // `{index, id, type: "function", function: {name, arguments}}`. Ids are stable
    // (`set_tool_call_ids` caches the first one per index).
    const { backend } = await setup({
      flavor: "llama.cpp",
      models: { m: {} },
      script: () => [
        { type: "tool-delta", delta: { index: 0, id: ID, type: "function", function: { name: "get_wea", arguments: "{" } } },
        { type: "tool-delta", delta: { index: 0, id: ID, type: "function", function: { name: "get_weather", arguments: '"city":' } } },
        { type: "tool-delta", delta: { index: 0, function: { arguments: '"Paris"}' } } },
        { type: "finish", reason: "tool_calls" },
        { type: "usage" },
        { type: "done" },
      ],
    });
    const chunks = await drain(backend.chat(ask("weather in Paris?", "m"), { signal: signal() }));
    const calls = chunks.flatMap((c) => (c.type === "tool_call" ? [c.call] : []));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ id: ID, name: "get_weather" });
    expect(JSON.parse(String(calls[0]?.arguments))).toEqual({ city: "Paris" });
  });

  it("arguments streamed past the most a call may carry are not all kept (memory stays bounded; the pipeline refuses the call)", async () => {
    const piece = "z".repeat(100_000);
    const pieces = Math.ceil((3 * MAX_TOOL_ARGUMENT_CHARS) / piece.length);
    const { backend } = await setup({
      flavor: "llama.cpp",
      models: { m: {} },
      script: () => [
        { type: "tool-delta", delta: { index: 0, id: ID, type: "function", function: { name: "write", arguments: '{"text":"' } } },
        ...Array.from({ length: pieces }, () => ({ type: "tool-delta" as const, delta: { index: 0, function: { arguments: piece } } })),
        { type: "tool-delta", delta: { index: 0, function: { arguments: '"}' } } },
        { type: "finish", reason: "tool_calls" },
        { type: "usage" },
        { type: "done" },
      ],
    });
    const chunks = await drain(backend.chat(ask("write a lot", "m"), { signal: signal() }));
    const calls = chunks.flatMap((c) => (c.type === "tool_call" ? [c.call] : []));
    expect(calls).toHaveLength(1);
    const length = String(calls[0]?.arguments).length;
    expect(length).toBeGreaterThan(MAX_TOOL_ARGUMENT_CHARS);
    expect(length).toBeLessThanOrEqual(MAX_TOOL_ARGUMENT_CHARS + piece.length);
  });
});
