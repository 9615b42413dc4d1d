import { createZoePipeline, dedupeBackend, EventType, type RouteDecision, type Router } from "zoe-pipeline";
import { scriptedBackend, textChunks } from "zoe-pipeline/testing";
import { summarise } from "./stats.js";

const router: Router = {
  route: (): RouteDecision => ({ model: "m", kind: "chat", fastPath: false, reason: "bench", options: {} }),
};
const answer = textChunks("The answer to that question takes about twenty tokens of text to say in full, so here it is.");

async function ttft(run: AsyncIterable<{ type: string }>): Promise<number> {
  const t0 = performance.now();
  let first = Number.NaN;
  for await (const e of run) if (e.type === EventType.TEXT_MESSAGE_CONTENT && Number.isNaN(first)) first = performance.now() - t0;
  return first;
}

/**
 * The exact answer cache: time to first token of a cached answer against the model's (first chunk
 * after 60 ms, 5 ms per chunk); and de-duplication: 50 identical concurrent runs with and without
 * `dedupeBackend`, counting model generations.
 */
export async function benchAnswerCache(questions: number) {
  const backend = scriptedBackend({ record: false, script: answer, firstChunkDelayMs: 60, chunkDelayMs: 5 });
  const pipeline = createZoePipeline({ backend, router, history: { load: 0 }, responseCache: { ttlMs: 600_000 } });
  const miss: number[] = [];
  const hit: number[] = [];
  for (let i = 0; i < questions; i++) {
    const message = `question number ${i}: why is the sky blue?`;
    miss.push(await ttft(pipeline.run({ userId: "bench", threadId: `t${i}`, message })));
    hit.push(await ttft(pipeline.run({ userId: "bench", threadId: `u${i}`, message })));
  }
  await pipeline.close();

  const dedupe = async (shared: boolean) => {
    const inner = scriptedBackend({ script: answer, firstChunkDelayMs: 60, chunkDelayMs: 5 });
    const p = createZoePipeline({ backend: shared ? dedupeBackend(inner) : inner, router, history: { load: 0 } });
    const t0 = performance.now();
    const firsts = await Promise.all(
      Array.from({ length: 50 }, (_, i) => ttft(p.run({ userId: "bench", threadId: `d${i}`, message: "what is the weather like today?" }))),
    );
    const wallMs = performance.now() - t0;
    await p.close();
    return { generations: inner.requests.length, wallMs: Math.round(wallMs), ttftMs: summarise(firsts) };
  };
  return {
    cachedAnswer: { missTtftMs: summarise(miss), hitTtftMs: summarise(hit) },
    dedupe: { without: await dedupe(false), with: await dedupe(true) },
  };
}
