import { createServer, type AddressInfo } from "node:net";
import { afterEach } from "vitest";
import type { ChatChunk, ChatRequest } from "../../src/index.js";
import { ollamaBackend, type OllamaBackend, type OllamaBackendOptions } from "../../src/ollama/index.js";
import { startFakeOllama, type FakeOllama, type FakeOllamaOptions } from "../helpers/fake-ollama.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

/** A fake server and a backend on it, both closed after the test. */
export async function setup(
  fake: FakeOllamaOptions = { models: { "llama3.2": {} } },
  backend: OllamaBackendOptions = {},
): Promise<{ server: FakeOllama; backend: OllamaBackend }> {
  const server = await startFakeOllama(fake);
  cleanups.push(() => server.close());
  const b = ollamaBackend({ host: server.url, ...backend });
  cleanups.push(() => b.close());
  return { server, backend: b };
}

/** Register a cleanup. */
export const onCleanup = (fn: () => Promise<void>) => void cleanups.push(fn);

export const ask = (text: string, model = "llama3.2", extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model,
  messages: [
    { role: "system", content: "You are terse." },
    { role: "user", content: text },
  ],
  ...extra,
});

/** Read a whole answer. */
export async function drain(stream: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}

/** Read a whole answer that must fail; the error. */
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
export const doneOf = (chunks: ChatChunk[]) => {
  const done = chunks.at(-1);
  if (done?.type !== "done") throw new Error(`no done chunk at the end: ${JSON.stringify(chunks)}`);
  return done;
};
export const signal = () => new AbortController().signal;

/** A loopback port nothing listens on. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
