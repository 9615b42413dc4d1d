import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createZoePipeline, EventType, heuristicRouter, type RouteKind } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";
import { testProvider } from "../helpers/fixtures.js";

const corpus = JSON.parse(readFileSync(new URL("./corpus.json", import.meta.url), "utf8")) as Array<{ text: string; kind: RouteKind }>;

describe("the prompt corpus through the pipeline", () => {
  it("gives a valid AG-UI stream for every prompt, routed and fast-pathed as its kind says", async () => {
    const backend = scriptedBackend({ script: textChunks("ok then") });
    const models = { fast: "fast-model", default: "default-model", code: "code-model", complex: "complex-model" };
    const memory = testProvider("memory", "notes", { ttlMs: 0 });
    const pipeline = createZoePipeline({ backend, router: heuristicRouter({ models }), providers: [memory] });
    const byKind: Record<string, { total: number; right: number }> = {};
    for (const [i, { text, kind }] of corpus.entries()) {
      const events = await runValid(pipeline.run({ userId: `u${i}`, message: text }));
      const routeOp = events
        .flatMap((e) => (e.type === EventType.STATE_DELTA ? e.delta : []))
        .find((op) => op.path === "/zoe/route" && op.op === "add") as { value: unknown } | undefined;
      const route = routeOp?.value as { kind: RouteKind; fastPath: boolean; model: string };
      const stat = (byKind[kind] ??= { total: 0, right: 0 });
      stat.total++;
      if (route.kind === kind) stat.right++;
      // what the pipeline did follows the decision
      expect(route.fastPath).toBe(route.kind === "greeting" || route.kind === "simple");
      expect(backend.requests.at(-1)?.model).toBe(route.model);
    }
    // the fast path never called the provider: one call per non-fast-path run
    const slowRuns = backend.requests.filter((r) => r.model !== "fast-model").length;
    expect(memory.calls).toBe(slowRuns);
    const right = Object.values(byKind).reduce((n, s) => n + s.right, 0);
    console.log(`router accuracy through the pipeline: ${right}/${corpus.length}`, byKind);
    expect(right / corpus.length).toBeGreaterThanOrEqual(0.95);
  });
});
