import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createServer } from "node:net";
import type { CloseDownConfig, CloseDownReport } from "./close-down-worker.js";
import type { CloseConfig, CloseReport } from "./close-worker.js";
import { describeRedis, startRedis } from "./redis-servers.js";

const workerFile = fileURLToPath(new URL("./close-worker.ts", import.meta.url));
const downWorkerFile = fileURLToPath(new URL("./close-down-worker.ts", import.meta.url));

/** Run a worker; resolves with its report once it has exited by itself (status 0). */
function runWorker(config: CloseConfig): Promise<CloseReport>;
function runWorker(config: CloseDownConfig, file: string, variable: string): Promise<CloseDownReport>;
function runWorker<R>(config: object, file = workerFile, variable = "ZOE_CLOSE"): Promise<R> {
  return new Promise((resolve, reject) => {
    const child = fork(file, [], {
      execArgv: ["--import", "tsx"],
      env: { ...process.env, [variable]: JSON.stringify(config) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let report: R | undefined;
    child.on("message", (m: R) => (report = m));
    child.once("exit", (code) =>
      report && code === 0 ? resolve(report) : reject(new Error(`the worker exited with ${code} without a report`)),
    );
  });
}

describeRedis("close() against a hung Redis", () => {
  for (const nearCache of [false, true]) {
    it(`leaves no socket or timer of the store behind: the process exits by itself${nearCache ? " (near cache)" : ""}`, async () => {
      const server = await startRedis();
      const report = await runWorker({ url: server.url, pid: server.process?.pid ?? 0, nearCache });
      expect(report.state).toBe("primary");
      expect(report.resources).toEqual([]);
      await server.stop(); // SIGKILL ends a stopped process too
    });
  }
});

/** A loopback port nothing listens on (a server's, closed). */
async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("close() while Redis is down", () => {
  for (const nearCache of [false, true]) {
    // ioredis emits no `end` for a client waiting to reconnect: close() used to wait its whole
    // deadline for one (here longer than the test's own timeout).
    it(`returns without waiting for an end that never comes, and the process exits by itself${nearCache ? " (near cache)" : ""}`, async () => {
      const url = `redis://127.0.0.1:${await refusedPort()}`;
      const report = await runWorker({ url, nearCache, timeoutMs: 120_000 }, downWorkerFile, "ZOE_CLOSE_DOWN");
      expect(report.statusAtClose).toBe("reconnecting");
    });
  }
});
