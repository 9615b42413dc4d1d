import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { serve } from "@hono/node-server";
import { HttpAgent } from "@ag-ui/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runResult, zoeState, type ZoeRunResult } from "zoe-pipeline/client";
import { startFakeOllama, type FakeOllama } from "../helpers/fake-ollama.js";

// Every recipe of examples/frameworks/ served on a real port, talked to over real HTTP by the
// official AG-UI client. The recipes' pipeline talks to the fake Ollama at OLLAMA_HOST.
let ollama: FakeOllama;
let shared: typeof import("../../examples/frameworks/shared.js");

beforeAll(async () => {
  ollama = await startFakeOllama({ models: { "llama3.2": { reply: "Served by the recipe." } } });
  process.env.OLLAMA_HOST = ollama.url;
  delete process.env.ZOE_DEMO_TOKEN;
  shared = await import("../../examples/frameworks/shared.js");
});
afterAll(async () => {
  await shared?.pipeline.close();
  await ollama?.close();
});

interface Served {
  url: string;
  close(): Promise<void>;
}

const listening = (server: Server): Promise<Served> =>
  new Promise((resolve, reject) => {
    const ready = () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}/api/agent`,
        close: () => new Promise<void>((done) => (server.closeAllConnections(), server.close(() => done()))),
      });
    };
    if (server.listening) ready();
    else server.once("listening", ready).once("error", reject);
  });

const recipes: Record<string, () => Promise<Served>> = {
  Express: async () => {
    const { app } = await import("../../examples/frameworks/express.js");
    return listening(app.listen(0, "127.0.0.1"));
  },
  Hono: async () => {
    const { app } = await import("../../examples/frameworks/hono.js");
    return listening(serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }) as Server);
  },
  Fastify: async () => {
    const { app } = await import("../../examples/frameworks/fastify.js");
    const address = await app.listen({ port: 0, host: "127.0.0.1" });
    return { url: `${address}/api/agent`, close: () => app.close() };
  },
  Koa: async () => {
    const { app } = await import("../../examples/frameworks/koa.js");
    return listening(app.listen(0, "127.0.0.1"));
  },
  // Without installing Next.js: its route handler is a plain (Request) => Response function.
  "Next.js route handler": async () => {
    const { POST } = await import("../../examples/frameworks/next-route.js");
    return listening(serve({ fetch: (request) => POST(request), port: 0, hostname: "127.0.0.1" }) as Server);
  },
};

describe.each(Object.entries(recipes))("%s recipe over real HTTP", (name, start) => {
  let served: Served;
  beforeAll(async () => {
    served = await start();
  });
  afterAll(async () => {
    await served?.close();
  });

  it("streams a run the official AG-UI client accepts, for the authenticated user only", async () => {
    const threadId = `thread-${name}`;
    const agent = new HttpAgent({ url: served.url, threadId, headers: { authorization: "Bearer demo-token" } });
    agent.addMessage({ id: "m1", role: "user", content: "Why is the sky blue?" });
    let result: ZoeRunResult | undefined;
    // A `userId` in the body is ignored: the user comes from getUserId.
    await agent.runAgent({ forwardedProps: { userId: "eve" } }, { onRunFinishedEvent: ({ event }) => void (result = runResult(event)) });

    expect(agent.messages.find((m) => m.role === "assistant")?.content).toBe("Served by the recipe.");
    expect(zoeState(agent.state)?.stage).toBe("done");
    if (!result || result.cancelled) throw new Error("expected a completed run");
    expect(result.metrics.model).toBe("llama3.2");
    const stored = await shared.pipeline.history.get("ada", threadId);
    expect(stored.map((entry) => entry.role)).toEqual(["user", "assistant"]);
  });

  it("answers a request without a signed-in user with a JSON 401, before any model work", async () => {
    const chatsBefore = ollama.chats().length;
    const response = await fetch(served.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userId: "eve", message: "let me in" }),
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: { code: "UNAUTHENTICATED" } });
    expect(ollama.chats().length).toBe(chatsBefore);
  });

  it("answers invalid JSON with the same JSON 400 as every server", async () => {
    const response = await fetch(served.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer demo-token" },
      body: "{ not json",
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: "INVALID_JSON" } });
  });
});
