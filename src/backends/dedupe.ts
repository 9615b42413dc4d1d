import { createHash } from "node:crypto";
import { configure } from "safe-stable-stringify";
import { abandonIterator } from "../shared/abandon-iterator.js";
import { abortReason } from "../shared/abort.js";
import type { ChatChunk, ChatRequest, ModelBackend, PrewarmResult } from "../models/types.js";

/** Options of {@link dedupeBackend}. */
export interface DedupeOptions {
  /**
   * The sharing key of a request: requests with the same key in flight at once share one
   * generation. Return `undefined` to never share this request. Default {@link requestKey}
   * (a hash of model, options, tools, think and messages).
   */
  key?: (request: ChatRequest) => string | undefined;
}

/** Counters of a {@link DedupeBackend}. */
export interface DedupeStats {
  /** Generations started on the inner backend. */
  generations: number;
  /** Consumers that joined a generation already in flight (each one a generation saved). */
  joined: number;
  /** Generations in flight now. */
  inFlight: number;
}

/** A {@link ModelBackend} that shares identical concurrent generations. */
export interface DedupeBackend extends ModelBackend {
  stats(): DedupeStats;
}

const stableStringify = configure({ circularValue: TypeError });

/**
 * JSON with object keys sorted, so that equal values always give equal text (`safe-stable-stringify`):
 * what `JSON.stringify` would send, `toJSON()` included, with `undefined` as `null`. A cycle throws
 * a `TypeError`, as `JSON.stringify` (and so the backend's own request) would.
 */
export function stableJson(value: unknown): string {
  return stableStringify(value) ?? "null";
}

/** The default sharing key: sha256 of the stable JSON of model, options, tools, think and messages. */
export function requestKey(request: ChatRequest): string {
  const { model, options, tools, think, messages } = request;
  return createHash("sha256").update(stableJson({ model, options, tools, think, messages })).digest("hex");
}

/** One generation of the inner backend and what it has produced so far. */
interface Flight {
  readonly chunks: ChatChunk[];
  finished: boolean;
  failed: boolean;
  error: unknown;
  consumers: number;
  readonly controller: AbortController;
  readonly wakers: Set<() => void>;
}

/**
 * Wrap a backend so that identical requests in flight at once share ONE generation.
 *
 * - Each consumer gets the whole stream from its first chunk: the chunks produced before it
 *   joined are replayed from a buffer, then it follows the live ones.
 * - A consumer leaving (its signal, or `return()` on its iterator) does not stop the generation
 *   while others still read; the last one leaving aborts the inner request.
 * - An error of the generation reaches every consumer.
 * - A request arriving after the generation finished starts a new one (this is not a cache).
 */
export function dedupeBackend(backend: ModelBackend, options: DedupeOptions = {}): DedupeBackend {
  const keyOf = options.key ?? requestKey;
  const flights = new Map<string, Flight>();
  let generations = 0;
  let joined = 0;

  const wakeAll = (flight: Flight) => {
    const wakers = [...flight.wakers];
    flight.wakers.clear();
    for (const wake of wakers) wake();
  };

  function launch(key: string, request: ChatRequest): Flight {
    const flight: Flight = {
      chunks: [],
      finished: false,
      failed: false,
      error: undefined,
      consumers: 0,
      controller: new AbortController(),
      wakers: new Set(),
    };
    flights.set(key, flight);
    generations++;
    const { signal } = flight.controller;
    void (async () => {
      try {
        const iterator = backend.chat(request, { signal })[Symbol.asyncIterator]();
        for (;;) {
          const step = await iterator.next();
          if (step.done) break;
          flight.chunks.push(step.value);
          wakeAll(flight);
          if (signal.aborted) {
            abandonIterator(iterator);
            break;
          }
        }
      } catch (error) {
        flight.failed = true;
        flight.error = error;
      } finally {
        flight.finished = true;
        if (flights.get(key) === flight) flights.delete(key);
        wakeAll(flight);
      }
    })();
    return flight;
  }

  async function* chat(request: ChatRequest, { signal }: { signal: AbortSignal }): AsyncGenerator<ChatChunk> {
    if (signal.aborted) throw abortReason(signal);
    const key = keyOf(request);
    if (key === undefined) {
      yield* backend.chat(request, { signal });
      return;
    }
    let flight = flights.get(key);
    if (flight) joined++;
    else flight = launch(key, request);
    const f = flight;
    f.consumers++;
    let wake: (() => void) | undefined;
    const onAbort = () => wake?.();
    signal.addEventListener("abort", onAbort, { once: true });
    let index = 0;
    try {
      for (;;) {
        if (signal.aborted) throw abortReason(signal);
        // By position, not by value: a malformed chunk (`undefined`…) is not the end of the buffer.
        if (index < f.chunks.length) {
          const chunk: unknown = f.chunks[index++];
          // A copy per consumer; a non-object goes on as it is, for the pipeline to reject.
          yield typeof chunk === "object" && chunk !== null ? { ...(chunk as ChatChunk) } : (chunk as ChatChunk);
          continue;
        }
        if (f.failed) throw f.error;
        if (f.finished) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
          f.wakers.add(resolve);
        });
        if (wake) f.wakers.delete(wake);
        wake = undefined;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      if (wake) f.wakers.delete(wake);
      f.consumers--;
      if (f.consumers === 0 && !f.finished) {
        // The last consumer left: nobody needs the rest of the answer.
        if (flights.get(key) === f) flights.delete(key);
        f.controller.abort(new DOMException("Every consumer of the shared generation left.", "AbortError"));
      }
    }
  }

  const wrapped: DedupeBackend = {
    name: backend.name,
    chat,
    stats: () => ({ generations, joined, inFlight: flights.size }),
  };
  if (backend.prewarm) wrapped.prewarm = (models: string[]): Promise<PrewarmResult[]> => backend.prewarm!(models);
  if (backend.loaded) wrapped.loaded = () => backend.loaded!();
  if (backend.close) wrapped.close = () => backend.close!();
  if (backend.embed) wrapped.embed = (input, context) => backend.embed!(input, context);
  if (backend.tokenCounter) wrapped.tokenCounter = (model) => backend.tokenCounter!(model);
  if (backend.promptBudget) wrapped.promptBudget = (model) => backend.promptBudget!(model);
  return wrapped;
}
