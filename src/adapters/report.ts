/** Where a host-side failure happened in an HTTP adapter. */
export type HttpFailureStage = "getUserId" | "run" | "encode" | "internal";

/** Told of host-side failures, a `getUserId` that does not settle in time among them (never of client mistakes, aborts, or a client too slow to send its body). Default: `console.error`. May be async: what it throws or rejects with is ignored. */
export type OnHttpError = (error: unknown, context: { stage: HttpFailureStage }) => void;

const ignore = () => {};

/** A report function that never throws, whatever the host's hook does. */
export function reporter(onError: OnHttpError | undefined): (error: unknown, stage: HttpFailureStage) => void {
  return (error, stage) => {
    try {
      if (!onError) return console.error(`zoe-pipeline HTTP adapter, ${stage}:`, error);
      const result: unknown = onError(error, { stage });
      // An async hook (a logger that ships errors) throws by rejecting: that rejection is handled too.
      if (typeof (result as PromiseLike<unknown> | undefined)?.then === "function")
        (result as PromiseLike<unknown>).then(undefined, ignore);
    } catch {
      // A throwing hook must not turn a handled failure into an unhandled one.
    }
  };
}
