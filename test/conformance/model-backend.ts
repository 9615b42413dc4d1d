import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ZoeError } from "../../src/errors/index.js";
import type { ChatChunk, ChatRequest, ModelBackend } from "../../src/models/types.js";

/**
 * What a backend under test offers the suite. The suite only sends requests to the models named
 * here; the test file sets them up (a fake server's models, a script, a real engine).
 */
export interface BackendUnderTest {
  backend: ModelBackend;
  /** A model that answers `reply`, as text only, without delay. */
  model: string;
  reply: string;
  /**
   * A model whose answer is long and slow (at least 5 text chunks, with gaps between them), so
   * that an abort after its first chunk lands in the middle of the answer.
   */
  slowModel: string;
  /** A model the backend cannot serve: `chat()` fails with `MODEL_NOT_FOUND`. Omit if any name is served. */
  missingModel?: string;
  /** A model whose answer fails after some text, with a typed error. */
  failingModel?: string;
  /**
   * Resolves once the backend stopped the work of the most recent cancelled request (a fake server
   * saw its connection closed, a script stopped, an engine freed its sequence).
   */
  cancelled(): Promise<void>;
  /** Release what the setup created (the backend is closed by the suite when it can be). */
  close?(): Promise<void>;
}

const ask = (model: string, text = "Say something."): ChatRequest => ({
  model,
  messages: [
    { role: "system", content: "You are terse." },
    { role: "user", content: text },
  ],
  options: { temperature: 0 },
  think: false,
  userId: "conformance",
  threadId: "t",
});

async function drain(stream: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}

async function failure(stream: AsyncIterable<ChatChunk>): Promise<{ error: unknown; chunks: ChatChunk[] }> {
  const chunks: ChatChunk[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk);
  } catch (error) {
    return { error, chunks };
  }
  throw new Error(`expected a failure, got ${JSON.stringify(chunks)}`);
}

const textOf = (chunks: ChatChunk[]) => chunks.map((c) => (c.type === "text" ? c.text : "")).join("");
const signal = () => new AbortController().signal;

/**
 * The behaviour every {@link ModelBackend} must have, whatever it talks to: it streams text and ends
 * with exactly one `done`, stops at once when its signal aborts or its consumer leaves, and fails
 * with typed errors (a {@link ZoeError} with a stable `code`). Each backend's test file calls this
 * with a setup that returns a fresh backend and the models to use.
 */
export function modelBackendConformance(name: string, setup: () => Promise<BackendUnderTest>): void {
  describe(`ModelBackend conformance: ${name}`, () => {
    let t: BackendUnderTest;
    beforeAll(async () => {
      t = await setup();
    });
    afterAll(async () => {
      await t?.backend.close?.();
      await t?.close?.();
    });

    it("has a name", () => {
      expect(typeof t.backend.name).toBe("string");
      expect(t.backend.name.length).toBeGreaterThan(0);
    });

    it("streams the answer as text chunks, then exactly one done chunk, last", async () => {
      const chunks = await drain(t.backend.chat(ask(t.model), { signal: signal() }));
      expect(textOf(chunks)).toBe(t.reply);
      expect(chunks.filter((c) => c.type === "done")).toHaveLength(1);
      expect(chunks.at(-1)?.type).toBe("done");
      expect(chunks.every((c) => c.type !== "text" || c.text.length > 0)).toBe(true);
    });

    it("reports done information as finite, non-negative numbers when it reports it", async () => {
      const chunks = await drain(t.backend.chat(ask(t.model), { signal: signal() }));
      const done = chunks.at(-1) as Extract<ChatChunk, { type: "done" }>;
      for (const key of ["inputTokens", "promptEvalTokens", "outputTokens", "queueMs", "loadMs", "promptEvalMs", "evalMs"] as const) {
        const value = done[key];
        if (value === undefined) continue;
        expect(Number.isFinite(value), key).toBe(true);
        expect(value, key).toBeGreaterThanOrEqual(0);
      }
      if (done.inputTokens !== undefined && done.promptEvalTokens !== undefined)
        expect(done.promptEvalTokens).toBeLessThanOrEqual(done.inputTokens);
    });

    it("serves concurrent requests independently", async () => {
      const all = await Promise.all(Array.from({ length: 3 }, () => drain(t.backend.chat(ask(t.model), { signal: signal() }))));
      for (const chunks of all) {
        expect(textOf(chunks)).toBe(t.reply);
        expect(chunks.at(-1)?.type).toBe("done");
      }
    });

    it("a signal aborted before the call: fails with its reason and yields nothing", async () => {
      const controller = new AbortController();
      const reason = new Error("stopped before it started");
      controller.abort(reason);
      const { error, chunks } = await failure(t.backend.chat(ask(t.model), { signal: controller.signal }));
      expect(error).toBe(reason);
      expect(chunks).toEqual([]);
    });

    it("aborting mid-answer: no chunk after the abort, the error is the signal's reason, the work stops", async () => {
      const controller = new AbortController();
      const reason = new DOMException("the user left", "AbortError");
      const before: ChatChunk[] = [];
      const after: ChatChunk[] = [];
      let error: unknown;
      try {
        for await (const chunk of t.backend.chat(ask(t.slowModel), { signal: controller.signal })) {
          (controller.signal.aborted ? after : before).push(chunk);
          if (chunk.type === "text" && !controller.signal.aborted) controller.abort(reason);
        }
      } catch (e) {
        error = e;
      }
      expect(error).toBe(reason);
      expect(before.filter((c) => c.type === "text")).toHaveLength(1);
      expect(after).toEqual([]);
      await t.cancelled();
      // The backend is still usable.
      expect(textOf(await drain(t.backend.chat(ask(t.model), { signal: signal() })))).toBe(t.reply);
    });

    it("leaving the loop early stops the work too", async () => {
      for await (const chunk of t.backend.chat(ask(t.slowModel), { signal: signal() })) {
        if (chunk.type === "text") break;
      }
      await t.cancelled();
      expect(textOf(await drain(t.backend.chat(ask(t.model), { signal: signal() })))).toBe(t.reply);
    });

    // Optional capabilities are checked when the setup declares them (never skipped: a backend
    // without them passes these trivially).
    it("a model it cannot serve fails with MODEL_NOT_FOUND, before any chunk", async () => {
      if (t.missingModel === undefined) return;
      const { error, chunks } = await failure(t.backend.chat(ask(t.missingModel), { signal: signal() }));
      expect(error).toBeInstanceOf(ZoeError);
      expect(error).toMatchObject({ code: "MODEL_NOT_FOUND" });
      expect((error as Error).message.length).toBeGreaterThan(20);
      expect(chunks).toEqual([]);
    });

    it("a failure mid-answer is a typed error with a stable code, after the text streamed so far", async () => {
      if (t.failingModel === undefined) return;
      const { error, chunks } = await failure(t.backend.chat(ask(t.failingModel), { signal: signal() }));
      expect(error).toBeInstanceOf(ZoeError);
      expect((error as ZoeError).code).toMatch(/^[A-Z][A-Z_]+$/);
      expect(chunks.some((c) => c.type === "done")).toBe(false);
    });

    it("prewarm, when there is one, answers one result per model and never throws", async () => {
      if (!t.backend.prewarm) return;
      const models = t.missingModel === undefined ? [t.model] : [t.model, t.missingModel];
      const results = await t.backend.prewarm(models);
      expect(results.slice(0, models.length).map((r) => r.model)).toEqual(models);
      for (const r of results) {
        expect(typeof r.ok).toBe("boolean");
        expect(r.loadMs).toBeGreaterThanOrEqual(0);
        if (!r.ok) expect(typeof r.error).toBe("string");
      }
      expect(results[0]?.ok).toBe(true);
      if (t.missingModel !== undefined) expect(results[1]?.ok).toBe(false);
    });

    it("after close(), when there is one, a request fails with BACKEND_CLOSED", async () => {
      const fresh = await setup();
      try {
        if (!fresh.backend.close) return;
        await fresh.backend.close();
        const { error, chunks } = await failure(fresh.backend.chat(ask(fresh.model), { signal: signal() }));
        expect(error).toMatchObject({ code: "BACKEND_CLOSED" });
        expect(chunks).toEqual([]);
      } finally {
        await fresh.close?.();
      }
    });
  });
}
