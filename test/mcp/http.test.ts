import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { mcpToolCatalogue } from "../../src/mcp/index.js";
import type { ToolContext } from "../../src/tools/types.js";
import { fetchWithDeadline } from "./servers.js";

/**
 * A Streamable HTTP MCP server on 127.0.0.1 that wants a bearer token; `forget()` drops its
 * sessions (a restart). The SDK's `StreamableHTTPServerTransport` ends a session on `DELETE`
 * (`handleDeleteRequest`): `deletes` counts them, and with `hangOnDelete` none is answered.
 */
async function httpServer(token: string, options: { hangOnDelete?: boolean } = {}) {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  let initializations = 0;
  let deletes = 0;
  const readBody = async (req: IncomingMessage) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    return body ? (JSON.parse(body) as unknown) : undefined;
  };
  const http: Server = createServer(async (req, res) => {
    if (req.headers.authorization !== `Bearer ${token}`) return void res.writeHead(401).end();
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
        onsessioninitialized: (sessionId) => {
          sessions.set(sessionId, created);
          initializations++;
        },
        onsessionclosed: (sessionId) => void sessions.delete(sessionId),
      });
      transport = created;
      const server = new McpServer({ name: "http-test-server", version: "1.0.0" });
      server.registerTool("greet", { description: "Greet someone.", inputSchema: { who: z.string() } }, async ({ who }) => ({
        content: [{ type: "text", text: `hello ${who}` }],
      }));
      await server.connect(transport);
    }
    await transport.handleRequest(req, res, body);
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    get initializations() {
      return initializations;
    },
    get deletes() {
      return deletes;
    },
    sessions,
    forget: () => sessions.clear(),
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
const ctx = (): ToolContext => ({ signal: AbortSignal.timeout(2_000), userId: "u1", threadId: "t1" });

describe("mcpToolCatalogue over Streamable HTTP", () => {
  it("sends the headers, lists and calls tools, and starts a new session after the server lost it", async () => {
    const server = await httpServer("secret");
    const catalogue = mcpToolCatalogue({
      servers: [{ name: "web", transport: { type: "http", url: server.url, headers: { Authorization: "Bearer secret" } } }],
    });
    open.push(server, catalogue);
    expect((await fetchWithDeadline(catalogue)).map((t) => t.name)).toEqual(["greet"]);
    await expect(catalogue.callTool("greet", { who: "Ada" }, ctx())).resolves.toBe("hello Ada");
    expect(server.initializations).toBe(1);

    server.forget(); // as after a restart: the old session id is refused
    expect((await fetchWithDeadline(catalogue)).map((t) => t.name)).toEqual(["greet"]);
    expect(server.initializations).toBe(2);
    await expect(catalogue.callTool("greet", { who: "Grace" }, ctx())).resolves.toBe("hello Grace");
  });

  it("fails clearly when the server refuses the client", async () => {
    const server = await httpServer("secret");
    const catalogue = mcpToolCatalogue({
      servers: [{ name: "web", transport: { type: "http", url: server.url, headers: { Authorization: "Bearer wrong" } } }],
    });
    open.push(server, catalogue);
    await expect(fetchWithDeadline(catalogue)).rejects.toThrow(/web: Could not connect to MCP server "web": .*\(HTTP 401\)/);
  });
});

describe("MCP catalogue over Streamable HTTP: session end", () => {
  const transport = (url: string) => ({ type: "http" as const, url, headers: { authorization: "Bearer s3cret" } });

  it("close() terminates the MCP session it opened (HTTP DELETE with Mcp-Session-Id, as the spec says clients SHOULD)", async () => {
    const server = await httpServer("s3cret");
    open.push(server);
    const catalogue = mcpToolCatalogue({ servers: [{ name: "web", transport: transport(server.url) }] });
    expect((await fetchWithDeadline(catalogue)).map((t) => t.name)).toEqual(["greet"]);
    expect(server.sessions.size).toBe(1);
    await catalogue.close();
    expect(server.deletes).toBe(1);
    expect(server.sessions.size).toBe(0);
  });

  it("close() does not wait past a bound for a server that never answers the DELETE", async () => {
    const server = await httpServer("s3cret", { hangOnDelete: true });
    open.push(server);
    const catalogue = mcpToolCatalogue({ servers: [{ name: "web", transport: transport(server.url) }] });
    expect((await fetchWithDeadline(catalogue)).map((t) => t.name)).toEqual(["greet"]);
    // A close that waited for the answer would never resolve (the test's own timeout).
    await catalogue.close();
    expect(server.deletes).toBe(1);
  });
});
