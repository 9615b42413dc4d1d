/**
 * The route cache is keyed by `normaliseText`, which dropped a trailing "?" and turned line breaks
 * into spaces; the router does not ignore them: they change its decision. The decision cached for
 * one message was then served to a different message of the same user that the router would have
 * sent to another kind and model. The key now keeps both.
 */
import { describe, expect, it } from "vitest";
import { createZoePipeline, EventType, heuristicRouter, type AGUIEvent } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";

const models = { fast: "fast-model", default: "default-model", code: "code-model", complex: "complex-model" };

const routeOf = (events: AGUIEvent[]) =>
  (
    events.flatMap((e) => (e.type === EventType.STATE_DELTA ? e.delta : [])).find((op) => op.path === "/zoe/route" && op.op === "add") as {
      value: { kind: string; model: string; fastPath: boolean; cached: boolean };
    }
  ).value;

const pairs: Array<[string, string]> = [
  // a trailing "?" (kept by the router, dropped by the key)
  ["explain this line: awk '{print $2}' file.txt?", "explain this line: awk '{print $2}' file.txt"],
  ["know any good riddles", "know any good riddles?"],
  // line breaks (seen by the router, collapsed by the key)
  [
    "error TS2322: Type 'string' is not assignable to type 'number'.",
    "error\nTS2322:\nType\n'string'\nis\nnot\nassignable\nto\ntype\n'number'.",
  ],
];

describe("route cache keys", () => {
  for (const [first, second] of pairs) {
    it(`${JSON.stringify(second)} is not served the route cached for ${JSON.stringify(first)}`, async () => {
      const router = heuristicRouter({ models });
      const own = await router.route({ text: second, userId: "ada", threadId: "t" });
      const other = await router.route({ text: first, userId: "ada", threadId: "t" });
      // the premise: two different decisions (the two texts had one key before)
      expect(other.kind).not.toBe(own.kind);

      const backend = scriptedBackend({ script: textChunks("ok") });
      const pipeline = createZoePipeline({ backend, router });
      await runValid(pipeline.run({ userId: "ada", threadId: "t", message: first }));
      const route = routeOf(await runValid(pipeline.run({ userId: "ada", threadId: "t", message: second })));
      await pipeline.close();
      expect({ kind: route.kind, model: route.model, fastPath: route.fastPath, cached: route.cached }).toEqual({
        kind: own.kind,
        model: own.model,
        fastPath: own.fastPath,
        cached: false,
      });
    });
  }
});
