/**
 * Peers in one run, on one shared script (bench/shared-script.ts) and the same three providers:
 * the raw model, a hand-written `Promise.all` + raw model, zoe-pipeline, the Vercel AI SDK
 * (`streamText` over its `MockLanguageModelV3`) and LangChain.js (`RunnableParallel` →
 * `ChatPromptTemplate` → a `BaseChatModel` over the script, `.stream()`).
 *
 * Each framework is run once per round, in a shuffled order, so drift hits them all alike.
 * Measured per run: time from the call to the first text token (TTFT), the mean gap between
 * tokens after the first ((t_last − t_first) / 19) as "time per streamed token", and the CPU the
 * process spent on the run (`process.cpuUsage()`, runs one at a time). With the timed script each
 * step of a run follows a wait, as in a real turn, and costs many times what it costs hot.
 */
import type { LanguageModelV3StreamPart } from "@ai-sdk/provider";
import type { CallbackManagerForLLMRun } from "@langchain/core/callbacks/manager";
import { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { AIMessage, AIMessageChunk, type BaseMessage } from "@langchain/core/messages";
import { ChatGenerationChunk, type ChatResult } from "@langchain/core/outputs";
import { streamText } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { createZoePipeline, EventType, memoryCacheStore } from "zoe-pipeline";
import {
  ANSWER_20,
  asZoeProviders,
  clearMarks,
  langchainPrompt,
  markModelAsked,
  marks,
  play,
  providerFns,
  scriptBackend,
  type ProviderFns,
  type Script,
} from "./shared-script.js";
import { percentile, printTable, summarise } from "./stats.js";

const MESSAGE = "why is the sky blue when the sun is white?";
const SYSTEM = "You are Zoe, a helpful assistant.";

/** One run: times in ms; `startedAt` and `firstAt` are the run's start and its first token by `performance.now()`; `phases` is filled by `measure` from the shared script's marks. */
type Sample = { ttft: number; perToken: number; tokens: number; startedAt: number; firstAt: number; cpuMs?: number; phases?: Phases };
/** Where a run's time went, µs, from the shared script's marks (NaN where the framework has no such step: the raw model has no providers). */
type Phases = { toProviders: number; providersToModel: number; chunkToToken: number };
type Runner = () => Promise<Sample>;

/** Consume an async iterable of token texts, timing it from t0. */
async function timeTokens(t0: number, tokens: AsyncIterable<unknown>, isText: (x: unknown) => boolean): Promise<Sample> {
  let first = Number.NaN;
  let last = Number.NaN;
  let n = 0;
  for await (const x of tokens) {
    if (!isText(x)) continue;
    const t = performance.now();
    if (n === 0) first = t;
    last = t;
    n++;
  }
  return { ttft: first - t0, perToken: n > 1 ? (last - first) / (n - 1) : Number.NaN, tokens: n, startedAt: t0, firstAt: first };
}

/** The AI SDK adapter: a LanguageModelV3 stream over the shared script. */
function aiSdkStream(script: Script, signal?: AbortSignal): ReadableStream<LanguageModelV3StreamPart> {
  // Made by `doStream`, where a real provider sends its request: the model is asked, and its
  // script starts, now; the stream's own parts come first, then the chunks as they arrive.
  markModelAsked();
  const it = play(script, signal);
  let primed: Promise<IteratorResult<string>> | undefined = it.next();
  // A stream cancelled before its first chunk is read leaves the primed step unread.
  primed.catch(() => {});
  let started = false;
  return new ReadableStream<LanguageModelV3StreamPart>({
    async pull(controller) {
      if (!started) {
        started = true;
        controller.enqueue({ type: "stream-start", warnings: [] });
        controller.enqueue({ type: "text-start", id: "t0" });
        return;
      }
      const r = await (primed ?? it.next());
      primed = undefined;
      if (r.done) {
        controller.enqueue({ type: "text-end", id: "t0" });
        controller.enqueue({
          type: "finish",
          finishReason: { unified: "stop", raw: "stop" },
          usage: {
            inputTokens: { total: undefined, noCache: undefined, cacheRead: undefined, cacheWrite: undefined },
            outputTokens: { total: script.chunks.length, text: script.chunks.length, reasoning: undefined },
          },
        });
        controller.close();
        return;
      }
      controller.enqueue({ type: "text-delta", id: "t0", delta: r.value });
    },
  });
}

/** The LangChain adapter: a chat model whose stream is the shared script. */
class ScriptChatModel extends BaseChatModel {
  script: Script;
  constructor(script: Script) {
    super({});
    this.script = script;
  }
  _llmType(): string {
    return "shared-script";
  }
  async _generate(): Promise<ChatResult> {
    let text = "";
    for await (const t of play(this.script)) text += t;
    return { generations: [{ text, message: new AIMessage(text) }] };
  }
  override async *_streamResponseChunks(
    _messages: BaseMessage[],
    options: this["ParsedCallOptions"],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    for await (const text of play(this.script, options.signal)) {
      yield new ChatGenerationChunk({ text, message: new AIMessageChunk({ content: text }) });
      await runManager?.handleLLMNewToken(text);
    }
  }
}

function runners(script: Script, fns: ProviderFns) {
  // (a) raw model
  const raw: Runner = () => {
    const t0 = performance.now();
    return timeTokens(t0, play(script), () => true);
  };
  // reference: the least code that does the same job by hand
  const handWritten: Runner = async () => {
    const t0 = performance.now();
    const [profile, memory, tools] = await Promise.all([fns.profile(), fns.memory(), fns.tools()]);
    const prompt = [
      { role: "system", content: `${SYSTEM}\n\n${profile}\n${tools}` },
      { role: "user", content: `${memory}\n\n${MESSAGE}` },
    ];
    if (prompt.length !== 2) throw new Error("unreachable");
    return timeTokens(t0, play(script), () => true);
  };
  // (b) zoe-pipeline: fixed router, providers uncached (ttlMs 0) so that it awaits them like the peers
  const pipeline = createZoePipeline({
    backend: scriptBackend(script),
    router: { route: () => ({ model: "m", kind: "chat", fastPath: false, reason: "bench", options: {} }) },
    providers: asZoeProviders(fns, 0),
    cache: memoryCacheStore(),
  });
  const zoe: Runner = () => {
    const t0 = performance.now();
    return timeTokens(
      t0,
      pipeline.run({ userId: "bench", threadId: "t", message: MESSAGE }),
      (e) => (e as { type: string }).type === EventType.TEXT_MESSAGE_CONTENT,
    );
  };
  // (c) Vercel AI SDK: providers awaited with Promise.all, then streamText
  const model = new MockLanguageModelV3({ doStream: async ({ abortSignal }) => ({ stream: aiSdkStream(script, abortSignal) }) });
  const aiSdk: Runner = async () => {
    // The mock keeps every call's options; only this arm would hold them all.
    model.doStreamCalls.length = 0;
    const t0 = performance.now();
    const [profile, memory, tools] = await Promise.all([fns.profile(), fns.memory(), fns.tools()]);
    const result = streamText({ model, system: `${SYSTEM}\n\n${profile}\n${tools}`, prompt: `${memory}\n\n${MESSAGE}` });
    return timeTokens(t0, result.textStream, () => true);
  };
  // (d) LangChain.js: RunnableParallel of the providers → ChatPromptTemplate → chat model, .stream()
  const chain = langchainPrompt(fns, SYSTEM).pipe(new ScriptChatModel(script));
  const langchain: Runner = async () => {
    const t0 = performance.now();
    return timeTokens(
      t0,
      await chain.stream({ question: MESSAGE }),
      (c) => typeof (c as AIMessageChunk).content === "string" && (c as AIMessageChunk).content !== "",
    );
  };
  return { runners: { raw, "hand-written": handWritten, "zoe-pipeline": zoe, "ai-sdk": aiSdk, langchain }, close: () => pipeline.close() };
}

export type PeerName = "raw" | "hand-written" | "zoe-pipeline" | "ai-sdk" | "langchain";

/** The order the tables list the peers in. */
export const PEER_ORDER: PeerName[] = ["raw", "hand-written", "zoe-pipeline", "ai-sdk", "langchain"];

/** Where a run's time went, from the shared script's marks; a mark missing or out of order is an error, never a blank. */
function phasesOf(name: PeerName, s: Sample): Phases {
  const hasProviders = name !== "raw";
  const phases = {
    toProviders: hasProviders ? (marks.providerAsked - s.startedAt) * 1000 : Number.NaN,
    providersToModel: hasProviders ? (marks.modelAsked - marks.providersAnswered) * 1000 : Number.NaN,
    chunkToToken: (s.firstAt - marks.firstChunk) * 1000,
  };
  for (const [phase, us] of Object.entries(phases)) {
    if (hasProviders || phase === "chunkToToken") {
      if (!(us >= 0)) throw new Error(`${name}: phase ${phase} is ${us} µs (a mark missing or out of order)`);
    }
  }
  return phases;
}

async function measure(script: Script, delays: { profile: number; memory: number; tools: number }, rounds: number, warmup: number) {
  const { runners: rs, close } = runners(script, providerFns(delays));
  const names = Object.keys(rs) as PeerName[];
  const samples = Object.fromEntries(names.map((n) => [n, [] as Sample[]])) as Record<PeerName, Sample[]>;
  for (let r = 0; r < rounds + warmup; r++) {
    const order = [...names].sort(() => Math.random() - 0.5);
    for (const name of order) {
      // CPU of this process while the run goes (runs are sequential: the run's own, with its GC).
      clearMarks();
      const cpu0 = process.cpuUsage();
      const s = await rs[name]();
      const cpu = process.cpuUsage(cpu0);
      s.cpuMs = (cpu.user + cpu.system) / 1000;
      s.phases = phasesOf(name, s);
      if (s.tokens !== script.chunks.length) throw new Error(`${name}: ${s.tokens} tokens, expected ${script.chunks.length}`);
      if (r >= warmup) samples[name].push(s);
    }
  }
  await close();
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const rawTtft = sorted(samples.raw.map((s) => s.ttft));
  const rawTok = sorted(samples.raw.map((s) => s.perToken));
  const rawP50 = percentile(rawTtft, 50);
  const rawP99 = percentile(rawTtft, 99);
  const rawTokP50 = percentile(rawTok, 50);
  const results = Object.fromEntries(
    names.map((name) => {
      const ttft = sorted(samples[name].map((s) => s.ttft));
      const tok = sorted(samples[name].map((s) => s.perToken));
      const p50 = percentile(ttft, 50);
      const p99 = percentile(ttft, 99);
      const tokP50 = percentile(tok, 50);
      const cpu = sorted(samples[name].map((s) => s.cpuMs ?? Number.NaN));
      const phase = (k: keyof Phases) => {
        const xs = sorted(samples[name].map((s) => s.phases?.[k] ?? Number.NaN).filter((x) => !Number.isNaN(x)));
        return xs.length > 0 ? Math.round(percentile(xs, 50) * 10) / 10 : Number.NaN;
      };
      return [
        name,
        {
          ttft: summarise(ttft),
          perToken: summarise(tok),
          addedTtftP50: r3(p50 - rawP50),
          addedTtftP99: r3(p99 - rawP99),
          ttftRatioP50: r3(p50 / rawP50),
          ttftRatioP99: r3(p99 / rawP99),
          addedPerToken: r3(tokP50 - rawTokP50),
          perTokenRatio: r3(tokP50 / rawTokP50),
          /** Median CPU of the process per run, ms: with timed waits every step wakes a process gone idle, the cost a real turn has. */
          cpuMsP50: r3(percentile(cpu, 50)),
          /** Where the time went, µs p50 (see {@link Phases}). */
          phasesUsP50: {
            toProviders: phase("toProviders"),
            providersToModel: phase("providersToModel"),
            chunkToToken: phase("chunkToToken"),
          },
          ttftSamples: ttft.map(r3),
        },
      ];
    }),
  ) as Record<
    PeerName,
    {
      ttft: ReturnType<typeof summarise>;
      perToken: ReturnType<typeof summarise>;
      addedTtftP50: number;
      addedTtftP99: number;
      ttftRatioP50: number;
      ttftRatioP99: number;
      addedPerToken: number;
      perTokenRatio: number;
      cpuMsP50: number;
      phasesUsP50: Phases;
      ttftSamples: number[];
    }
  >;
  return {
    script: { tokens: script.chunks.length, firstChunkDelayMs: script.firstChunkDelayMs, chunkDelayMs: script.chunkDelayMs },
    providerDelaysMs: delays,
    rounds,
    warmup,
    results,
  };
}

/** Both variants: timed (first chunk after D ms, then d ms per chunk, providers of 1/2/3 ms) and zero-delay. */
export async function benchPeers(opts: {
  timedRounds: number;
  zeroRounds: number;
  firstChunkDelayMs?: number;
  chunkDelayMs?: number;
  /** Warm-up rounds before each variant's measured ones (default: up to 20 timed, up to 500 zero-delay). */
  warmup?: { timed: number; zero: number };
}) {
  const D = opts.firstChunkDelayMs ?? 20;
  const d = opts.chunkDelayMs ?? 5;
  const timed = await measure(
    { chunks: ANSWER_20, firstChunkDelayMs: D, chunkDelayMs: d },
    { profile: 1, memory: 2, tools: 3 },
    opts.timedRounds,
    opts.warmup?.timed ?? Math.min(20, opts.timedRounds),
  );
  const zero = await measure(
    { chunks: ANSWER_20, firstChunkDelayMs: 0, chunkDelayMs: 0 },
    { profile: 0, memory: 0, tools: 0 },
    opts.zeroRounds,
    opts.warmup?.zero ?? Math.min(500, opts.zeroRounds),
  );
  return { timed, zero };
}

/** The two peers tables (timed, zero-delay) and whether zoe adds less than either peer. */
export function printPeers(peers: Awaited<ReturnType<typeof benchPeers>>): void {
  for (const [variant, v] of Object.entries(peers)) {
    const desc =
      variant === "timed"
        ? `${v.script.tokens}-token answer, first chunk after ${v.script.firstChunkDelayMs} ms then ${v.script.chunkDelayMs} ms per chunk; providers of ${v.providerDelaysMs.profile}/${v.providerDelaysMs.memory}/${v.providerDelaysMs.tools} ms, uncached`
        : `${v.script.tokens}-token answer, no delays; providers return at once, uncached`;
    printTable(
      `Peers (${variant}): ${desc}; ${v.rounds} runs each, ms. "added" = minus the raw model; "×" = ratio to the raw model`,
      PEER_ORDER.map((name) => {
        const r = v.results[name];
        return {
          framework: name,
          "ttft p50": r.ttft.p50,
          "ttft p99": r.ttft.p99,
          "added p50": r.addedTtftP50,
          "added p99": r.addedTtftP99,
          "× p50": r.ttftRatioP50,
          "× p99": r.ttftRatioP99,
          "per token p50": r.perToken.p50,
          "added/token": r.addedPerToken,
          "× /token": r.perTokenRatio,
          "CPU ms/run": r.cpuMsP50,
        };
      }),
    );
    printTable(
      `Where a ${variant} run's time goes, µs p50, marked from outside every framework by the shared script: from the run's start to its first provider asked, from its last provider answered to the model asked, and from the model's first chunk to the first token the caller gets (the raw model has no providers)`,
      PEER_ORDER.map((name) => {
        const p = v.results[name].phasesUsP50;
        const shown = (x: number) => (Number.isNaN(x) ? "" : x);
        return {
          framework: name,
          "start → first provider": shown(p.toProviders),
          "last provider → model": shown(p.providersToModel),
          "first chunk → first token": shown(p.chunkToToken),
        };
      }),
    );
    const z = v.results["zoe-pipeline"];
    const best = (k: "addedTtftP50" | "addedTtftP99" | "addedPerToken") => Math.min(v.results["ai-sdk"][k], v.results.langchain[k]);
    const verdict = (k: "addedTtftP50" | "addedTtftP99" | "addedPerToken") => (z[k] < best(k) ? "yes" : "NO");
    console.log(
      `Target (zoe-pipeline adds less than either peer): ttft p50 ${verdict("addedTtftP50")}, ttft p99 ${verdict("addedTtftP99")}, per token ${verdict("addedPerToken")}`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes("--quick");
  const started = performance.now();
  printPeers(
    await benchPeers({
      timedRounds: quick ? 10 : 200,
      zeroRounds: quick ? 400 : 2_000,
      ...(quick ? { warmup: { timed: 3, zero: 100 } } : {}),
    }),
  );
  console.log(`\nbench/peers.ts: ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
