import { afterEach } from "vitest";
import {
  openAiCompatibleBackend,
  type OpenAiCompatibleBackend,
  type OpenAiCompatibleBackendOptions,
} from "../../src/openai-compatible/index.js";
import type { ChatChunk, ChatRequest } from "../../src/models/types.js";
import { startFakeOpenAi, type FakeOpenAi, type FakeOpenAiOptions } from "../helpers/fake-openai.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

/** Register a cleanup, run after the test. */
export const onCleanup = (fn: () => Promise<void>) => void cleanups.push(fn);

/** A fake server and a backend on it, both closed after the test. */
export async function setup(
  fake: FakeOpenAiOptions = { models: { "qwen3:8b": {} } },
  backend: Omit<OpenAiCompatibleBackendOptions, "baseURL"> = {},
): Promise<{ server: FakeOpenAi; backend: OpenAiCompatibleBackend }> {
  const server = await startFakeOpenAi(fake);
  cleanups.push(() => server.close());
  const b = openAiCompatibleBackend({ baseURL: server.baseURL, ...backend });
  cleanups.push(() => b.close());
  return { server, backend: b };
}

export const ask = (text: string, model = "qwen3:8b", extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model,
  messages: [
    { role: "system", content: "You are terse." },
    { role: "user", content: text },
  ],
  ...extra,
});

export async function drain(stream: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}

export async function failure(stream: AsyncIterable<ChatChunk>): Promise<{ error: unknown; chunks: ChatChunk[] }> {
  const chunks: ChatChunk[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk);
  } catch (error) {
    return { error, chunks };
  }
  throw new Error(`expected a failure, got ${JSON.stringify(chunks)}`);
}

export const text = (chunks: ChatChunk[]) => chunks.map((c) => (c.type === "text" ? c.text : "")).join("");
export const thinking = (chunks: ChatChunk[]) => chunks.map((c) => (c.type === "thinking" ? c.text : "")).join("");
export const doneOf = (chunks: ChatChunk[]) => {
  const done = chunks.at(-1);
  if (done?.type !== "done") throw new Error(`no done chunk at the end: ${JSON.stringify(chunks)}`);
  return done;
};
export const signal = () => new AbortController().signal;
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
