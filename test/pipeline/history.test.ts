import { describe, expect, it } from "vitest";
import { createZoePipeline, memoryCacheStore, windowStart, type ChatMessage } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter, testProvider } from "../helpers/fixtures.js";

/** A backend whose answer names the turn, and a pipeline with stable and volatile context. */
function setup(history?: { load?: number; step?: number; keep?: number }) {
  let turn = 0;
  const backend = scriptedBackend({ script: () => textChunks(`Answer number ${++turn}.`) });
  let searches = 0;
  const profile = testProvider("profile", "Name: Ada", { placement: "stable" });
  const search = { name: "search", ttlMs: 0, fetch: () => `result ${++searches}` };
  const pipeline = createZoePipeline({
    backend,
    router: fixedRouter(),
    providers: [profile, search],
    ...(history ? { history } : {}),
  });
  return { backend, pipeline };
}

const startsWith = (longer: ChatMessage[], prefix: ChatMessage[]) =>
  JSON.stringify(longer.slice(0, prefix.length)) === JSON.stringify(prefix);

describe("history", () => {
  it("stores the user turn (with what the model saw) and the complete answer", async () => {
    const { pipeline } = setup();
    await runValid(pipeline.run({ userId: "u", threadId: "t", message: "first question" }));
    const stored = await pipeline.history.get("u", "t");
    expect(stored.map((e) => [e.role, e.content, e.seq])).toEqual([
      ["user", "first question", 0],
      ["assistant", "Answer number 1.", 1],
    ]);
    expect(stored[0]?.sent).toBe("<context>\n[search]\nresult 1\n</context>\n\nfirst question");
    expect(await pipeline.history.get("u", "other")).toEqual([]);
    expect(await pipeline.history.get("someone-else", "t")).toEqual([]);
  });

  it("keeps the last `keep` messages and loads them into the next prompt", async () => {
    const { pipeline, backend } = setup({ keep: 4, load: 4, step: 2 });
    for (const q of ["q1", "q2", "q3"]) await runValid(pipeline.run({ userId: "u", threadId: "t", message: q }));
    const stored = await pipeline.history.get("u", "t");
    expect(stored.map((e) => e.content)).toEqual(["q2", "Answer number 2.", "q3", "Answer number 3."]);
    const last = backend.requests.at(-1)!.messages;
    expect(last.map((m) => m.role)).toEqual(["system", "user", "assistant", "user", "assistant", "user"]);
  });

  it("gives two turns of one thread the longest shared prompt prefix, byte for byte", async () => {
    const { pipeline, backend } = setup({ load: 6, step: 4 });
    const answers: string[] = [];
    for (const q of ["hello", "tell me more", "and then?", "why?"]) {
      await runValid(pipeline.run({ userId: "u", threadId: "t", message: q }));
      answers.push(`Answer number ${answers.length + 1}.`);
    }
    const prompts = backend.requests.map((r) => r.messages);
    for (let i = 1; i < prompts.length; i++) {
      // turn i's prompt = turn i-1's prompt + its answer + the new turn
      const expected = [...prompts[i - 1]!, { role: "assistant" as const, content: answers[i - 1]! }];
      expect(startsWith(prompts[i]!, expected), `turn ${i + 1} extends turn ${i}`).toBe(true);
      expect(prompts[i]!.length).toBe(expected.length + 1);
    }
  });

  it("moves the history window in steps, not one message a turn", () => {
    const starts = Array.from({ length: 13 }, (_, total) => windowStart(total, 6, 4));
    expect(starts).toEqual([0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 8, 8]);
    // a window of 3 messages in steps of 2 never starts on an assistant answer of a paired history
    expect([2, 4, 6, 8].map((t) => windowStart(t, 3, 2) % 2)).toEqual([0, 0, 0, 0]);
  });

  it("uses the conversation an AG-UI client sends instead of the stored history, replaying stored bytes", async () => {
    const { pipeline, backend } = setup();
    const first = {
      threadId: "t",
      runId: "r1",
      userId: "u",
      messages: [{ id: "m1", role: "user" as const, content: "hello" }],
      tools: [],
      context: [],
    };
    await runValid(pipeline.run(first));
    const turn1 = backend.requests[0]!.messages;
    await runValid(
      pipeline.run({
        ...first,
        runId: "r2",
        messages: [
          ...first.messages,
          { id: "a1", role: "assistant", content: "Answer number 1." },
          { id: "m2", role: "user", content: "go on" },
        ],
      }),
    );
    const turn2 = backend.requests[1]!.messages;
    expect(startsWith(turn2, [...turn1, { role: "assistant", content: "Answer number 1." }])).toBe(true);
  });
});

describe("history of frontend-tool continuations", () => {
  it("stores the user turn once: a run continuing after a tool result stores only its answer", async () => {
    const { pipeline } = setup();
    const base = { threadId: "t", userId: "u", tools: [], context: [] };
    await runValid(pipeline.run({ ...base, runId: "r1", messages: [{ id: "m1", role: "user", content: "pick a city" }] }));
    await runValid(
      pipeline.run({
        ...base,
        runId: "r2",
        messages: [
          { id: "m1", role: "user", content: "pick a city" },
          {
            id: "a1",
            role: "assistant",
            toolCalls: [{ id: "c1", type: "function", function: { name: "offer_choices", arguments: "{}" } }],
          },
          { id: "t1", role: "tool", toolCallId: "c1", content: "Porto" },
        ],
      }),
    );
    const stored = await pipeline.history.get("u", "t");
    expect(stored.map((e) => [e.role, e.content])).toEqual([
      ["user", "pick a city"],
      ["assistant", "Answer number 1."],
      ["assistant", "Answer number 2."],
    ]);
  });
});

describe("history writes", () => {
  it("a store whose listAppend throws at once fails the write (reported), never the run", async () => {
    const cache = memoryCacheStore();
    cache.listAppend = () => {
      throw new Error("store refused");
    };
    const pipeline = createZoePipeline({ backend: scriptedBackend({ script: () => textChunks("ok") }), router: fixedRouter(), cache });
    const writes: Array<{ status: string; error?: string }> = [];
    pipeline.on("history:write", (w) => writes.push(w));
    const events = await runValid(pipeline.run({ userId: "u", threadId: "t", message: "hi" }));
    expect(events.at(-1)?.type).toBe("RUN_FINISHED");
    expect(writes).toEqual([expect.objectContaining({ status: "error", error: "store refused" })]);
    await pipeline.close();
  });

  it("pipeline.history.append never throws synchronously and resolves to nothing, whatever the store returns", async () => {
    const cache = memoryCacheStore();
    const append = cache.listAppend.bind(cache);
    cache.listAppend = async (...args) => {
      await append(...args);
      return 7 as never;
    };
    const pipeline = createZoePipeline({ backend: scriptedBackend({ script: () => textChunks("ok") }), router: fixedRouter(), cache });
    let call: Promise<void> | undefined;
    expect(() => {
      call = pipeline.history.append("u", "t", null as never);
    }).not.toThrow();
    await expect(call).rejects.toThrow(TypeError);
    await expect(pipeline.history.append("u", "t", [{ id: "m", role: "user", content: "hi", seq: 0, at: 0 }])).resolves.toBeUndefined();
    await pipeline.close();
  });

  it("a write the store has already done sets no deadline timer", async () => {
    const pipeline = createZoePipeline({
      backend: scriptedBackend({ script: () => textChunks("ok") }),
      router: fixedRouter(),
      deadlines: { historyWriteMs: 4_321 },
    });
    const delays: unknown[] = [];
    const real = globalThis.setTimeout;
    globalThis.setTimeout = ((fn: () => void, ms?: number) => {
      delays.push(ms);
      return real(fn, ms);
    }) as typeof setTimeout;
    try {
      await runValid(pipeline.run({ userId: "u", threadId: "t", message: "hi" }));
    } finally {
      globalThis.setTimeout = real;
    }
    expect(delays).not.toContain(4_321);
    // The model's deadline timer is set in whole milliseconds: Node keeps one timer list per distinct delay.
    expect(delays.length).toBeGreaterThan(0);
    for (const ms of delays) expect(Number.isInteger(ms)).toBe(true);
    await pipeline.close();
  });
});
