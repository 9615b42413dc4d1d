import { readdirSync, readFileSync } from "node:fs";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import pTimeout from "p-timeout";
import { afterEach, describe, expect, it } from "vitest";
import { MCP_CATALOGUE_DEFAULTS, mcpToolCatalogue, McpToolError, type McpToolCatalogue } from "../../src/mcp/index.js";
import type { ToolContext } from "../../src/tools/types.js";
import { alphaTools, betaTools, fetchWithDeadline, memoryServer, request } from "./servers.js";

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

async function twoServers(extra: Partial<Parameters<typeof mcpToolCatalogue>[0]> = {}) {
  const alpha = await memoryServer(alphaTools);
  const beta = await memoryServer(betaTools);
  const catalogue = mcpToolCatalogue({
    servers: [
      { name: "alpha", client: alpha.client },
      { name: "beta", client: beta.client },
    ],
    ...extra,
  });
  open.push(catalogue, alpha.server, beta.server);
  return { catalogue, alpha, beta };
}

const ctx = (signal = new AbortController().signal): ToolContext => ({ signal, userId: "u1", threadId: "t1" });
const names = (tools: Array<{ name: string }>) => tools.map((t) => t.name);

describe("mcpToolCatalogue: the provider", () => {
  it("sets the provider fields, with defaults", async () => {
    const { catalogue } = await twoServers();
    expect(catalogue).toMatchObject({
      name: "mcp-tools",
      provides: "tools",
      placement: "stable",
      ttlMs: 300_000,
      timeoutMs: 1_000,
    });
    expect(MCP_CATALOGUE_DEFAULTS).toEqual({
      name: "mcp-tools",
      ttlMs: 300_000,
      timeoutMs: 1_000,
      callTimeoutMs: 10_000,
      connectTimeoutMs: 30_000,
    });
    const custom = mcpToolCatalogue({ name: "tools", servers: [], ttlMs: 0, timeoutMs: 2_000 });
    expect(custom).toMatchObject({ name: "tools", ttlMs: 0, timeoutMs: 2_000 });
    // No servers: an empty catalogue, not an error.
    await expect(custom.fetch(request, { signal: new AbortController().signal })).resolves.toEqual([]);
  });

  it("rejects bad options", () => {
    const client = {} as Client;
    expect(() => mcpToolCatalogue({ servers: [{ name: "a b", client }] })).toThrow(/server name/);
    expect(() =>
      mcpToolCatalogue({
        servers: [
          { name: "a", client },
          { name: "a", client },
        ],
      }),
    ).toThrow(/two servers are named "a"/);
    expect(() => mcpToolCatalogue({ servers: [], timeoutMs: 0 })).toThrow(/timeoutMs/);
    // The pipeline refuses a provider TTL a store cannot take: the catalogue refuses it first.
    expect(() => mcpToolCatalogue({ servers: [], ttlMs: Number.POSITIVE_INFINITY })).toThrow(/ttlMs must be a finite number/);
  });
});

describe("mcpToolCatalogue: listing", () => {
  it("lists every server's tools, sorted by name, namespaced where two servers clash", async () => {
    const { catalogue } = await twoServers();
    const tools = await fetchWithDeadline(catalogue);
    expect(names(tools)).toEqual(["alpha__search", "beta__search", "calc", "fail", "mixed", "slow", "weather"]);
    const weather = tools.find((t) => t.name === "weather")!;
    expect(weather.description).toBe("Current weather.\nSecond line of the description.");
    expect(weather.parameters).toMatchObject({
      type: "object",
      properties: { city: { type: "string" }, units: { enum: ["C", "F"] } },
      required: ["city"],
    });
    // Plain JSON: it is cached serialised.
    expect(JSON.parse(JSON.stringify(tools))).toEqual(tools);
    // Same servers, same catalogue: the prompt prefix stays stable.
    expect(await fetchWithDeadline(catalogue)).toEqual(tools);
  });

  it("leaves out a tool whose name no model takes (whitespace, a control character, past 128 characters), and keeps the others", async () => {
    const listed = ["good_tool", "two words", "new\nline", "nul\u0000", "x".repeat(129), "y".repeat(128)];
    const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
    // A server that lists what it likes: the SDK's own server would refuse some of these names.
    const transport = {
      onmessage: undefined as ((message: unknown) => void) | undefined,
      onclose: undefined as (() => void) | undefined,
      async start() {},
      async close() {
        transport.onclose?.();
      },
      async send(message: { id?: number; method?: string; params?: { protocolVersion?: string } }) {
        const reply = (result: unknown) => setImmediate(() => transport.onmessage?.({ jsonrpc: "2.0", id: message.id, result }));
        if (message.method === "initialize") {
          reply({
            protocolVersion: message.params?.protocolVersion,
            capabilities: { tools: {} },
            serverInfo: { name: "odd", version: "1" },
          });
        } else if (message.method === "tools/list") {
          reply({ tools: listed.map((name) => ({ name, inputSchema: { type: "object" } })) });
        }
      },
    };
    const client = new Client({ name: "c", version: "1" });
    await client.connect(transport as never);
    const catalogue = mcpToolCatalogue({ servers: [{ name: "odd", client }] });
    open.push(catalogue);
    expect(names(await fetchWithDeadline(catalogue))).toEqual(["good_tool", "y".repeat(128)]);
  });

  it("renders a compact text list", async () => {
    const { catalogue } = await twoServers();
    const text = catalogue.format!(await fetchWithDeadline(catalogue));
    expect(text.split("\n")).toEqual([
      "- alpha__search(query): Search alpha's index.",
      "- beta__search(query): Search beta's index.",
      "- calc(x, y): Multiply.",
      "- fail(): Always fails.",
      "- mixed(): Text, an image and a link.",
      "- slow(): Answers after 5 s.",
      "- weather(city, units?): Current weather.",
    ]);
  });

  it("leaves out a server that hangs, and answers before the deadline with the others' tools", async () => {
    const hung = await memoryServer(alphaTools, { hangOnList: true });
    const beta = await memoryServer(betaTools);
    const catalogue = mcpToolCatalogue({
      timeoutMs: 300,
      servers: [
        { name: "hung", client: hung.client },
        { name: "beta", client: beta.client },
      ],
    });
    open.push(catalogue, hung.server, beta.server);
    const started = performance.now();
    // As the pipeline does: the signal aborts at the deadline, and p-timeout gives up then
    // (it would reject this test's await if the catalogue were late).
    const tools = await pTimeout(fetchWithDeadline(catalogue), { milliseconds: 300 });
    expect(names(tools)).toEqual(["calc", "search"]);
    // It waited for the hung server up to its budget: 300 ms less 20 %.
    expect(performance.now() - started).toBeGreaterThanOrEqual(235);
  });

  it("throws when every server fails, naming each failure", async () => {
    const hung = await memoryServer(alphaTools, { hangOnList: true });
    const gone = await memoryServer(betaTools);
    await gone.client.close();
    const catalogue = mcpToolCatalogue({
      timeoutMs: 200,
      servers: [
        { name: "hung", client: hung.client },
        { name: "gone", client: gone.client },
      ],
    });
    open.push(catalogue, hung.server, gone.server);
    const error = (await fetchWithDeadline(catalogue).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toMatch(/No MCP server of "mcp-tools" listed its tools/);
    expect(error.message).toMatch(/hung: MCP server "hung" did not list its tools within 160 ms/);
    expect(error.message).toMatch(/gone: MCP server "gone" is not connected/);
  });

  it("stops at once when the run is cancelled", async () => {
    const hung = await memoryServer(alphaTools, { hangOnList: true });
    const catalogue = mcpToolCatalogue({ servers: [{ name: "hung", client: hung.client }] });
    open.push(catalogue, hung.server);
    const controller = new AbortController();
    const pending = catalogue.fetch(request, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("cancelled")), 20);
    const started = performance.now();
    await expect(pending).rejects.toThrow(/^cancelled$/);
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe("mcpToolCatalogue: calling tools", () => {
  it("routes calls with their arguments and returns the text", async () => {
    const { catalogue } = await twoServers();
    await fetchWithDeadline(catalogue);
    await expect(catalogue.callTool("weather", { city: "Paris" }, ctx())).resolves.toBe("Sunny in Paris\n21 °C");
    await expect(catalogue.callTool("calc", { x: 6, y: 7 }, ctx())).resolves.toBe("42");
    await expect(catalogue.callTool("alpha__search", { query: "q" }, ctx())).resolves.toBe("alpha results for q");
    await expect(catalogue.callTool("beta__search", { query: "q" }, ctx())).resolves.toBe("beta results for q");
  });

  it("resolves names before any fetch (a catalogue from a shared cache)", async () => {
    const { catalogue } = await twoServers();
    await expect(catalogue.callTool("beta__search", { query: "x" }, ctx())).resolves.toBe("beta results for x");
    await expect(catalogue.callTool("calc", { x: 2, y: 3 }, ctx())).resolves.toBe("6");
    await expect(catalogue.callTool("nope", {}, ctx())).rejects.toThrow(/No MCP server of "mcp-tools" has a tool named "nope"/);
  });

  it("summarises content that is not text", async () => {
    const { catalogue } = await twoServers();
    await expect(catalogue.callTool("mixed", {}, ctx())).resolves.toBe(
      "see the chart\n[image: image/png, 8 bytes]\n[resource link: chart.csv <file:///chart.csv>]",
    );
  });

  it("turns an isError result into a thrown error with the tool's text", async () => {
    const { catalogue } = await twoServers();
    const error = await catalogue.callTool("fail", {}, ctx()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McpToolError);
    expect(error).toMatchObject({ message: "the database is on fire", server: "alpha", tool: "fail" });
  });

  it("reports bad arguments as the server words them", async () => {
    const { catalogue } = await twoServers();
    // The SDK's McpServer answers invalid arguments with an isError result.
    await expect(catalogue.callTool("calc", { x: "six" }, ctx())).rejects.toThrow(/Invalid arguments|expected number/i);
  });

  it("bounds a call by callTimeoutMs, and by the run's signal", async () => {
    const { catalogue } = await twoServers({ callTimeoutMs: 100 });
    await expect(catalogue.callTool("slow", {}, ctx())).rejects.toThrow('MCP tool "slow" of server "alpha" did not answer within 100 ms.');
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("run cancelled")), 20);
    await expect(catalogue.callTool("slow", {}, ctx(controller.signal))).rejects.toThrow("run cancelled");
    // The connection is still good.
    await expect(catalogue.callTool("calc", { x: 1, y: 1 }, ctx())).resolves.toBe("1");
  });

  it("says clearly when the server is gone", async () => {
    const { catalogue, beta } = await twoServers();
    await fetchWithDeadline(catalogue);
    await beta.client.close();
    const error = await catalogue.callTool("calc", { x: 1, y: 2 }, ctx()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McpToolError);
    expect((error as Error).message).toMatch(/MCP server "beta" is not connected/);
    // The other server still answers, and the catalogue leaves the dead one out (names unchanged).
    expect(names(await fetchWithDeadline(catalogue))).toEqual(["alpha__search", "fail", "mixed", "slow", "weather"]);
  });
});

describe("mcpToolCatalogue: close", () => {
  it("closes the clients it was given, and refuses further use", async () => {
    const { catalogue, alpha, beta } = await twoServers();
    await fetchWithDeadline(catalogue);
    await catalogue.close();
    expect(alpha.client.transport).toBeUndefined();
    expect(beta.client.transport).toBeUndefined();
    await expect(fetchWithDeadline(catalogue)).rejects.toThrow(/is closed/);
    await expect(catalogue.callTool("calc", {}, ctx())).rejects.toThrow(/is closed/);
    await catalogue.close(); // twice is fine
  });

  it("a second close() resolves only once the clients are closed, as the first does", async () => {
    const { catalogue, alpha, beta } = await twoServers();
    await fetchWithDeadline(catalogue);
    const first = catalogue.close();
    await catalogue.close();
    expect(alpha.client.transport).toBeUndefined();
    expect(beta.client.transport).toBeUndefined();
    await first;
  });
});

describe("zoe-pipeline/mcp: loading", () => {
  it("imports the MCP SDK only lazily, and the package root never imports it", () => {
    const dir = new URL("../../src/mcp/", import.meta.url);
    for (const file of readdirSync(dir)) {
      const source = readFileSync(new URL(file, dir), "utf8");
      // Only `import type` at the top level; values through `await import(...)`.
      const staticImports = source.match(/^import\s+(?!type\b)[^;]*from\s+"@modelcontextprotocol\/sdk[^"]*"/gm) ?? [];
      expect(staticImports, file).toEqual([]);
    }
    const root = readFileSync(new URL("../../src/index.ts", import.meta.url), "utf8");
    expect(root).not.toMatch(/modelcontextprotocol|\.\/mcp\//);
  });
});

// Keep the type of the public object honest.
const _typed: (c: McpToolCatalogue) => Promise<string> = (c) => c.callTool("x", {}, ctx());
void _typed;
