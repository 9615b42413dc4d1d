/**
 * End to end over the Ollama protocol (issue #14): the same turn (a system prompt, three context
 * strings that are ready at once, one user message) through four clients, against ONE
 * Ollama-protocol server on loopback, interleaved round-robin in one process:
 *
 * - `raw`: the `ollama` npm client, `chat({ stream: true })`, with the prompt built by hand;
 * - `zoe-pipeline`: `createZoePipeline` with `ollamaBackend`, three uncached providers, the memory
 *   store, history, deadlines and AG-UI events: its whole job;
 * - `langchain`: `RunnableParallel` of the contexts → `ChatPromptTemplate` → `ChatOllama`, `.stream()`;
 * - `ai-sdk`: the contexts with `Promise.all`, then `streamText` on `ollama-ai-provider-v2`.
 *
 * The server is a minimal NDJSON server that streams as Ollama's `server/routes.go` `ChatHandler`
 * does through `streamResponse`: `Content-Type: application/x-ndjson`, one `api.ChatResponse` JSON
 * object per line (`model`, `created_at`, `message: { role: "assistant", content }`, `done`), each
 * written and flushed on its own (gin's `c.Stream`), and a last line with `done: true`,
 * `done_reason` and the `api.Metrics` in ns. It runs in a worker thread of this process, so its
 * own work does not stand in the clients' event loop (a real Ollama is another process). The model
 * name picks the pacing: `instant` writes every line at once; `timed` answers like a model (first
 * chunk after 20 ms, then one every 5 ms).
 *
 * Measured per run: the time from the call to the first text token (TTFT). Also, in a phase of its
 * own (each client run back to back), the main thread's busy time per run (event-loop
 * utilisation: the clients' own work, not the server's) and the process CPU per run.
 *
 * `npm run bench:one -- bench/ollama-e2e.ts [--quick]`
 */
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import type { AIMessageChunk } from "@langchain/core/messages";
import { ChatOllama } from "@langchain/ollama";
import { streamText } from "ai";
import { Ollama } from "ollama";
import { createOllama } from "ollama-ai-provider-v2";
import { createZoePipeline, EventType, memoryCacheStore } from "zoe-pipeline";
import { ollamaBackend } from "zoe-pipeline/ollama";
import { asZoeProviders, langchainPrompt, providerFns } from "./shared-script.js";
import { percentile, printTable, summarise } from "./stats.js";

const SYSTEM = "You are Zoe, a helpful assistant.";
const MESSAGE = "why is the sky blue when the sun is white?";
const TOKENS = 20;
const FIRST_CHUNK_MS = 20;
const CHUNK_MS = 5;

export type Arm = "raw" | "zoe-pipeline" | "langchain" | "ai-sdk";
export const ARMS: readonly Arm[] = ["raw", "zoe-pipeline", "langchain", "ai-sdk"];
type Variant = "instant" | "timed";

/**
 * The server, as plain JavaScript for a worker thread. `server/routes.go` `ChatHandler` →
 * `streamResponse`: NDJSON lines, `api.ChatResponse` fields, the final line with `done_reason` and
 * the `api.Metrics` (omitempty); `PsHandler` and `ListHandler` for the clients that ask.
 */
const SERVER = `
const http = require("node:http");
const { parentPort, workerData } = require("node:worker_threads");
const { tokens, firstChunkMs, chunkMs } = workerData;
const words = Array.from({ length: tokens }, (_, i) => "tok" + i + (i === tokens - 1 ? "." : " "));
const line = (model, content, done, extra) =>
  JSON.stringify({ model, created_at: new Date().toISOString(), message: { role: "assistant", content }, done, ...extra }) + "\\n";
const final = (model, t0) => line(model, "", true, {
  done_reason: "stop",
  total_duration: Math.round((performance.now() - t0) * 1e6),
  load_duration: 1_000_000,
  prompt_eval_count: 40,
  prompt_eval_duration: 8_000_000,
  eval_count: tokens,
  eval_duration: tokens * 5_000_000,
});
const server = http.createServer((req, res) => {
  const parts = [];
  req.on("data", (c) => parts.push(c));
  req.on("end", () => {
    const t0 = performance.now();
    const path = (req.url || "/").split("?")[0];
    if (req.method === "GET" && path === "/api/ps") {
      res.writeHead(200, { "Content-Type": "application/json; charset=utf-8" });
      return res.end(JSON.stringify({ models: [] }));
    }
    if (req.method === "GET" && path === "/api/tags") {
      res.writeHead(200, { "Content-Type": "application/json; charset=utf-8" });
      return res.end(JSON.stringify({ models: [{ name: "instant:latest", model: "instant:latest" }, { name: "timed:latest", model: "timed:latest" }] }));
    }
    if (req.method !== "POST" || path !== "/api/chat") {
      res.writeHead(404, { "Content-Type": "text/plain" });
      return res.end("404 page not found");
    }
    let body;
    try {
      body = JSON.parse(Buffer.concat(parts).toString("utf8"));
    } catch {
      res.writeHead(400, { "Content-Type": "application/json; charset=utf-8" });
      return res.end(JSON.stringify({ error: "invalid character in request body" }));
    }
    const model = body.model;
    if (!Array.isArray(body.messages) || body.messages.length === 0) {
      res.writeHead(200, { "Content-Type": "application/json; charset=utf-8" });
      return res.end(line(model, "", true, { done_reason: "load" }));
    }
    if (body.stream === false) {
      res.writeHead(200, { "Content-Type": "application/json; charset=utf-8" });
      return res.end(line(model, words.join(""), true, { done_reason: "stop" }));
    }
    res.statusCode = 200;
    res.setHeader("Content-Type", "application/x-ndjson");
    if (!String(model).startsWith("timed")) {
      for (const w of words) res.write(line(model, w, false));
      res.write(final(model, t0));
      return res.end();
    }
    let i = 0;
    let timer;
    const next = () => {
      if (res.destroyed) return;
      if (i < words.length) {
        res.write(line(model, words[i++], false));
        timer = setTimeout(next, chunkMs);
        return;
      }
      res.write(final(model, t0));
      res.end();
    };
    res.on("close", () => clearTimeout(timer));
    timer = setTimeout(next, firstChunkMs);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => parentPort.postMessage(server.address().port));
parentPort.on("message", (m) => {
  if (m !== "close") return;
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
`;

async function startServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const worker = new Worker(SERVER, { eval: true, workerData: { tokens: TOKENS, firstChunkMs: FIRST_CHUNK_MS, chunkMs: CHUNK_MS } });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      const exited = new Promise((resolve) => worker.once("exit", resolve));
      worker.postMessage("close");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 1_000))]);
      await worker.terminate();
    },
  };
}

type Sample = { ttft: number; tokens: number };
type Runner = () => Promise<Sample>;

/** Read a stream to its end; the time of its first text token from t0. */
async function timeTokens<T>(t0: number, stream: AsyncIterable<T>, isText: (x: T) => boolean): Promise<Sample> {
  let ttft = Number.NaN;
  let n = 0;
  for await (const x of stream) {
    if (!isText(x)) continue;
    if (n === 0) ttft = performance.now() - t0;
    n++;
  }
  return { ttft, tokens: n };
}

/** The raw arm's request: the contexts awaited by hand, the prompt built by hand, `ollama-js` streaming. */
async function rawChat(client: Ollama, model: string, fns: ReturnType<typeof providerFns>) {
  const [profile, memory, tools] = await Promise.all([fns.profile(), fns.memory(), fns.tools()]);
  return client.chat({
    model,
    stream: true,
    messages: [
      { role: "system", content: `${SYSTEM}\n\n${profile}\n${tools}` },
      { role: "user", content: `${memory}\n\n${MESSAGE}` },
    ],
  });
}

function arms(url: string, variant: Variant) {
  const model = variant;
  const fns = providerFns({ profile: 0, memory: 0, tools: 0 });

  // (1) the ollama npm client, one instance, the prompt built by hand
  const client = new Ollama({ host: url });
  const raw: Runner = async () => {
    const t0 = performance.now();
    const stream = await rawChat(client, model, fns);
    return timeTokens(t0, stream, (c) => c.message.content !== "");
  };

  // (2) zoe-pipeline on ollamaBackend: providers uncached, memory store, history, events, deadlines
  const backend = ollamaBackend({ host: url });
  const pipeline = createZoePipeline({
    backend,
    router: { route: () => ({ model, kind: "chat", fastPath: false, reason: "bench", options: {} }) },
    providers: asZoeProviders(fns, 0),
    cache: memoryCacheStore(),
    systemPrompt: SYSTEM,
  });
  let thread = 0;
  const zoe: Runner = () => {
    const t0 = performance.now();
    // a thread per run: history is read and written every run, the prompt stays the same size
    return timeTokens(
      t0,
      pipeline.run({ userId: "bench", threadId: `t${thread++}`, message: MESSAGE }),
      (e) => e.type === EventType.TEXT_MESSAGE_CONTENT,
    );
  };

  // (3) LangChain: RunnableParallel of the contexts → ChatPromptTemplate → ChatOllama
  const chain = langchainPrompt(fns, SYSTEM).pipe(new ChatOllama({ model, baseUrl: url }));
  const langchain: Runner = async () => {
    const t0 = performance.now();
    return timeTokens(
      t0,
      await chain.stream({ question: MESSAGE }),
      (c: AIMessageChunk) => typeof c.content === "string" && c.content !== "",
    );
  };

  // (4) the AI SDK: Promise.all of the contexts, then streamText on ollama-ai-provider-v2
  const provider = createOllama({ baseURL: `${url}/api` });
  const aiModel = provider(model);
  const aiSdk: Runner = async () => {
    const t0 = performance.now();
    const [profile, memory, tools] = await Promise.all([fns.profile(), fns.memory(), fns.tools()]);
    const result = streamText({ model: aiModel, system: `${SYSTEM}\n\n${profile}\n${tools}`, prompt: `${memory}\n\n${MESSAGE}` });
    return timeTokens(t0, result.textStream, (t) => t !== "");
  };

  const runners: Record<Arm, Runner> = { raw, "zoe-pipeline": zoe, langchain, "ai-sdk": aiSdk };
  return { runners, close: () => pipeline.close() };
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

/** Fisher–Yates: each round runs every arm once, in a new order. */
function shuffled<T>(xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

async function measure(url: string, variant: Variant, rounds: number, warmup: number) {
  const { runners, close } = arms(url, variant);
  const samples = Object.fromEntries(ARMS.map((a) => [a, [] as number[]])) as Record<Arm, number[]>;
  for (let r = 0; r < warmup + rounds; r++) {
    for (const arm of shuffled(ARMS)) {
      const s = await runners[arm]();
      if (s.tokens !== TOKENS) throw new Error(`${arm} (${variant}): ${s.tokens} text tokens, expected ${TOKENS}`);
      if (r >= warmup) samples[arm].push(s.ttft);
    }
  }
  await close();
  const raw = sorted(samples.raw);
  const rawP50 = percentile(raw, 50);
  const rawP99 = percentile(raw, 99);
  const results = Object.fromEntries(
    ARMS.map((arm) => {
      const ttft = sorted(samples[arm]);
      const p50 = percentile(ttft, 50);
      const p99 = percentile(ttft, 99);
      return [
        arm,
        {
          ttft: summarise(ttft),
          addedP50: r3(p50 - rawP50),
          addedP99: r3(p99 - rawP99),
          ratioP50: r3(p50 / rawP50),
          ratioP99: r3(p99 / rawP99),
        },
      ];
    }),
  ) as Record<Arm, { ttft: ReturnType<typeof summarise>; addedP50: number; addedP99: number; ratioP50: number; ratioP99: number }>;
  return { variant, rounds, warmup, results };
}

/**
 * CPU per run of each client, runs back to back (instant server): process CPU, which includes
 * the server's thread, so the raw client's is the floor and "added" is each client's own work.
 * Arms take turns in blocks, in a new order each time; the median block is kept.
 */
async function cpu(url: string, runsPerBlock: number, blocks: number) {
  const { runners, close } = arms(url, "instant");
  const perRun = Object.fromEntries(ARMS.map((a) => [a, [] as number[]])) as Record<Arm, number[]>;
  for (const arm of ARMS) for (let i = 0; i < 20; i++) await runners[arm]();
  for (let b = 0; b < blocks; b++) {
    for (const arm of shuffled(ARMS)) {
      const before = process.cpuUsage();
      for (let i = 0; i < runsPerBlock; i++) await runners[arm]();
      const used = process.cpuUsage(before);
      perRun[arm].push((used.user + used.system) / 1000 / runsPerBlock);
    }
  }
  await close();
  const med = (xs: number[]) => percentile(sorted(xs), 50);
  const raw = med(perRun.raw);
  return Object.fromEntries(ARMS.map((arm) => [arm, { cpuMs: r3(med(perRun[arm])), addedCpuMs: r3(med(perRun[arm]) - raw) }])) as Record<
    Arm,
    { cpuMs: number; addedCpuMs: number }
  >;
}

/** Phases of the time to first token, for the clients whose `fetch` can be watched. */
type Phase = "before fetch" | "fetch → headers" | "headers → first chunk" | "first chunk → first token";
const PHASES: readonly Phase[] = ["before fetch", "fetch → headers", "headers → first chunk", "first chunk → first token"];

/**
 * Where the time to first token goes (instant server), from timestamps: the call; `fetch` called;
 * its headers in; the client's first chunk (ollama-js's first line; `ollamaBackend`'s first text
 * chunk); the first token the caller sees (for zoe, the first `TEXT_MESSAGE_CONTENT` event). For
 * zoe, "before fetch" is split into the pipeline's part (the call to `backend.chat`) and the
 * backend's, and the AG-UI events yielded before the model request are counted.
 */
async function breakdown(url: string, rounds: number) {
  type Marks = { t0: number; fetch: number; headers: number; chunk: number; chat: number; events: Array<[string, number]> };
  let m: Marks = { t0: 0, fetch: 0, headers: 0, chunk: 0, chat: 0, events: [] };
  const watched: typeof fetch = async (input, init) => {
    m.fetch ||= performance.now();
    const response = await fetch(input, init);
    m.headers ||= performance.now();
    return response;
  };
  const fns = providerFns({ profile: 0, memory: 0, tools: 0 });
  const model = "instant";
  const client = new Ollama({ host: url, fetch: watched });
  const inner = ollamaBackend({ host: url, fetch: watched });
  const backend = {
    ...inner,
    name: inner.name,
    async *chat(request: Parameters<typeof inner.chat>[0], context: Parameters<typeof inner.chat>[1]) {
      m.chat ||= performance.now();
      for await (const chunk of inner.chat(request, context)) {
        if (chunk.type === "text") m.chunk ||= performance.now();
        yield chunk;
      }
    },
    prewarm: inner.prewarm,
    loaded: inner.loaded,
    close: inner.close,
  };
  const pipeline = createZoePipeline({
    backend,
    router: { route: () => ({ model, kind: "chat", fastPath: false, reason: "bench", options: {} }) },
    providers: asZoeProviders(fns, 0),
    cache: memoryCacheStore(),
    systemPrompt: SYSTEM,
  });
  const chain = langchainPrompt(fns, SYSTEM).pipe(new ChatOllama({ model, baseUrl: url, fetch: watched }));
  let thread = 0;
  const runs: Record<"raw" | "zoe-pipeline" | "langchain", () => Promise<number>> = {
    raw: async () => {
      const stream = await rawChat(client, model, fns);
      let first = 0;
      for await (const c of stream) if (c.message.content && !first) first = m.chunk = performance.now();
      return first;
    },
    "zoe-pipeline": async () => {
      let first = 0;
      for await (const e of pipeline.run({ userId: "bench", threadId: `b${thread++}`, message: MESSAGE })) {
        if (!m.fetch) m.events.push([e.type, performance.now() - m.t0]);
        if (e.type === EventType.TEXT_MESSAGE_CONTENT && !first) first = performance.now();
      }
      return first;
    },
    langchain: async () => {
      let first = 0;
      for await (const c of await chain.stream({ question: MESSAGE })) {
        if (typeof c.content === "string" && c.content !== "" && !first) first = m.chunk = performance.now();
      }
      return first;
    },
  };
  const names = Object.keys(runs) as Array<keyof typeof runs>;
  const phases = Object.fromEntries(names.map((n) => [n, Object.fromEntries(PHASES.map((p) => [p, [] as number[]]))])) as Record<
    keyof typeof runs,
    Record<Phase, number[]>
  >;
  const pipelinePart: number[] = [];
  const backendPart: number[] = [];
  const eventTimes = new Map<string, number[]>();
  for (let r = 0; r < rounds + 20; r++) {
    for (const name of shuffled(names)) {
      const t0 = performance.now();
      m = { t0, fetch: 0, headers: 0, chunk: 0, chat: 0, events: [] };
      const first = await runs[name]();
      if (r < 20) continue;
      const p = phases[name];
      p["before fetch"].push(m.fetch - t0);
      p["fetch → headers"].push(m.headers - m.fetch);
      p["headers → first chunk"].push(m.chunk - m.headers);
      p["first chunk → first token"].push(first - m.chunk);
      if (name === "zoe-pipeline") {
        pipelinePart.push(m.chat - t0);
        backendPart.push(m.fetch - m.chat);
        // the events yielded before the request, in order: "1 RUN_STARTED", "2 STATE_SNAPSHOT", …
        m.events.forEach(([type, at], i) => {
          const key = `${i + 1} ${type}`;
          eventTimes.set(key, [...(eventTimes.get(key) ?? []), at]);
        });
      }
    }
  }
  await pipeline.close();
  const med = (xs: number[]) => r3(percentile(sorted(xs), 50));
  const p99 = (xs: number[]) => r3(percentile(sorted(xs), 99));
  const table = (of: (xs: number[]) => number) =>
    Object.fromEntries(names.map((n) => [n, Object.fromEntries(PHASES.map((p) => [p, of(phases[n][p])]))])) as Record<
      keyof typeof runs,
      Record<Phase, number>
    >;
  return {
    rounds,
    medianMs: table(med),
    p99Ms: table(p99),
    zoeBeforeFetch: {
      pipelineMs: med(pipelinePart),
      backendMs: med(backendPart),
      /** Each AG-UI event yielded before the request, with the median time it reached the caller (ms from the call). */
      events: [...eventTimes].map(([event, at]) => ({ event, atMs: med(at) })),
    },
  };
}

/** Both server variants and the cost per run; `quick` takes about 10 s. */
export async function benchOllamaE2e(opts: { quick: boolean }) {
  const loadAvgStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const server = await startServer();
  try {
    const instant = await measure(server.url, "instant", opts.quick ? 150 : 2_000, opts.quick ? 40 : 200);
    // 400 runs (about 3 minutes): the p99 of 200 was the second-worst run, decided by where one GC pause landed.
    const timed = await measure(server.url, "timed", opts.quick ? 10 : 400, opts.quick ? 2 : 10);
    const perRun = await cpu(server.url, opts.quick ? 40 : 200, opts.quick ? 3 : 7);
    const phases = await breakdown(server.url, opts.quick ? 100 : 1_000);
    return {
      server: {
        protocol: "Ollama /api/chat NDJSON (server/routes.go ChatHandler, streamResponse)",
        tokens: TOKENS,
        timed: { firstChunkMs: FIRST_CHUNK_MS, chunkMs: CHUNK_MS },
      },
      instant,
      timed,
      perRun,
      phases,
      loadAvg: { start: loadAvgStart, end: os.loadavg().map((x) => Math.round(x * 100) / 100) },
    };
  } finally {
    await server.close();
  }
}

export type OllamaE2eResult = Awaited<ReturnType<typeof benchOllamaE2e>>;

/** The tables: TTFT per arm and variant, added over the raw client, and the cost per run. */
export function printOllamaE2e(result: OllamaE2eResult): void {
  for (const v of [result.instant, result.timed]) {
    const desc =
      v.variant === "instant"
        ? "server writes every chunk at once"
        : `first chunk after ${result.server.timed.firstChunkMs} ms, then one every ${result.server.timed.chunkMs} ms`;
    printTable(
      `Ollama protocol end to end (${v.variant}: ${desc}; ${result.server.tokens} tokens; ${v.rounds} runs each, interleaved), ms. "added" = minus raw ollama-js; "×" = ratio to it`,
      ARMS.map((arm) => {
        const r = v.results[arm];
        return {
          client: arm,
          "ttft p50": r.ttft.p50,
          "ttft p99": r.ttft.p99,
          "added p50": r.addedP50,
          "added p99": r.addedP99,
          "× p50": r.ratioP50,
          "× p99": r.ratioP99,
        };
      }),
    );
    const z = v.results["zoe-pipeline"];
    const lc = v.results.langchain;
    console.log(
      `Target (zoe adds no more than LangChain ChatOllama): p50 ${z.addedP50 <= lc.addedP50 ? "yes" : "NO"} (${z.addedP50} vs ${lc.addedP50} ms), p99 ${z.addedP99 <= lc.addedP99 ? "yes" : "NO"} (${z.addedP99} vs ${lc.addedP99} ms)`,
    );
  }
  printTable(
    'CPU per run (instant server, runs back to back, median of blocks), ms; it includes the server\'s thread: "added" is over raw ollama-js',
    ARMS.map((arm) => ({ client: arm, cpu: result.perRun[arm].cpuMs, "added cpu": result.perRun[arm].addedCpuMs })),
  );
  const ph = result.phases;
  printTable(
    `Where the time to first token goes (instant server; ${ph.rounds} runs each, interleaved), ms: median (p99 of each phase on its own)`,
    (Object.keys(ph.medianMs) as Array<keyof typeof ph.medianMs>).map((client) => ({
      client,
      ...Object.fromEntries(PHASES.map((p) => [p, `${ph.medianMs[client][p]} (${ph.p99Ms[client][p]})`])),
    })),
  );
  const z = ph.zoeBeforeFetch;
  console.log(
    `zoe-pipeline before fetch: ${z.pipelineMs} ms in the pipeline until backend.chat() is called, ${z.backendMs} ms in ollamaBackend until fetch is called; ${z.events.length} AG-UI events reach the caller before the request (median ms from the call):`,
  );
  console.log(`  ${z.events.map((e) => `${e.event} ${e.atMs}`).join(", ")}`);
  console.log(`Load average at start ${result.loadAvg.start.join(" ")}, at end ${result.loadAvg.end.join(" ")}.`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes("--quick") || process.env.BENCH_QUICK === "1";
  const started = performance.now();
  const result = await benchOllamaE2e({ quick });
  printOllamaE2e(result);
  const dir = new URL("./results/", import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL("ollama-e2e.json", dir), `${JSON.stringify({ date: new Date().toISOString(), quick, ...result }, null, 2)}\n`);
  console.log(`\nollama-e2e: ${((performance.now() - started) / 1000).toFixed(1)} s; wrote bench/results/ollama-e2e.json`);
}
