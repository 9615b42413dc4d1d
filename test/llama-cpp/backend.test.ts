import { writeFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatChunk, ChatMessage, ChatRequest } from "../../src/index.js";
import { ModelError } from "../../src/index.js";
import { createLlamaCppBackend, type LlamaCppRequestTrace } from "../../src/llama-cpp/backend.js";
import { LlamaCppError, llamaCppBackend, type LlamaCppBackend } from "../../src/llama-cpp/index.js";
import { describeWithModel, TEST_MODEL_PATH, TEST_THREADS } from "./model.js";

type Done = Extract<ChatChunk, { type: "done" }>;

async function drain(stream: AsyncIterable<ChatChunk>): Promise<{ chunks: ChatChunk[]; text: string; done: Done }> {
  const chunks: ChatChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  const done = chunks.at(-1);
  if (done?.type !== "done") throw new Error(`the stream did not end with done: ${JSON.stringify(done)}`);
  const text = chunks.map((c) => (c.type === "text" ? c.text : "")).join("");
  return { chunks, text, done };
}

const ask = (messages: ChatMessage[], numPredict = 12, model = "tiny"): ChatRequest => ({
  model,
  messages,
  options: { num_predict: numPredict },
});

const signal = () => new AbortController().signal;

async function expectLlamaError(promise: Promise<unknown>, code: string): Promise<LlamaCppError> {
  const error = await promise.then(
    () => {
      throw new Error(`expected a ${code} error`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LlamaCppError);
  expect(error).toBeInstanceOf(ModelError);
  expect((error as LlamaCppError).code).toBe(code);
  return error as LlamaCppError;
}

describeWithModel("llama.cpp backend on the tiny model", () => {
  let backend: LlamaCppBackend;
  const traces: LlamaCppRequestTrace[] = [];

  beforeAll(() => {
    backend = createLlamaCppBackend(
      { modelPath: TEST_MODEL_PATH, threads: TEST_THREADS, contextSize: 1024, sequences: 3 },
      { onTrace: (t) => traces.push(t) },
    );
  });
  afterAll(async () => {
    await backend.close();
  });

  it("streams several text chunks, then done with token counts and timings", async () => {
    const first = await drain(
      backend.chat(
        ask(
          [
            { role: "system", content: "You are terse." },
            { role: "user", content: "Count to five." },
          ],
          12,
        ),
        {
          signal: signal(),
        },
      ),
    );
    const texts = first.chunks.filter((c) => c.type === "text");
    expect(texts.length).toBeGreaterThanOrEqual(3);
    expect(first.text.length).toBeGreaterThan(0);
    const { done } = first;
    expect(done.outputTokens).toBe(12);
    expect(done.doneReason).toBe("length");
    expect(done.inputTokens).toBeGreaterThan(10);
    // A fresh sequence: the whole prompt is evaluated.
    expect(done.promptEvalTokens).toBe(done.inputTokens);
    expect(done.loadMs).toBeGreaterThan(0); // this request loaded the model
    expect(done.queueMs).toBeGreaterThanOrEqual(0);
    expect(done.promptEvalMs).toBeGreaterThanOrEqual(0);
    expect(done.evalMs).toBeGreaterThan(0);

    // The model is loaded now: no loadMs.
    const second = await drain(backend.chat(ask([{ role: "user", content: "Again." }], 4), { signal: signal() }));
    expect(second.done.loadMs).toBeUndefined();
    expect(second.done.outputTokens).toBe(4);
    expect(await backend.loaded()).toEqual(["tiny"]);
  });

  it("evaluates only the new tokens of a thread's next turn, and everything for another prefix", async () => {
    const system: ChatMessage = { role: "system", content: "You are a helpful assistant who answers in one sentence." };
    const user1: ChatMessage = { role: "user", content: "What is the capital of France?" };
    const turn1 = await drain(backend.chat(ask([system, user1], 10), { signal: signal() }));
    const t1 = turn1.done;
    expect(t1.promptEvalTokens).toBe(t1.inputTokens);

    const turn2Messages: ChatMessage[] = [
      system,
      user1,
      { role: "assistant", content: turn1.text },
      { role: "user", content: "And of Italy?" },
    ];
    const turn2 = await drain(backend.chat(ask(turn2Messages, 10), { signal: signal() }));
    const t2 = turn2.done;
    const trace2 = traces.at(-1)!;
    expect(trace2.pick).toBe("continuation");
    // Turn 2's prompt extends turn 1's prompt (and answer): all of turn 1's prompt is reused…
    expect(trace2.reused).toBeGreaterThanOrEqual(t1.inputTokens!);
    expect(t2.promptEvalTokens).toBeLessThan(t2.inputTokens!);
    // …and what is evaluated is exactly the rest.
    expect(t2.promptEvalTokens).toBe(t2.inputTokens! - trace2.reused);
    const newTokens = t2.inputTokens! - t1.inputTokens!; // the answer, the end of turn, the new question
    expect(t2.promptEvalTokens).toBeLessThanOrEqual(newTokens);
    expect(t2.promptEvalTokens).toBeGreaterThanOrEqual(newTokens - t1.outputTokens!);
    console.log(
      `[prefix reuse] turn 1: ${t1.promptEvalTokens}/${t1.inputTokens} prompt tokens evaluated; ` +
        `turn 2: ${t2.promptEvalTokens}/${t2.inputTokens} (new since turn 1's prompt: ${newTokens})`,
    );

    // Another conversation (another system prompt): nothing to reuse, everything is evaluated.
    const other = await drain(
      backend.chat(
        ask(
          [
            { role: "system", content: "Tu parles français." },
            { role: "user", content: "Bonjour !" },
          ],
          4,
        ),
        {
          signal: signal(),
        },
      ),
    );
    expect(traces.at(-1)!.pick).not.toBe("continuation");
    expect(other.done.promptEvalTokens).toBeGreaterThanOrEqual(other.done.inputTokens! - 1); // at most the BOS token
  });

  it("stops generating at once when the signal aborts, and frees the sequence", async () => {
    const controller = new AbortController();
    const stream = backend.chat(ask([{ role: "user", content: "Tell me a very long story." }], 100_000), {
      signal: controller.signal,
    });
    const iterator = stream[Symbol.asyncIterator]();
    let texts = 0;
    while (texts < 3) {
      const step = await iterator.next();
      if (step.done) throw new Error("ended early");
      if (step.value.type === "text") texts++;
    }
    expect(backend.stats().models[0]!.sequences.some((s) => s.busy)).toBe(true);
    const t0 = performance.now();
    controller.abort(new Error("user went away"));
    await expect(iterator.next()).rejects.toThrow("user went away");
    await iterator.return?.(undefined);
    const stoppedMs = performance.now() - t0;
    console.log(`[abort] generation stopped and sequence freed ${stoppedMs.toFixed(1)} ms after the abort`);
    expect(stoppedMs).toBeLessThan(1_000);
    const stats = backend.stats();
    expect(stats.active).toBe(0);
    expect(stats.models[0]!.sequences.every((s) => !s.busy)).toBe(true);
    const held = stats.models[0]!.sequences.map((s) => s.tokens);
    await new Promise((r) => setTimeout(r, 100));
    expect(backend.stats().models[0]!.sequences.map((s) => s.tokens)).toEqual(held); // nothing is generating

    // The next request runs normally.
    const next = await drain(backend.chat(ask([{ role: "user", content: "Short one." }], 5), { signal: signal() }));
    expect(next.done.outputTokens).toBe(5);
  });

  it("runs requests with tools and tool results (rendered by the chat template)", async () => {
    const messages: ChatMessage[] = [
      { role: "system", content: "You can look the weather up." },
      { role: "user", content: "Weather in Paris?" },
      { role: "assistant", content: "", tool_calls: [{ function: { name: "get_weather", arguments: { city: "Paris" } } }] },
      { role: "tool", tool_name: "get_weather", content: '{"celsius":21}' },
    ];
    const tools: ChatRequest["tools"] = [
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "The weather in a city",
          parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
        },
      },
    ];
    const withTools = await drain(backend.chat({ ...ask(messages, 6), tools }, { signal: signal() }));
    const without = await drain(backend.chat(ask(messages, 6), { signal: signal() }));
    expect(withTools.done.outputTokens).toBe(6);
    expect(withTools.done.inputTokens).toBeGreaterThan(without.done.inputTokens!); // the functions are documented
  });

  it("a prompt longer than the context is PROMPT_TOO_LONG, not silently cut (the message dropped), and the next request works", async () => {
    const long = Array.from({ length: 400 }, (_, i) => `word${i}`).join(" ");
    const error = await expectLlamaError(
      drain(backend.chat(ask([{ role: "user", content: long }]), { signal: signal() })),
      "PROMPT_TOO_LONG",
    );
    expect(error.message).toContain("contextSize");
    const next = await drain(backend.chat(ask([{ role: "user", content: "Short." }], 4), { signal: signal() }));
    expect(next.done.outputTokens).toBe(4);
  });

  it("a num_predict under 1 (0.5) is no limit of its own: the backend's maxTokens applies, not node-llama-cpp's 0 (unlimited)", async () => {
    const limited = llamaCppBackend({ modelPath: TEST_MODEL_PATH, threads: TEST_THREADS, contextSize: 256, sequences: 1, maxTokens: 5 });
    try {
      const { done } = await drain(limited.chat(ask([{ role: "user", content: "Go on." }], 0.5), { signal: signal() }));
      expect(done.outputTokens).toBe(5);
    } finally {
      await limited.close();
    }
  });

  it("an answer stops where the context ends (doneReason length), never shifting the context over the conversation", async () => {
    const small = llamaCppBackend({ modelPath: TEST_MODEL_PATH, threads: TEST_THREADS, contextSize: 256, sequences: 1, maxTokens: 1000 });
    try {
      const { done } = await drain(
        small.chat(ask([{ role: "user", content: "Tell me a long story. ".repeat(8) }], 1000), { signal: signal() }),
      );
      expect(done.doneReason).toBe("length");
      expect(done.inputTokens! + done.outputTokens!).toBeLessThan(256);
    } finally {
      await small.close();
    }
  });

  it("a tool named __proto__ is rendered like any other tool, not dropped", async () => {
    const messages: ChatMessage[] = [{ role: "user", content: "Which tools?" }];
    const tool = (name: string): NonNullable<ChatRequest["tools"]>[number] => ({
      type: "function",
      function: { name, description: "A tool", parameters: { type: "object", properties: { q: { type: "string" } } } },
    });
    const none = await drain(backend.chat(ask(messages, 2), { signal: signal() }));
    const proto = await drain(backend.chat({ ...ask(messages, 2), tools: [tool("__proto__")] }, { signal: signal() }));
    const plain = await drain(backend.chat({ ...ask(messages, 2), tools: [tool("proto_x")] }, { signal: signal() }));
    expect(proto.done.inputTokens).toBeGreaterThan(none.done.inputTokens! + 10);
    expect(Math.abs(proto.done.inputTokens! - plain.done.inputTokens!)).toBeLessThan(5);
  });

  it("a consumer that stops reading holds its sequence only while the model generates: the next request then runs", async () => {
    const one = llamaCppBackend({ modelPath: TEST_MODEL_PATH, threads: TEST_THREADS, contextSize: 256, sequences: 1 });
    try {
      const stalled = one.chat(ask([{ role: "user", content: "First." }], 8), { signal: signal() })[Symbol.asyncIterator]();
      expect((await stalled.next()).done).toBe(false); // then nothing is read
      const next = await drain(one.chat(ask([{ role: "user", content: "Second." }], 4), { signal: signal() }));
      expect(next.done.outputTokens).toBe(4);
      // The stalled answer is still whole when it is read at last.
      const rest: ChatChunk[] = [];
      for (let step = await stalled.next(); !step.done; step = await stalled.next()) rest.push(step.value);
      expect(rest.at(-1)).toMatchObject({ type: "done", outputTokens: 8 });
      expect(one.stats()).toMatchObject({ active: 0, queued: 0 });
    } finally {
      await one.close();
    }
  });

  it("rejects at once for a signal aborted before the request", async () => {
    const controller = new AbortController();
    controller.abort(new Error("too late"));
    const stream = backend.chat(ask([{ role: "user", content: "hi" }]), { signal: controller.signal });
    await expect(stream[Symbol.asyncIterator]().next()).rejects.toThrow("too late");
  });

  it("completes concurrent requests, queueing those beyond the limit", async () => {
    const limited = llamaCppBackend({ modelPath: TEST_MODEL_PATH, threads: TEST_THREADS, contextSize: 512, sequences: 2 });
    try {
      const requests = Array.from({ length: 5 }, (_, i) =>
        drain(
          limited.chat(
            ask(
              [
                { role: "system", content: `Thread ${i}.` },
                { role: "user", content: `Question number ${i}?` },
              ],
              8,
            ),
            {
              signal: signal(),
            },
          ),
        ),
      );
      const results = await Promise.all(requests);
      for (const r of results) {
        expect(r.done.outputTokens).toBe(8);
        expect(r.text.length).toBeGreaterThan(0);
      }
      // Two at a time: the others waited for a slot.
      expect(Math.max(...results.map((r) => r.done.queueMs!))).toBeGreaterThan(0);
      const stats = limited.stats();
      expect(stats).toMatchObject({ active: 0, queued: 0 });
      expect(stats.models[0]!.sequences).toHaveLength(2);

      // The same conversation twice at once: the second gets another sequence, both complete.
      const same = [{ role: "user" as const, content: "Same question." }];
      const [a, b] = await Promise.all([
        drain(limited.chat(ask(same, 6), { signal: signal() })),
        drain(limited.chat(ask(same, 6), { signal: signal() })),
      ]);
      expect(a.done.outputTokens).toBe(6);
      expect(b.done.outputTokens).toBe(6);
    } finally {
      await limited.close();
    }
  });

  it("prewarms models, reports them loaded, and never throws", async () => {
    const multi = llamaCppBackend({
      models: { tiny: TEST_MODEL_PATH, "tiny-alias": TEST_MODEL_PATH, missing: "/nonexistent/model.gguf" },
      threads: TEST_THREADS,
      contextSize: 256,
      sequences: 1,
    });
    try {
      expect(await multi.loaded()).toEqual([]);
      const results = await multi.prewarm(["tiny", "missing", "unknown"]);
      expect(results[0]).toMatchObject({ model: "tiny", ok: true });
      expect(results[0]!.loadMs).toBeGreaterThan(0);
      expect(results[1]).toMatchObject({ model: "missing", ok: false });
      expect(results[1]!.error).toContain("/nonexistent/model.gguf");
      expect(results[2]).toMatchObject({ model: "unknown", ok: false });
      expect(results[2]!.error).toContain("not configured");
      expect(await multi.loaded()).toEqual(["tiny"]);
      // Another name for the same file shares the loaded model.
      const alias = await multi.prewarm(["tiny-alias"]);
      expect(alias[0]!.ok).toBe(true);
      expect((await multi.loaded()).sort()).toEqual(["tiny", "tiny-alias"]);
      expect(multi.stats().models).toHaveLength(1);
      const run = await drain(multi.chat(ask([{ role: "user", content: "hi" }], 3, "tiny-alias"), { signal: signal() }));
      expect(run.done.loadMs).toBeUndefined();
    } finally {
      await multi.close();
    }
    expect(await multi.prewarm(["tiny"])).toEqual([
      expect.objectContaining({ model: "tiny", ok: false, error: expect.stringContaining("closed") }),
    ]);
  });

  it("ends requests in progress when closed, and refuses new ones", async () => {
    const closing = llamaCppBackend({ modelPath: TEST_MODEL_PATH, threads: TEST_THREADS, contextSize: 512, sequences: 1 });
    const iterator = closing
      .chat(ask([{ role: "user", content: "Go on forever." }], 100_000), { signal: signal() })
      [Symbol.asyncIterator]();
    await iterator.next();
    const next = iterator.next();
    next.catch(() => {}); // judged below, after close()
    await closing.close();
    await expectLlamaError(next, "BACKEND_CLOSED");
    await expectLlamaError(drain(closing.chat(ask([{ role: "user", content: "hi" }]), { signal: signal() })), "BACKEND_CLOSED");
  });
});

describeWithModel("llama.cpp backend errors", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "zoe-llama-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("fails with MODEL_LOAD_FAILED naming the path of a missing file", async () => {
    const path = join(dir, "does-not-exist.gguf");
    const backend = llamaCppBackend({ modelPath: path, threads: TEST_THREADS });
    const error = await expectLlamaError(
      drain(backend.chat(ask([{ role: "user", content: "hi" }]), { signal: signal() })),
      "MODEL_LOAD_FAILED",
    );
    expect(error.message).toContain(path);
    await backend.close();
  });

  it("fails with MODEL_LOAD_FAILED for a file that is not a GGUF model", async () => {
    const path = join(dir, "corrupt.gguf");
    await writeFile(path, "this is not a model ".repeat(20));
    const backend = llamaCppBackend({ modelPath: path, threads: TEST_THREADS });
    const error = await expectLlamaError(
      drain(backend.chat(ask([{ role: "user", content: "hi" }]), { signal: signal() })),
      "MODEL_LOAD_FAILED",
    );
    expect(error.message).toContain(path);
    await backend.close();
  });

  it("fails with MODEL_NOT_FOUND for a model name it does not know", async () => {
    const backend = llamaCppBackend({ models: { tiny: TEST_MODEL_PATH }, threads: TEST_THREADS });
    const error = await expectLlamaError(
      drain(backend.chat(ask([{ role: "user", content: "hi" }], 4, "llama3.2"), { signal: signal() })),
      "MODEL_NOT_FOUND",
    );
    expect(error.message).toContain("llama3.2");
    await backend.close();
  });

  it("rejects an unknown chat wrapper when the model loads", async () => {
    const backend = llamaCppBackend({ modelPath: TEST_MODEL_PATH, threads: TEST_THREADS, chatWrapper: "nope" });
    await expectLlamaError(drain(backend.chat(ask([{ role: "user", content: "hi" }]), { signal: signal() })), "INVALID_OPTIONS");
    await backend.close();
  });
});

describe("llama.cpp backend without the engine", () => {
  it("fails with BACKEND_UNAVAILABLE (install node-llama-cpp) when the package is missing", async () => {
    let imports = 0;
    const backend = createLlamaCppBackend(
      { modelPath: "/models/any.gguf" },
      {
        importer: async () => {
          imports++;
          throw Object.assign(new Error("Cannot find package 'node-llama-cpp'"), { code: "ERR_MODULE_NOT_FOUND" });
        },
      },
    );
    expect(imports).toBe(0); // nothing is imported before the first use
    const error = await expectLlamaError(
      drain(backend.chat(ask([{ role: "user", content: "hi" }]), { signal: signal() })),
      "BACKEND_UNAVAILABLE",
    );
    expect(error.message).toContain("install node-llama-cpp");
    const [warm] = await backend.prewarm(["any"]);
    expect(warm).toMatchObject({ model: "any", ok: false });
    expect(warm!.error).toContain("install node-llama-cpp");
    expect(imports).toBe(2); // a failed import is retried on the next use
    await backend.close();
  });

  it("rejects invalid options at once with INVALID_OPTIONS", () => {
    const attempts: Array<Parameters<typeof llamaCppBackend>[0]> = [
      {},
      { modelPath: "" },
      { modelPath: "/m.gguf", threads: 0 },
      { modelPath: "/m.gguf", sequences: 1.5 },
      { modelPath: "/m.gguf", sequences: 2, concurrency: 3 },
      { modelPath: "/m.gguf", gpu: "tpu" as never },
      { models: { a: "" } },
    ];
    for (const options of attempts) {
      let error: unknown;
      try {
        llamaCppBackend(options);
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(options)).toBeInstanceOf(LlamaCppError);
      expect((error as LlamaCppError).code).toBe("INVALID_OPTIONS");
    }
  });
});
