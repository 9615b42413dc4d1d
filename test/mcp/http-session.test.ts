import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { afterEach, describe, expect, it } from "vitest";
import { mcpToolCatalogue } from "../../src/mcp/index.js";
import { fetchWithDeadline } from "./servers.js";

/**
 * A stateful Streamable HTTP MCP server (the SDK's `StreamableHTTPServerTransport`, which ends a
 * session on `DELETE`, `handleDeleteRequest`) that counts the sessions it holds and the DELETEs it
 * got; with `hangOnDelete`, a DELETE is never answered.
 */
async function httpServer(options: { hangOnDelete?: boolean } = {}) {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  let deletes = 0;
  const readBody = async (req: IncomingMessage) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    return body ? (JSON.parse(body) as unknown) : undefined;
  };
  const http: Server = createServer(async (req, res) => {
    if (req.method === "DELETE") {
      deletes++;
      if (options.hangOnDelete) return;
    }
    const body = await readBody(req);
    const id = req.headers["mcp-session-id"];
    let transport = typeof id === "string" ? sessions.get(id) : undefined;
    if (!transport) {
      const created: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sessionId) => void sessions.set(sessionId, created),
        onsessionclosed: (sessionId) => void sessions.delete(sessionId),
      });
      transport = created;
      const server = new McpServer({ name: "http-test-server", version: "1.0.0" });
      server.registerTool("greet", { description: "Greet someone." }, async () => ({ content: [{ type: "text", text: "hello" }] }));
      await server.connect(transport);
    }
    await transport.handleRequest(req, res, body);
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    sessions,
    get deletes() {
      return deletes;
    },
    close: async () => {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const c of open.splice(0).reverse()) await c.close();
});

describe("MCP catalogue over Streamable HTTP: session end", () => {
  it("close() terminates the MCP session it opened (HTTP DELETE with Mcp-Session-Id, as the spec says clients SHOULD)", async () => {
    const server = await httpServer();
    open.push(server);
    const catalogue = mcpToolCatalogue({ servers: [{ name: "web", transport: { type: "http", url: server.url } }] });
    expect((await fetchWithDeadline(catalogue)).map((t) => t.name)).toEqual(["greet"]);
    expect(server.sessions.size).toBe(1);
    await catalogue.close();
    expect(server.deletes).toBe(1);
    expect(server.sessions.size).toBe(0);
  });

  it("close() does not wait past a bound for a server that never answers the DELETE", async () => {
    const server = await httpServer({ hangOnDelete: true });
    open.push(server);
    const catalogue = mcpToolCatalogue({ servers: [{ name: "web", transport: { type: "http", url: server.url } }] });
    expect((await fetchWithDeadline(catalogue)).map((t) => t.name)).toEqual(["greet"]);
    // A close that waited for the answer would never resolve (the test's own timeout).
    await catalogue.close();
    expect(server.deletes).toBe(1);
  });
});
