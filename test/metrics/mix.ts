import { createZoePipeline, EventType, type RunMetrics, type ZoePipeline } from "../../src/index.js";
import { scriptedBackend, textChunks, type ScriptStep } from "../../src/testing/index.js";
import { fixedRouter, testProvider } from "../helpers/fixtures.js";

/** A pipeline whose model fails on "fail" and stalls on "slowly"; one cached provider. */
export function mixPipeline(): ZoePipeline {
  const backend = scriptedBackend({
    script: (request): ScriptStep[] => {
      const text = request.messages.at(-1)?.content ?? "";
      if (text.includes("fail")) return [{ type: "error", message: "no such model", code: "MODEL_NOT_FOUND" }];
      if (text.includes("slowly"))
        return [
          { type: "text", text: "a " },
          { type: "delay", ms: 10_000 },
          { type: "text", text: "b" },
        ];
      return textChunks("Hi there, Ada!");
    },
  });
  return createZoePipeline({ backend, router: fixedRouter("chat"), providers: [testProvider("profile", "Ada")] });
}

/**
 * Seven runs, in order: 3 successes ("hello"), a model error, a cancelled run (signal), a
 * rejected input (empty message), a run abandoned by leaving the loop. Returns the metrics of the
 * finished runs as `run:finished` carried them.
 */
export async function runMix(pipeline: ZoePipeline): Promise<RunMetrics[]> {
  const finished: RunMetrics[] = [];
  pipeline.on("run:finished", ({ metrics }) => finished.push(metrics));
  const drain = async (message: string, stopAt?: (type: string) => "abort" | "leave" | undefined) => {
    const controller = new AbortController();
    for await (const event of pipeline.run({ userId: "ada", threadId: "t1", message }, { signal: controller.signal })) {
      const what = stopAt?.(event.type);
      if (what === "abort") controller.abort();
      if (what === "leave") break;
    }
  };
  for (let i = 0; i < 3; i++) await drain("hello");
  await drain("please fail");
  await drain("talk slowly", (type) => (type === EventType.TEXT_MESSAGE_CONTENT ? "abort" : undefined));
  await drain("");
  await drain("hello", (type) => (type === EventType.TEXT_MESSAGE_CONTENT ? "leave" : undefined));
  return finished;
}

/** A finished run's metrics: zeros everywhere, with `overrides`. */
export function runMetrics(overrides: Partial<RunMetrics> = {}): RunMetrics {
  return {
    totalMs: 1,
    stages: { cacheReadMs: 0, routeMs: 0, contextMs: 0, promptMs: 0, generateMs: 0 },
    providers: {},
    tokens: { output: 0 },
    cache: {
      hits: 0,
      misses: 0,
      byPart: {
        route: { hits: 0, misses: 0 },
        system: { hits: 0, misses: 0 },
        context: { hits: 0, misses: 0 },
        history: { hits: 0, misses: 0 },
      },
    },
    fastPath: false,
    kind: "chat",
    model: "m",
    backend: {},
    tools: { calls: 0, steps: 0, codeRuns: 0 },
    historySource: "store",
    historyMessages: 0,
    prompt: { tokens: 0, counter: "estimate" },
    ...overrides,
  };
}
