import { createParser, type EventSourceMessage } from "eventsource-parser";

/** One item of an OpenAI-style event stream. */
export type SseItem =
  /** A `data:` event (its text: a JSON chunk, or `[DONE]`). */
  | { kind: "data"; data: string }
  /**
   * An `error:` line. Older llama.cpp servers sent a mid-stream error as its own SSE field
   * (examples/server/server.cpp, `handle_completions_impl`: `server_sent_event(sink, "error", …)`),
   * which an SSE parser reports as an unknown field.
   */
  | { kind: "error-field"; data: string };

/**
 * The events of a response body, parsed by `eventsource-parser` (`createParser`) inside a
 * TransformStream, so that `error:` fields and `data:` events keep their order.
 */
export function sseEvents(body: ReadableStream<Uint8Array>): ReadableStream<SseItem> {
  let parser: ReturnType<typeof createParser> | undefined;
  const events = new TransformStream<string, SseItem>({
    start(controller) {
      parser = createParser({
        onEvent: (event: EventSourceMessage) => controller.enqueue({ kind: "data", data: event.data }),
        onError: (error) => {
          if (error.type === "unknown-field" && error.field === "error" && error.value !== undefined) {
            controller.enqueue({ kind: "error-field", data: error.value });
          }
        },
      });
    },
    transform(text) {
      parser?.feed(text);
    },
    flush() {
      // An event cut off by the end of the body (no blank line after it) still counts.
      parser?.reset({ consume: true });
    },
  });
  return body.pipeThrough(new TextDecoderStream()).pipeThrough(events);
}
