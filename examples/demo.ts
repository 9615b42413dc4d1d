/**
 * A demo run of the pipeline: four chat turns through the heuristic router, three context
 * providers (one of them too slow for its deadline), the memory cache and a scripted model
 * with model-like timings. Run it with `npm run demo`.
 */
import { createZoePipeline, EventType, heuristicRouter, type ContextProvider } from "zoe-pipeline";
import { scriptedBackend, textChunks } from "zoe-pipeline/testing";

const wait = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });

const providers: ContextProvider[] = [
  { name: "profile", placement: "stable", fetch: async (_r, { signal }) => (await wait(40, signal), "Ada, in Lisbon, likes trains.") },
  { name: "memory", fetch: async ({ text }, { signal }) => (await wait(150, signal), `Notes matching "${text.slice(0, 20)}": none`) },
  { name: "calendar", timeoutMs: 300, fetch: async (_r, { signal }) => (await wait(1_500, signal), "Free all week.") },
];

const backend = scriptedBackend({
  firstChunkDelayMs: 120,
  chunkDelayMs: 15,
  script: (request) =>
    textChunks(
      request.options?.num_predict
        ? "Done! Anything else?"
        : "Here is a plan: day one, the old town; day two, the coast by train; day three, museums.",
    ),
});

const pipeline = createZoePipeline({
  backend,
  router: heuristicRouter({ models: { fast: "gemma3n:e2b", default: "llama3.2", code: "qwen2.5-coder" } }),
  providers,
});

for (const message of ["hi zoe!", "set a timer for ten minutes", "plan a three-day trip to Porto for me", "plan a three-day trip to Porto for me"]) {
  console.log(`\n> ${message}`);
  for await (const event of pipeline.run({ userId: "ada", threadId: "demo", message })) {
    switch (event.type) {
      case EventType.STATE_DELTA:
        for (const op of event.delta as Array<{ path: string; value: any }>) {
          if (op.path === "/zoe/route") console.log(`  route: ${op.value.kind} → ${op.value.model} (${op.value.reason}${op.value.cached ? ", cached" : ""})`);
          if (op.path.startsWith("/zoe/providers/")) console.log(`  ${op.path.slice(15)}: ${op.value.status} ${op.value.ms} ms`);
        }
        break;
      case EventType.TEXT_MESSAGE_START:
        process.stdout.write("  ");
        break;
      case EventType.TEXT_MESSAGE_CONTENT:
        process.stdout.write(event.delta);
        break;
      case EventType.TEXT_MESSAGE_END:
        process.stdout.write("\n");
        break;
      case EventType.RUN_FINISHED: {
        const m = (event.result as { metrics: any }).metrics;
        console.log(`  time to first token ${m.ttftMs} ms, total ${m.totalMs} ms, ${m.tokens.output} tokens, cache hits ${m.cache.hits}/${m.cache.hits + m.cache.misses}`);
        break;
      }
      case EventType.RUN_ERROR:
        console.log(`  error ${event.code}: ${event.message}`);
    }
  }
}
console.log("\nThe history the pipeline kept:", (await pipeline.history.get("ada", "demo")).map((e) => `${e.role}: ${e.content}`));
await pipeline.close();
