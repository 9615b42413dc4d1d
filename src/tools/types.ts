import type { ContextProvider } from "../context/types.js";

/** A tool's description for the model (JSON-serialisable, so that catalogues can be cached). */
export interface ToolSpec {
  name: string;
  description?: string;
  /** JSON Schema of the arguments. */
  parameters?: Record<string, unknown>;
}

/** What a tool gets besides its arguments. */
export interface ToolContext {
  /** Aborts at the tool's deadline or when the run is cancelled. */
  signal: AbortSignal;
  userId: string;
  threadId: string;
}

/** A tool the pipeline runs on the server when the model calls it. */
export interface ServerTool extends ToolSpec {
  execute(args: Record<string, unknown>, context: ToolContext): unknown;
  /** Deadline, ms. Default: the pipeline's `toolTimeoutMs`. */
  timeoutMs?: number;
}

/**
 * A context provider whose value is a list of tools (for example, the tools of MCP servers).
 * Fetched and cached like every provider; the pipeline passes the tools to the model and routes
 * the model's calls of them to `callTool`.
 */
export interface ToolCatalogueProvider extends ContextProvider<ToolSpec[]> {
  provides: "tools";
  callTool(name: string, args: Record<string, unknown>, context: ToolContext): Promise<unknown>;
}

/** The result of running a piece of code. */
export interface CodeResult {
  ok: boolean;
  /** What the code printed (capped), and its final value when it has one. */
  output: string;
  /** Why it failed: an exception, a time limit, a memory limit, too much output. */
  error?: string;
}

/** What a code executor gets besides the code. */
export interface CodeContext {
  /** Aborts at the block's deadline or when the run is cancelled. */
  signal: AbortSignal;
  /** The fence's language tag, lower case. */
  language: string;
  /** The user whose answer holds the block (for per-user fairness and limits). */
  userId?: string;
}

/** Runs code blocks found in the model's answer. Hosts implement it for the languages they allow. */
export interface CodeExecutor {
  /** Fence languages it runs, lower case (e.g. ["javascript", "js"]). */
  readonly languages: readonly string[];
  execute(code: string, context: CodeContext): Promise<CodeResult>;
  /** Release resources. */
  close?(): Promise<void> | void;
}

/** A complete fenced code block seen in the token stream. */
export interface CodeBlock {
  /** The fence's language tag, lower case ("" when none). */
  language: string;
  code: string;
}
