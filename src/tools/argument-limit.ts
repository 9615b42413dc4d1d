/**
 * The longest arguments a model's tool call may have, in characters, as `maxToolResultChars`'s
 * default is for a result: more than any model writes in one call, and small enough that the call
 * reaches the client in one event (`@ag-ui/client` refuses an SSE event past 10 MB) and goes back in
 * the client's next request (a frontend call's arguments return with its result; an HTTP adapter
 * takes a body of 1 MiB by default). A call past it ends the run with `TOOL_ARGUMENTS_TOO_LONG`.
 */
export const MAX_TOOL_ARGUMENT_CHARS = 100_000;
