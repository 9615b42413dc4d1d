/**
 * `npm run demo -- "your message"`: one real pipeline turn, its events printed as they arrive
 * with timings. Uses Ollama when it answers at OLLAMA_HOST, else the embedded llama.cpp backend
 * on `--model <file.gguf>` / ZOE_MODEL_PATH; with neither, it says what to do.
 */
import { createZoePipeline, EventType, type RunMetrics } from "zoe-pipeline";
import { chooseBackend, demoProviders, demoRouter } from "./setup.js";

const argv = process.argv.slice(2);
const message = argv.filter((a, i) => !a.startsWith("--") && argv[i - 1] !== "--model").join(" ") || "Plan a three-day trip to Porto for me.";

const chosen = await chooseBackend(argv);
if (!chosen.ok) {
  console.error(chosen.help);
  process.exit(2);
}
console.log(`backend: ${chosen.description}`);
const pipeline = createZoePipeline({ backend: chosen.backend, router: demoRouter(chosen.models), providers: demoProviders() });

// Load the models in the background while the turn routes and fetches its context.
void pipeline.prewarm();
const t0 = performance.now();
const at = () => `+${String(Math.round(performance.now() - t0)).padStart(5)} ms`;
console.log(`> ${message}`);
let exitCode = 0;
for await (const event of pipeline.run({ userId: "ada", threadId: "demo", message })) {
  switch (event.type) {
    case EventType.STEP_STARTED:
      console.log(`${at()}  step ${event.stepName}`);
      break;
    case EventType.STATE_DELTA:
      for (const op of event.delta as Array<{ path: string; value: any }>) {
        if (op.path === "/zoe/route") {
          const r = op.value;
          console.log(`${at()}  route ${r.kind} → ${r.model}${r.fastPath ? " (fast path)" : ""}: ${r.reason}${r.cached ? " [cached]" : ""}`);
        } else if (op.path.startsWith("/zoe/providers/")) {
          console.log(`${at()}  provider ${op.path.slice(15)}: ${op.value.status} in ${op.value.ms} ms${op.value.error ? ` (${op.value.error})` : ""}`);
        }
      }
      break;
    case EventType.TEXT_MESSAGE_START:
      process.stdout.write(`${at()}  first token\n  `);
      break;
    case EventType.TEXT_MESSAGE_CONTENT:
      process.stdout.write(event.delta);
      break;
    case EventType.TEXT_MESSAGE_END:
      process.stdout.write("\n");
      break;
    case EventType.TOOL_CALL_START:
      console.log(`${at()}  tool call ${event.toolCallName}`);
      break;
    case EventType.RUN_FINISHED: {
      const m = (event.result as { metrics?: RunMetrics } | undefined)?.metrics;
      if (m) {
        console.log(
          `${at()}  done: time to first token ${m.ttftMs ?? "-"} ms, total ${m.totalMs} ms, ` +
            `${m.tokens.output} tokens, ${m.tokensPerSecond ?? "-"} tokens/s, ` +
            `cache ${m.cache.hits} hits / ${m.cache.misses} misses`,
        );
      }
      break;
    }
    case EventType.RUN_ERROR:
      console.log(`${at()}  error ${event.code}: ${event.message}`);
      exitCode = 1;
      break;
  }
}
await pipeline.close();
process.exitCode = exitCode;
