/**
 * A small MCP server on stdio for the tests: `node --import tsx test/mcp/stdio-server.ts`.
 * Env: PID_FILE (a line with the pid is appended at start), DIE_ON_LIST (while that file
 * exists, the process exits when asked for its tools), CONNECT_AFTER_MS (wait that long after
 * start before answering on stdio: a client's connect is then in progress for that long).
 */
import { appendFileSync, existsSync } from "node:fs";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

const { PID_FILE, DIE_ON_LIST, CONNECT_AFTER_MS } = process.env;
if (PID_FILE) appendFileSync(PID_FILE, `${process.pid}\n`);

const server = new McpServer({ name: "stdio-test-server", version: "1.0.0" });

server.registerTool("add", { description: "Add two numbers.", inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
  content: [{ type: "text", text: `${a} + ${b} = ${a + b}` }],
}));
server.registerTool("search", { description: "Search the stdio server.", inputSchema: { query: z.string() } }, async ({ query }) => ({
  content: [{ type: "text", text: `stdio results for ${query}` }],
}));
server.registerTool("pid", { description: "The server's process id." }, async () => ({
  content: [{ type: "text", text: String(process.pid) }],
}));
server.registerTool("exit", { description: "Exit at once, without answering." }, async () => {
  process.exit(1);
});

if (CONNECT_AFTER_MS) await new Promise((resolve) => setTimeout(resolve, Number(CONNECT_AFTER_MS)));
const transport = new StdioServerTransport();
await server.connect(transport);
// Intercept tools/list below the server, to die on demand.
const onmessage = transport.onmessage;
transport.onmessage = (message) => {
  if ("method" in message && message.method === "tools/list" && DIE_ON_LIST && existsSync(DIE_ON_LIST)) {
    process.exit(2);
  }
  onmessage?.(message);
};
