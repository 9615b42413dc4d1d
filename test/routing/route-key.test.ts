/**
 * The route cache is keyed by `normaliseText`, which dropped a trailing "?" and turned line breaks
 * into spaces; a router does not ignore them (the heuristic router reads a question mark, and code
 * by its lines): the decision cached for one message was then served to a different message of the
 * same user that the router sends to another kind and model. The key now keeps both. The router
 * here decides on exactly those two things, so that the test does not hang on the learned model's
 * weights.
 */
import { describe, expect, it } from "vitest";
import { createZoePipeline, EventType, type AGUIEvent, type RouteDecision, type Router } from "../../src/index.js";
import { scriptedBackend, textChunks } from "../../src/testing/index.js";
import { runValid } from "../helpers/ag-ui.js";

/** A router that reads a trailing question mark and line breaks, as the heuristic router's rules do. */
function readingRouter(): Router & { calls: number } {
  const router = {
    calls: 0,
    route({ text }: { text: string }): RouteDecision {
      router.calls++;
      const kind = text.includes("\n") ? "code" : text.trimEnd().endsWith("?") ? "chat" : "greeting";
      return { model: `${kind}-model`, kind, fastPath: kind === "greeting", reason: "test", options: {} };
    },
    models: () => ["code-model", "chat-model", "greeting-model"],
  };
  return router;
}

const routeOf = (events: AGUIEvent[]) =>
  (
    events.flatMap((e) => (e.type === EventType.STATE_DELTA ? e.delta : [])).find((op) => op.path === "/zoe/route" && op.op === "add") as {
      value: { kind: string; cached: boolean };
    }
  ).value;

async function routes(first: string, second: string) {
  const router = readingRouter();
  const pipeline = createZoePipeline({ backend: scriptedBackend({ script: textChunks("ok") }), router });
  const a = routeOf(await runValid(pipeline.run({ userId: "ada", threadId: "t", message: first })));
  const b = routeOf(await runValid(pipeline.run({ userId: "ada", threadId: "t", message: second })));
  await pipeline.close();
  return { a, b, calls: router.calls };
}

describe("route cache keys", () => {
  for (const [first, second] of [
    ["know any good riddles", "know any good riddles?"],
    ["explain this line: awk '{print $2}' file.txt?", "explain this line: awk '{print $2}' file.txt"],
    ["error TS2322: Type 'string' is not assignable to type 'number'.", "error TS2322:\nType 'string' is not assignable to type 'number'."],
  ]) {
    it(`${JSON.stringify(second)} is not served the route cached for ${JSON.stringify(first)}`, async () => {
      const { a, b, calls } = await routes(first as string, second as string);
      expect(calls).toBe(2);
      expect(b.cached).toBe(false);
      expect(b.kind).not.toBe(a.kind);
    });
  }

  it("what the router does not read still shares a route: case, blanks, trailing . and !", async () => {
    const { b, calls } = await routes("Know any good  riddles?!", "know any good riddles ?");
    expect(calls).toBe(1);
    expect(b.cached).toBe(true);
  });
});
