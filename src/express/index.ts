export { createAgUiHandler, type AgUiHandlerOptions, type AgUiNodeHandler } from "../adapters/node-handler.js";
export type { ParsedBody } from "../adapters/read-body.js";
export type { GetUserId } from "../adapters/identity.js";
export type { HttpFailureStage, OnHttpError } from "../adapters/report.js";
export { HTTP_DEFAULTS } from "../adapters/limits.js";
export { agUiErrorHandler } from "./error-handler.js";
