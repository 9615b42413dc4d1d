/**
 * The fake OpenAI-compatible server behaves as the servers' source says. Each test names the file
 * and function it follows (vLLM, llama.cpp server, Ollama /v1).
 */
import { createParser } from "eventsource-parser";
import { describe, expect, it } from "vitest";
import { startFakeOpenAi, type FakeOpenAiOptions } from "../helpers/fake-openai.js";
import { onCleanup } from "./helpers.js";

async function fake(options: FakeOpenAiOptions) {
  const server = await startFakeOpenAi(options);
  onCleanup(() => server.close());
  return server;
}

/** POST a streaming chat and read the raw SSE: every field of every event, in order. */
async function stream(baseURL: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const response = await fetch(`${baseURL}/chat/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "hi" }], ...body }),
  });
  const raw = await response.text();
  const events: Array<{ field: string; value: string }> = [];
  const parser = createParser({
    onEvent: (e) => events.push({ field: "data", value: e.data }),
    onError: (e) => void (e.type === "unknown-field" && events.push({ field: e.field ?? "?", value: e.value ?? "" })),
  });
  parser.feed(raw);
  const data = events.filter((e) => e.field === "data" && e.value !== "[DONE]").map((e) => JSON.parse(e.value) as Record<string, any>);
  return { response, raw, events, data, done: events.some((e) => e.value === "[DONE]") };
}

const deltas = (data: Array<Record<string, any>>) =>
  data.flatMap((d) => (d.choices ?? []).map((c: { delta: Record<string, unknown> }) => c.delta));

describe("fake vLLM (vllm/entrypoints/openai/chat_completion/serving.py, chat_completion_stream_generator)", () => {
  it("SSE `data: {json}\\n\\n` events: a role chunk first, content deltas, finish_reason, the usage chunk with empty choices, then `data: [DONE]`", async () => {
    const server = await fake({ flavor: "vllm", models: { m: { reply: "Hi there." } } });
    const { response, raw, data, done } = await stream(server.baseURL, { model: "m" });
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(raw.endsWith("data: [DONE]\n\n")).toBe(true);
    expect(
      raw
        .split("\n\n")
        .filter(Boolean)
        .every((e) => e.startsWith("data: ")),
    ).toBe(true);
    expect(done).toBe(true);
    expect(deltas(data)[0]).toEqual({ role: "assistant", content: "" });
    expect(
      deltas(data)
        .map((d) => d.content ?? "")
        .join(""),
    ).toBe("Hi there.");
    const finish = data.find((d) => d.choices?.[0]?.finish_reason);
    expect(finish?.choices[0].finish_reason).toBe("stop");
    const usage = data.at(-1)!;
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: 2, total_tokens: expect.any(Number) });
    expect(usage.usage.prompt_tokens_details).toBeUndefined();
  });

  it("the usage chunk only with stream_options.include_usage (api_utils should_include_usage)", async () => {
    const server = await fake({ flavor: "vllm", models: { m: {} } });
    const { data } = await stream(server.baseURL, { model: "m", stream_options: undefined });
    expect(data.some((d) => d.usage)).toBe(false);
  });

  it("prompt_tokens_details.cached_tokens with --enable-prompt-tokens-details (_make_prompt_tokens_details): the prefix shared with the last prompt", async () => {
    const server = await fake({ flavor: "vllm", promptTokensDetails: true, models: { m: {} } });
    const long = "A long and stable system prompt. ".repeat(20);
    const first = await stream(server.baseURL, {
      model: "m",
      messages: [
        { role: "system", content: long },
        { role: "user", content: "one" },
      ],
    });
    const second = await stream(server.baseURL, {
      model: "m",
      messages: [
        { role: "system", content: long },
        { role: "user", content: "two" },
      ],
    });
    expect(first.data.at(-1)!.usage.prompt_tokens_details).toEqual({ cached_tokens: 0 });
    const u = second.data.at(-1)!.usage;
    expect(u.prompt_tokens_details.cached_tokens).toBeGreaterThan(u.prompt_tokens / 2);
    expect(u.prompt_tokens_details.cached_tokens).toBeLessThan(u.prompt_tokens);
  });

  it("reasoning deltas as `reasoning` (generate/base/protocol.py DeltaMessage), or `reasoning_content` before the rename", async () => {
    const now = await fake({ flavor: "vllm", models: { m: { reasoning: "Let me think.", reply: "Yes." } } });
    const before = await fake({
      flavor: "vllm",
      reasoningField: "reasoning_content",
      models: { m: { reasoning: "Let me think.", reply: "Yes." } },
    });
    expect(
      deltas((await stream(now.baseURL, { model: "m" })).data)
        .map((d) => d.reasoning ?? "")
        .join(""),
    ).toBe("Let me think.");
    expect(
      deltas((await stream(before.baseURL, { model: "m" })).data)
        .map((d) => d.reasoning_content ?? "")
        .join(""),
    ).toBe("Let me think.");
  });

  it("tool calls by index (DeltaToolCall): id, type and name first, then argument fragments; finish_reason tool_calls", async () => {
    const server = await fake({
      flavor: "vllm",
      models: { m: { reply: "", toolCalls: [{ name: "get_weather", arguments: { city: "Porto", unit: "celsius" } }] } },
    });
    const { data } = await stream(server.baseURL, { model: "m" });
    const calls = deltas(data).flatMap((d) => d.tool_calls ?? []);
    expect(calls[0]).toMatchObject({
      index: 0,
      id: expect.stringMatching(/^chatcmpl-tool-/),
      type: "function",
      function: { name: "get_weather", arguments: "" },
    });
    expect(calls.length).toBeGreaterThan(2);
    expect(calls.slice(1).every((c: Record<string, unknown>) => c.id === undefined && c.index === 0)).toBe(true);
    expect(JSON.parse(calls.map((c: { function: { arguments?: string } }) => c.function.arguments ?? "").join(""))).toEqual({
      city: "Porto",
      unit: "celsius",
    });
    expect(data.find((d) => d.choices?.[0]?.finish_reason)?.choices[0].finish_reason).toBe("tool_calls");
  });

  it('an error in the middle of the stream is a `data: {"error": …}` event, then `data: [DONE]` (create_streaming_error_response)', async () => {
    const server = await fake({
      flavor: "vllm",
      models: { m: {} },
      script: () => [
        { type: "content", text: "Hal" },
        { type: "error-event", message: "boom" },
      ],
    });
    const { data, done, response } = await stream(server.baseURL, { model: "m" });
    expect(response.status).toBe(200);
    expect(data.at(-1)).toEqual({ error: { message: "boom", type: "InternalServerError", param: null, code: 500 } });
    expect(done).toBe(true);
  });

  it("an unknown model is HTTP 404 NotFoundError with param model (engine/serving.py _check_model); stream_options without stream is 400", async () => {
    const server = await fake({ flavor: "vllm", models: { m: {} } });
    const missing = await stream(server.baseURL, { model: "nope" });
    expect(missing.response.status).toBe(404);
    expect(JSON.parse(missing.raw)).toEqual({
      error: { message: "The model `nope` does not exist.", type: "NotFoundError", param: "model", code: 404 },
    });
    const bad = await stream(server.baseURL, { model: "m", stream: false });
    expect(bad.response.status).toBe(400);
    expect(JSON.parse(bad.raw).error.message).toMatch(/Stream options can only be defined when stream is true/);
  });

  it("headers go out at once (StreamingResponse), the first chunk after the time to first token", async () => {
    const server = await fake({ flavor: "vllm", models: { m: { firstTokenDelayMs: 300 } } });
    const controller = new AbortController();
    const response = await fetch(`${server.baseURL}/chat/completions`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "m", stream: true, messages: [{ role: "user", content: "hi" }] }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(server.chats()[0]!.finished).toBe(false); // the headers came before the answer
    controller.abort();
    await server.chats()[0]!.closed;
    expect(server.chats()[0]!.closedByClient).toBe(true);
  });

  it("/v1/models lists the served models; /v1/embeddings answers data[] by index; unknown routes are FastAPI's 404", async () => {
    const server = await fake({ flavor: "vllm", models: { m: {}, e: { embedding: true } } });
    const models = (await (await fetch(`${server.baseURL}/models`)).json()) as { object: string; data: Array<{ id: string }> };
    expect(models.object).toBe("list");
    expect(models.data.map((m) => m.id)).toEqual(["m", "e"]);
    const emb = await fetch(`${server.baseURL}/embeddings`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "e", input: ["a", "b"] }),
    });
    const body = (await emb.json()) as { data: Array<{ index: number; embedding: number[] }> };
    expect(body.data.map((d) => d.index)).toEqual([0, 1]);
    expect(body.data[0]!.embedding).toHaveLength(8);
    const nowhere = await fetch(`${server.url}/chat/completions`, { method: "POST", body: "{}" });
    expect(nowhere.status).toBe(404);
    expect(await nowhere.json()).toEqual({ detail: "Not Found" });
  });
});

describe("fake llama.cpp server (tools/server)", () => {
  it("headers only with the first result (server.cpp handle_completions_impl): a slow first token keeps the status unsent", async () => {
    const server = await fake({ flavor: "llama.cpp", models: { m: { firstTokenDelayMs: 5_000 } } });
    const controller = new AbortController();
    const pending = fetch(`${server.baseURL}/chat/completions`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "m", stream: true, messages: [{ role: "user", content: "hi" }] }),
      signal: controller.signal,
    }).catch((e: unknown) => e);
    while (server.chats().length === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    controller.abort(new Error("gave up"));
    expect(await pending).toMatchObject({ message: "gave up" }); // no response object ever came
    await server.chats()[0]!.closed;
    expect(server.chats()[0]!.status).toBe(200); // Node's default: nothing was written
    expect(server.chats()[0]!.closedByClient).toBe(true);
  });

  it("reasoning_content and tool-call diffs (server-chat.cpp server_chat_msg_diff_to_json_oaicompat); a finish chunk with an empty delta; usage with cached_tokens and timings (server-task.cpp to_json_oaicompat_chat_stream, usage_json_oaicompat)", async () => {
    const server = await fake({
      flavor: "llama.cpp",
      models: { m: { reasoning: "Hmm.", reply: "Calling.", toolCalls: [{ name: "lookup", arguments: { q: "x" } }] } },
    });
    const { data, done } = await stream(server.baseURL, { model: "whatever-name" });
    const d = deltas(data);
    expect(d[0]).toEqual({ role: "assistant", content: null });
    expect(d.map((x) => x.reasoning_content ?? "").join("")).toBe("Hmm.");
    const calls = d.flatMap((x) => x.tool_calls ?? []);
    expect(calls[0]).toEqual({ index: 0, id: expect.any(String), type: "function", function: { name: "lookup" } });
    const finish = data.find((x) => x.choices?.[0]?.finish_reason)!;
    expect(finish.choices[0]).toEqual({ index: 0, delta: {}, finish_reason: "tool_calls" });
    const last = data.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage.prompt_tokens_details).toEqual({ cached_tokens: expect.any(Number) });
    expect(last.timings).toMatchObject({ prompt_n: expect.any(Number), prompt_ms: expect.any(Number), predicted_ms: expect.any(Number) });
    expect(done).toBe(true);
    // A single-model server answers whatever `model` says.
    expect(server.chats()[0]!.status).toBe(200);
  });

  it('a mid-stream error is `data: {"error": {code, message, type}}` and the stream ends without [DONE] (handle_completions_impl)', async () => {
    const server = await fake({
      flavor: "llama.cpp",
      models: { m: {} },
      script: () => [
        { type: "content", text: "a" },
        { type: "error-event", message: "the request exceeds the available context size" },
      ],
    });
    const { data, done } = await stream(server.baseURL, { model: "m" });
    expect(data.at(-1)).toEqual({ error: { code: 500, message: "the request exceeds the available context size", type: "server_error" } });
    expect(done).toBe(false);
  });

  it("older servers (examples/server/server.cpp) sent it as an `error:` SSE field, then `data: [DONE]`", async () => {
    const server = await fake({
      flavor: "llama.cpp",
      models: { m: {} },
      script: () => [
        { type: "content", text: "a" },
        { type: "error-field", message: "slot crashed" },
      ],
    });
    const { events, done } = await stream(server.baseURL, { model: "m" });
    const error = events.find((e) => e.field === "error")!;
    expect(JSON.parse(error.value)).toEqual({ code: 500, message: "slot crashed", type: "server_error" });
    expect(done).toBe(true);
  });

  it('errors before the stream are an HTTP status with {"error": {code, message, type}} (server-common.cpp format_error_response): 503 while loading, 401 without the key, 404 File Not Found, 501 without --embeddings', async () => {
    const server = await fake({ flavor: "llama.cpp", apiKey: "k", embeddings: false, models: { m: {} } });
    const noKey = await stream(server.baseURL, { model: "m" });
    expect(noKey.response.status).toBe(401);
    expect(JSON.parse(noKey.raw)).toEqual({ error: { code: 401, message: "Invalid API Key", type: "authentication_error" } });
    server.loading = true;
    const loading = await stream(server.baseURL, { model: "m" }, { Authorization: "Bearer k" });
    expect(loading.response.status).toBe(503);
    expect(JSON.parse(loading.raw)).toEqual({ error: { code: 503, message: "Loading model", type: "unavailable_error" } });
    server.loading = false;
    const route = await fetch(`${server.url}/chat/completions`, { method: "POST", headers: { Authorization: "Bearer k" }, body: "{}" });
    expect(route.status).toBe(404);
    expect(await route.json()).toEqual({ error: { code: 404, message: "File Not Found", type: "not_found_error" } });
    const emb = await fetch(`${server.baseURL}/embeddings`, {
      method: "POST",
      headers: { Authorization: "Bearer k" },
      body: JSON.stringify({ input: ["a"] }),
    });
    expect(emb.status).toBe(501);
    expect(((await emb.json()) as { error: { message: string } }).error.message).toMatch(/--embeddings/);
  });

  it('the router (server-models.cpp router_validate_model): an unknown model is a 400 "model not found"; /models gives each model\'s status', async () => {
    const server = await fake({ flavor: "llama.cpp-router", models: { a: {}, b: { status: "unloaded" } } });
    const missing = await stream(server.baseURL, { model: "c" });
    expect(missing.response.status).toBe(400);
    expect(JSON.parse(missing.raw)).toEqual({ error: { code: 400, message: "model not found", type: "invalid_request_error" } });
    const models = (await (await fetch(`${server.baseURL}/models`)).json()) as { data: Array<{ id: string; status: { value: string } }> };
    expect(models.data.map((m) => [m.id, m.status.value])).toEqual([
      ["a", "loaded"],
      ["b", "unloaded"],
    ]);
  });
});

describe("fake Ollama /v1 (openai/openai.go)", () => {
  it("every delta has the role, reasoning as `reasoning`, each tool call whole in one delta (ToChunk, ToToolCalls)", async () => {
    const server = await fake({
      flavor: "ollama",
      models: { m: { reasoning: "Hm.", reply: "", toolCalls: [{ name: "f", arguments: { a: 1 } }] } },
    });
    const { data } = await stream(server.baseURL, { model: "m" });
    const d = deltas(data);
    expect(d.every((x) => x.role === "assistant")).toBe(true);
    expect(d.map((x) => x.reasoning ?? "").join("")).toBe("Hm.");
    const calls = d.flatMap((x) => x.tool_calls ?? []);
    expect(calls).toEqual([
      { id: expect.stringMatching(/^call_/), index: 0, type: "function", function: { name: "f", arguments: '{"a":1}' } },
    ]);
  });

  it("an unknown model is 404 not_found_error with null code and param (NewError)", async () => {
    const server = await fake({ flavor: "ollama", models: { m: {} } });
    const missing = await stream(server.baseURL, { model: "llama9" });
    expect(missing.response.status).toBe(404);
    expect(JSON.parse(missing.raw)).toEqual({
      error: { message: 'model "llama9" not found, try pulling it first', type: "not_found_error", param: null, code: null },
    });
  });
});

describe("fake server plumbing", () => {
  it("records each request; one the client abandons is closedByClient; a dropped socket is not", async () => {
    const server = await fake({
      flavor: "vllm",
      models: { m: { chunkDelayMs: 50, reply: "a b c d e f" } },
      script: (body) =>
        (body.messages as Array<{ content: string }>)[0]!.content === "drop"
          ? [{ type: "content", text: "x" }, { type: "drop" }]
          : undefined,
    });
    const controller = new AbortController();
    const response = await fetch(`${server.baseURL}/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "m", stream: true, messages: [{ role: "user", content: "hi" }] }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await server.chats()[0]!.closed;
    expect(server.chats()[0]).toMatchObject({ closedByClient: true, finished: false, body: { model: "m" } });
    await stream(server.baseURL, { model: "m", messages: [{ role: "user", content: "drop" }] }).catch(() => undefined);
    await server.chats()[1]!.closed;
    expect(server.chats()[1]!.closedByClient).toBe(false);
  });
});
