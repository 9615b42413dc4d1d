import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { fileURLToPath } from "node:url";
import { z } from "zod";

/** The stdio test server and how to run it. */
export const STDIO_SERVER = fileURLToPath(new URL("./stdio-server.ts", import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * An MCP server in this process, reached through the SDK's in-memory transport.
 * `hangOnList` drops every `tools/list` request: the server never answers it.
 */
export async function memoryServer(
  register: (server: McpServer) => void,
  options: { hangOnList?: boolean } = {},
): Promise<{ client: Client; server: McpServer }> {
  const server = new McpServer({ name: "memory-test-server", version: "1.0.0" });
  register(server);
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await server.connect(serverTransport);
  if (options.hangOnList) {
    const onmessage = serverTransport.onmessage;
    serverTransport.onmessage = (message, extra) => {
      if ("method" in message && message.method === "tools/list") return;
      onmessage?.(message, extra);
    };
  }
  const client = new Client({ name: "test-client", version: "1.0.0" });
  await client.connect(clientTransport);
  return { client, server };
}

/** Server "alpha": search, weather, fail (isError), mixed (text + image + link), slow. */
export const alphaTools = (server: McpServer) => {
  server.registerTool("search", { description: "Search alpha's index.", inputSchema: { query: z.string() } }, async ({ query }) => ({
    content: [{ type: "text", text: `alpha results for ${query}` }],
  }));
  server.registerTool(
    "weather",
    {
      description: "Current weather.\nSecond line of the description.",
      inputSchema: { city: z.string(), units: z.enum(["C", "F"]).optional() },
    },
    async ({ city, units }) => ({
      content: [
        { type: "text", text: `Sunny in ${city}` },
        { type: "text", text: `21 °${units ?? "C"}` },
      ],
    }),
  );
  server.registerTool("fail", { description: "Always fails." }, async () => ({
    isError: true,
    content: [{ type: "text", text: "the database is on fire" }],
  }));
  server.registerTool("mixed", { description: "Text, an image and a link." }, async () => ({
    content: [
      { type: "text", text: "see the chart" },
      { type: "image", data: Buffer.from("12345678").toString("base64"), mimeType: "image/png" },
      { type: "resource_link", uri: "file:///chart.csv", name: "chart.csv" },
    ],
  }));
  server.registerTool("slow", { description: "Answers after 5 s." }, async (extra) => {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 5_000);
      extra.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve(undefined);
      });
    });
    return { content: [{ type: "text", text: "finally" }] };
  });
};

/** Server "beta": search (clashes with alpha's) and calc. */
export const betaTools = (server: McpServer) => {
  server.registerTool("search", { description: "Search beta's index.", inputSchema: { query: z.string() } }, async ({ query }) => ({
    content: [{ type: "text", text: `beta results for ${query}` }],
  }));
  server.registerTool("calc", { description: "Multiply.", inputSchema: { x: z.number(), y: z.number() } }, async ({ x, y }) => ({
    content: [{ type: "text", text: String(x * y) }],
  }));
};

/** A context request for `fetch`. */
export const request = { userId: "u1", threadId: "t1", text: "hi", kind: "chat" as const };

/** Call `fetch` the way the pipeline does: the signal aborts at the deadline. */
export function fetchWithDeadline<T>(
  provider: { fetch(r: typeof request, c: { signal: AbortSignal }): Promise<T>; timeoutMs?: number },
  timeoutMs = provider.timeoutMs ?? 1_000,
): Promise<T> {
  const signal = AbortSignal.timeout(timeoutMs);
  return provider.fetch(request, { signal });
}

/** Whether a process runs. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
