/** Shared set-up of the examples: which backend to use, the demo's router and context providers. */
import { existsSync, statSync } from "node:fs";
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
  | {
      ok: true;
      backend: ModelBackend;
      models: DemoModels;
      description: string;
      /** A model too small to say anything sensible (the demo keeps its answers short and says so). */
      tiny: boolean;
      /** Lines that explain the choice: the model, the thread count, how to use a real model. */
      notes: string[];
    }
  | { ok: false; help: string };

/** The tiny test model of a development checkout (../shared/models), when it is there. */
export const DEV_MODEL = resolve(fileURLToPath(new URL("../", import.meta.url)), "../shared/models/llama-2-tiny-random.gguf");

/** Model files under this size get 1 thread by default: too little arithmetic per token to share. */
export const TINY_MODEL_BYTES = 64 * 2 ** 20;

const PREFERRED: DemoModels = { fast: "gemma3n:e2b", default: "llama3.2", code: "qwen2.5-coder" };

const HOW_TO_USE_A_REAL_MODEL = [
  "For real answers, point the demo at a real model:",
  "  - Ollama: start it, `ollama pull llama3.2`, run `npm run demo` again (OLLAMA_HOST if it is not on 127.0.0.1:11434);",
  "  - a GGUF file: `npm run demo -- --model ./model.gguf` or ZOE_MODEL_PATH=./model.gguf.",
];

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

/** The value of `--name <value>` or `--name=<value>`. */
export function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
}

/**
 * The llama.cpp thread count: ZOE_THREADS when set; 1 for a tiny model file (its tokens are too
 * small to split between threads, which then mostly wait for each other); otherwise the backend's
 * default (half the logical CPUs, 1 to 4).
 */
function threadsFor(tiny: boolean, defaultThreads: number): { threads: number; why: string } {
  const asked = Number(process.env.ZOE_THREADS);
  if (Number.isInteger(asked) && asked > 0) return { threads: asked, why: "ZOE_THREADS" };
  if (tiny) return { threads: 1, why: "the default for a model file under 64 MiB; ZOE_THREADS to change" };
  return { threads: defaultThreads, why: "the default: half the logical CPUs, 1 to 4; ZOE_THREADS to change" };
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
    return {
      ok: true,
      backend: ollamaBackend({ host: url, keepAlive: "30m" }),
      models,
      description: `Ollama at ${url}`,
      tiny: false,
      notes: [`models: fast ${models.fast}, default ${models.default}, code ${models.code}`],
    };
  }
  const modelPath = flag(argv, "--model") ?? process.env.ZOE_MODEL_PATH ?? (existsSync(DEV_MODEL) ? DEV_MODEL : undefined);
  if (modelPath) {
    if (!existsSync(modelPath)) return { ok: false, help: `No GGUF model file at ${modelPath}.\n${HOW_TO_USE_A_REAL_MODEL.join("\n")}` };
    const { defaultThreads, llamaCppBackend } = await import("zoe-pipeline/llama-cpp");
    const name = basename(modelPath, ".gguf");
    const bytes = statSync(modelPath).size;
    const mib = bytes / 2 ** 20;
    const tiny = bytes < TINY_MODEL_BYTES;
    const randomWeights = /random/i.test(name);
    const { threads, why } = threadsFor(tiny, defaultThreads());
    const notes = [
      `model: ${name} (${mib < 10 ? mib.toFixed(1) : Math.round(mib)} MiB), ${threads} thread${threads === 1 ? "" : "s"} (${why})`,
      ...(randomWeights
        ? [
            "This is the tiny random-weight TEST model: its answers are gibberish, on purpose. It runs the real",
            "llama.cpp engine, so the timings, the cache hits and the reused prompt tokens below are real.",
            ...HOW_TO_USE_A_REAL_MODEL,
          ]
        : tiny
          ? ["This model is tiny: expect short, poor answers.", ...HOW_TO_USE_A_REAL_MODEL]
          : []),
    ];
    return {
      ok: true,
      backend: llamaCppBackend({ modelPath, threads }),
      models: { fast: name, default: name, code: name },
      description: `embedded llama.cpp on ${modelPath}`,
      tiny,
      notes,
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

/** The demo's router: bounded answers (shorter still on a tiny model, whose text means nothing). */
export function demoRouter(models: DemoModels, tiny = false): Router {
  const chat = tiny ? 48 : 256;
  const long = tiny ? 48 : 512;
  return heuristicRouter({
    models,
    options: {
      greeting: { num_predict: tiny ? 16 : 64 },
      chat: { num_predict: chat },
      code: { num_predict: long },
      complex: { num_predict: long },
    },
  });
}

const wait = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });

/**
 * Three context providers with realistic latencies: `profile` (stable, cached 5 minutes),
 * `memory` (a search keyed by the question) and `calendar`, slower than its deadline.
 */
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
