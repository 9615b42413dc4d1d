import type { AGUIEvent } from "@ag-ui/core";

/**
 * The method of a run's iterator that hands over, without a promise, an event the consumer could
 * have at once: `createZoePipeline`'s runs (a `RunStream`) have it. An adapter that reads a run to
 * the end takes each ready event this way and awaits `next()` only when none is ready: on Node 20
 * every `await` of a `next()` costs about a microsecond (a promise, a reaction, a resumed frame),
 * about 25 per run. A registered symbol, so that it holds across the ESM and CommonJS builds.
 */
export const TAKE_READY = Symbol.for("zoe-pipeline.takeReady");

/** An iterator that may have {@link TAKE_READY}. */
type MaybeReady = { [TAKE_READY]?: () => AGUIEvent | undefined };

/** The iterator's {@link TAKE_READY}, bound, or undefined when it has none (any other pipeline). */
export function readyTaker(iterator: object): (() => AGUIEvent | undefined) | undefined {
  const take = (iterator as MaybeReady)[TAKE_READY];
  return typeof take === "function" ? take.bind(iterator) : undefined;
}
