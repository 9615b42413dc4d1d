import { ZoeError, type ZoeErrorCode } from "./zoe-error.js";

/** The run input was rejected before any work started. */
export class InputError extends ZoeError {
  constructor(code: ZoeErrorCode, message: string) {
    super(code, message);
    this.name = "InputError";
  }
}
