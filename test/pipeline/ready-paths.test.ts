import { describe, expect, it, vi } from "vitest";
import { createZoePipeline, type ChatRequest, type ModelBackend, runResult } from "../../src/index.js";
import { memoryCacheStore } from "../../src/cache/memory-store.js";
import { textChunks } from "../../src/testing/index.js";
import { SharedFlights } from "../../src/cache/shared-flights.js";
import { fetchContext, type ProviderJob } from "../../src/context/fetch-context.js";
import type { ProviderOutcome } from "../../src/context/types.js";
import { buildSystemPrompt, readySystemPrompt } from "../../src/pipeline/stages/system-prompt.js";
import { fixedRouter, testProvider } from "../helpers/fixtures.js";

const request = { userId: "u", threadId: "t", text: "hello", kind: "chat" as const };

describe("a warm run waits only where there is something to wait for", () => {
  it("fetchContext: providers all served from the cache land at once, and there is nothing to await", () => {
    const landed: ProviderOutcome[] = [];
    const batches: boolean[] = [];
    const jobs: ProviderJob[] = [
      { provider: testProvider("profile", "x"), key: "k:profile", cached: "likes tea" },
      { provider: testProvider("memory", "x"), key: "k:memory", cached: "met on Monday" },
      { provider: testProvider("broken", "x"), key: { error: "no key" }, cached: undefined },
    ];
    const waiting = fetchContext(jobs, request, memoryCacheStore(), new SharedFlights(), new AbortController().signal, (o, last) => {
      landed.push(...o);
      batches.push(last);
    });
    expect(waiting).toBeUndefined();
    // One batch, the last: nothing is pending after it.
    expect(batches).toEqual([true]);
    expect(landed.map((o) => [o.name, o.status])).toEqual([
      ["profile", "cached"],
      ["memory", "cached"],
      ["broken", "error"],
    ]);
    expect(jobs.every((j) => (j.provider as ReturnType<typeof testProvider>).calls === 0)).toBe(true);
  });

  it("fetchContext: a provider that is fetched is awaited, the cached ones having landed first", async () => {
    const landed: string[] = [];
    const fetched = testProvider("memory", "fresh", { delayMs: 5 });
    const waiting = fetchContext(
      [
        { provider: testProvider("profile", "x"), key: "k:profile", cached: "likes tea" },
        { provider: fetched, key: "k:memory", cached: undefined },
      ],
      request,
      memoryCacheStore(),
      new SharedFlights(),
      new AbortController().signal,
      (o, last) => landed.push(`${o.map((x) => `${x.name}:${x.status}`).join(",")} last=${last}`),
    );
    expect(waiting).toBeInstanceOf(Promise);
    expect(landed).toEqual(["profile:cached last=false"]);
    await waiting;
    expect(landed).toEqual(["profile:cached last=false", "memory:ok last=true"]);
    expect(fetched.calls).toBe(1);
  });

  it("fetchContext: a value given at once (not a promise) arms no deadline and is cached; a thenable, a throw or a hostile `then` are waited on or fail alone", async () => {
    const store = memoryCacheStore();
    const timers = vi.spyOn(globalThis, "setTimeout");
    const landed: string[] = [];
    // A value whose `then` throws when read, as a hostile proxy's could.
    // biome-ignore lint/suspicious/noThenProperty: a thenable that throws is the case tested
    const hostile = Object.defineProperty({}, "then", {
      get(): never {
        throw new Error("no then for you");
      },
    });
    const job = (name: string, fetch: () => unknown, ttlMs = 60_000): ProviderJob => ({
      provider: { name, ttlMs, fetch },
      key: `k:${name}`,
      cached: undefined,
    });
    try {
      const waiting = fetchContext(
        [job("text", () => "plain"), job("number", () => 42), job("nothing", () => null)],
        request,
        store,
        new SharedFlights(),
        new AbortController().signal,
        (o) => landed.push(...o.map((x) => `${x.name}:${x.status}:${x.text ?? x.error ?? ""}`)),
      );
      await waiting;
      expect(timers).not.toHaveBeenCalled();
      expect(landed.sort()).toEqual(["nothing:ok:null", "number:ok:42", "text:ok:plain"]);
      expect(await store.get("k:text")).toBe("plain");
      landed.length = 0;
      await fetchContext(
        [
          job("later", async () => "soon"),
          job("thrown", () => {
            throw new Error("sync boom");
          }),
          job("hostile", () => hostile),
        ],
        request,
        store,
        new SharedFlights(),
        new AbortController().signal,
        (o) => landed.push(...o.map((x) => `${x.name}:${x.status}:${x.text ?? x.error ?? ""}`)),
      );
      expect(landed.sort()).toEqual(["hostile:error:no then for you", "later:ok:soon", "thrown:error:sync boom"]);
    } finally {
      timers.mockRestore();
    }
  });

  it("readySystemPrompt: a static or cached prompt is ready; only a function without a cached build is not", () => {
    const build = () => "built";
    expect(readySystemPrompt("You are Zoe.", "ignored")).toEqual({ text: "You are Zoe.", source: "static" });
    expect(readySystemPrompt(build, "cached build")).toEqual({ text: "cached build", source: "cache" });
    expect(readySystemPrompt(build, undefined)).toBeUndefined();
    expect(readySystemPrompt(build, { not: "a string" })).toBeUndefined();
  });

  it("buildSystemPrompt: the host's function under its deadline, the default prompt when it fails, hangs or returns no string", async () => {
    const signal = new AbortController().signal;
    const context = { kind: "chat" as const, userId: "u" };
    expect(await buildSystemPrompt(() => "built", context, "default", 100, signal)).toEqual({ text: "built", source: "built" });
    const failed = await buildSystemPrompt(
      () => {
        throw new Error("boom");
      },
      context,
      "default",
      100,
      signal,
    );
    expect(failed).toMatchObject({ text: "default", source: "fallback", fallback: expect.stringContaining("boom") });
    const hung = await buildSystemPrompt(() => new Promise<string>(() => {}), context, "default", 20, signal);
    expect(hung).toMatchObject({ text: "default", source: "fallback", fallback: expect.stringContaining("20 ms deadline") });
    const wrong = await buildSystemPrompt(() => 42 as unknown as string, context, "default", 100, signal);
    expect(wrong).toMatchObject({ source: "fallback", fallback: expect.stringContaining("did not return a string") });
  });

  it("a pipeline: the second turn takes its route and system prompt from the cache, without calling the router or the function", async () => {
    const requests: ChatRequest[] = [];
    const backend: ModelBackend = {
      name: "recording",
      async *chat(request) {
        requests.push(request);
        yield* textChunks("An answer.");
      },
    };
    const router = fixedRouter();
    let built = 0;
    const pipeline = createZoePipeline({
      backend,
      router,
      systemPrompt: ({ kind }) => `You are Zoe (${kind}, build ${++built}).`,
      providers: [testProvider("profile", "likes tea", { ttlMs: 60_000 })],
    });
    const results = [];
    for (let turn = 0; turn < 2; turn++) {
      const events = [];
      for await (const e of pipeline.run({ userId: "u", threadId: "t", message: "the same question" })) events.push(e);
      results.push(runResult(events.at(-1)));
    }
    expect(router.calls).toBe(1);
    expect(built).toBe(1);
    expect(requests.map((r) => r.messages[0]?.content)).toEqual(["You are Zoe (chat, build 1).", "You are Zoe (chat, build 1)."]);
    const second = results[1];
    if (!second || second.cancelled) throw new Error("the second turn did not complete");
    expect(second.metrics.cache.byPart).toMatchObject({
      route: { hits: 1, misses: 0 },
      system: { hits: 1, misses: 0 },
      context: { hits: 1, misses: 0 },
    });
    await pipeline.close();
  });
});
