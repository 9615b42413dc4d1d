import { attempt, TIMED_OUT, withDeadline } from "../shared/deadline.js";
import { writeQuietly } from "../cache/write-quietly.js";
import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { KeyBuilder } from "../cache/keys.js";
import type { CacheStore } from "../cache/types.js";
import type { ChatRequest, ModelBackend } from "../models/types.js";
import { abortable } from "../shared/abort.js";
import { onAbort } from "../shared/on-abort.js";
import { RESPONSE_CACHE_DEFAULTS, type AnswerCacheMetrics, type EmbedFn, type ResponseCacheOptions, type SemanticStatus } from "./types.js";
import { timerMs } from "../shared/timer.js";

/** JSON with object keys sorted, so that equal requests always hash the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.keys(value)
      .sort()
      .flatMap((k) => {
        const v = (value as Record<string, unknown>)[k];
        return v === undefined ? [] : [`${JSON.stringify(k)}:${canonicalJson(v)}`];
      });
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * The sha256 of everything that decides an answer: model, options, tools, thinking and the whole
 * prompt (system prompt, context, the conversation so far, the user turn). Two requests share an
 * answer only when the model would see byte-identical input.
 */
export function requestHash(request: ChatRequest): string {
  const material = {
    v: 1,
    model: request.model,
    options: request.options ?? {},
    tools: request.tools ?? [],
    think: request.think ?? false,
    messages: request.messages,
  };
  return createHash("sha256").update(canonicalJson(material)).digest("hex");
}

/**
 * What besides the question decides an answer the semantic cache may replay: the host's system
 * prompt (a new one, or the default a late `systemPrompt` function fell back to, is another
 * scope) and the context the client sent with the turn (AG-UI `context`: the open document, a
 * CopilotKit readable). Context providers' values are left out (see docs/cache.md).
 */
export interface SemanticScopeParts {
  systemPrompt: string;
  clientContext: readonly unknown[];
}

/**
 * The semantic scope of a request: the probe's (user, route kind, model), then the hash of the
 * tools the model is offered, the system prompt and the client's context. An answer given without
 * a tool is never served to a request that offers one (the model might have called it), nor one
 * given with other tools, under another system prompt, or about other context.
 */
function semanticScope(probeScope: string, request: ChatRequest, parts: SemanticScopeParts): string {
  const material = { tools: request.tools ?? [], system: parts.systemPrompt, context: parts.clientContext };
  return `${probeScope}:${createHash("sha256").update(canonicalJson(material)).digest("hex")}`;
}

/** What the exact cache stores under an `answer` key. */
interface StoredAnswer {
  v: 1;
  text: string;
  at: number;
}

const isStoredAnswer = (v: unknown): v is StoredAnswer =>
  typeof v === "object" && v !== null && typeof (v as StoredAnswer).text === "string" && (v as StoredAnswer).text.length > 0;

interface SemanticEntry {
  vector: Float32Array;
  text: string;
  expiresAt: number;
}

type ProbeResult = { status: "ok"; vector: Float32Array; ms: number } | { status: "timeout" | "error"; ms: number };

/** An embedding started early in a run (it overlaps the context step). */
export interface SemanticProbe {
  readonly scope: string;
  readonly id: string;
  readonly result: Promise<ProbeResult>;
  /** Stop the embedding (an exact hit made it useless, or the run ended). */
  abort(): void;
}

/** The outcome of one run's lookup, carried to {@link AnswerCache.remember} and the metrics. */
export interface AnswerLookup {
  key: string;
  hit?: { text: string; kind: "exact" | "semantic"; similarity?: number };
  lookupMs: number;
  semantic?: { status: SemanticStatus; similarity?: number; embedMs?: number };
  probe?: SemanticProbe;
  /** The semantic scope the lookup searched, where {@link AnswerCache.remember} stores the answer. */
  scope?: string;
  vector?: Float32Array;
}

/**
 * A unit-length copy in 32-bit floats (half the memory of a number[]), or undefined when unusable.
 * A typed array (`Float32Array`, what in-process embedders such as transformers.js give) is a vector too.
 */
function normalise(vector: unknown): Float32Array | undefined {
  if (!(Array.isArray(vector) || vector instanceof Float32Array || vector instanceof Float64Array) || vector.length === 0) return undefined;
  let sum = 0;
  for (const x of vector) {
    if (typeof x !== "number" || !Number.isFinite(x)) return undefined;
    sum += x * x;
  }
  const norm = Math.sqrt(sum);
  if (!(norm > 0)) return undefined;
  return Float32Array.from(vector as ArrayLike<number>, (x) => x / norm);
}

function dot(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return -1;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * Rounding of a similarity computed from 32-bit unit vectors: a vector's similarity with itself
 * may come out at 0.99999996. A threshold is met within it, so that `threshold: 1` hits on equal embeddings.
 */
const SIMILARITY_ROUNDING = 1e-6;

/**
 * The response cache of one pipeline: exact answers in the pipeline's {@link CacheStore} (memory
 * or Redis, shared by every process on the store) and, optionally, a semantic cache in this
 * process (lru-cache, bounded per scope and in scopes; not shared between processes).
 */
export class AnswerCache {
  readonly ttlMs: number;
  private readonly embed: EmbedFn | undefined;
  private readonly threshold: number;
  private readonly timeoutMs: number;
  readonly includeHistory: boolean;
  private readonly maxEntries: number;
  private readonly scopes: LRUCache<string, LRUCache<string, SemanticEntry>> | undefined;
  private readonly counts = { lookups: 0, hits: 0, exactHits: 0, semanticHits: 0 };

  constructor(
    options: ResponseCacheOptions,
    private readonly deps: { store: CacheStore; keys: KeyBuilder; backend: ModelBackend; readTimeoutMs?: number },
  ) {
    this.ttlMs = options.ttlMs ?? RESPONSE_CACHE_DEFAULTS.ttlMs;
    if (!(Number.isFinite(this.ttlMs) && this.ttlMs > 0)) throw new RangeError("responseCache.ttlMs must be a positive number of ms.");
    const semantic = options.semantic;
    this.threshold = semantic?.threshold ?? RESPONSE_CACHE_DEFAULTS.threshold;
    this.timeoutMs = semantic?.timeoutMs ?? RESPONSE_CACHE_DEFAULTS.timeoutMs;
    this.includeHistory = semantic?.includeHistory ?? RESPONSE_CACHE_DEFAULTS.includeHistory;
    this.maxEntries = semantic?.maxEntries ?? RESPONSE_CACHE_DEFAULTS.maxEntries;
    if (!semantic) return;
    if (!(this.threshold > 0 && this.threshold <= 1)) throw new RangeError("responseCache.semantic.threshold must be in (0, 1].");
    if (!(this.timeoutMs > 0)) throw new RangeError("responseCache.semantic.timeoutMs must be positive.");
    if (!(Number.isInteger(this.maxEntries) && this.maxEntries > 0)) {
      throw new RangeError("responseCache.semantic.maxEntries must be a positive integer.");
    }
    const maxScopes = semantic.maxScopes ?? RESPONSE_CACHE_DEFAULTS.maxScopes;
    if (!(Number.isInteger(maxScopes) && maxScopes > 0)) {
      throw new RangeError("responseCache.semantic.maxScopes must be a positive integer.");
    }
    if (semantic.embed !== undefined && typeof semantic.embed !== "function") {
      throw new TypeError("responseCache.semantic.embed must be a function (text, { signal }) => vector.");
    }
    const backend = deps.backend;
    const backendEmbed = backend.embed?.bind(backend);
    this.embed =
      semantic.embed ??
      (backendEmbed
        ? async (text, { signal }) => {
            const [vector] = await backendEmbed([text], { signal });
            if (!vector) throw new Error("the backend returned no embedding");
            return vector;
          }
        : undefined);
    if (!this.embed) {
      throw new TypeError(
        "responseCache.semantic needs an `embed` function or a backend with embed() (e.g. ollamaBackend({ embedModel })).",
      );
    }
    const maxTotal = semantic.maxTotalEntries ?? RESPONSE_CACHE_DEFAULTS.maxTotalEntries;
    if (!(Number.isInteger(maxTotal) && maxTotal >= this.maxEntries)) {
      throw new RangeError("responseCache.semantic.maxTotalEntries must be an integer >= maxEntries.");
    }
    // Whole scopes are dropped, least recently used first, past `maxScopes` scopes or `maxTotalEntries` entries.
    this.scopes = new LRUCache({
      max: maxScopes,
      maxSize: maxTotal,
      sizeCalculation: (entries) => Math.max(1, entries.size),
    });
  }

  /** Whether the semantic cache is on. */
  get semantic(): boolean {
    return this.embed !== undefined;
  }

  /**
   * Start the embedding of `text` (undefined: the turn is not eligible) under its own deadline.
   * Never rejects: a late or failed embedding resolves as `timeout` / `error`.
   */
  startProbe(
    scopeParts: { userId: string; kind: string; model: string },
    text: string | undefined,
    signal: AbortSignal,
  ): SemanticProbe | undefined {
    const embed = this.embed;
    if (!embed || text === undefined || signal.aborted) return undefined;
    const controller = new AbortController();
    const unhookRun = onAbort(signal, () => controller.abort(signal.reason));
    const t0 = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<ProbeResult>((resolve) => {
      timer = setTimeout(() => {
        resolve({ status: "timeout", ms: performance.now() - t0 });
        controller.abort(new DOMException(`The embedding took longer than ${this.timeoutMs} ms.`, "TimeoutError"));
      }, timerMs(this.timeoutMs));
    });
    const work = Promise.resolve()
      .then(() => embed(text, { signal: controller.signal }))
      .then(
        (raw): ProbeResult => {
          const vector = normalise(raw);
          return vector ? { status: "ok", vector, ms: performance.now() - t0 } : { status: "error", ms: performance.now() - t0 };
        },
        (): ProbeResult => ({ status: controller.signal.aborted ? "timeout" : "error", ms: performance.now() - t0 }),
      );
    const result = Promise.race([work, deadline]).finally(() => {
      clearTimeout(timer);
      unhookRun();
    });
    return {
      scope: canonicalJson([scopeParts.userId, scopeParts.kind, scopeParts.model]),
      id: createHash("sha256").update(text).digest("hex"),
      result,
      abort: () => controller.abort(new DOMException("The embedding is not needed any more.", "AbortError")),
    };
  }

  /**
   * Look the answer up right before generation: the exact key first (one store read), then the
   * semantic probe (already running; waited for at most its deadline). Store failures are misses.
   */
  async lookup(
    userId: string,
    request: ChatRequest,
    probe: SemanticProbe | undefined,
    scopeParts: SemanticScopeParts,
    signal: AbortSignal,
  ): Promise<AnswerLookup> {
    const t0 = performance.now();
    const key = this.deps.keys.key("answer", userId, requestHash(request));
    this.counts.lookups++;
    const out: AnswerLookup = { key, lookupMs: 0, ...(probe ? { probe } : {}) };
    let stored: unknown;
    try {
      // The same deadline as the run's cache read: a hung store is a miss.
      const read = await withDeadline(
        attempt(() => this.deps.store.get(key)),
        this.deps.readTimeoutMs ?? 500,
        signal,
      );
      stored = read === TIMED_OUT ? undefined : read;
    } catch (error) {
      if (signal.aborted) {
        probe?.abort();
        throw error;
      }
      stored = undefined;
    }
    if (isStoredAnswer(stored)) {
      probe?.abort();
      this.counts.hits++;
      this.counts.exactHits++;
      out.hit = { text: stored.text, kind: "exact" };
      if (this.semantic) out.semantic = { status: "skipped" };
    } else if (probe) {
      const result = await abortable(probe.result, signal);
      const embedMs = round(result.ms);
      if (result.status !== "ok") {
        out.semantic = { status: result.status, embedMs };
      } else {
        out.vector = result.vector;
        out.scope = semanticScope(probe.scope, request, scopeParts);
        const best = this.nearest(out.scope, result.vector);
        if (best && best.similarity >= this.threshold - SIMILARITY_ROUNDING) {
          this.counts.hits++;
          this.counts.semanticHits++;
          out.hit = { text: best.text, kind: "semantic", similarity: round(best.similarity, 4) };
          out.semantic = { status: "hit", similarity: round(best.similarity, 4), embedMs };
        } else {
          out.semantic = { status: "miss", ...(best ? { similarity: round(best.similarity, 4) } : {}), embedMs };
        }
      }
    } else if (this.semantic) {
      out.semantic = { status: "skipped" };
    }
    out.lookupMs = round(performance.now() - t0);
    return out;
  }

  private nearest(scope: string, vector: Float32Array): { text: string; similarity: number; id: string } | undefined {
    const entries = this.scopes?.get(scope);
    if (!entries) return undefined;
    const now = Date.now();
    let best: { text: string; similarity: number; id: string } | undefined;
    for (const [id, entry] of entries.entries()) {
      if (entry.expiresAt <= now) continue;
      const similarity = dot(vector, entry.vector);
      if (!best || similarity > best.similarity) best = { text: entry.text, similarity, id };
    }
    if (best) entries.get(best.id); // most recently used
    return best;
  }

  /**
   * Store a complete, successful text answer (the caller checks that: no tool calls, no
   * failure, no cancellation). The exact write is fire-and-forget; returns whether it was stored.
   */
  remember(lookup: AnswerLookup, text: string): boolean {
    if (lookup.hit || text.length === 0) return false;
    writeQuietly(this.deps.store, lookup.key, { v: 1, text, at: Date.now() } satisfies StoredAnswer, this.ttlMs);
    const scope = lookup.scope;
    if (lookup.probe && lookup.vector && scope !== undefined && this.scopes) {
      let entries = this.scopes.get(scope);
      if (!entries) {
        entries = new LRUCache<string, SemanticEntry>({ max: this.maxEntries });
        this.scopes.set(scope, entries);
      }
      entries.set(lookup.probe.id, { vector: lookup.vector, text, expiresAt: Date.now() + this.ttlMs });
      // lru-cache sizes an item when it is set: set the scope again so its new size counts.
      this.scopes.delete(scope);
      this.scopes.set(scope, entries);
    }
    return true;
  }

  /** `metrics.answerCache` of a run. */
  metrics(lookup: AnswerLookup, stored: boolean): AnswerCacheMetrics {
    const { lookups, hits, exactHits, semanticHits } = this.counts;
    return {
      hit: lookup.hit !== undefined,
      ...(lookup.hit ? { kind: lookup.hit.kind } : {}),
      lookupMs: lookup.lookupMs,
      ...(lookup.semantic ? { semantic: lookup.semantic } : {}),
      stored,
      totals: { lookups, hits, exactHits, semanticHits, hitRate: lookups === 0 ? 0 : round(hits / lookups, 4) },
    };
  }

  /** Entries of the semantic cache in this process (all scopes). */
  get semanticSize(): number {
    let n = 0;
    for (const entries of this.scopes?.values() ?? []) n += entries.size;
    return n;
  }
}
