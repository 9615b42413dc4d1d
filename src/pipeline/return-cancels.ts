/**
 * Marks the `run` functions whose runs stop when their iterator is returned, even while a
 * `next()` is waiting (`createZoePipeline`'s: a run is a `RunStream`). An adapter can then cancel
 * a run whose client left with `iterator.return()` and give it no `AbortSignal` of its own: Node
 * 20 spends about 4 µs making a signal, and a run that follows one adds an `abort` listener to it.
 *
 * The mark is on the `run` function, not on the pipeline: a wrapper or a `Proxy` that puts its own
 * `run` in front (an async generator, which runs `return()` only at its next `yield`) has no
 * mark, and is given a signal as before. A registered symbol, not a `WeakSet`: the CommonJS build
 * bundles each entry point with its own copy of the modules, and the mark must hold across them.
 */
const RETURN_CANCELS = Symbol.for("zoe-pipeline.returnCancelsRun");

/** Mark `createZoePipeline`'s `run`. */
export function markReturnCancels<T extends object>(run: T): T {
  Object.defineProperty(run, RETURN_CANCELS, { value: true });
  return run;
}

/** True when returning an iterator of `pipeline.run` stops its run at once (see {@link markReturnCancels}). */
export function returnCancelsRun(pipeline: { run: unknown }): boolean {
  const run = pipeline.run as { [RETURN_CANCELS]?: unknown } | undefined;
  return typeof run === "function" && run[RETURN_CANCELS] === true;
}
