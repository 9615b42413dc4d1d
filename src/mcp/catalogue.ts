import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { z } from "zod";
import type { ContextRequest } from "../context/types.js";
import type { ToolCatalogueProvider, ToolContext, ToolSpec } from "../tools/types.js";
import { describeError as message, importSdk, McpUnavailableError, ServerConnection, type McpServerOptions } from "./connection.js";
import { resultText } from "./result-text.js";
import { isToolName } from "../tools/tool-spec.js";
import { isTtlOption } from "../cache/validate.js";
import { timeoutError, withDeadline } from "./signals.js";

/** Options of {@link mcpToolCatalogue}. */
export interface McpToolCatalogueOptions {
  /** The provider's name (state, metrics, cache keys). Default `"mcp-tools"`. */
  name?: string;
  /** The MCP servers whose tools make up the catalogue. */
  servers: McpServerOptions[];
  /** How long the pipeline caches the catalogue, ms. Default 300,000 (5 min). */
  ttlMs?: number;
  /** The provider's deadline, ms (the pipeline aborts `fetch` then). Default 1,000. */
  timeoutMs?: number;
  /**
   * How long `fetch` waits for one server (connecting included) before leaving it out, ms.
   * Shorter than `timeoutMs`, so the other servers' tools arrive before the pipeline's deadline.
   * Default: `timeoutMs` less 20 %, at most 200 ms less (800 for 1,000).
   */
  listTimeoutMs?: number;
  /** Deadline of one tool call, ms. Default 10,000. */
  callTimeoutMs?: number;
  /**
   * Deadline of opening a connection (spawn + `initialize`), ms. A connection still opening when
   * a `fetch` gives up goes on in the background, for the next fetch. Default 30,000.
   */
  connectTimeoutMs?: number;
}

/** A tool catalogue backed by MCP servers. */
export interface McpToolCatalogue extends ToolCatalogueProvider {
  readonly placement: "stable";
  readonly ttlMs: number;
  readonly timeoutMs: number;
  /** The tools of every server that answers, sorted by name; MCP calls routed to their server. */
  fetch(request: ContextRequest, context: { signal: AbortSignal }): Promise<ToolSpec[]>;
  /**
   * Call a tool by the name the catalogue gave it. Resolves to the result's text; rejects with
   * an {@link McpToolError} when the tool reports an error, the server is unavailable, or the
   * call takes longer than `callTimeoutMs`.
   */
  callTool(name: string, args: Record<string, unknown>, context: ToolContext): Promise<string>;
  /** Close every connection (stdio servers' processes exit). Further use throws. */
  close(): Promise<void>;
}

/** Defaults of {@link mcpToolCatalogue}. */
export const MCP_CATALOGUE_DEFAULTS = {
  name: "mcp-tools",
  ttlMs: 300_000,
  timeoutMs: 1_000,
  callTimeoutMs: 10_000,
  connectTimeoutMs: 30_000,
} as const;

/** Why a tool call failed: the tool said so, or its server could not run it. */
export class McpToolError extends Error {
  override name = "McpToolError";
  constructor(
    /** The server's name. */
    readonly server: string,
    /** The tool's name on its server. */
    readonly tool: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Where a catalogue name leads. */
interface Route {
  server: string;
  tool: string;
}

/** What a server says about one tool (the part read here). */
interface McpTool {
  name: string;
  description?: string | undefined;
  inputSchema: unknown;
}

const SERVER_NAME = /^[A-Za-z0-9_-]+$/;
/** Separates server and tool in a namespaced tool name. */
const SEPARATOR = "__";
/** Most `tools/list` pages read from one server. */
const MAX_PAGES = 50;

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const errorCode = (error: unknown): unknown =>
  error instanceof Error && error.name === "McpError" ? (error as { code?: unknown }).code : undefined;
/** The SDK's `ErrorCode.ConnectionClosed` and `ErrorCode.RequestTimeout`. */
const CONNECTION_CLOSED = -32000;
const REQUEST_TIMEOUT = -32001;

/** An error of a schema check: the SDK rejects an answer that does not follow the MCP schema with its zod error. */
const isSchemaError = (error: unknown): boolean =>
  typeof error === "object" && error !== null && Array.isArray((error as { issues?: unknown }).issues);

/**
 * Whether a failed request says the connection is broken (drop it and reconnect next time):
 * anything but an answer of the server, which is an MCP error other than "connection closed", or
 * an answer the SDK found out of schema (the server answered: its connection, and its state, are fine).
 */
const connectionBroken = (error: unknown): boolean => {
  const code = errorCode(error);
  return code === undefined ? !isSchemaError(error) : code === CONNECTION_CLOSED;
};

/**
 * One page of `tools/list`, each tool checked on its own ({@link usableTools}): the SDK's
 * `listTools()` refuses the whole page for one tool out of schema, and compiles every tool's
 * `outputSchema`, which throws for one that does not compile.
 */
const ListPage = z.looseObject({ tools: z.array(z.unknown()), nextCursor: z.string().optional() });

/**
 * The tools of a page that follow the MCP schema (the SDK's `ToolSchema`) and can be called
 * without MCP tasks; one that does not is left out, its server's other tools still count.
 */
async function usableTools(tools: readonly unknown[]): Promise<McpTool[]> {
  const { ToolSchema } = await importSdk(() => import("@modelcontextprotocol/sdk/types.js"));
  const usable: McpTool[] = [];
  for (const tool of tools) {
    const parsed = ToolSchema.safeParse(tool);
    if (parsed.success && parsed.data.execution?.taskSupport !== "required") usable.push(parsed.data);
  }
  return usable;
}

function toSpec(name: string, tool: McpTool): ToolSpec {
  const parameters: Record<string, unknown> =
    typeof tool.inputSchema === "object" && tool.inputSchema !== null
      ? (JSON.parse(JSON.stringify(tool.inputSchema)) as Record<string, unknown>)
      : { type: "object" };
  // Prompt tokens for nothing, and some model APIs refuse it.
  delete parameters.$schema;
  return { name, ...(typeof tool.description === "string" && tool.description ? { description: tool.description } : {}), parameters };
}

/**
 * The definition of a server's tool, or undefined for one no model can be given: a name models do
 * not take ({@link isToolName}), or a schema JSON cannot copy (nested past the stack, a cycle).
 * One bad tool is left out; its server's other tools, and the other servers', still count.
 */
function specOf(name: string, tool: McpTool): ToolSpec | undefined {
  if (!isToolName(tool.name) || !isToolName(name)) return undefined;
  try {
    return toSpec(name, tool);
  } catch {
    return undefined;
  }
}

/** One line per tool: `- name(a, b?): description`. */
function formatTools(tools: ToolSpec[]): string {
  return tools
    .map((tool) => {
      const properties = tool.parameters?.properties;
      const required = tool.parameters?.required;
      const names = typeof properties === "object" && properties !== null ? Object.keys(properties) : [];
      const args = names.map((n) => (Array.isArray(required) && required.includes(n) ? n : `${n}?`)).join(", ");
      const description = tool.description?.split("\n")[0]?.trim();
      return `- ${tool.name}(${args})${description ? `: ${description}` : ""}`;
    })
    .join("\n");
}

/**
 * A {@link ToolCatalogueProvider} over MCP servers (stdio, Streamable HTTP, or a connected SDK
 * `Client`). Connects lazily and keeps the connections; `fetch` lists every server's tools in
 * parallel and leaves out a server that is late or down; `callTool` routes a call to its server.
 * Loads `@modelcontextprotocol/sdk` (an optional peer dependency) only when it connects.
 *
 * @example
 * const tools = mcpToolCatalogue({
 *   servers: [
 *     { name: "files", transport: { type: "stdio", command: "npx", args: ["-y", "@modelcontextprotocol/server-filesystem", "/srv"] } },
 *     { name: "search", transport: { type: "http", url: "http://127.0.0.1:3001/mcp" } },
 *   ],
 * });
 * const pipeline = createZoePipeline({ backend, router, providers: [tools] });
 * // ... on shutdown: await pipeline.close(); // closes the catalogue (and its servers) too
 */
export function mcpToolCatalogue(options: McpToolCatalogueOptions): McpToolCatalogue {
  const name = options.name ?? MCP_CATALOGUE_DEFAULTS.name;
  const ttlMs = options.ttlMs ?? MCP_CATALOGUE_DEFAULTS.ttlMs;
  const timeoutMs = options.timeoutMs ?? MCP_CATALOGUE_DEFAULTS.timeoutMs;
  const listTimeoutMs = options.listTimeoutMs ?? timeoutMs - Math.min(200, Math.round(timeoutMs * 0.2));
  const callTimeoutMs = options.callTimeoutMs ?? MCP_CATALOGUE_DEFAULTS.callTimeoutMs;
  const connectTimeoutMs = options.connectTimeoutMs ?? MCP_CATALOGUE_DEFAULTS.connectTimeoutMs;
  for (const [key, value] of Object.entries({ timeoutMs, listTimeoutMs, callTimeoutMs, connectTimeoutMs })) {
    if (!(value > 0)) throw new RangeError(`mcpToolCatalogue: ${key} must be a positive number of ms, got ${value}.`);
  }
  if (!isTtlOption(ttlMs)) throw new RangeError(`mcpToolCatalogue: ttlMs must be a finite number of ms, 0 or more, got ${ttlMs}.`);

  const servers = new Map<string, ServerConnection>();
  for (const server of options.servers) {
    if (!SERVER_NAME.test(server.name)) {
      throw new TypeError(`mcpToolCatalogue: server name "${server.name}" must match ${SERVER_NAME}.`);
    }
    if (servers.has(server.name)) throw new TypeError(`mcpToolCatalogue: two servers are named "${server.name}".`);
    servers.set(server.name, new ServerConnection(server.name, server, connectTimeoutMs));
  }
  // Longest first, so that `a__b__tool` finds server `a__b` before server `a`.
  const serverNames = [...servers.keys()].sort((a, b) => b.length - a.length);
  /** Catalogue names seen so far → server and tool. Kept across fetches: a cached catalogue may be older. */
  const routes = new Map<string, Route>();
  /**
   * Each server's tool names at its last answer. A server left out of one fetch still counts for
   * clashes, so the other servers' names (and the prompt prefix) do not change while it is down.
   */
  const lastKnown = new Map<string, ReadonlySet<string>>();
  let closed = false;
  /** The one close in progress or done: every `close()` call waits for it. */
  let closing: Promise<void> | undefined;

  const assertOpen = () => {
    if (closed) throw new Error(`The MCP tool catalogue "${name}" is closed.`);
  };

  /** One server's tools. A broken connection is reopened and asked once more (listing is safe to repeat). */
  async function listServer(server: ServerConnection, signal: AbortSignal, retry = server.owned): Promise<McpTool[]> {
    const client = await server.get(signal);
    try {
      if (!client.getServerCapabilities()?.tools) return [];
      const tools: McpTool[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        // The signal holds the deadline; the SDK's own timeout only has to be later. A request of
        // its own, not `listTools()` ({@link ListPage}): the SDK then checks no tool's structured
        // output against its `outputSchema`, which the catalogue does not use (it reads the text).
        const result = await client.request({ method: "tools/list", params: cursor === undefined ? {} : { cursor } }, ListPage, {
          signal,
          timeout: Math.max(listTimeoutMs, callTimeoutMs),
        });
        tools.push(...(await usableTools(result.tools)));
        cursor = result.nextCursor;
        if (!cursor) break;
      }
      return tools;
    } catch (error) {
      // The SDK wraps an abort's reason in an McpError; give the reason itself.
      if (signal.aborted) throw signal.reason;
      if (!connectionBroken(error)) throw error;
      server.recycle(client);
      if (retry) return listServer(server, signal, false);
      throw error;
    }
  }

  /** List every server in parallel, each within `budgetMs`; update the routes. */
  async function listAll(signal: AbortSignal, budgetMs: number): Promise<ToolSpec[]> {
    type Listed = { server: string; tools: McpTool[] } | { server: string; error: unknown };
    const results = await Promise.all(
      [...servers.values()].map(async (server): Promise<Listed> => {
        const deadline = withDeadline(signal, budgetMs, () =>
          timeoutError(`MCP server "${server.name}" did not list its tools within ${budgetMs} ms`),
        );
        try {
          return { server: server.name, tools: await listServer(server, deadline.signal) };
        } catch (error) {
          return { server: server.name, error };
        } finally {
          deadline.dispose();
        }
      }),
    );
    if (signal.aborted) throw signal.reason;
    const answered = results.flatMap((r) => ("tools" in r ? [r] : []));
    if (answered.length === 0 && results.length > 0) {
      const reasons = results.map((r) => `${r.server}: ${"error" in r ? message(r.error) : "?"}`).join("; ");
      throw new Error(`No MCP server of "${name}" listed its tools (${reasons}).`);
    }
    for (const { server, tools } of answered)
      lastKnown.set(server, new Set(tools.map((t) => t.name).filter((n) => typeof n === "string" && n)));
    const count = new Map<string, number>();
    for (const toolNames of lastKnown.values()) {
      for (const tool of toolNames) count.set(tool, (count.get(tool) ?? 0) + 1);
    }
    const specs = new Map<string, ToolSpec>();
    for (const { server, tools } of answered) {
      for (const tool of tools) {
        const exposed = (count.get(tool.name) ?? 0) > 1 ? `${server}${SEPARATOR}${tool.name}` : tool.name;
        if (specs.has(exposed)) continue;
        const spec = specOf(exposed, tool);
        if (!spec) continue;
        specs.set(exposed, spec);
        routes.set(exposed, { server, tool: tool.name });
      }
    }
    return [...specs.values()].sort(byName);
  }

  /** The server and tool of a catalogue name: known from a fetch, or `server__tool`. */
  function resolve(toolName: string): Route | undefined {
    const known = routes.get(toolName);
    if (known) return known;
    for (const server of serverNames) {
      if (toolName.startsWith(server + SEPARATOR) && toolName.length > server.length + SEPARATOR.length) {
        return { server, tool: toolName.slice(server.length + SEPARATOR.length) };
      }
    }
    return undefined;
  }

  return {
    name,
    provides: "tools",
    placement: "stable",
    ttlMs,
    timeoutMs,

    async fetch(_request, { signal }) {
      assertOpen();
      return listAll(signal, listTimeoutMs);
    },

    async callTool(toolName, args, { signal }) {
      assertOpen();
      let route = resolve(toolName);
      if (!route) {
        // A catalogue read from a shared cache can name tools this process has not listed yet.
        await listAll(signal, callTimeoutMs).catch(() => {
          if (signal.aborted) throw signal.reason;
        });
        route = resolve(toolName);
      }
      if (!route) {
        throw new McpToolError("", toolName, `No MCP server of "${name}" has a tool named "${toolName}".`);
      }
      const { server: serverName, tool } = route;
      const server = servers.get(serverName)!;
      let client: Client;
      try {
        client = await server.get(signal);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        const reason =
          error instanceof McpUnavailableError ? error.message : `MCP server "${serverName}" is unavailable: ${message(error)}`;
        throw new McpToolError(serverName, tool, reason, { cause: error });
      }
      let result: unknown;
      try {
        result = await client.callTool({ name: tool, arguments: args }, undefined, { signal, timeout: callTimeoutMs });
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (connectionBroken(error)) server.recycle(client);
        const code = errorCode(error);
        const text = isSchemaError(error)
          ? `MCP tool "${tool}" of server "${serverName}" answered with a result that does not follow the MCP schema.`
          : code === CONNECTION_CLOSED
            ? `MCP server "${serverName}" closed the connection while running tool "${tool}" (it may have crashed).`
            : code === REQUEST_TIMEOUT
              ? `MCP tool "${tool}" of server "${serverName}" did not answer within ${callTimeoutMs} ms.`
              : `MCP tool "${tool}" of server "${serverName}" failed: ${message(error)}`;
        throw new McpToolError(serverName, tool, text, { cause: error });
      }
      const text = resultText(result);
      if ((result as { isError?: unknown }).isError === true) {
        const fallback = `MCP tool "${tool}" of server "${serverName}" reported an error.`;
        throw new McpToolError(serverName, tool, text || fallback);
      }
      return text;
    },

    format: formatTools,

    close() {
      // Every call waits for the servers: a second caller too.
      closing ??= (async () => {
        closed = true;
        await Promise.all([...servers.values()].map((server) => server.close()));
      })();
      return closing;
    },
  };
}
