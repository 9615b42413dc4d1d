import { describe, expect, it } from "vitest";
import { createZoePipeline, type ContextProvider, type RunMetrics } from "../../src/index.js";
import { buildPrompt, type PromptParts } from "../../src/prompt/build-prompt.js";
import { estimateTokens } from "../../src/prompt/token-count.js";
import { scriptedBackend } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { fixedRouter } from "../helpers/fixtures.js";

const words = (n: number, word = "word") => Array.from({ length: n }, () => word).join(" ");

const parts = (overrides: Partial<PromptParts>): PromptParts => ({
  systemPrompt: "You are a test.",
  context: [],
  clientContext: [],
  history: [],
  userText: "hello",
  trailing: [],
  contextTokens: 1_000,
  promptTokens: 10_000,
  step: 2,
  count: estimateTokens,
  ...overrides,
});

const outcome = (name: string, text: string, placement: "stable" | "volatile", priority?: number) => ({
  name,
  status: "ok" as const,
  ms: 0,
  text,
  placement,
  ...(priority === undefined ? {} : { priority }),
});

describe("the prompt budget, in tokens, cut by priority", () => {
  it("keeps context by priority, then stable before volatile, never by name order", () => {
    const built = buildPrompt(
      parts({
        contextTokens: 120,
        context: [
          outcome("aaa-low", words(60, "low"), "stable", -1),
          outcome("mmm-volatile", words(60, "vol"), "volatile"),
          outcome("zzz-high", words(60, "high"), "volatile", 5),
          outcome("nnn-stable", words(60, "stb"), "stable"),
        ],
      }),
    );
    const text = built.messages.map((m) => m.content).join("\n");
    expect(text).toContain("[zzz-high]");
    expect(built.cutContext).toContain("aaa-low");
    expect(built.cutContext).toContain("mmm-volatile");
    // zzz-high (priority 5) first, then nnn-stable (stable before the volatile one at priority 0).
    expect(text.includes("[nnn-stable]") || built.cutContext.includes("nnn-stable")).toBe(true);
    expect(text).not.toContain("[aaa-low]");
    expect(text).not.toContain("[mmm-volatile]");
  });

  it("places what it keeps in layout order, independent of priority (stable in the system message by name)", () => {
    const built = buildPrompt(
      parts({ context: [outcome("b", "two", "stable", 1), outcome("a", "one", "stable", 9), outcome("v", "vee", "volatile")] }),
    );
    expect(built.messages[0]!.content).toBe("You are a test.\n\n[a]\none\n\n[b]\ntwo");
    expect(built.messages.at(-1)!.content).toBe("<context>\n[v]\nvee\n</context>\n\nhello");
  });

  it("moves the history window forward by `step` messages until the whole prompt fits", () => {
    const history = Array.from({ length: 8 }, (_, i) => ({
      role: i % 2 ? ("assistant" as const) : ("user" as const),
      content: words(50, `m${i}`),
    }));
    const roomy = buildPrompt(parts({ history, promptTokens: 10_000 }));
    expect(roomy.droppedHistory).toBe(0);
    const tight = buildPrompt(parts({ history, promptTokens: roomy.tokens - 50 }));
    expect(tight.droppedHistory).toBe(2);
    expect(tight.tokens).toBeLessThanOrEqual(roomy.tokens - 50);
    expect(tight.messages[1]!.content).toBe(history[2]!.content);
  });

  it("counts the tool definitions (reservedTokens) in the budget: the window moves forward for them too", () => {
    const history = Array.from({ length: 8 }, (_, i) => ({
      role: i % 2 ? ("assistant" as const) : ("user" as const),
      content: words(50, `m${i}`),
    }));
    const roomy = buildPrompt(parts({ history, promptTokens: 10_000 }));
    const withTools = buildPrompt(parts({ history, promptTokens: roomy.tokens, reservedTokens: 50 }));
    expect(withTools.droppedHistory).toBe(2);
    expect(withTools.tokens).toBeLessThanOrEqual(roomy.tokens);
  });

  it("counts with the given counter (a backend's tokenizer) rather than the estimate", () => {
    const history = [
      { role: "user" as const, content: "x" },
      { role: "assistant" as const, content: "y" },
    ];
    // The estimate fits it easily; a tokenizer that counts 100 tokens a character does not.
    expect(buildPrompt(parts({ history, promptTokens: 2_100 })).droppedHistory).toBe(0);
    const heavy = buildPrompt(parts({ history, count: (t) => t.length * 100, promptTokens: 2_100 }));
    expect(heavy.droppedHistory).toBe(2);
  });

  it("through the pipeline: provider priority decides what is cut, and the metrics say so", async () => {
    const providers: ContextProvider[] = [
      { name: "a-profile", placement: "stable", fetch: () => words(100, "profile") },
      { name: "b-search", fetch: () => words(100, "search"), priority: 10 },
    ];
    const backend = scriptedBackend();
    const pipeline = createZoePipeline({ backend, router: fixedRouter(), providers, contextTokens: 400 });
    const events = await runValid(pipeline.run({ userId: "u", message: "hello" }));
    const finished = events.at(-1) as { result: { metrics: RunMetrics } };
    expect(finished.result.metrics.prompt).toMatchObject({ counter: "estimate", cutContext: ["a-profile"] });
    expect(JSON.stringify(backend.requests[0]!.messages)).toContain("[b-search]");
    expect(backend.requests[0]!.promptTokens).toBe(finished.result.metrics.prompt.tokens);
    await pipeline.close();
  });

  it("rejects a budget that is not a positive integer", () => {
    expect(() => createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), promptTokens: 0 })).toThrow(/promptTokens/);
    expect(() => createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), contextTokens: 1.5 })).toThrow(/contextTokens/);
  });

  it("rejects a provider priority that is not a finite number (NaN or an infinity would leave the cut to the sort)", async () => {
    const provider = (priority: unknown): ContextProvider => ({ name: "p", fetch: () => "x", priority: priority as number });
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, "1", 1n, null, { valueOf: () => 1 }]) {
      expect(() => createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), providers: [provider(bad)] })).toThrow(
        /provider "p" needs a finite number as its `priority`/,
      );
    }
    for (const good of [undefined, 0, -3, 2.5]) {
      await createZoePipeline({ backend: scriptedBackend(), router: fixedRouter(), providers: [provider(good)] }).close();
    }
  });
});
