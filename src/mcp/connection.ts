import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { abortable } from "../shared/abort.js";
import { timeoutError } from "./signals.js";
import { errorMessage } from "../errors/error-message.js";

/** How to reach an MCP server that the catalogue connects to itself. */
export type McpTransportOptions =
  | {
      type: "stdio";
      /** The program that runs the server, e.g. `"npx"` or `process.execPath`. */
      command: string;
      args?: string[];
      /**
       * Extra environment variables. The child gets only these plus the SDK's safe defaults
       * (`HOME`, `PATH`, `USER`, ...), not the whole environment of this process.
       */
      env?: Record<string, string>;
      cwd?: string;
      /** The child's stderr. Default `"inherit"`. */
      stderr?: "inherit" | "ignore" | "pipe";
    }
  | {
      type: "http";
      /** The server's Streamable HTTP endpoint, e.g. `http://127.0.0.1:3000/mcp`. */
      url: string;
      /** Sent with every request (an `Authorization` header, say). */
      headers?: Record<string, string>;
    };

/** One MCP server of a catalogue: a transport to connect with, or a `Client` already connected. */
export type McpServerOptions =
  | {
      /** Unique; prefixes the server's tool names when two servers share a name (`name__tool`). */
      name: string;
      transport: McpTransportOptions;
    }
  | {
      name: string;
      /** A connected client. The catalogue does not reconnect it, and closes it on `close()`. */
      client: Client;
    };

/** What the client says about itself to servers. */
const CLIENT_INFO = { name: "zoe-pipeline", version: "0.1.0" };

const SDK_MISSING =
  'zoe-pipeline/mcp needs the optional peer dependency "@modelcontextprotocol/sdk" (npm install @modelcontextprotocol/sdk)';

/** Load a module of the SDK, or say that it is missing. */
export async function importSdk<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    throw new Error(`${SDK_MISSING}: ${errorMessage(error)}`, { cause: error });
  }
}

async function createTransport(options: McpTransportOptions): Promise<Transport> {
  if (options.type === "stdio") {
    const { StdioClientTransport } = await importSdk(() => import("@modelcontextprotocol/sdk/client/stdio.js"));
    return new StdioClientTransport({
      command: options.command,
      ...(options.args ? { args: options.args } : {}),
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.stderr ? { stderr: options.stderr } : {}),
    });
  }
  const { StreamableHTTPClientTransport } = await importSdk(() => import("@modelcontextprotocol/sdk/client/streamableHttp.js"));
  return new StreamableHTTPClientTransport(
    new URL(options.url),
    options.headers ? { requestInit: { headers: options.headers } } : undefined,
  );
}

/** An error's message, with the HTTP status of a Streamable HTTP error (its message may not say it). */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return errorMessage(error);
  const code = (error as { code?: unknown }).code;
  const http = error.message.startsWith("Streamable HTTP error") && typeof code === "number" && code >= 100;
  return http && !error.message.includes(String(code)) ? `${error.message} (HTTP ${code})` : error.message;
}

/** A client is connected while its protocol holds a transport (the SDK drops it on close). */
const isConnected = (client: Client): boolean => client.transport !== undefined;

/** Whether a child process still runs. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Wait until a process has ended, at most `ms`; true when it has. */
async function ended(pid: number, ms: number): Promise<boolean> {
  for (let waited = 0; waited < ms && isRunning(pid); waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return !isRunning(pid);
}

/** How long closing a Streamable HTTP connection waits for the server to end its session, ms. */
const SESSION_END_MS = 1_000;

/**
 * End a Streamable HTTP session (an HTTP DELETE with its `Mcp-Session-Id`, which the MCP spec
 * says a client that no longer needs the session SHOULD send): the SDK's `close()` only aborts
 * its requests, and a stateful server would keep the session. A server that does not answer
 * within {@link SESSION_END_MS} is left to expire it: the `close()` that follows aborts the DELETE.
 */
async function endSession(client: Client): Promise<void> {
  const transport = client.transport as { sessionId?: unknown; terminateSession?: unknown } | undefined;
  if (typeof transport?.sessionId !== "string" || typeof transport.terminateSession !== "function") return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, SESSION_END_MS);
  });
  const ending = Promise.resolve()
    .then(() => (transport.terminateSession as () => unknown).call(transport))
    .catch(() => {});
  await Promise.race([ending, late]);
  clearTimeout(timer);
}

/**
 * Close a client, its Streamable HTTP session ended first ({@link endSession}); a stdio child
 * that is still running 1 s later is killed, and waited for until it has ended (it is this
 * process's child: it exists until Node has collected its exit status).
 */
async function closeClient(client: Client, pid: number | undefined): Promise<void> {
  await endSession(client);
  await client.close().catch(() => {});
  if (pid === undefined || (await ended(pid, 1_000))) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Gone meanwhile.
  }
  await ended(pid, 1_000);
}

/** The error thrown when a server cannot be reached. */
export class McpUnavailableError extends Error {
  override name = "McpUnavailableError";
  constructor(
    readonly server: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * The connection to one MCP server: opened on first use, shared, reopened after the server died.
 * The connection attempt is not tied to any caller's signal: a caller that gives up leaves it
 * running, so a slow-starting server is ready for the next caller.
 */
export class ServerConnection {
  private client: Client | undefined;
  private pid: number | undefined;
  private connecting: Promise<Client> | undefined;
  /** Aborts the connection being made (its `initialize`), so that `close()` does not wait for its deadline. */
  private stopConnecting: AbortController | undefined;
  private closed = false;
  /** Clients being closed in the background (a failed or recycled connection). */
  private readonly closing = new Set<Promise<void>>();

  constructor(
    readonly name: string,
    private readonly options: McpServerOptions,
    private readonly connectTimeoutMs: number,
  ) {
    if ("client" in options) this.client = options.client;
  }

  /** Whether the catalogue can reconnect this server (false for a client passed in). */
  get owned(): boolean {
    return "transport" in this.options;
  }

  /** A connected client, connecting (again) first when needed; rejects when `signal` aborts. */
  get(signal: AbortSignal): Promise<Client> {
    if (this.closed) return Promise.reject(new McpUnavailableError(this.name, "The MCP tool catalogue is closed."));
    const current = this.client;
    if (current && isConnected(current)) return Promise.resolve(current);
    if (!("transport" in this.options)) {
      return Promise.reject(
        new McpUnavailableError(
          this.name,
          `MCP server "${this.name}" is not connected: its client is closed, and a client passed in cannot be reconnected.`,
        ),
      );
    }
    this.client = undefined;
    this.connecting ??= this.open(this.options.transport).finally(() => {
      this.connecting = undefined;
    });
    return abortable(this.connecting, signal);
  }

  /** Drop a connection that failed (only if still the current one), so the next use reconnects. */
  recycle(client: Client): void {
    if (!this.owned || this.client !== client) return;
    const pid = this.pid;
    this.client = undefined;
    this.pid = undefined;
    this.closeLater(client, pid);
  }

  private closeLater(client: Client, pid: number | undefined): void {
    const done = closeClient(client, pid).finally(() => this.closing.delete(done));
    this.closing.add(done);
  }

  /** Close the connection; one being opened is given up (a server that never answers `initialize` does not hold this), and a stdio child is waited for. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopConnecting?.abort(new McpUnavailableError(this.name, "The MCP tool catalogue is closed."));
    await this.connecting?.catch(() => {});
    const client = this.client;
    const pid = this.pid;
    this.client = undefined;
    this.pid = undefined;
    if (client) await closeClient(client, pid);
    await Promise.all(this.closing);
  }

  private async open(transportOptions: McpTransportOptions): Promise<Client> {
    const { Client } = await importSdk(() => import("@modelcontextprotocol/sdk/client/index.js"));
    const transport = await createTransport(transportOptions);
    const client = new Client(CLIENT_INFO);
    client.onerror = () => {}; // Failures surface through the requests.
    const deadline = this.connectTimeoutMs;
    // Note the stdio child's pid as soon as it runs: the SDK forgets it when a failed connect closes.
    let pid: number | undefined;
    const start = transport.start.bind(transport);
    transport.start = async () => {
      await start();
      pid = (transport as { pid?: number | null }).pid ?? undefined;
    };
    const stop = new AbortController();
    this.stopConnecting = stop;
    try {
      await client.connect(transport, { timeout: deadline, signal: stop.signal });
    } catch (error) {
      this.closeLater(client, pid);
      const reason =
        error instanceof Error && (error as { code?: unknown }).code === -32001
          ? timeoutError(`no answer to "initialize" within ${deadline} ms`)
          : error;
      throw new McpUnavailableError(this.name, `Could not connect to MCP server "${this.name}": ${describeError(reason)}`, {
        cause: error,
      });
    } finally {
      if (this.stopConnecting === stop) this.stopConnecting = undefined;
    }
    if (this.closed) {
      await closeClient(client, pid);
      throw new McpUnavailableError(this.name, "The MCP tool catalogue is closed.");
    }
    this.client = client;
    this.pid = pid;
    return client;
  }
}
