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

/** An HttpAgent for the example's endpoint, as user "ada", holding one user message. */
export function exampleAgent(base: string, text: string): HttpAgent {
  const agent = new HttpAgent({ url: `${base}/api/agent`, headers: { "x-user-id": "ada" } });
  agent.addMessage({ id: crypto.randomUUID(), role: "user", content: text });
  return agent;
}
