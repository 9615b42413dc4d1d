import { ZoeError, type ZoeErrorCode } from "./zoe-error.js";

/** The model backend failed. Backends throw it (or a subclass) with a specific code. */
export class ModelError extends ZoeError {
  constructor(message: string, options?: { code?: ZoeErrorCode; cause?: unknown }) {
    super(options?.code ?? "MODEL_ERROR", message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ModelError";
  }
}
