export { createAgUiHandler, type AgUiHandlerOptions } from "../adapters/node-handler.js";
