import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** The hostile server in a child process, as the tests see it. */
export interface HostileServer {
  /** `http://127.0.0.1:<port>` of the plain `node:http` server (agent at any path but /debug). */
  nodeUrl: string;
  /** The Express example app's base URL (agent at `/api/agent`). */
  expressUrl: string;
  nodePort: number;
  expressPort: number;
  /** Active runs of both pipelines, in-flight runs by the metrics, and the heap after a full GC. */
  debug(): Promise<{ activeRuns: number; inFlight: number; heapUsed: number; gc: boolean }>;
  /** Whether the process is still running. */
  alive(): boolean;
  /** Everything the child wrote to stderr. */
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * Start test/hostile/server.ts with `node --unhandled-rejections=strict --expose-gc --import tsx`:
 * an unhandled rejection or an uncaught exception ends the process, and the tests see it.
 */
export async function startHostileServer(env: Record<string, string> = {}): Promise<HostileServer> {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--unhandled-rejections=strict", "--expose-gc", "--import", "tsx", "test/hostile/server.ts"],
    { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "inherit", "pipe", "ipc"] },
  );
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  child.once("exit", () => (exited = true));
  const ready = await new Promise<{ nodePort: number; expressPort: number }>((resolve, reject) => {
    child.once("message", (m) => resolve(m as { nodePort: number; expressPort: number }));
    child.once("exit", (code) => reject(new Error(`the hostile server exited (${code}) before it was ready:\n${stderr}`)));
  });
  const nodeUrl = `http://127.0.0.1:${ready.nodePort}`;
  return {
    nodeUrl,
    expressUrl: `http://127.0.0.1:${ready.expressPort}`,
    nodePort: ready.nodePort,
    expressPort: ready.expressPort,
    debug: async () => (await (await fetch(`${nodeUrl}/debug`)).json()) as Awaited<ReturnType<HostileServer["debug"]>>,
    alive: () => !exited && child.exitCode === null && child.signalCode === null,
    stderr: () => stderr,
    stop: async () => {
      if (exited) return;
      const gone = new Promise((r) => child.once("exit", r));
      child.disconnect();
      await gone;
    },
  };
}
