import { backendPool } from "../../src/backends/pool.js";
import { openAiCompatibleBackend } from "../../src/openai-compatible/index.js";
import { scriptedBackend, textChunks, type ScriptStep } from "../../src/testing/index.js";
import { modelBackendConformance, type BackendUnderTest } from "../conformance/model-backend.js";
import { startFakeOpenAi, type FakeFlavor, type FakeOpenAi } from "../helpers/fake-openai.js";

const REPLY = "Blue light scatters more than red light.";
const LONG = "one two three four five six seven eight nine ten eleven twelve";

/** The most recent chat request of these servers was closed by the client. */
async function lastChatClosed(servers: FakeOpenAi[]): Promise<void> {
  const last = servers
    .flatMap((s) => s.chats())
    .filter((r) => r.body?.model === "slow")
    .sort((a, b) => a.index - b.index)
    .at(-1);
  if (!last) throw new Error("no request to the slow model");
  await last.closed;
  if (!last.closedByClient) throw new Error("the server finished the slow answer: the request was not cancelled");
}

async function fakeServer(flavor: FakeFlavor): Promise<FakeOpenAi> {
  return startFakeOpenAi({
    flavor,
    models: { m: { reply: REPLY }, slow: { reply: LONG, chunkDelayMs: 25 }, broken: {} },
    script: (_body, { model }) =>
      model === "broken"
        ? [
            { type: "content", text: "Half " },
            { type: "content", text: "an answer" },
            { type: "error-event", message: "CUDA error: out of memory" },
          ]
        : undefined,
  });
}

for (const flavor of ["vllm", "llama.cpp", "ollama"] as const) {
  modelBackendConformance(`openAiCompatibleBackend on a fake ${flavor} server`, async (): Promise<BackendUnderTest> => {
    const server = await fakeServer(flavor);
    const backend = openAiCompatibleBackend({ baseURL: server.baseURL });
    return {
      backend,
      model: "m",
      reply: REPLY,
      slowModel: "slow",
      // A single-model llama.cpp server answers whatever the request's `model` says.
      ...(flavor === "llama.cpp" ? {} : { missingModel: "not-pulled" }),
      // Ollama's /v1 has no mid-stream error event to model.
      ...(flavor === "ollama" ? {} : { failingModel: "broken" }),
      cancelled: () => lastChatClosed([server]),
      close: () => server.close(),
    };
  });
}

modelBackendConformance("backendPool over two openAiCompatibleBackend hosts (fake vLLM)", async () => {
  const servers = await Promise.all([fakeServer("vllm"), fakeServer("vllm")]);
  const pool = backendPool(
    servers.map((s, i) => ({ name: `h${i}`, backend: openAiCompatibleBackend({ baseURL: s.baseURL }) })),
    { healthCheckMs: 0 },
  );
  return {
    backend: pool,
    model: "m",
    reply: REPLY,
    slowModel: "slow",
    missingModel: "not-pulled",
    failingModel: "broken",
    cancelled: () => lastChatClosed(servers),
    close: async () => void (await Promise.all(servers.map((s) => s.close()))),
  };
});

modelBackendConformance("scriptedBackend (the reference)", async () => {
  const steps: Record<string, ScriptStep[]> = {
    m: [...textChunks(REPLY), { type: "done", outputTokens: 7 }],
    slow: [...textChunks(LONG).flatMap((c): ScriptStep[] => [c, { type: "delay", ms: 25 }]), { type: "done" }],
    "not-pulled": [{ type: "error", message: 'model "not-pulled" not found: pull it first', code: "MODEL_NOT_FOUND" }],
    broken: [...textChunks("Half an answer"), { type: "error", message: "the engine failed", code: "STREAM_ERROR" }],
  };
  const backend = scriptedBackend({ script: (r) => steps[r.model] ?? [], models: ["m", "slow", "broken"] });
  let seen = 0;
  return {
    backend,
    model: "m",
    reply: REPLY,
    slowModel: "slow",
    missingModel: "not-pulled",
    failingModel: "broken",
    cancelled: async () => {
      const t0 = Date.now();
      while (backend.cancelled <= seen) {
        if (Date.now() - t0 > 5_000) throw new Error("the script never stopped");
        await new Promise((r) => setTimeout(r, 5));
      }
      seen = backend.cancelled;
    },
  };
});
