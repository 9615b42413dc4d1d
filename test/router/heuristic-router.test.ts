import { describe, expect, it } from "vitest";
import { classifyTurn } from "../../src/routing/classify-turn.js";
import { heuristicRouter, type HeuristicRouterOptions } from "../../src/routing/heuristic-router.js";
import type { RouteDecision, RouteKind, RouteRequest } from "../../src/routing/types.js";

const req = (text: string): RouteRequest => ({ text, userId: "u1", threadId: "t1" });

/** The heuristic router is synchronous; this narrows the Router union for the tests. */
function route(router: ReturnType<typeof heuristicRouter>, text: string): RouteDecision {
  const decision = router.route(req(text));
  if (decision instanceof Promise) throw new Error("heuristicRouter.route must be synchronous");
  return decision;
}

/** A classifier that returns whatever kind the text names, to test routing independently of the heuristics. */
const byName = (text: string): { kind: RouteKind; reason: string } => ({ kind: text as RouteKind, reason: `test: ${text}` });

const allModels = { fast: "fast-1b", default: "chat-8b", code: "coder-7b", complex: "big-32b" };

describe("heuristicRouter: model selection", () => {
  it("maps every kind to its tier when all tiers are configured", () => {
    const router = heuristicRouter({ models: allModels, classify: byName });
    expect(route(router, "greeting").model).toBe("fast-1b");
    expect(route(router, "simple").model).toBe("fast-1b");
    expect(route(router, "chat").model).toBe("chat-8b");
    expect(route(router, "code").model).toBe("coder-7b");
    expect(route(router, "complex").model).toBe("big-32b");
  });

  it("falls back to the default model for code and complex when not given", () => {
    const router = heuristicRouter({ models: { fast: "f", default: "d" }, classify: byName });
    expect(route(router, "code").model).toBe("d");
    expect(route(router, "complex").model).toBe("d");
    expect(route(router, "chat").model).toBe("d");
    expect(route(router, "greeting").model).toBe("f");
  });

  it("uses the built-in classifier by default", () => {
    const router = heuristicRouter({ models: allModels });
    const cases: Array<[string, RouteKind, string]> = [
      ["hi zoe", "greeting", "fast-1b"],
      ["set a timer for ten minutes", "simple", "fast-1b"],
      ["why is the sky blue?", "chat", "chat-8b"],
      ["write a python function that reverses a string", "code", "coder-7b"],
      ["plan a five-day trip to Japan on a budget", "complex", "big-32b"],
    ];
    for (const [text, kind, model] of cases) {
      const d = route(router, text);
      expect({ text, kind: d.kind, model: d.model }).toEqual({ text, kind, model });
      expect(d.reason).toBe(classifyTurn(text).reason);
    }
  });

  it("passes the classifier's reason through", () => {
    const router = heuristicRouter({ models: allModels, classify: () => ({ kind: "code", reason: "custom rule" }) });
    expect(route(router, "anything")).toMatchObject({ kind: "code", reason: "custom rule", model: "coder-7b" });
  });

  it("lists the distinct configured models", () => {
    expect(heuristicRouter({ models: allModels }).models?.().sort()).toEqual(["big-32b", "chat-8b", "coder-7b", "fast-1b"]);
    expect(
      heuristicRouter({ models: { fast: "f", default: "d" } })
        .models?.()
        .sort(),
    ).toEqual(["d", "f"]);
    expect(heuristicRouter({ models: { fast: "same", default: "same", code: "same" } }).models?.()).toEqual(["same"]);
  });

  it("returns a fresh models() array each call", () => {
    const router = heuristicRouter({ models: allModels });
    const first = router.models?.() ?? [];
    first.push("mutated");
    expect(router.models?.()).not.toContain("mutated");
  });
});

describe("heuristicRouter: fast path", () => {
  const router = heuristicRouter({ models: allModels, classify: byName });
  it.each<[RouteKind, boolean]>([
    ["greeting", true],
    ["simple", true],
    ["chat", false],
    ["code", false],
    ["complex", false],
  ])("%s → fastPath %s", (kind, fastPath) => {
    expect(route(router, kind)).toMatchObject({ kind, fastPath });
  });
});

describe("heuristicRouter: generation options", () => {
  it("applies the defaults", () => {
    const router = heuristicRouter({ models: allModels, classify: byName });
    expect(route(router, "greeting").options).toEqual({ num_predict: 64 });
    expect(route(router, "simple").options).toEqual({ num_predict: 128 });
    expect(route(router, "chat").options).toEqual({});
    expect(route(router, "code").options).toEqual({});
    expect(route(router, "complex").options).toEqual({});
  });

  it("merges per-kind options over the defaults", () => {
    const router = heuristicRouter({
      models: allModels,
      classify: byName,
      options: {
        greeting: { temperature: 0.2 },
        simple: { num_predict: 256 },
        complex: { num_predict: 4096, num_ctx: 16384 },
      },
    });
    expect(route(router, "greeting").options).toEqual({ num_predict: 64, temperature: 0.2 });
    expect(route(router, "simple").options).toEqual({ num_predict: 256 });
    expect(route(router, "complex").options).toEqual({ num_predict: 4096, num_ctx: 16384 });
    expect(route(router, "chat").options).toEqual({});
  });

  it("returns a fresh options object on every call", () => {
    const router = heuristicRouter({ models: allModels, classify: byName });
    const a = route(router, "greeting");
    a.options.num_predict = 1;
    a.options.extra = true;
    const b = route(router, "greeting");
    expect(b.options).toEqual({ num_predict: 64 });
    expect(b.options).not.toBe(a.options);
  });

  it("does not share state with the caller's options object", () => {
    const userOptions: HeuristicRouterOptions["options"] = { chat: { temperature: 0.7 } };
    const router = heuristicRouter({ models: allModels, classify: byName, options: userOptions });
    const d = route(router, "chat");
    d.options.temperature = 2;
    expect(userOptions.chat).toEqual({ temperature: 0.7 });
    if (userOptions.chat) userOptions.chat.temperature = 0.1;
    expect(route(router, "chat").options).toEqual({ temperature: 0.7 });
  });

  it("keeps routers independent of each other", () => {
    const a = heuristicRouter({ models: allModels, classify: byName, options: { simple: { num_predict: 1 } } });
    const b = heuristicRouter({ models: allModels, classify: byName });
    expect(route(a, "simple").options).toEqual({ num_predict: 1 });
    expect(route(b, "simple").options).toEqual({ num_predict: 128 });
  });
});

describe("heuristicRouter: greeting followed by a request", () => {
  const router = heuristicRouter({ models: allModels });
  it.each<[string, RouteKind]>([
    ["hey zoe, set a timer for 5 minutes", "simple"],
    ["good morning! what's the weather like today?", "simple"],
    ["thanks! now add bread to the shopping list", "simple"],
    ["hi zoe! can you write me a python script to rename files?", "code"],
    ["hello, plan a three-day trip to Rome for me", "complex"],
    ["hi, why is the sky blue", "chat"],
    ["hey zoe", "greeting"],
    ["thanks a lot!", "greeting"],
  ])("%s → %s", (text, kind) => {
    const d = route(router, text);
    expect(d.kind).toBe(kind);
    expect(d.fastPath).toBe(kind === "greeting" || kind === "simple");
  });
});

describe("heuristicRouter: validation", () => {
  const bad = (options: unknown) => () => heuristicRouter(options as HeuristicRouterOptions);

  it("requires an options object with models", () => {
    expect(bad(undefined)).toThrow(TypeError);
    expect(bad({})).toThrow(/options\.models/);
    expect(bad({ models: null })).toThrow(TypeError);
  });

  it("requires non-empty fast and default models", () => {
    expect(bad({ models: { default: "d" } })).toThrow(/models\.fast/);
    expect(bad({ models: { fast: "", default: "d" } })).toThrow(/models\.fast must be a non-empty string/);
    expect(bad({ models: { fast: "f", default: "   " } })).toThrow(/models\.default/);
    expect(bad({ models: { fast: "f", default: 42 } })).toThrow(TypeError);
  });

  it("rejects empty optional models but accepts them missing", () => {
    expect(bad({ models: { fast: "f", default: "d", code: "" } })).toThrow(/models\.code/);
    expect(bad({ models: { fast: "f", default: "d", complex: "" } })).toThrow(/models\.complex/);
    expect(() => heuristicRouter({ models: { fast: "f", default: "d" } })).not.toThrow();
  });

  it("rejects unknown kinds and non-object per-kind options", () => {
    expect(bad({ models: { fast: "f", default: "d" }, options: { smalltalk: {} } })).toThrow(/unknown route kind/);
    expect(bad({ models: { fast: "f", default: "d" }, options: { chat: 5 } })).toThrow(/options\.chat/);
  });

  it("rejects a non-function classifier, and unknown kinds from a custom one", () => {
    expect(bad({ models: { fast: "f", default: "d" }, classify: "nope" })).toThrow(/classify/);
    const router = heuristicRouter({ models: { fast: "f", default: "d" }, classify: () => ({ kind: "other" as RouteKind, reason: "x" }) });
    expect(() => router.route(req("hi"))).toThrow(TypeError);
  });
});

describe("classifyTurn", () => {
  it("is pure and returns a kind and a reason for any input", () => {
    for (const text of ["", "   ", "🙂", "?", "a".repeat(100_000), `\`\`\`\n${"x = 1\n".repeat(10_000)}\`\`\``]) {
      const r = classifyTurn(text);
      expect(typeof r.reason).toBe("string");
      expect(["greeting", "simple", "code", "complex", "chat"]).toContain(r.kind);
      expect(classifyTurn(text)).toEqual(r);
    }
  });

  it("names the matched rule in the reason", () => {
    expect(classifyTurn("set a timer for ten minutes").reason).toMatch(/^simple: /);
    expect(classifyTurn("```js\nconsole.log(1)\n```").reason).toMatch(/^code: fenced block/);
    expect(classifyTurn("good morning Zoe").reason).toMatch(/^greeting: /);
  });

  it("handles case, typos, emoji and other languages", () => {
    const cases: Array<[string, RouteKind]> = [
      ["SET A TIMER FOR 6 MINUTES", "simple"],
      ["set a timmer for 10 min", "simple"],
      ["wats the wether tomorrow", "simple"],
      ["heyyy 👋", "greeting"],
      ["merci beaucoup", "greeting"],
      ["pon una alarma a las 7", "simple"],
      ["wie spät ist es", "simple"],
      ["allume la lumière", "simple"],
    ];
    for (const [text, kind] of cases) expect({ text, kind: classifyTurn(text).kind }).toEqual({ text, kind });
  });
});
