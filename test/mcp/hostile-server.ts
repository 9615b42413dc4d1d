/**
 * A hostile MCP server on stdio (the SDK's low-level Server, so every answer is exactly what it
 * sends): `node --import tsx test/mcp/hostile-server.ts`. Env:
 * - PID_FILE: a line with the pid is appended at start;
 * - MODE: "bad-result" (tool "bad" answers a result that is not a CallToolResult),
 *   "bad-schema" (tools/list holds one tool whose inputSchema is not an object schema),
 *   "bad-output-schema" (one tool's outputSchema does not compile),
 *   "pages" (tools/list in pages of one tool, with nextCursor);
 * Tools always present: "pid" (the process id), "slow" (answers "slow done" after 400 ms).
 */
import { appendFileSync } from "node:fs";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const { PID_FILE, MODE = "" } = process.env;
if (PID_FILE) appendFileSync(PID_FILE, `${process.pid}\n`);

const server = new Server({ name: "hostile", version: "1.0.0" }, { capabilities: { tools: { listChanged: true } } });
const obj = { type: "object", properties: {} };
const tools: Array<Record<string, unknown>> = [
  { name: "pid", description: "pid", inputSchema: obj },
  { name: "slow", description: "slow", inputSchema: obj },
  { name: "bad", description: "bad", inputSchema: obj },
];
if (MODE === "bad-schema") tools.push({ name: "weird", description: "weird", inputSchema: { type: "string" } });
if (MODE === "bad-output-schema")
  tools.push({
    name: "weird",
    description: "weird",
    inputSchema: obj,
    outputSchema: { type: "object", properties: { x: { type: "no-such-type" } } },
  });

server.setRequestHandler(ListToolsRequestSchema, async (request) => {
  if (MODE === "pages") {
    const i = Number(request.params?.cursor ?? "0");
    const next = i + 1 < tools.length ? { nextCursor: String(i + 1) } : {};
    return { tools: [tools[i]], ...next } as never;
  }
  return { tools } as never;
});
server.setRequestHandler(CallToolRequestSchema, async (request) => {
  const name = request.params.name;
  if (name === "pid") return { content: [{ type: "text", text: String(process.pid) }] };
  if (name === "slow") {
    await new Promise((r) => setTimeout(r, 400));
    return { content: [{ type: "text", text: "slow done" }] };
  }
  // Rewritten below the server (which checks its own results) into content of no known type.
  if (name === "bad") return { content: [{ type: "text", text: "__BAD__" }] };
  return { isError: true, content: [{ type: "text", text: `unknown ${name}` }] };
});

const transport = new StdioServerTransport();
await server.connect(transport);
const send = transport.send.bind(transport);
transport.send = (message) => {
  const result = (message as { result?: { content?: Array<{ text?: string }> } }).result;
  if (result?.content?.[0]?.text === "__BAD__") result.content = [{ type: "no-such-content" } as never];
  return send(message);
};
