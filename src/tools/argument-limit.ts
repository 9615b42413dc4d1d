/**
 * The longest arguments a model's tool call may have, in characters: more than any local model's
 * context holds, and far below what one event may carry to a client (`@ag-ui/client` refuses an
 * SSE event past 10 MB, ending the run). A call past it ends the run with `TOOL_ARGUMENTS_TOO_LONG`.
 */
export const MAX_TOOL_ARGUMENT_CHARS = 1_000_000;
