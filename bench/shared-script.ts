/**
 * One script (chunks + delays) and one player, shared by every framework in the peers benchmark,
 * so that each framework's model is a thin adapter over the same timed token stream.
 */
import { ChatPromptTemplate } from "@langchain/core/prompts";
import { RunnableParallel } from "@langchain/core/runnables";
import type { ChatChunk, ContextProvider, ModelBackend } from "zoe-pipeline";
import { setTimeout as sleep } from "node:timers/promises";

export interface Script {
  /** Token texts, in order. */
  chunks: string[];
  /** Pause before the first chunk, ms (0: none, not even a timer). */
  firstChunkDelayMs: number;
  /** Pause before every later chunk, ms (0: none). */
  chunkDelayMs: number;
}

/**
 * When the steps of the run in progress happened (`performance.now()`), seen from outside every
 * framework through the shared script: its first provider asked, its last provider answered, the
 * model asked (its script started, or the AI SDK's `doStream` called) and the model's first chunk
 * given. NaN until it happens; `bench/peers.ts` clears them before each run.
 */
export const marks = { providerAsked: Number.NaN, providersAnswered: Number.NaN, modelAsked: Number.NaN, firstChunk: Number.NaN };

/** The model was asked: the script starts (or, for a framework that asks before it reads, its request is made). The first mark stands. */
export function markModelAsked(): void {
  if (Number.isNaN(marks.modelAsked)) marks.modelAsked = performance.now();
}

/** Forget the marks of the run before. */
export function clearMarks(): void {
  marks.providerAsked = Number.NaN;
  marks.providersAnswered = Number.NaN;
  marks.modelAsked = Number.NaN;
  marks.firstChunk = Number.NaN;
}

/** A 20-token answer. */
export const ANSWER_20 = Array.from({ length: 20 }, (_, i) => `tok${i}${i === 19 ? "." : " "}`);

/**
 * Play a script: the same timing as the library's scripted backend (setTimeout per pause, none
 * when 0). With a signal, one `abort` listener for the whole answer, as a real model client has
 * (its request's): a pause made with `node:timers/promises` and the signal would add and remove
 * one per chunk, which no backend does, and only the framework that passes its signal (zoe) would
 * pay for it.
 */
export async function* play(script: Script, signal?: AbortSignal): AsyncGenerator<string> {
  markModelAsked();
  const stopped = signal ? abortOf(signal) : undefined;
  if (script.firstChunkDelayMs) await pause(script.firstChunkDelayMs, stopped);
  for (let i = 0; i < script.chunks.length; i++) {
    if (i > 0 && script.chunkDelayMs) await pause(script.chunkDelayMs, stopped);
    if (i === 0 && Number.isNaN(marks.firstChunk)) marks.firstChunk = performance.now();
    yield script.chunks[i]!;
  }
}

/** A promise that rejects with the signal's reason when it aborts (one listener). */
function abortOf(signal: AbortSignal): Promise<never> {
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
  aborted.catch(() => {});
  return aborted;
}

/** Wait `ms`, or until `stopped` rejects. */
const pause = (ms: number, stopped: Promise<never> | undefined): Promise<unknown> =>
  stopped ? Promise.race([sleep(ms), stopped]) : sleep(ms);

/** zoe-pipeline adapter: a ModelBackend over the script. */
export function scriptBackend(script: Script): ModelBackend {
  return {
    name: "shared-script",
    async *chat(_request, { signal }): AsyncGenerator<ChatChunk> {
      for await (const text of play(script, signal)) yield { type: "text", text };
    },
    async prewarm(models: string[]) {
      return models.map((model) => ({ model, ok: true, loadMs: 0 }));
    },
    async loaded() {
      return [];
    },
  };
}

/** The three context sources, as plain async functions shared by every framework. */
export interface ProviderFns {
  profile: () => Promise<string>;
  memory: () => Promise<string>;
  tools: () => Promise<string>;
}

/** Providers that resolve after `delays` ms each (0: an async function that returns at once). */
export function providerFns(delays: { profile: number; memory: number; tools: number }): ProviderFns {
  const make = (name: string, ms: number) => async () => {
    if (Number.isNaN(marks.providerAsked)) marks.providerAsked = performance.now();
    if (ms > 0) await sleep(ms);
    marks.providersAnswered = performance.now();
    return `${name} context for the user, a line or two of text that the prompt will carry.`;
  };
  return { profile: make("profile", delays.profile), memory: make("memory", delays.memory), tools: make("tools", delays.tools) };
}

/** The same functions as zoe-pipeline ContextProviders. */
export function asZoeProviders(fns: ProviderFns, ttlMs: number): ContextProvider[] {
  return (Object.keys(fns) as Array<keyof ProviderFns>).map((name) => ({
    name,
    placement: name === "memory" ? "volatile" : "stable",
    ttlMs,
    fetch: () => fns[name](),
  }));
}

/**
 * LangChain's side of the peer benchmarks: the three contexts in parallel (`RunnableParallel`),
 * then the same prompt the other arms build; each bench pipes it into its own chat model.
 */
export function langchainPrompt(fns: ProviderFns, system: string) {
  return RunnableParallel.from({
    profile: () => fns.profile(),
    memory: () => fns.memory(),
    tools: () => fns.tools(),
    question: (input: { question: string }) => input.question,
  }).pipe(
    ChatPromptTemplate.fromMessages([
      ["system", `${system}\n\n{profile}\n{tools}`],
      ["human", "{memory}\n\n{question}"],
    ]),
  );
}
