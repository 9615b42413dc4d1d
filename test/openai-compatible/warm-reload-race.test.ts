/**
 * A warm model's first token is late: the backend asks GET /models before failing. While that
 * question is out the request goes on; when the response headers arrive in that window, the next
 * wait (the first SSE event) was armed from the deadline that had passed (1 ms) and could not ask
 * again: it failed with FIRST_TOKEN_TIMEOUT although the server said the model was loading. Every
 * wait of a request now meets the one answer.
 *
 * The server follows llama.cpp's router: `GET /v1/models` lists each model with `status.value`
 * (tools/server/server-models.cpp `get_router_models`); a request for a model it reloads gets no
 * byte until the model is loaded (`ensure_model_loaded`, `wait_until_loaded`), then the stream,
 * whose first token may still take a while (prompt evaluation).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { openAiCompatibleBackend, type OpenAiCompatibleError } from "../../src/openai-compatible/index.js";
import type { ChatChunk, ChatRequest } from "../../src/models/types.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

const chunk = (content: string, finish: string | null) =>
  `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", model: "m", choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}\n\n`;

async function start(): Promise<{ baseURL: string; state: { loaded: boolean; headersAfterMs: number; tokenAfterMs: number } }> {
  const state = { loaded: true, headersAfterMs: 0, tokenAfterMs: 0 };
  const server = createServer(async (req, res) => {
    for await (const _ of req) void _;
    if (req.url === "/v1/models") {
      await sleep(60);
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(
        JSON.stringify({
          object: "list",
          data: [{ id: "m", object: "model", status: { value: state.loaded ? "loaded" : "loading", args: [] } }],
        }),
      );
      return;
    }
    await sleep(state.headersAfterMs);
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    res.flushHeaders();
    await sleep(state.tokenAfterMs);
    res.write(chunk("Hello", null));
    res.write(chunk("", "stop"));
    res.end("data: [DONE]\n\n");
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, state };
}

const ask: ChatRequest = { model: "m", messages: [{ role: "user", content: "hi" }] };
async function drain(stream: AsyncIterable<ChatChunk>) {
  const out: ChatChunk[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

describe("a warm model reloading: headers arrive while GET /models is being asked", () => {
  it("(control) headers at once, first token at 330 ms: the load deadline applies", async () => {
    const { baseURL, state } = await start();
    const backend = openAiCompatibleBackend({ baseURL, firstTokenTimeoutMs: 200, loadTimeoutMs: 10_000 });
    try {
      await drain(backend.chat(ask, { signal: new AbortController().signal }));
      Object.assign(state, { loaded: false, headersAfterMs: 0, tokenAfterMs: 330 });
      const error = await drain(backend.chat(ask, { signal: new AbortController().signal })).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((error as OpenAiCompatibleError | undefined)?.code).toBeUndefined();
    } finally {
      await backend.close();
    }
  });

  it("gets the load deadline (the server says loading), not FIRST_TOKEN_TIMEOUT", async () => {
    const { baseURL, state } = await start();
    const backend = openAiCompatibleBackend({ baseURL, firstTokenTimeoutMs: 200, loadTimeoutMs: 10_000 });
    try {
      await drain(backend.chat(ask, { signal: new AbortController().signal })); // warm
      // Reloading: headers at 230 ms (the probe, asked at 200 ms, answers at ~260 ms), first token 100 ms later.
      Object.assign(state, { loaded: false, headersAfterMs: 230, tokenAfterMs: 100 });
      const error = await drain(backend.chat(ask, { signal: new AbortController().signal })).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((error as OpenAiCompatibleError | undefined)?.code).toBeUndefined();
    } finally {
      await backend.close();
    }
  });
});
