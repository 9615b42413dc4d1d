// Runs a GGUF model inside Node: `npm install node-llama-cpp`, then `ZOE_MODEL_PATH=./model.gguf`.
import { createZoePipeline, EventType, heuristicRouter, runResult } from "zoe-pipeline";
import { llamaCppBackend } from "zoe-pipeline/llama-cpp";

const pipeline = createZoePipeline({
  backend: llamaCppBackend({ modelPath: process.env.ZOE_MODEL_PATH ?? "./model.gguf", maxTokens: 256 }),
  router: heuristicRouter({ models: { fast: "local", default: "local" } }), // one file serves every name
});

for await (const event of pipeline.run({ userId: "ada", message: "Why is the sky blue?" })) {
  if (event.type === EventType.TEXT_MESSAGE_CONTENT) process.stdout.write(event.delta);
  if (event.type === EventType.RUN_ERROR) console.error(`${event.code}: ${event.message}`);
  const result = runResult(event);
  if (result && !result.cancelled) console.log(`\n(${result.metrics.tokens.output} tokens, first after ${result.metrics.ttftMs} ms)`);
}
await pipeline.close();
