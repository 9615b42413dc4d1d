import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { mcpToolCatalogue, McpToolError, type McpServerOptions } from "../../src/mcp/index.js";
import type { ToolContext } from "../../src/tools/types.js";
import { fetchWithDeadline, isRunning, REPO_ROOT } from "./servers.js";

const SERVER = fileURLToPath(new URL("./hostile-server.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "zoe-atk-mcp-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function hostile(mode: string) {
  n++;
  const pidFile = join(dir, `pids-${n}`);
  const server: McpServerOptions = {
    name: "hostile",
    transport: {
      type: "stdio",
      command: process.execPath,
      args: ["--import", "tsx", SERVER],
      cwd: REPO_ROOT,
      env: { PID_FILE: pidFile, MODE: mode },
      stderr: "ignore",
    },
  };
  const pids = (): number[] => (existsSync(pidFile) ? readFileSync(pidFile, "utf8").trim().split("\n").filter(Boolean).map(Number) : []);
  return { server, pids };
}

const open: Array<{ close(): Promise<void> }> = [];
const spawned: Array<() => number[]> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  for (const pids of spawned.splice(0)) for (const pid of pids()) expect(isRunning(pid), `pid ${pid}`).toBe(false);
});
const ctx = (): ToolContext => ({ signal: new AbortController().signal, userId: "u1", threadId: "t1" });
const SLOW = { timeoutMs: 10_000 };

describe("MCP catalogue against a hostile stdio server", () => {
  it("a malformed result of one call does not kill and respawn the server", async () => {
    const h = hostile("bad-result");
    spawned.push(h.pids);
    const catalogue = mcpToolCatalogue({ servers: [h.server], ...SLOW });
    open.push(catalogue);
    const before = Number(await catalogue.callTool("pid", {}, ctx()));
    const failed = await catalogue.callTool("bad", {}, ctx()).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(McpToolError);
    expect((failed as Error).message).toContain("does not follow the MCP schema");
    // The server answered (a result out of spec): its connection is fine, and so is its state.
    const after = Number(await catalogue.callTool("pid", {}, ctx()));
    expect(after).toBe(before);
    expect(h.pids()).toHaveLength(1);
  });

  it("a tools/list answer that fails the SDK's schema does not kill and respawn the server on every fetch", async () => {
    const h = hostile("bad-schema");
    spawned.push(h.pids);
    const catalogue = mcpToolCatalogue({ servers: [h.server], ...SLOW });
    open.push(catalogue);
    for (let i = 0; i < 3; i++) await fetchWithDeadline(catalogue).catch(() => undefined);
    // The server never crashed: it answered every request. One process should serve them all.
    expect(h.pids()).toHaveLength(1);
  });

  it("one tool with a bad input schema is left out; its server's other tools still count", async () => {
    const h = hostile("bad-schema");
    spawned.push(h.pids);
    const catalogue = mcpToolCatalogue({ servers: [h.server], ...SLOW });
    open.push(catalogue);
    const tools = await fetchWithDeadline(catalogue).catch((error: unknown) => error);
    expect(tools).toBeInstanceOf(Array);
    expect((tools as Array<{ name: string }>).map((t) => t.name)).toEqual(["bad", "pid", "slow"]);
  });

  it("one tool with an outputSchema that does not compile is left out; its server's other tools still count", async () => {
    const h = hostile("bad-output-schema");
    spawned.push(h.pids);
    const catalogue = mcpToolCatalogue({ servers: [h.server], ...SLOW });
    open.push(catalogue);
    const tools = await fetchWithDeadline(catalogue).catch((error: unknown) => error);
    expect(tools).toBeInstanceOf(Array);
    expect((tools as Array<{ name: string }>).map((t) => t.name)).toContain("pid");
  });

  it("reads every page of tools/list (nextCursor)", async () => {
    const h = hostile("pages");
    spawned.push(h.pids);
    const catalogue = mcpToolCatalogue({ servers: [h.server], ...SLOW });
    open.push(catalogue);
    const tools = await fetchWithDeadline(catalogue);
    expect(tools.map((t) => t.name)).toEqual(["bad", "pid", "slow"]);
  });
});
