import { ZoeError, type ZoeErrorCode } from "./zoe-error.js";

/** The run input was rejected before any work started. */
export class InputError extends ZoeError {
  constructor(code: ZoeErrorCode, message: string) {
    super(code, message);
    this.name = "InputError";
  }
}

/** The codes of input errors: an HTTP adapter answers them with a 4xx before streaming. */
export const INPUT_ERROR_CODES: ReadonlySet<string> = new Set([
  "INVALID_INPUT",
  "MISSING_IDS",
  "MISSING_USER_ID",
  "NO_USER_MESSAGE",
  "EMPTY_MESSAGE",
  "MESSAGE_TOO_LONG",
  "INVALID_ID",
  "INPUT_TOO_DEEP",
  "INPUT_TOO_LARGE",
]);
