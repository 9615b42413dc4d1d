/**
 * What tracing costs a run: the same pipeline with `telemetry: false`, with the default (the
 * global tracer of @opentelemetry/api, no provider registered: nothing recorded), and with a
 * recording tracer (an in-memory exporter), interleaved in one process. Warm caches, memory store.
 */
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { ZoePipeline } from "zoe-pipeline";
import { overheadPipeline } from "./overhead.js";
import { summarise } from "./stats.js";

async function runOnce(pipeline: ZoePipeline): Promise<number> {
  const t0 = performance.now();
  for await (const _ of pipeline.run({ userId: "bench", threadId: "t", message: "why is the sky blue when the sun is white?" }));
  return performance.now() - t0;
}

export async function benchTelemetry(iterations: number) {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const arms = {
    "tracing off (telemetry: false)": overheadPipeline({ telemetry: false }).pipeline,
    "default, no tracer provider registered": overheadPipeline().pipeline,
    "recording (in-memory exporter)": overheadPipeline({ telemetry: { tracer: provider.getTracer("bench") } }).pipeline,
  };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(arms).map((k) => [k, []]));
  for (let i = 0; i < iterations + 300; i++) {
    for (const [name, pipeline] of Object.entries(arms)) {
      const ms = await runOnce(pipeline);
      if (i >= 300) times[name]!.push(ms);
    }
    if (i % 100 === 0) exporter.reset();
  }
  for (const pipeline of Object.values(arms)) await pipeline.close();
  const base = summarise(times["tracing off (telemetry: false)"]!).p50;
  return Object.entries(times).map(([arm, samples]) => {
    const s = summarise(samples);
    return { arm, n: s.n, "run p50 ms": s.p50, "run p95 ms": s.p95, "× off": Math.round((s.p50 / base) * 100) / 100 };
  });
}
