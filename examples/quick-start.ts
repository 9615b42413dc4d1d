// Needs Ollama (https://ollama.com) running, with a model pulled: `ollama pull llama3.2`.
import { createZoePipeline, EventType, heuristicRouter, runResult } from "zoe-pipeline";
import { ollamaBackend } from "zoe-pipeline/ollama";

const pipeline = createZoePipeline({
  backend: ollamaBackend({ host: process.env.OLLAMA_HOST ?? "http://127.0.0.1:11434" }),
  router: heuristicRouter({ models: { fast: "llama3.2", default: "llama3.2" } }),
  // Context providers run in parallel, each with a deadline and a cache.
  providers: [{ name: "profile", placement: "stable", fetch: ({ userId }) => `The user is ${userId}; they like short answers.` }],
});

for await (const event of pipeline.run({ userId: "ada", message: "Why is the sky blue?" })) {
  if (event.type === EventType.TEXT_MESSAGE_CONTENT) process.stdout.write(event.delta);
  if (event.type === EventType.RUN_ERROR) console.error(`${event.code}: ${event.message}`);
  const result = runResult(event); // typed RUN_FINISHED.result
  if (result && !result.cancelled) console.log(`\n(first token after ${result.metrics.ttftMs} ms)`);
}
await pipeline.close();
