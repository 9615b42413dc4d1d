import { errorMessage } from "./error-message.js";
import { isInstance } from "../shared/is-instance.js";

/** Stable error codes carried by `RUN_ERROR.code` and by {@link ZoeError.code}. */
export type ZoeErrorCode =
  | "INVALID_INPUT"
  | "MISSING_IDS"
  | "MISSING_USER_ID"
  | "NO_USER_MESSAGE"
  | "EMPTY_MESSAGE"
  | "MESSAGE_TOO_LONG"
  | "PIPELINE_CLOSED"
  | "ROUTER_ERROR"
  | "MODEL_ERROR"
  | "INTERNAL_ERROR"
  | (string & {});

/** Base class of every error the pipeline raises. `code` is stable; `message` says what to do. */
export class ZoeError extends Error {
  readonly code: ZoeErrorCode;

  constructor(code: ZoeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ZoeError";
    this.code = code;
  }
}

/** A ZoeError whose code and message are strings that can be read (one made elsewhere may not be). */
function wellFormed(error: ZoeError): boolean {
  try {
    return typeof error.code === "string" && typeof error.message === "string";
  } catch {
    return false;
  }
}

/** Turn anything thrown into a {@link ZoeError}, keeping the original as `cause`. */
export function toZoeError(error: unknown, fallbackCode: ZoeErrorCode = "INTERNAL_ERROR"): ZoeError {
  if (isInstance(error, ZoeError) && wellFormed(error)) return error;
  const message = errorMessage(error);
  return new ZoeError(fallbackCode, message || "Unknown error", { cause: error });
}
