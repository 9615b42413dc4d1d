/** The fake Ollama server: see `server.ts` for what it models and where in Ollama's source. */
export { FOREVER_MS, parseGoDuration, parseKeepAlive, readKeepAlive, type KeepAlive } from "./duration.js";
export { displayShortest, fullName, nameKey, parseName, type ModelName } from "./names.js";
export { OLLAMA_BUSY_MESSAGE, effectiveContext, type FakeEvent, type RunnerOptions } from "./scheduler.js";
export { capabilitiesOf, startFakeOllama, textSteps, type FakeOllama } from "./server.js";
export type { FakeCapability, FakeChatBody, FakeModel, FakeOllamaOptions, FakeRequest, FakeStep, FakeToolCall } from "./types.js";
