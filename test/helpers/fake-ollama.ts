/** The fake Ollama server (see `fake-ollama/server.ts`). */
export * from "./fake-ollama/index.js";
