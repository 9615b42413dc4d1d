/** Shared set-up of the examples: which backend to use, the demo's router and context providers. */
import { existsSync } from "node:fs";
import { basename, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { heuristicRouter, type ContextProvider, type ModelBackend, type Router } from "zoe-pipeline";

/** Models per router tier. */
export interface DemoModels {
  fast: string;
  default: string;
  code: string;
}

export type ChosenBackend =
  | { ok: true; backend: ModelBackend; models: DemoModels; description: string }
  | { ok: false; help: string };

/** The tiny test model of a development checkout (../shared/models), when it is there. */
export const DEV_MODEL = resolve(fileURLToPath(new URL("../", import.meta.url)), "../shared/models/llama-2-tiny-random.gguf");

const PREFERRED: DemoModels = { fast: "gemma3n:e2b", default: "llama3.2", code: "qwen2.5-coder" };

function ollamaUrl(): string {
  const host = process.env.OLLAMA_HOST ?? "127.0.0.1:11434";
  return /^https?:\/\//.test(host) ? host : `http://${host}`;
}

async function ollamaModels(url: string): Promise<string[] | undefined> {
  try {
    const response = await fetch(`${url}/api/tags`, { signal: AbortSignal.timeout(700) });
    if (!response.ok) return undefined;
    const body = (await response.json()) as { models?: Array<{ name: string }> };
    return (body.models ?? []).map((m) => m.name);
  } catch {
    return undefined;
  }
}

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
}

/**
 * Ollama when it answers at OLLAMA_HOST (default 127.0.0.1:11434); otherwise the embedded
 * llama.cpp backend on a GGUF file from `--model <path>`, ZOE_MODEL_PATH, or the development
 * checkout's tiny model; otherwise a message that says what to do.
 */
export async function chooseBackend(argv: string[]): Promise<ChosenBackend> {
  const url = ollamaUrl();
  const pulled = await ollamaModels(url);
  if (pulled && pulled.length > 0) {
    const pick = (name: string) => pulled.find((m) => m === name || m.startsWith(`${name}:`)) ?? pulled[0]!;
    const models = { fast: pick(PREFERRED.fast), default: pick(PREFERRED.default), code: pick(PREFERRED.code) };
    const { ollamaBackend } = await import("zoe-pipeline/ollama");
    return { ok: true, backend: ollamaBackend({ host: url }), models, description: `Ollama at ${url}` };
  }
  const modelPath = flag(argv, "--model") ?? process.env.ZOE_MODEL_PATH ?? (existsSync(DEV_MODEL) ? DEV_MODEL : undefined);
  if (modelPath) {
    if (!existsSync(modelPath)) return { ok: false, help: `No GGUF model file at ${modelPath}.` };
    const { llamaCppBackend } = await import("zoe-pipeline/llama-cpp");
    const name = basename(modelPath, ".gguf");
    return {
      ok: true,
      backend: llamaCppBackend({ modelPath, ...(process.env.ZOE_THREADS ? { threads: Number(process.env.ZOE_THREADS) } : {}) }),
      models: { fast: name, default: name, code: name },
      description: `embedded llama.cpp on ${modelPath}`,
    };
  }
  return {
    ok: false,
    help: [
      `No model to talk to. Either:`,
      `  - start Ollama (https://ollama.com) and pull a model: \`ollama pull llama3.2\` (set OLLAMA_HOST if it is not on ${url}), or`,
      `  - point the embedded llama.cpp backend at a GGUF file: \`npm run demo -- --model ./model.gguf\``,
      `    or ZOE_MODEL_PATH=./model.gguf (node-llama-cpp must be installed: \`npm install node-llama-cpp\`).`,
    ].join("\n"),
  };
}

/** The demo's router. */
export function demoRouter(models: DemoModels): Router {
  // Bounded answers: the fast path's defaults are 64 and 128 tokens.
  return heuristicRouter({ models, options: { chat: { num_predict: 256 }, code: { num_predict: 512 }, complex: { num_predict: 512 } } });
}

const wait = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });

/** Three context providers with realistic latencies; `calendar` is slower than its deadline. */
export function demoProviders(): ContextProvider[] {
  return [
    {
      name: "profile",
      placement: "stable",
      ttlMs: 300_000,
      fetch: async ({ userId }, { signal }) => (await wait(40, signal), `The user is ${userId}; they live in Lisbon and like trains.`),
    },
    {
      name: "memory",
      cacheKey: ({ text }) => text.toLowerCase().slice(0, 80),
      fetch: async ({ text }, { signal }) => (await wait(120, signal), `No saved notes match "${text.slice(0, 40)}".`),
    },
    { name: "calendar", timeoutMs: 300, fetch: async (_r, { signal }) => (await wait(1_500, signal), "Free all week.") },
  ];
}
