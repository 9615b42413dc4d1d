import {
  createZoePipeline,
  EventType,
  heuristicRouter,
  type CacheStore,
  type ContextProvider,
  type ModelBackend,
  type ZoePipelineOptions,
} from "zoe-pipeline";
import { scriptedBackend, textChunks } from "zoe-pipeline/testing";
import { summarise } from "./stats.js";

/** Time to the first chunk straight from the backend. */
export async function rawTtft(backend: ModelBackend): Promise<number> {
  const controller = new AbortController();
  const t0 = performance.now();
  for await (const chunk of backend.chat({ model: "m", messages: [{ role: "user", content: "x" }] }, { signal: controller.signal })) {
    if (chunk.type === "text") {
      const t = performance.now() - t0;
      controller.abort();
      return t;
    }
  }
  throw new Error("no text");
}

/**
 * The pipeline every overhead figure uses: a scripted model, three providers cached for an hour,
 * the heuristic router; `extra` adds options (a cache store, metrics, auto-tuning).
 */
export function overheadPipeline(extra: Partial<ZoePipelineOptions> = {}) {
  const backend = scriptedBackend({
    record: false,
    script: [...textChunks("The answer is forty-two, as always."), { type: "done", outputTokens: 8, doneReason: "stop" }],
  });
  const providers: ContextProvider[] = ["profile", "memory", "tools"].map((name) => ({
    name,
    placement: name === "memory" ? "volatile" : "stable",
    ttlMs: 3_600_000,
    fetch: async () => `${name} context for the user, a line or two of text that the prompt will carry.`,
  }));
  const pipeline = createZoePipeline({
    backend,
    router: heuristicRouter({ models: { fast: "fast", default: "default" } }),
    providers,
    ...extra,
  });
  return { backend, pipeline };
}

/**
 * Pipeline overhead: time to first token through the pipeline minus the backend's own, with warm
 * caches, three cached providers and the memory store.
 */
export async function benchOverhead(iterations: number, cache?: CacheStore) {
  const { backend, pipeline } = overheadPipeline(cache ? { cache } : {});
  const message = "why is the sky blue when the sun is white?";
  const inputs = {
    shorthand: () => ({ userId: "bench", threadId: "t", message }),
    agui: () => ({
      threadId: "t-agui",
      runId: `r${Math.random()}`,
      userId: "bench",
      messages: [{ id: "m1", role: "user" as const, content: message }],
      tools: [],
      context: [],
    }),
  };
  const results = {} as Record<keyof typeof inputs, ReturnType<typeof summarise> & { rawP50: number }>;
  for (const form of Object.keys(inputs) as Array<keyof typeof inputs>) {
    const input = inputs[form];
    const overheads: number[] = [];
    const raws: number[] = [];
    for (let i = 0; i < iterations + 500; i++) {
      const raw = await rawTtft(backend);
      const t0 = performance.now();
      let ttft = Number.NaN;
      for await (const event of pipeline.run(input())) {
        if (event.type === EventType.TEXT_MESSAGE_CONTENT && Number.isNaN(ttft)) ttft = performance.now() - t0;
      }
      if (i >= 500) {
        overheads.push(ttft - raw);
        raws.push(raw);
      }
    }
    results[form] = { ...summarise(overheads), rawP50: summarise(raws).p50 };
  }
  await pipeline.close();
  return results;
}
