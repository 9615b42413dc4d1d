import { createParser, type EventSourceMessage } from "eventsource-parser";

/** One item of an OpenAI-style event stream. */
export type SseItem =
  /** A `data:` event (its text: a JSON chunk, or `[DONE]`). */
  | { kind: "data"; data: string }
  /**
   * An `error:` line, or an event named `error` (`event: error`, as a proxy may send). Older llama.cpp servers sent a mid-stream error as its own SSE field
   * (examples/server/server.cpp, `handle_completions_impl`: `server_sent_event(sink, "error", …)`),
   * which an SSE parser reports as an unknown field.
   */
  | { kind: "error-field"; data: string }
  /**
   * The first line that is neither an event field nor a comment (a stream has none: a body that is
   * not an event stream, such as a web page, has them); later ones are not reported.
   */
  | { kind: "other"; line: string };

/**
 * The most characters read without an event ending (a line, or `data:` lines, with no blank line
 * after them): a chunk is a token or a tool call, far shorter. More fails the stream rather than
 * filling the process's memory (the parser buffers an unfinished event whole).
 */
export const MAX_EVENT_CHARS = 8 * 1024 * 1024;

/**
 * The events of a response body, parsed by `eventsource-parser` (`createParser`) inside a
 * TransformStream, so that `error:` fields and `data:` events keep their order. Text of more than
 * {@link MAX_EVENT_CHARS} without an event ending errors the stream with `tooLong()`.
 */
export function sseEvents(body: ReadableStream<Uint8Array>, tooLong: () => Error): ReadableStream<SseItem> {
  let parser: ReturnType<typeof createParser> | undefined;
  /** Characters fed since the last event ended (what the parser may be holding), counted per piece of text. */
  let unended = 0;
  let otherSeen = false;
  const events = new TransformStream<string, SseItem>({
    start(controller) {
      parser = createParser({
        onEvent: (event: EventSourceMessage) => {
          unended = 0;
          // An event named `error` (`event: error`) is an error whatever its data holds.
          controller.enqueue({ kind: event.event === "error" ? "error-field" : "data", data: event.data });
        },
        onError: (error) => {
          if (error.type !== "unknown-field") return;
          if (error.field === "error" && error.value !== undefined) controller.enqueue({ kind: "error-field", data: error.value });
          else if (!otherSeen && error.line?.trim()) {
            otherSeen = true;
            controller.enqueue({ kind: "other", line: error.line });
          }
        },
      });
    },
    transform(text, controller) {
      unended += text.length;
      parser?.feed(text);
      if (unended > MAX_EVENT_CHARS) controller.error(tooLong());
    },
    flush() {
      // An event cut off by the end of the body (no blank line after it) still counts.
      parser?.reset({ consume: true });
    },
  });
  return body.pipeThrough(new TextDecoderStream()).pipeThrough(events);
}
