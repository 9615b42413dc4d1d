import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { HttpAgent } from "@ag-ui/client";
import { afterEach } from "vitest";
import { createApp } from "../../examples/express-server.js";
import type { ZoePipeline } from "../../src/index.js";

/**
 * Serve the Express example app for one test: returns its base URL; the server and the pipeline
 * are closed after the test.
 */
export function exampleServers(): (pipeline: ZoePipeline) => Promise<string> {
  let open: Array<{ server: Server; pipeline: ZoePipeline }> = [];
  afterEach(async () => {
    for (const { server, pipeline } of open) {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await pipeline.close();
    }
    open = [];
  });
  return async (pipeline) => {
    const server = createApp(pipeline).listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    open.push({ server, pipeline });
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
}

/** A new visitor's signed cookie (`name=value`), as the example issues it on any request. */
export async function visitorCookie(base: string): Promise<string> {
  const response = await fetch(`${base}/api/agent`, { method: "GET" });
  await response.arrayBuffer();
  const cookie = response.headers.getSetCookie()[0];
  if (!cookie) throw new Error("the example server issued no visitor cookie");
  return cookie.split(";")[0]!;
}

/** An HttpAgent for the example's endpoint holding one user message; with a cookie, as that visitor. */
export function exampleAgent(base: string, text: string, cookie?: string): HttpAgent {
  const agent = new HttpAgent({ url: `${base}/api/agent`, ...(cookie ? { headers: { cookie } } : {}) });
  agent.addMessage({ id: crypto.randomUUID(), role: "user", content: text });
  return agent;
}
