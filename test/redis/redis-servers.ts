/**
 * Real Redis servers for the Redis store's tests: a private `redis-server` on a spare port, a
 * three-master Cluster, and the shared server on 127.0.0.1:6379. Every server started here is
 * killed when the test process exits.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether `redis-server` and `redis-cli` are on the PATH. */
export const hasRedisServer: boolean =
  spawnSync("redis-server", ["--version"]).status === 0 && spawnSync("redis-cli", ["--version"]).status === 0;

const onCi = process.env.CI === "true";

/**
 * `describe` for tests that need real Redis servers: skipped with a message when `redis-server`
 * is missing, except under `CI=true`, where the suite fails instead.
 */
export function describeRedis(name: string, body: () => void): void {
  if (hasRedisServer) {
    describe(name, () => {
      // Whatever a failed test left running goes when its suite ends.
      afterAll(stopAllServers);
      body();
    });
  } else if (onCi) {
    describe(name, () => {
      it("needs redis-server", () => {
        throw new Error("redis-server/redis-cli not found on PATH: the Redis tests must run under CI=true.");
      });
    });
  } else {
    console.warn(`[zoe-pipeline] skipping "${name}": redis-server not found on PATH (install Redis 7 to run it).`);
    describe.skip(`${name} (skipped: redis-server not found)`, body);
  }
}

/** Send one inline command and read the first reply line; undefined when nothing answers. */
export function rawCommand(port: number, command: string, timeoutMs = 500): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let data = "";
    const finish = (value: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.on("connect", () => socket.write(`${command}\r\n`));
    socket.on("data", (chunk) => {
      data += chunk.toString("utf8");
      if (data.includes("\r\n")) finish(data);
    });
    socket.on("error", () => finish(undefined));
  });
}

const pong = async (port: number) => (await rawCommand(port, "PING"))?.startsWith("+PONG") === true;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * The first port the kernel hands out as the local port of outgoing connections (Linux:
 * net.ipv4.ip_local_port_range, 32768 by default). A port chosen below it is never taken by a
 * test's own client connections between the check and the server's bind.
 */
const EPHEMERAL_START = (() => {
  try {
    const first = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > 20_000 ? first : 32_768;
  } catch {
    return 32_768;
  }
})();

/**
 * A spare port whose Cluster bus port (port + 10000) is spare too, both below the ephemeral
 * range. Another process may still take it before the server binds: {@link spawnOnSparePort}
 * then tries another.
 */
export async function sparePort(): Promise<number> {
  const span = EPHEMERAL_START - 10_000 - 10_000;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * span);
    if ((await portFree(port)) && (await portFree(port + 10_000))) return port;
  }
  throw new Error("No spare port found.");
}

/** The process id of the redis-server answering on `port`. */
function serverPid(port: number): number | undefined {
  const info = spawnSync("redis-cli", ["-p", String(port), "info", "server"], { encoding: "utf8", timeout: 2_000 }).stdout ?? "";
  const pid = /process_id:(\d+)/.exec(info)?.[1];
  return pid === undefined ? undefined : Number(pid);
}

/** A server could not use its port: it exited before answering (redis-server logs why on stdout). */
class PortTaken extends Error {}

const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** SIGKILL every server this process started and still runs (an `afterAll` of {@link describeRedis}). */
export async function stopAllServers(): Promise<void> {
  const running = [...children];
  for (const child of running) child.kill("SIGKILL");
  await Promise.all(running.map(exited));
}

/** A private redis-server child process. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** The child process (undefined while stopped). */
  readonly process: ChildProcess | undefined;
  /** SIGKILL the server, as a crash would. */
  kill(): Promise<void>;
  /** Start it again on the same port; resolves when it answers PING. */
  restart(): Promise<void>;
  /** Stop it for good. */
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function spawnRedis(port: number, extra: string[] = []): Promise<ChildProcess> {
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", ...extra],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  children.add(child);
  child.once("exit", () => children.delete(child));
  let output = "";
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-2_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new PortTaken(`redis-server on port ${port} exited: ${output.trim()}`);
    if (await pong(port)) {
      // The server answering must be this one: when another process holds the port, this one
      // exits, and the other's PONG may come first.
      if (serverPid(port) === child.pid) return child;
      child.kill("SIGKILL");
      throw new PortTaken(`port ${port} is held by another process`);
    }
    await sleep(25);
  }
  child.kill("SIGKILL");
  throw new Error(`redis-server on port ${port} did not answer PING within 5 s.`);
}

/**
 * A server on a spare port, with `extra` arguments for that port; when the server exits before it
 * answers (most often: something took the port after it was found free), again on another port.
 */
async function spawnOnSparePort(extra: (port: number) => string[] = () => []): Promise<{ port: number; child: ChildProcess }> {
  for (let attempt = 1; ; attempt++) {
    const port = await sparePort();
    try {
      return { port, child: await spawnRedis(port, extra(port)) };
    } catch (error) {
      if (!(error instanceof PortTaken) || attempt === 5) throw error;
    }
  }
}

/** Start a private redis-server on a spare port (or `port`). */
export async function startRedis(port?: number): Promise<RedisServer> {
  const started = port === undefined ? await spawnOnSparePort() : { port, child: await spawnRedis(port) };
  const p = started.port;
  let child: ChildProcess | undefined = started.child;
  const server: RedisServer = {
    port: p,
    url: `redis://127.0.0.1:${p}`,
    get process() {
      return child;
    },
    async kill() {
      if (!child) return;
      const c = child;
      child = undefined;
      c.kill("SIGKILL");
      await exited(c);
    },
    async restart() {
      if (child) throw new Error("The server is running.");
      child = await spawnRedis(p);
    },
    async stop() {
      await server.kill();
    },
  };
  return server;
}

/** A three-master Redis Cluster of child processes. */
export interface RedisClusterServers {
  readonly ports: number[];
  readonly nodes: Array<{ host: string; port: number }>;
  stop(): Promise<void>;
}

/** Start a three-master Cluster (no replicas) on spare ports; resolves when every node says `cluster_state:ok`. */
export async function startCluster(): Promise<RedisClusterServers> {
  const dir = mkdtempSync(join(tmpdir(), "zoe-redis-cluster-"));
  const ports: number[] = [];
  const procs: ChildProcess[] = [];
  while (ports.length < 3) {
    const node = await spawnOnSparePort((port) => [
      "--cluster-enabled",
      "yes",
      "--cluster-config-file",
      join(dir, `nodes-${port}.conf`),
      "--cluster-node-timeout",
      "2000",
      "--dir",
      dir,
    ]);
    ports.push(node.port);
    procs.push(node.child);
  }
  const stop = async () => {
    for (const c of procs) c.kill("SIGKILL");
    await Promise.all(procs.map(exited));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const create = spawnSync(
      "redis-cli",
      ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"],
      { encoding: "utf8", timeout: 20_000 },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    for (let i = 0; ; i++) {
      const states = await Promise.all(ports.map((p) => clusterInfo(p)));
      if (states.every((s) => s.includes("cluster_state:ok") && s.includes("cluster_slots_ok:16384"))) break;
      if (i > 200) throw new Error(`The cluster did not become ok: ${states.join(" | ")}`);
      await sleep(50);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { ports, nodes: ports.map((port) => ({ host: "127.0.0.1", port })), stop };
}

async function clusterInfo(port: number): Promise<string> {
  const r = spawnSync("redis-cli", ["-p", String(port), "cluster", "info"], { encoding: "utf8", timeout: 2_000 });
  return r.stdout ?? "";
}

/**
 * The shared Redis on 127.0.0.1:6379 when it answers, else a private server started for this
 * test file (so that the tests run on a machine without a Redis service too).
 */
export async function sharedRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  if (await pong(6379)) return { url: "redis://127.0.0.1:6379", stop: async () => {} };
  const server = await startRedis();
  return { url: server.url, stop: () => server.stop() };
}

/** A key prefix unique to this test process and call. */
export function uniquePrefix(label: string): string {
  return `zoetest_${label}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
