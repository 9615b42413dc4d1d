import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import type { CloseConfig, CloseReport } from "./close-worker.js";
import { describeRedis, startRedis } from "./redis-servers.js";

const workerFile = fileURLToPath(new URL("./close-worker.ts", import.meta.url));

/** Run the worker; resolves with its report once it has exited by itself (status 0). */
function runWorker(config: CloseConfig): Promise<CloseReport> {
  return new Promise((resolve, reject) => {
    const child = fork(workerFile, [], {
      execArgv: ["--import", "tsx"],
      env: { ...process.env, ZOE_CLOSE: JSON.stringify(config) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let report: CloseReport | undefined;
    child.on("message", (m: CloseReport) => (report = m));
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
