/**
 * SSE over HTTP (#14): zoe's `createAgUiHandler` against a bare `node:http` SSE server that writes
 * the same frames, in one process, interleaved.
 *
 * - bare: a `node:http` server that reads the body (data/end events, `JSON.parse`) and writes the
 *   frames of a warm zoe run, built once from a real run on the same scripted backend (same AG-UI
 *   event sequence, same bytes, same headers, chunked), in one `res.write`, then ends.
 * - zoe: `createAgUiHandler` around the `overheadPipeline` (scripted backend, memory store, three
 *   cached providers), `getUserId` from the host.
 * - floor: the same job by hand over HTTP: a `node:http` server that reads and parses the body as
 *   the bare one does, runs the hand-written pipeline of `bench/floor.ts` (the same batched read,
 *   event sequence and history append, on a memory store, with the same scripted backend),
 *   encodes each event as `data: <JSON>\n\n` and writes them all in one write at the end: no
 *   validation, identity, limits, deadlines, metrics, backpressure, heartbeats or cancellation.
 *   What a server doing zoe's job costs at the least, beside the bare server that does no job.
 *
 * Table 1: complete runs per second at 64 connections through `autocannon` (programmatic API,
 * bounded number of requests, loopback), and CPU of this process per run (server and autocannon
 * client together), trials rotating over the arms. Two more rows split zoe's cost: the same handler
 * around a stub that replays the recorded events (the adapter without the pipeline), and the
 * pipeline alone in process (64 runs at a time, no HTTP).
 *
 * Table 1b: the same runs per second with autocannon in its own process (`bench/load-client.ts`,
 * on the other core, as a remote client), bare, the job by hand and zoe in rotating order, and CPU
 * per run of this process, which then only serves. A server that is cheaper than the client makes
 * it wait: the bare server's runs/s is then the client's limit, which the table says.
 *
 * Table 2: time to first token over HTTP (a plain keep-alive `http.request` client in a worker
 * thread, reading until the first TEXT_MESSAGE_CONTENT frame) and in process, the four
 * measurements interleaved in a shuffled order each round.
 *
 * Standalone: `npm run bench:one -- bench/sse.ts [--quick] [--json]`.
 */
import { fork } from "node:child_process";
import { createRequire } from "node:module";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { EventEncoder } from "@ag-ui/encoder";
import { EventType, memoryCacheStore, type CacheStore, type ModelBackend, type RunInput, type ZoePipeline } from "zoe-pipeline";
import { createAgUiHandler } from "zoe-pipeline/express";
import { floorRun } from "./floor.js";
import { overheadPipeline } from "./overhead.js";
import { percentile, printTable, summarise } from "./stats.js";

/** The part of autocannon's programmatic API this file uses (the package ships no types). */
interface AutocannonResult {
  requests: { total: number };
  throughput: { total: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
/** A run of autocannon: a promise of its result that also emits `response` for each one received. */
type AutocannonRun = Promise<AutocannonResult> & { on(event: "response", listener: () => void): void };
type Autocannon = (opts: {
  url: string;
  connections: number;
  amount: number;
  method: string;
  headers: Record<string, string>;
  body: string;
  timeout?: number;
  sampleInt?: number;
}) => AutocannonRun;
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

const CONNECTIONS = 64;
const MESSAGE = "why is the sky blue when the sun is white?";
const USER = "bench";
const BODY = JSON.stringify({
  threadId: "t-sse",
  runId: "r-sse",
  messages: [{ id: "m1", role: "user", content: MESSAGE }],
  tools: [],
  context: [],
});
const REQUEST_HEADERS = { "content-type": "application/json", accept: "text/event-stream" };
/** The headers zoe's handler answers a stream with; the bare server sends the same. */
const SSE_HEADERS = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache, no-transform",
  connection: "keep-alive",
  "x-accel-buffering": "no",
};
const FIRST_TOKEN = `"type":"${EventType.TEXT_MESSAGE_CONTENT}"`;

const r3 = (x: number) => Math.round(x * 1000) / 1000;
const r1 = (x: number) => Math.round(x * 10) / 10;
const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

const close = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

/** Read a request's body (data and end events, no promise), parse it as JSON, hand it on. */
function onJsonBody(req: IncomingMessage, then: (body: unknown) => void): void {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => then(JSON.parse(Buffer.concat(chunks).toString("utf8"))));
}

/** The bare server: read the body, parse it, write the prebuilt frames in one write, end. */
function bareHandler(frames: string) {
  return (req: IncomingMessage, res: ServerResponse) =>
    onJsonBody(req, () => {
      res.writeHead(200, SSE_HEADERS);
      res.write(frames);
      res.end();
    });
}

/** The hand-written job over HTTP (see the top of this file): read, parse, run the floor pipeline, encode, one write. */
function floorHandler(store: CacheStore, backend: ModelBackend) {
  return (req: IncomingMessage, res: ServerResponse) =>
    onJsonBody(req, async (body) => {
      let frames = "";
      for await (const event of floorRun(store, backend, USER, (body as { threadId: string }).threadId))
        frames += `data: ${JSON.stringify(event)}\n\n`;
      res.writeHead(200, SSE_HEADERS);
      res.end(frames);
    });
}

/**
 * The time-to-first-token client, in a worker thread (its own event loop, on the other core): a
 * client on the servers' thread would only read the first token once the server's thread is free,
 * after the rest of a zero-delay run, which a remote client does not wait for. Per request: a plain
 * keep-alive `http.request`, timed from the call to the first data holding a TEXT_MESSAGE_CONTENT
 * frame; the response is read to its end.
 */
const TTFT_CLIENT = `
const { parentPort } = require("node:worker_threads");
const http = require("node:http");
const agents = new Map();
parentPort.on("message", ({ port, body, headers, marker }) => {
  let agent = agents.get(port);
  if (!agent) agents.set(port, (agent = new http.Agent({ keepAlive: true, maxSockets: 1 })));
  const t0 = performance.now();
  const req = http.request({ host: "127.0.0.1", port, method: "POST", path: "/", agent, headers }, (res) => {
    let ttft = Number.NaN;
    let tail = "";
    res.setEncoding("latin1");
    res.on("data", (chunk) => {
      if (!Number.isNaN(ttft)) return;
      const seen = tail + chunk;
      if (seen.includes(marker)) ttft = performance.now() - t0;
      else tail = seen.slice(-marker.length);
    });
    res.on("end", () => parentPort.postMessage({ ttft, status: res.statusCode }));
  });
  req.on("error", (error) => parentPort.postMessage({ error: String(error) }));
  req.end(body);
});
`;

function ttftClient() {
  const worker = new Worker(TTFT_CLIENT, { eval: true });
  const headers = { ...REQUEST_HEADERS, "content-length": String(Buffer.byteLength(BODY)) };
  return {
    /** Time from sending the request to the first TEXT_MESSAGE_CONTENT frame, ms. */
    ttft: (port: number) =>
      new Promise<number>((resolve, reject) => {
        worker.once("message", (m: { ttft?: number; status?: number; error?: string }) =>
          m.ttft !== undefined && !Number.isNaN(m.ttft)
            ? resolve(m.ttft)
            : reject(new Error(m.error ?? `no first token (status ${m.status})`)),
        );
        worker.postMessage({ port, body: BODY, headers, marker: FIRST_TOKEN });
      }),
    close: () => worker.terminate(),
  };
}

export async function benchSse(opts: { quick: boolean }) {
  const { pipeline, backend } = overheadPipeline();
  const floorStore = memoryCacheStore();
  const input = JSON.parse(BODY) as RunInput;
  const runOnce = async () => {
    const events = [];
    for await (const event of pipeline.run(input, { userId: USER })) events.push(event);
    return events;
  };
  // Warm the caches, then build the bare server's frames from a real warm run.
  for (let i = 0; i < 50; i++) await runOnce();
  const encoder = new EventEncoder();
  const events = await runOnce();
  const frames = events.map((e) => encoder.encodeSSE(e)).join("");

  const bare = await listen(bareHandler(frames));
  const handler = createAgUiHandler(pipeline, { getUserId: () => USER });
  const zoe = await listen((req, res) => void handler(req, res));
  // The adapter alone: the same handler around a stub whose runs replay the recorded events (no pipeline work).
  const stub = {
    run: async function* () {
      yield* events;
    },
  } as unknown as ZoePipeline;
  const replayHandler = createAgUiHandler(stub, { getUserId: () => USER });
  const replay = await listen((req, res) => void replayHandler(req, res));
  const floor = await listen(floorHandler(floorStore, backend));
  const arms = { bare: bare.port, floor: floor.port, zoe: zoe.port, replay: replay.port } as const;
  type Arm = keyof typeof arms;

  // ---- Table 1: runs/s at 64 connections ----
  const amount = opts.quick ? 1_000 : 6_000;
  const trials = opts.quick ? 3 : 5;
  /** One job of `n` runs against an arm, for autocannon here or in the client process. */
  const jobOf = (arm: Arm, n: number) => ({
    url: `http://127.0.0.1:${arms[arm]}/`,
    connections: CONNECTIONS,
    amount: n,
    method: "POST",
    headers: REQUEST_HEADERS,
    body: BODY,
  });
  const cannon = async (arm: Arm, n: number) => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const job = autocannon({
      ...jobOf(arm, n),
      timeout: 30,
      // autocannon notices that `amount` is reached on its sampling tick (1 s by default): time to the last response instead.
      sampleInt: 50,
    });
    let last = t0;
    job.on("response", () => (last = performance.now()));
    const result = await job;
    const seconds = (last - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const runs = result.requests.total;
    const failures = result.errors + result.timeouts + result.non2xx;
    if (failures > 0) throw new Error(`${arm}: ${failures} failed requests (${JSON.stringify(result)})`);
    return {
      runs,
      runsPerSecond: Math.round(runs / seconds),
      cpuMsPerRun: r3((cpu.user + cpu.system) / 1000 / runs),
      bytesPerRun: Math.round(result.throughput.total / runs),
    };
  };
  /** The pipeline alone, no HTTP: `n` runs, 64 at a time, without a signal, as the adapter runs them. */
  const inProcess = async (n: number) => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let started = 0;
    const worker = async () => {
      while (started < n) {
        started++;
        for await (const _ of pipeline.run(input, { userId: USER }));
      }
    };
    await Promise.all(Array.from({ length: CONNECTIONS }, worker));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return { runs: n, runsPerSecond: Math.round(n / seconds), cpuMsPerRun: r3((cpu.user + cpu.system) / 1000 / n), bytesPerRun: 0 };
  };
  type Measured = Arm | "pipeline";
  const measure = (arm: Measured, n: number) => (arm === "pipeline" ? inProcess(n) : cannon(arm, n));
  for (const arm of ["bare", "floor", "zoe", "replay", "pipeline"] as const) await measure(arm, 500);
  const throughput: Record<Measured, Array<Awaited<ReturnType<typeof cannon>>>> = {
    bare: [],
    floor: [],
    zoe: [],
    replay: [],
    pipeline: [],
  };
  const ratios: number[] = [];
  // Each arm in each position once over five trials (a Latin square).
  const orders: Measured[][] = [
    ["bare", "floor", "zoe", "replay", "pipeline"],
    ["floor", "zoe", "replay", "pipeline", "bare"],
    ["zoe", "replay", "pipeline", "bare", "floor"],
    ["replay", "pipeline", "bare", "floor", "zoe"],
    ["pipeline", "bare", "floor", "zoe", "replay"],
  ];
  for (let t = 0; t < trials; t++) {
    for (const arm of orders[t % orders.length]!) throughput[arm].push(await measure(arm, amount));
    ratios.push(throughput.zoe[t]!.runsPerSecond / throughput.bare[t]!.runsPerSecond);
  }
  // ---- Table 1b: the client in its own process ----
  const client = fork(fileURLToPath(new URL("./load-client.ts", import.meta.url)), [], { execArgv: ["--import", "tsx/esm"] });
  const apart = (arm: Arm, n: number) =>
    new Promise<{ runsPerSecond: number; cpuMsPerRun: number }>((resolve, reject) => {
      const cpu0 = process.cpuUsage();
      client.once("message", (m: { runs: number; seconds: number; failures: number }) => {
        const cpu = process.cpuUsage(cpu0);
        if (m.failures > 0) reject(new Error(`${arm} (client apart): ${m.failures} failed requests`));
        else resolve({ runsPerSecond: Math.round(m.runs / m.seconds), cpuMsPerRun: r3((cpu.user + cpu.system) / 1000 / m.runs) });
      });
      client.send(jobOf(arm, n));
    });
  const apartArms = ["bare", "floor", "zoe"] as const;
  for (const arm of apartArms) await apart(arm, 500);
  const apartTrials: Record<(typeof apartArms)[number], Array<{ runsPerSecond: number; cpuMsPerRun: number }>> = {
    bare: [],
    floor: [],
    zoe: [],
  };
  for (let t = 0; t < trials; t++) {
    for (let i = 0; i < apartArms.length; i++) {
      const arm = apartArms[(t + i) % apartArms.length]!;
      apartTrials[arm].push(await apart(arm, amount));
    }
  }
  client.kill();
  const apartSummary = (arm: (typeof apartArms)[number]) => ({
    runsPerSecond: Math.round(median(apartTrials[arm].map((x) => x.runsPerSecond))),
    cpuMsPerRun: r3(median(apartTrials[arm].map((x) => x.cpuMsPerRun))),
    trials: apartTrials[arm],
  });
  const apartRatio = (arm: "floor" | "zoe") =>
    r3(median(apartTrials[arm].map((x, i) => x.runsPerSecond / apartTrials.bare[i]!.runsPerSecond)));

  const summary = (arm: Measured) => ({
    runsPerSecond: Math.round(median(throughput[arm].map((x) => x.runsPerSecond))),
    bestRunsPerSecond: Math.max(...throughput[arm].map((x) => x.runsPerSecond)),
    cpuMsPerRun: r3(median(throughput[arm].map((x) => x.cpuMsPerRun))),
    bytesPerRun: throughput[arm][0]!.bytesPerRun,
    trials: throughput[arm],
  });

  // ---- Table 2: time to first token, HTTP and in process, interleaved ----
  const rounds = opts.quick ? 250 : 2_000;
  const warmup = opts.quick ? 100 : 300;
  const ttftWorker = ttftClient();
  const zoeInProcess = async () => {
    const t0 = performance.now();
    let ttft = Number.NaN;
    for await (const event of pipeline.run(input, { userId: USER })) {
      if (event.type === EventType.TEXT_MESSAGE_CONTENT && Number.isNaN(ttft)) ttft = performance.now() - t0;
    }
    return ttft;
  };
  // The bare server's frames are prebuilt: its in-process work before the first token is reading them.
  let sink = 0;
  const bareInProcess = async () => {
    const t0 = performance.now();
    sink += frames.indexOf(FIRST_TOKEN);
    return performance.now() - t0;
  };
  const measures = {
    bareHttp: () => ttftWorker.ttft(arms.bare),
    zoeHttp: () => ttftWorker.ttft(arms.zoe),
    bareInProcess,
    zoeInProcess,
  };
  type Measure = keyof typeof measures;
  const samples = Object.fromEntries(Object.keys(measures).map((k) => [k, [] as number[]])) as Record<Measure, number[]>;
  for (let r = 0; r < rounds + warmup; r++) {
    const order = (Object.keys(measures) as Measure[]).sort(() => Math.random() - 0.5);
    for (const name of order) {
      const t = await measures[name]();
      if (r >= warmup) samples[name].push(t);
    }
  }
  if (sink < 0) throw new Error("unreachable");
  await ttftWorker.close();
  await close(bare.server);
  await close(zoe.server);
  await close(replay.server);
  await close(floor.server);
  await pipeline.close();
  await floorStore.close();

  const ttft = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarise(v)])) as Record<
    Measure,
    ReturnType<typeof summarise>
  >;
  const added = (p: "p50" | "p99") => r3(ttft.zoeHttp[p] - ttft.zoeInProcess[p] - (ttft.bareHttp[p] - ttft.bareInProcess[p]));
  const bareSummary = summary("bare");
  const zoeSummary = summary("zoe");
  const pipelineSummary = summary("pipeline");
  const replaySummary = summary("replay");
  const floorSummary = summary("floor");
  const perTrial = (arm: Measured) => r3(median(throughput[arm].map((x, i) => x.runsPerSecond / throughput.bare[i]!.runsPerSecond)));
  return {
    connections: CONNECTIONS,
    framesPerRun: events.length,
    frameBytes: Buffer.byteLength(frames),
    throughput: {
      amountPerTrial: amount,
      bare: bareSummary,
      zoe: zoeSummary,
      /** The handler around a stub that replays the recorded events: the adapter without the pipeline. */
      replay: replaySummary,
      replayRatio: perTrial("replay"),
      /** The hand-written job over HTTP: what serving zoe's job costs at the least. */
      floor: floorSummary,
      floorRatio: perTrial("floor"),
      /** Median over the trials of zoe / floor runs per second. */
      zoeOverFloor: r3(median(throughput.zoe.map((x, i) => x.runsPerSecond / throughput.floor[i]!.runsPerSecond))),
      /** The same runs without HTTP (64 at a time in process): the pipeline's own share of zoe's CPU per run. */
      pipeline: pipelineSummary,
      /** CPU per run zoe spends beyond the pipeline and the bare server's HTTP work: the adapter's own cost, ms. */
      adapterCpuMsPerRun: r3(zoeSummary.cpuMsPerRun - bareSummary.cpuMsPerRun - pipelineSummary.cpuMsPerRun),
      /** The zoe/bare ratio a free adapter would reach if runs per second followed CPU per run: bare / (bare + pipeline). */
      ceiling: r3(bareSummary.cpuMsPerRun / (bareSummary.cpuMsPerRun + pipelineSummary.cpuMsPerRun)),
      /** Median over the trials of zoe / bare runs per second (each trial pair back to back). */
      ratio: r3(median(ratios)),
      ratios: ratios.map(r3),
      target: 0.5,
    },
    /** Table 1b: autocannon in its own process; CPU per run is this process's, the server's alone. */
    apart: {
      bare: apartSummary("bare"),
      floor: apartSummary("floor"),
      zoe: apartSummary("zoe"),
      /** Median over the trials of zoe / bare runs per second. */
      ratio: apartRatio("zoe"),
      floorRatio: apartRatio("floor"),
      /** Bare's CPU per run over zoe's: the share of bare's runs/s zoe would reach if each server had a core of its own and a client fast enough for both. */
      cpuRatio: r3(median(apartTrials.bare.map((x, i) => x.cpuMsPerRun / apartTrials.zoe[i]!.cpuMsPerRun))),
      target: 0.5,
    },
    ttft: {
      rounds,
      ...ttft,
      /** (zoe over HTTP − zoe in process) − (bare over HTTP − bare in process), ms. */
      addedOverHopP50: added("p50"),
      addedOverHopP99: added("p99"),
      targetMs: 0.1,
    },
  };
}

export type SseResult = Awaited<ReturnType<typeof benchSse>>;

export function printSse(result: SseResult): void {
  const t = result.throughput;
  printTable(
    `SSE over HTTP: complete runs per second at ${result.connections} connections (autocannon in the same process, ${t.amountPerTrial} runs per trial, median (best) of ${t.bare.trials.length} interleaved trials; ${result.framesPerRun} frames, ${result.frameBytes} bytes of SSE per run)`,
    (["bare", "floor", "zoe", "replay", "pipeline"] as const).map((arm) => ({
      server: {
        bare: "bare node:http, same frames",
        floor: "the job by hand over node:http (bench/floor.ts)",
        zoe: "zoe createAgUiHandler",
        replay: "(handler over a replay stub, no pipeline)",
        pipeline: "(pipeline alone, in process, no HTTP)",
      }[arm],
      "runs/s": `${t[arm].runsPerSecond} (${t[arm].bestRunsPerSecond})`,
      "CPU ms/run (process)": t[arm].cpuMsPerRun,
      "bytes/run": arm === "pipeline" ? "" : t[arm].bytesPerRun,
      "/ bare":
        arm === "zoe" ? `${t.ratio} (${t.ratios.join(", ")})` : arm === "replay" ? t.replayRatio : arm === "floor" ? t.floorRatio : "",
      target: arm === "zoe" ? `≥ ${t.target}` : "",
    })),
  );
  console.log(
    `CPU per run: zoe − bare − pipeline alone = ${t.adapterCpuMsPerRun} ms (the adapter's own work: read and parse the body, encode the frames, write); ` +
      `with a free adapter zoe/bare would be about bare / (bare + pipeline) = ${t.ceiling}. ` +
      `The job by hand over HTTP serves ${t.floorRatio} × bare; zoe serves ${t.zoeOverFloor} × the job by hand.`,
  );
  const a = result.apart;
  printTable(
    `SSE over HTTP with the client in its own process (autocannon on the other core, as a remote client; ${t.amountPerTrial} runs per trial, median of ${a.bare.trials.length} rotating trials): CPU per run is the serving process's alone`,
    (["bare", "floor", "zoe"] as const).map((arm) => ({
      server: { bare: "bare node:http, same frames", floor: "the job by hand over node:http", zoe: "zoe createAgUiHandler" }[arm],
      "runs/s": a[arm].runsPerSecond,
      "server CPU ms/run": a[arm].cpuMsPerRun,
      "server busy": `${Math.round(a[arm].runsPerSecond * a[arm].cpuMsPerRun) / 10} %`,
      "/ bare": arm === "zoe" ? a.ratio : arm === "floor" ? a.floorRatio : "",
      target: arm === "zoe" ? `≥ ${a.target}` : "",
    })),
  );
  console.log(
    `With the client apart, zoe serves ${a.ratio} × the bare server's runs/s (≥ ${a.target}: ${a.ratio >= a.target ? "yes" : "NO"}); ` +
      `a server that is busy well under 100 % waits for the client (then its runs/s is the client's limit). ` +
      `By server CPU per run, bare / zoe = ${a.cpuRatio}: what zoe would reach against a client fast enough for both.`,
  );
  const x = result.ttft;
  printTable(
    `SSE time to first token, ms: HTTP (keep-alive http.request client, until the first TEXT_MESSAGE_CONTENT frame) and in process, ${x.rounds} rounds interleaved`,
    [
      {
        server: "bare node:http",
        "http p50": x.bareHttp.p50,
        "http p99": x.bareHttp.p99,
        "in-process p50": x.bareInProcess.p50,
        "in-process p99": x.bareInProcess.p99,
        "hop p50": r3(x.bareHttp.p50 - x.bareInProcess.p50),
        "hop p99": r3(x.bareHttp.p99 - x.bareInProcess.p99),
        target: "",
      },
      {
        server: "zoe createAgUiHandler",
        "http p50": x.zoeHttp.p50,
        "http p99": x.zoeHttp.p99,
        "in-process p50": x.zoeInProcess.p50,
        "in-process p99": x.zoeInProcess.p99,
        "hop p50": r3(x.zoeHttp.p50 - x.zoeInProcess.p50),
        "hop p99": r3(x.zoeHttp.p99 - x.zoeInProcess.p99),
        target: "",
      },
      {
        server: "zoe added over the bare hop",
        "http p50": "",
        "http p99": "",
        "in-process p50": "",
        "in-process p99": "",
        "hop p50": x.addedOverHopP50,
        "hop p99": x.addedOverHopP99,
        target: `p50 ≤ ${x.targetMs}`,
      },
    ],
  );
  console.log(
    `Targets: runs/s zoe/bare ${t.ratio} (≥ ${t.target}: ${t.ratio >= t.target ? "yes" : "NO"}; the job by hand reaches ${t.floorRatio}, and zoe serves ${t.zoeOverFloor} × its runs/s); added ttft over the hop p50 ${x.addedOverHopP50} ms (≤ ${x.targetMs}: ${x.addedOverHopP50 <= x.targetMs ? "yes" : "NO"}); CPU per run zoe − bare ${r1((t.zoe.cpuMsPerRun - t.bare.cpuMsPerRun) * 1000)} µs`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = performance.now();
  const result = await benchSse({ quick: process.argv.includes("--quick") });
  printSse(result);
  if (process.argv.includes("--json")) console.log(JSON.stringify(result, null, 2));
  console.log(`\nbench/sse.ts: ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
