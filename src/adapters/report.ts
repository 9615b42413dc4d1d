/** Where a host-side failure happened in an HTTP adapter. */
export type HttpFailureStage = "getUserId" | "run" | "encode" | "internal";

/** Told of host-side failures, a `getUserId` that does not settle in time among them (never of client mistakes, aborts, or a client too slow to send its body). Default: `console.error`. */
export type OnHttpError = (error: unknown, context: { stage: HttpFailureStage }) => void;

/** A report function that never throws, whatever the host's hook does. */
export function reporter(onError: OnHttpError | undefined): (error: unknown, stage: HttpFailureStage) => void {
  return (error, stage) => {
    try {
      if (onError) onError(error, { stage });
      else console.error(`zoe-pipeline HTTP adapter, ${stage}:`, error);
    } catch {
      // A throwing hook must not turn a handled failure into an unhandled one.
    }
  };
}
