/**
 * `npm run demo -- ["your first message"] [--model file.gguf] [--quiet]`: a short conversation
 * that shows what the pipeline does, each event printed as it arrives with its time:
 *
 * 1. a cold first turn: nothing cached, every context provider fetched (one is late and left out);
 * 2. a second turn in the same thread: cache hits, and the prompt tokens the engine did not have
 *    to evaluate again (the first turn's prompt and answer are a prefix of this one's);
 * 3. a greeting: the fast path, which fetches no context (the cached stable profile is still used).
 *
 * Uses Ollama when it answers at OLLAMA_HOST, else the embedded llama.cpp backend on
 * `--model <file.gguf>` / ZOE_MODEL_PATH (in a checkout, the tiny test model); with neither, it
 * says what to do. `--quiet` prints only the timings.
 */
import { createZoePipeline, EventType, runResult, zoeState, type RunMetrics } from "zoe-pipeline";
import { chooseBackend, demoProviders, demoRouter, flag } from "./setup.js";

const argv = process.argv.slice(2);
const quiet = argv.includes("--quiet");
const modelFlag = flag(argv, "--model");
const words = argv.filter((a, i) => !a.startsWith("--") && !(argv[i - 1] === "--model" && a === modelFlag));
const turns = [
  { title: "cold: nothing cached yet", message: words.join(" ") || "Plan a three-day trip to Porto for me." },
  { title: "same thread: caches and the engine's prompt prefix reused", message: "And what should I eat there?" },
  { title: "a greeting: the fast path", message: "Thanks, bye!" },
];

const chosen = await chooseBackend(argv);
if (!chosen.ok) {
  console.error(chosen.help);
  process.exit(2);
}
console.log(`backend: ${chosen.description}`);
for (const note of chosen.notes) console.log(note);

const pipeline = createZoePipeline({
  backend: chosen.backend,
  router: demoRouter(chosen.models, chosen.tiny),
  providers: demoProviders(),
});
// Load the models while the first turn routes and fetches its context.
const prewarm = pipeline.prewarm();

const ms = (value: number | undefined) => (value === undefined ? "-" : `${Math.round(value)} ms`);
const summary: Array<{ turn: string; metrics: RunMetrics }> = [];
let exitCode = 0;

for (const [index, turn] of turns.entries()) {
  console.log(`\n── turn ${index + 1} of ${turns.length}, ${turn.title}`);
  console.log(`> ${turn.message}`);
  const t0 = performance.now();
  const at = () => `+${String(Math.round(performance.now() - t0)).padStart(5)} ms`;
  const say = (line: string) => {
    if (!quiet) console.log(`${at()}  ${line}`);
  };
  let state: unknown = {};
  let shownRoute = false;
  const shownProviders = new Set<string>();
  for await (const event of pipeline.run({ userId: "ada", threadId: "demo", message: turn.message })) {
    switch (event.type) {
      case EventType.STEP_STARTED:
        say(`step ${event.stepName}`);
        break;
      case EventType.STATE_SNAPSHOT:
        state = event.snapshot;
        break;
      case EventType.STATE_DELTA: {
        // The typed `zoe` state: route and providers as they become known.
        state = withAdds(state, event.delta);
        const zoe = zoeState(state);
        if (zoe?.route && !shownRoute) {
          shownRoute = true;
          const r = zoe.route;
          say(`route ${r.kind} → ${r.model}${r.fastPath ? " (fast path)" : ""}: ${r.reason}${r.cached ? " [cached]" : ""}`);
        }
        for (const [name, p] of Object.entries(zoe?.providers ?? {})) {
          if (p.status === "pending" || shownProviders.has(name)) continue;
          shownProviders.add(name);
          say(`provider ${name}: ${p.status} in ${Math.round(p.ms ?? 0)} ms${p.error ? ` (${p.error})` : ""}`);
        }
        break;
      }
      case EventType.TEXT_MESSAGE_START:
        say("first token");
        if (!quiet) process.stdout.write("  ");
        break;
      case EventType.TEXT_MESSAGE_CONTENT:
        if (!quiet) process.stdout.write(event.delta.replace(/\n+/g, " "));
        break;
      case EventType.TEXT_MESSAGE_END:
        if (!quiet) process.stdout.write("\n");
        break;
      case EventType.TOOL_CALL_START:
        say(`tool call ${event.toolCallName}`);
        break;
      case EventType.RUN_ERROR:
        console.log(`${at()}  error ${event.code}: ${event.message}`);
        exitCode = 1;
        break;
      case EventType.RUN_FINISHED: {
        const result = runResult(event);
        if (!result || result.cancelled) break;
        const m = result.metrics;
        summary.push({ turn: `${index + 1} ${turn.title.split(":")[0]}`, metrics: m });
        const load = m.backend.loadMs ? ` (model load ${ms(m.backend.loadMs)})` : "";
        const speed = m.tokensPerSecond === undefined ? "" : `, ${Math.round(m.tokensPerSecond)} tokens/s`;
        console.log(`${at()}  done: time to first token ${ms(m.ttftMs)}${load}, total ${ms(m.totalMs)}, ${m.tokens.output} tokens${speed}`);
        console.log(`${" ".repeat(11)}cache: ${m.cache.hits} hits, ${m.cache.misses} misses (${parts(m)})`);
        console.log(`${" ".repeat(11)}prompt: ${promptLine(m)}`);
        break;
      }
    }
  }
}
await prewarm;
await pipeline.close();

console.log("\nsummary");
const rows = summary.map(({ turn, metrics: m }) => ({
  turn,
  route: `${m.kind}${m.fastPath ? ", fast path" : ""}`,
  "first token": ms(m.ttftMs),
  total: ms(m.totalMs),
  "cache hits": `${m.cache.hits} of ${m.cache.hits + m.cache.misses}`,
  "prompt tokens evaluated": evaluated(m),
}));
const columns = Object.keys(rows[0] ?? {}) as Array<keyof (typeof rows)[number]>;
const width = (c: (typeof columns)[number]) => Math.max(c.length, ...rows.map((r) => r[c].length));
console.log(
  columns
    .map((c) => c.padEnd(width(c)))
    .join("  ")
    .trimEnd(),
);
for (const row of rows)
  console.log(
    columns
      .map((c) => row[c].padEnd(width(c)))
      .join("  ")
      .trimEnd(),
  );
process.exitCode = exitCode;

/**
 * The state after a STATE_DELTA's `add` operations (all the pipeline sends). An AG-UI client such
 * as `@ag-ui/client` applies the whole of RFC 6902 for you: use `zoeState(agent.state)` there.
 */
function withAdds(state: unknown, delta: unknown[]): unknown {
  const next = structuredClone(state);
  for (const op of delta) {
    if (typeof op !== "object" || op === null || !("op" in op) || op.op !== "add" || !("path" in op) || typeof op.path !== "string")
      continue;
    const keys = op.path
      .split("/")
      .slice(1)
      .map((k) => k.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = keys.pop();
    let target = next;
    for (const key of keys) target = isObject(target) ? target[key] : undefined;
    if (isObject(target) && last !== undefined && "value" in op) target[last] = op.value;
  }
  return next;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function parts(m: RunMetrics): string {
  return Object.entries(m.cache.byPart)
    .filter(([, p]) => p.hits + p.misses > 0)
    .map(([part, p]) => `${part} ${p.hits}/${p.hits + p.misses}`)
    .join(", ");
}

function evaluated(m: RunMetrics): string {
  const total = m.tokens.input;
  const done = m.backend.promptEvalTokens;
  return total === undefined || done === undefined ? "-" : `${done} of ${total}`;
}

function promptLine(m: RunMetrics): string {
  const total = m.tokens.input;
  const done = m.backend.promptEvalTokens;
  if (total === undefined || done === undefined) return "the backend did not report prompt tokens";
  const reused = total - done;
  return reused > 0
    ? `${total} tokens, ${done} evaluated: ${reused} reused from the engine's KV cache, not evaluated again`
    : `${total} tokens, ${done} evaluated`;
}
