import type { HttpFailureStage } from "./report.js";

/** A JSON error body, as the adapters answer it. */
export interface HttpErrorBody {
  error: { code: string; message: string };
}

/** An HTTP error answer: a status and a JSON body. */
export interface HttpError {
  kind: "error";
  status: number;
  body: HttpErrorBody;
  /** The host-side failure behind a 5xx, for `onError`; never sent to the client. */
  cause?: { error: unknown; stage: HttpFailureStage };
}

export const httpError = (status: number, code: string, message: string, cause?: HttpError["cause"]): HttpError => ({
  kind: "error",
  status,
  body: { error: { code, message } },
  ...(cause === undefined ? {} : { cause }),
});

/**
 * The HTTP status of a code the pipeline reports before any work: size limits are 413, a missing
 * user 401, a closed pipeline 503, every other input error 400.
 */
export function statusOfRunError(code: string): number {
  switch (code) {
    case "INPUT_TOO_LARGE":
    case "MESSAGE_TOO_LONG":
      return 413;
    case "MISSING_USER_ID":
      return 401;
    case "PIPELINE_CLOSED":
      return 503;
    default:
      return 400;
  }
}
