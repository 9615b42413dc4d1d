import pTimeout from "p-timeout";
import { createZoePipeline, heuristicRouter, type ContextProvider, type RunMetrics } from "zoe-pipeline";
import { scriptedBackend } from "zoe-pipeline/testing";

const providerDelays = [300, 400, 1_500];
const deadline = 1_000;

function providers(): ContextProvider[] {
  return providerDelays.map((ms) => ({
    name: `p${ms}`,
    timeoutMs: deadline,
    ttlMs: 0,
    fetch: (_req, { signal }) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => resolve(`${ms} ms of context`), ms);
        signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
      }),
  }));
}

/** The same providers awaited one after another, each under the same deadline. */
async function sequential(): Promise<number> {
  const t0 = performance.now();
  for (const p of providers()) {
    const controller = new AbortController();
    const request = { userId: "u", threadId: "t", text: "plan", kind: "complex" as const };
    await pTimeout(Promise.resolve(p.fetch(request, { signal: controller.signal })), { milliseconds: deadline }).catch(() =>
      controller.abort(),
    );
  }
  return performance.now() - t0;
}

/** Wall time of the context stage, parallel (the pipeline) against sequential. */
export async function benchContext(reps: number) {
  const pipeline = createZoePipeline({
    backend: scriptedBackend(),
    router: heuristicRouter({ models: { fast: "f", default: "d" } }),
    providers: providers(),
  });
  const parallel: number[] = [];
  const seq: number[] = [];
  for (let i = 0; i < reps; i++) {
    let metrics: RunMetrics | undefined;
    for await (const e of pipeline.run({ userId: `u${i}`, message: "compare renting and buying a flat in Lisbon for me" })) {
      if (e.type === "RUN_FINISHED") metrics = (e.result as { metrics: RunMetrics }).metrics;
    }
    parallel.push(metrics!.stages.contextMs);
    seq.push(await sequential());
  }
  await pipeline.close();
  const mean = (xs: number[]) => Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10;
  return {
    providersMs: providerDelays,
    deadlineMs: deadline,
    parallelMs: {
      mean: mean(parallel),
      max: Math.round(Math.max(...parallel) * 10) / 10,
      samples: parallel.map((x) => Math.round(x * 10) / 10),
    },
    sequentialMs: { mean: mean(seq), samples: seq.map((x) => Math.round(x * 10) / 10) },
  };
}
