import { createZoePipeline, EventType, heuristicRouter, memoryCacheStore, type ContextProvider } from "zoe-pipeline";
import { scriptedBackend, textChunks } from "zoe-pipeline/testing";

// A context provider: any object with a name and a fetch(). It gets a deadline and a cache.
const userProfile: ContextProvider = {
  name: "profile",
  placement: "stable", // long-lived: goes into the system message
  ttlMs: 30_000,
  timeoutMs: 500,
  fetch: async ({ userId }) => `The user is ${userId}; they prefer short answers.`,
};

export async function quickStart(): Promise<string> {
  const pipeline = createZoePipeline({
    // Swap in a real backend (Ollama, llama.cpp) in production; this one plays a script.
    backend: scriptedBackend({ script: textChunks("Blue light scatters more than red light.") }),
    router: heuristicRouter({ models: { fast: "gemma3n:e2b", default: "llama3.2", code: "qwen2.5-coder" } }),
    cache: memoryCacheStore(),
    providers: [userProfile],
  });

  let answer = "";
  for await (const event of pipeline.run({ userId: "ada", message: "Why is the sky blue?" })) {
    switch (event.type) {
      case EventType.TEXT_MESSAGE_CONTENT:
        answer += event.delta; // narrowed: `delta` is a string
        break;
      case EventType.RUN_ERROR:
        throw new Error(`${event.code}: ${event.message}`);
      case EventType.RUN_FINISHED:
        console.log("metrics", event.result);
        break;
    }
  }
  await pipeline.close();
  return answer;
}
