import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { mcpToolCatalogue, McpToolError, type McpServerOptions } from "../../src/mcp/index.js";
import type { ToolContext } from "../../src/tools/types.js";
import { betaTools, fetchWithDeadline, isRunning, memoryServer, REPO_ROOT, STDIO_SERVER } from "./servers.js";

const dir = mkdtempSync(join(tmpdir(), "zoe-mcp-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let run = 0;
/** A stdio server config with its own pid file and die-on-list switch. */
function stdioServer(name = "stdio", env: Record<string, string> = {}) {
  run++;
  const pidFile = join(dir, `pids-${run}`);
  const dieFile = join(dir, `die-${run}`);
  const server: McpServerOptions = {
    name,
    transport: {
      type: "stdio",
      command: process.execPath,
      args: ["--import", "tsx", STDIO_SERVER],
      cwd: REPO_ROOT,
      env: { PID_FILE: pidFile, DIE_ON_LIST: dieFile, ...env },
    },
  };
  const pids = (): number[] => (existsSync(pidFile) ? readFileSync(pidFile, "utf8").trim().split("\n").filter(Boolean).map(Number) : []);
  return { server, pids, dieOnList: (on: boolean) => (on ? writeFileSync(dieFile, "") : rmSync(dieFile, { force: true })) };
}

const open: Array<{ close(): Promise<void> }> = [];
const spawned: Array<() => number[]> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  // Whatever a test did, no server process outlives its catalogue.
  for (const pids of spawned.splice(0)) for (const pid of pids()) expect(isRunning(pid), `pid ${pid}`).toBe(false);
});

const ctx = (): ToolContext => ({ signal: new AbortController().signal, userId: "u1", threadId: "t1" });
const names = (tools: Array<{ name: string }>) => tools.map((t) => t.name);
// Starting node with tsx takes a while on a small machine: generous deadlines for the first connect.
const SLOW = { timeoutMs: 10_000 };

describe("mcpToolCatalogue over stdio", () => {
  it("spawns the server on first use, lists and calls its tools, and reuses the one process", async () => {
    const stdio = stdioServer();
    spawned.push(stdio.pids);
    const catalogue = mcpToolCatalogue({ servers: [stdio.server], ...SLOW });
    open.push(catalogue);
    expect(stdio.pids()).toEqual([]); // lazy: nothing runs before the first fetch
    const tools = await fetchWithDeadline(catalogue);
    expect(names(tools)).toEqual(["add", "exit", "pid", "search"]);
    expect(tools[0]).toMatchObject({
      description: "Add two numbers.",
      parameters: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } }, required: ["a", "b"] },
    });
    expect(tools[0]?.parameters).not.toHaveProperty("$schema");
    expect(await fetchWithDeadline(catalogue)).toEqual(tools);
    await expect(catalogue.callTool("add", { a: 2, b: 3 }, ctx())).resolves.toBe("2 + 3 = 5");
    const pid = Number(await catalogue.callTool("pid", {}, ctx()));
    expect(stdio.pids()).toEqual([pid]); // two fetches and two calls: one connection
    expect(isRunning(pid)).toBe(true);
    await catalogue.close();
    expect(isRunning(pid)).toBe(false);
  });

  it("namespaces tools that clash with another server's", async () => {
    const stdio = stdioServer();
    spawned.push(stdio.pids);
    const beta = await memoryServer(betaTools);
    const catalogue = mcpToolCatalogue({ servers: [stdio.server, { name: "beta", client: beta.client }], ...SLOW });
    open.push(catalogue, beta.server);
    expect(names(await fetchWithDeadline(catalogue))).toEqual(["add", "beta__search", "calc", "exit", "pid", "stdio__search"]);
    await expect(catalogue.callTool("stdio__search", { query: "x" }, ctx())).resolves.toBe("stdio results for x");
    await expect(catalogue.callTool("beta__search", { query: "x" }, ctx())).resolves.toBe("beta results for x");
  });

  it("leaves out a server that dies while listing, and reconnects the next time", async () => {
    const stdio = stdioServer();
    spawned.push(stdio.pids);
    const beta = await memoryServer(betaTools);
    const catalogue = mcpToolCatalogue({ servers: [stdio.server, { name: "beta", client: beta.client }], ...SLOW });
    open.push(catalogue, beta.server);
    expect(names(await fetchWithDeadline(catalogue))).toContain("add");
    const [first] = stdio.pids();

    stdio.dieOnList(true);
    const started = performance.now();
    const tools = await fetchWithDeadline(catalogue);
    // Beta's only, named as before: the absent server still counts for clashes, so names stay stable.
    expect(names(tools)).toEqual(["beta__search", "calc"]);
    expect(performance.now() - started).toBeLessThan(5_000); // the death was noticed, not waited out
    expect(isRunning(first!)).toBe(false);

    // It was asked once more on a new connection (listing is safe to repeat), and died again.
    expect(stdio.pids()).toHaveLength(2);

    stdio.dieOnList(false);
    expect(names(await fetchWithDeadline(catalogue))).toEqual(["add", "beta__search", "calc", "exit", "pid", "stdio__search"]);
    expect(stdio.pids()).toHaveLength(3);
    await expect(catalogue.callTool("add", { a: 1, b: 1 }, ctx())).resolves.toBe("1 + 1 = 2");
  });

  it("reconnects after the process was killed", async () => {
    const stdio = stdioServer();
    spawned.push(stdio.pids);
    const catalogue = mcpToolCatalogue({ servers: [stdio.server], ...SLOW });
    open.push(catalogue);
    await fetchWithDeadline(catalogue);
    const [first] = stdio.pids();
    process.kill(first!, "SIGKILL");
    await vi.waitFor(() => expect(isRunning(first!)).toBe(false));
    // Whether the death was seen before this fetch or during it, the fetch reconnects.
    expect(names(await fetchWithDeadline(catalogue))).toContain("add");
    const second = Number(await catalogue.callTool("pid", {}, ctx()));
    expect(second).not.toBe(first);
    expect(stdio.pids()).toEqual([first, second]);
  });

  it("fails a call clearly when the server dies during it, then recovers", async () => {
    const stdio = stdioServer();
    spawned.push(stdio.pids);
    const catalogue = mcpToolCatalogue({ servers: [stdio.server], ...SLOW });
    open.push(catalogue);
    const error = await catalogue.callTool("exit", {}, ctx()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McpToolError);
    expect((error as Error).message).toBe('MCP server "stdio" closed the connection while running tool "exit" (it may have crashed).');
    await expect(catalogue.callTool("add", { a: 4, b: 5 }, ctx())).resolves.toBe("4 + 5 = 9");
    expect(stdio.pids()).toHaveLength(2);
  });

  it("keeps connecting in the background when a fetch gives up, and close() still ends the process", async () => {
    const stdio = stdioServer();
    spawned.push(stdio.pids);
    const catalogue = mcpToolCatalogue({ servers: [stdio.server], timeoutMs: 50 });
    open.push(catalogue);
    // Node + tsx start much slower than 40 ms: the only server is late, so the fetch fails.
    await expect(fetchWithDeadline(catalogue)).rejects.toThrow(/did not list its tools within 40 ms/);
    // The connection goes on and is there for a later fetch, without a second process.
    await vi.waitFor(async () => expect(names(await fetchWithDeadline(catalogue))).toContain("add"), {
      timeout: 15_000,
      interval: 100,
    });
    expect(stdio.pids()).toHaveLength(1);
  });

  it("close() during a connect waits for it and ends the process", async () => {
    // The server starts, notes its pid, then stays silent for 10 s: the connect is still in
    // progress when close() comes, however long the process took to start on a loaded machine
    // (a close() before the process had noted its pid left nothing to check).
    const stdio = stdioServer("stdio", { CONNECT_AFTER_MS: "10000" });
    spawned.push(stdio.pids);
    const catalogue = mcpToolCatalogue({ servers: [stdio.server], timeoutMs: 50 });
    await expect(fetchWithDeadline(catalogue)).rejects.toThrow(/within 40 ms/);
    await vi.waitFor(() => expect(stdio.pids()).toHaveLength(1), { timeout: 15_000, interval: 20 });
    const [pid] = stdio.pids();
    expect(isRunning(pid as number)).toBe(true);
    await catalogue.close();
    expect(isRunning(pid as number)).toBe(false);
  });

  it("leaves out a server that cannot start, with the reason", async () => {
    const beta = await memoryServer(betaTools);
    const catalogue = mcpToolCatalogue({
      servers: [
        { name: "missing", transport: { type: "stdio", command: join(dir, "no-such-program") } },
        { name: "beta", client: beta.client },
      ],
    });
    open.push(catalogue, beta.server);
    expect(names(await fetchWithDeadline(catalogue))).toEqual(["calc", "search"]);
    const error = await catalogue.callTool("missing__thing", {}, ctx()).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/Could not connect to MCP server "missing": .*ENOENT/);
  });
});
