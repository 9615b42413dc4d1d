/**
 * Cache TTL options: a TTL the store would refuse is refused when the pipeline is made (it made
 * every write fail quietly, so the value was fetched on every run), and a TTL of 0 means neither
 * written nor read.
 */
import { describe, expect, it } from "vitest";
import { createZoePipeline, memoryCacheStore, type ContextProvider } from "../../src/index.js";
import { scriptedBackend } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

const BAD = [Number.POSITIVE_INFINITY, -1, Number.NaN, "60000" as unknown as number];
const provider = (ttlMs: number): ContextProvider => ({ name: "profile", ttlMs, fetch: async () => "Ada likes tea." });

describe("cache TTL options", () => {
  for (const ttlMs of BAD) {
    it(`refuses ${typeof ttlMs === "string" ? `the string "${ttlMs}"` : ttlMs} as a provider's ttlMs, ttl.routeMs and ttl.systemPromptMs`, () => {
      const base = { backend: scriptedBackend(), router: fixedRouter() };
      expect(() => createZoePipeline({ ...base, providers: [provider(ttlMs)] })).toThrow(
        /provider "profile" needs a finite number of milliseconds/,
      );
      expect(() => createZoePipeline({ ...base, ttl: { routeMs: ttlMs } })).toThrow(/`ttl.routeMs` must be a finite number/);
      expect(() => createZoePipeline({ ...base, ttl: { systemPromptMs: ttlMs } })).toThrow(/`ttl.systemPromptMs` must be a finite number/);
    });
  }

  it("takes 0 and a finite TTL; a finite one caches the provider's value", async () => {
    let calls = 0;
    const counted: ContextProvider = { ...provider(60_000), fetch: async () => (calls++, "Ada likes tea.") };
    const pipeline = createZoePipeline({
      backend: scriptedBackend(),
      router: fixedRouter(),
      providers: [counted],
      ttl: { routeMs: 0, systemPromptMs: 0 },
    });
    await runValid(pipeline.run({ userId: "ada", threadId: "t1", message: "hello there" }));
    await runValid(pipeline.run({ userId: "ada", threadId: "t2", message: "hello there" }));
    await pipeline.close();
    expect(calls).toBe(1);
  });

  it("ttl.systemPromptMs 0: a built system prompt an earlier pipeline left in the store is not read", async () => {
    const cache = memoryCacheStore();
    const prompts = (systemPrompt: string, ttl: { systemPromptMs?: number }) => {
      const backend = scriptedBackend();
      return { backend, pipeline: createZoePipeline({ backend, router: fixedRouter(), cache, ttl, systemPrompt: () => systemPrompt }) };
    };
    const before = prompts("Old policy: refunds within 90 days.", {});
    await runValid(before.pipeline.run({ userId: "ada", threadId: "t1", message: "hello there" }));
    // The old prompt is in the store: a pipeline that caches prompts is served it.
    const cached = prompts("New policy: refunds within 14 days.", {});
    await runValid(cached.pipeline.run({ userId: "ada", threadId: "t2", message: "hello there" }));
    expect(cached.backend.requests[0]?.messages[0]?.content).toBe("Old policy: refunds within 90 days.");
    const after = prompts("New policy: refunds within 14 days.", { systemPromptMs: 0 });
    await runValid(after.pipeline.run({ userId: "ada", threadId: "t3", message: "hello there" }));
    expect(after.backend.requests[0]?.messages[0]?.content).toBe("New policy: refunds within 14 days.");
    await after.pipeline.close();
    await cached.pipeline.close().catch(() => undefined);
    await before.pipeline.close().catch(() => undefined);
  });
});
