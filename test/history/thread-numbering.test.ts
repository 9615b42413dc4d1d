import { describe, expect, it } from "vitest";
import { type CacheBatch, createKeyBuilder, createZoePipeline, memoryCacheStore, type ChatMessage } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

/** A pipeline with default history settings whose answers name their turn. */
function setup(cache = memoryCacheStore()) {
  let turn = 0;
  const backend = scriptedBackend({ script: () => [{ type: "delay", ms: 2 }, ...textChunks(`Answer number ${++turn}.`)] });
  const pipeline = createZoePipeline({ backend, router: fixedRouter(), cache });
  const ask = (message: string) => runValid(pipeline.run({ userId: "u", threadId: "t", message }));
  return { backend, pipeline, ask };
}

/** Whether `next` starts with all of `previous` but its last (user) message, byte for byte. */
const extendsPrompt = (previous: ChatMessage[], next: ChatMessage[]) =>
  JSON.stringify(next.slice(0, previous.length - 1)) === JSON.stringify(previous.slice(0, -1));

describe("a thread's numbering read back", () => {
  it("after two runs of a thread at once, later prompts change their prefix only when the window moves", async () => {
    const { backend, pipeline, ask } = setup();
    await ask("first");
    // A double submit: both runs read the same history and number their turn alike.
    await Promise.all([ask("twice A"), ask("twice B")]);
    const from = backend.requests.length;
    for (let i = 0; i < 12; i++) await ask(`question ${i}`);
    const prompts = backend.requests.slice(from).map((r) => r.messages);
    for (let i = 1; i < prompts.length; i++) {
      const [previous, next] = [prompts[i - 1]!, prompts[i]!];
      // A planned window move shortens the prompt; anything else must extend the previous one.
      if (next.length >= previous.length) expect(extendsPrompt(previous, next), `turn ${i} extends turn ${i - 1}`).toBe(true);
    }
    // Every turn's prompt holds at most `load` (12) past messages.
    for (const p of prompts) expect(p.length - 2).toBeLessThanOrEqual(12);
    await pipeline.close();
  });

  it("a stored entry numbered beyond safe integers is left out: the thread numbers on and keeps its history", async () => {
    const cache = memoryCacheStore();
    const huge = { id: "x", role: "user", content: "from elsewhere", seq: 2 ** 60, at: 0 };
    await cache.listAppend(createKeyBuilder().key("history", "u", "t"), [huge], { maxLength: 20, ttlMs: 60_000 });
    const { backend, pipeline, ask } = setup(cache);
    for (let i = 0; i < 10; i++) await ask(`question ${i}`);
    const seqs = (await pipeline.history.get("u", "t")).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i));
    // Before, every entry took the number 2^60 (2^60 + 1 is 2^60 in floating point) and the
    // window held only the latest messages, sliding one turn at a time (or none at all).
    expect(backend.requests.at(-1)!.messages.map((m) => m.content)).toContain("question 4");
    await pipeline.close();
  });

  it("a turn whose cache read failed numbers on from the store: the next prompts keep the thread's earlier turns", async () => {
    const cache = memoryCacheStore();
    const read = cache.read.bind(cache);
    let fail = false;
    Object.assign(cache, { read: (batch: CacheBatch) => (fail ? Promise.reject(new Error("read failed")) : read(batch)) });
    const { backend, pipeline, ask } = setup(cache);
    await ask("My name is Ada");
    await ask("I live in Porto");
    fail = true;
    await ask("slow turn");
    fail = false;
    await ask("What is my name and city?");
    expect((await pipeline.history.get("u", "t")).map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const last = backend.requests.at(-1)!.messages.map((m) => m.content);
    expect(last).toContain("My name is Ada");
    expect(last).toContain("I live in Porto");
    await pipeline.close();
  });

  it("a thread cleared while a run on it is in flight stays cleared (history:write says cleared)", async () => {
    const { pipeline, ask } = setup();
    await ask("my password is hunter2");
    const statuses: string[] = [];
    pipeline.on("history:write", ({ status }) => statuses.push(status));
    const running = ask("and another secret");
    await new Promise((r) => setTimeout(r, 1));
    await pipeline.history.clear("u", "t");
    await running;
    expect(await pipeline.history.get("u", "t")).toEqual([]);
    expect(statuses).toEqual(["cleared"]);
    // The next turn starts the thread afresh, and is written.
    await ask("hello again");
    expect((await pipeline.history.get("u", "t")).map((e) => e.content)).toEqual(["hello again", "Answer number 3."]);
    await pipeline.close();
  });

  it("history.append refuses entries the pipeline would never read back, writing nothing", async () => {
    const { pipeline, ask } = setup();
    await ask("first");
    const good = { id: "h1", role: "user" as const, content: "from the host", seq: 2, at: 0 };
    for (const bad of [{ ...good, seq: undefined }, { ...good, role: "system" }, { ...good, id: 1 }, { ...good, seq: -1 }, null]) {
      await expect(pipeline.history.append("u", "t", [good, bad as never])).rejects.toThrow(/entries\[1\]/);
    }
    expect((await pipeline.history.get("u", "t")).map((e) => e.seq)).toEqual([0, 1]);
    await pipeline.history.append("u", "t", [good]);
    expect((await pipeline.history.get("u", "t")).map((e) => e.seq)).toEqual([0, 1, 2]);
    await pipeline.close();
  });

  it("an entry numbered too close to the safe-integer limit for the next turn is left out", async () => {
    const cache = memoryCacheStore();
    const near = { id: "x", role: "user", content: "from elsewhere", seq: Number.MAX_SAFE_INTEGER - 1, at: 0 };
    await cache.listAppend(createKeyBuilder().key("history", "u", "t"), [near], { maxLength: 20, ttlMs: 60_000 });
    const { pipeline, ask } = setup(cache);
    for (let i = 0; i < 3; i++) await ask(`question ${i}`);
    expect((await pipeline.history.get("u", "t")).map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    await pipeline.close();
  });

  it("the stored answer has the id its text message was streamed with (a later MESSAGES_SNAPSHOT names it alike)", async () => {
    const { pipeline, ask } = setup();
    const first = await ask("hello");
    const streamed = first.find((e) => e.type === "TEXT_MESSAGE_START") as { messageId: string } | undefined;
    const stored = await pipeline.history.get("u", "t");
    expect(stored[1]?.role).toBe("assistant");
    expect(stored[1]?.id).toBe(streamed?.messageId);
    const second = await ask("and then?");
    const snapshot = second.find((e) => e.type === "MESSAGES_SNAPSHOT") as { messages: Array<{ id: string }> } | undefined;
    expect(snapshot?.messages[1]?.id).toBe(streamed?.messageId);
    await pipeline.close();
  });
});
