import { EventType, type AGUIEvent } from "@ag-ui/core";
import { EventEncoder } from "@ag-ui/encoder";

/** The AG-UI protobuf media type; only a client that names it gets protobuf. */
export const AGUI_PROTO_MEDIA_TYPE = "application/vnd.ag-ui.event+proto";

/**
 * True when an `Accept` header names the AG-UI protobuf type with a quality above 0
 * (`;q=0` means "not acceptable", RFC 9110 §12.4.2).
 */
export function acceptsProto(accept: string | null | undefined): boolean {
  if (!accept?.toLowerCase().includes(AGUI_PROTO_MEDIA_TYPE)) return false;
  return accept.split(",").some((range) => {
    const [type = "", ...params] = range.split(";").map((part) => part.trim().toLowerCase());
    if (type !== AGUI_PROTO_MEDIA_TYPE) return false;
    const q = params.find((param) => param.startsWith("q="));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/** How a response encodes events: SSE text or length-prefixed protobuf. */
export interface EventEncoding {
  contentType: string;
  sse: boolean;
  /** One event's bytes (SSE as a string). Throws when the event cannot be encoded. */
  encode(event: AGUIEvent): string | Uint8Array;
}

const sseEncoder = new EventEncoder();

/**
 * One SSE frame, byte for byte what `@ag-ui/encoder`'s `encodeSSE` writes: `data: <JSON>\n\n`.
 * The encoder first copies the event without its optional fields that are `null`
 * (`omitOptionalNulls`, a walk of the event's shape); an event with no `null` anywhere comes out of
 * that walk unchanged, so only an event whose JSON holds the text `null` goes through the encoder.
 * Throws when the event cannot be encoded (a BigInt, a cycle), as the encoder does.
 */
export function sseFrame(event: AGUIEvent): string {
  const json = JSON.stringify(event);
  return json.includes("null") ? sseEncoder.encodeSSE(event) : `data: ${json}\n\n`;
}

const SSE: EventEncoding = { contentType: "text/event-stream", sse: true, encode: sseFrame };

/**
 * The encoding for a request's `Accept` header: SSE unless the client asks for protobuf by name
 * (`@ag-ui/encoder` would pick protobuf for `*\/*`).
 */
export function eventEncoding(accept: string | null | undefined): EventEncoding {
  if (!acceptsProto(accept)) return SSE;
  const encoder = new EventEncoder({ accept: AGUI_PROTO_MEDIA_TYPE });
  const contentType = encoder.getContentType();
  if (contentType.startsWith("text/event-stream")) return SSE;
  return { contentType, sse: false, encode: (event) => encoder.encodeBinary(event) };
}

/** The code of the RUN_ERROR an adapter writes when an event of the run cannot be encoded. */
export const ENCODING_FAILED = "EVENT_ENCODING_FAILED";

/** One encoded chunk of a stream, with the event it came from. */
export interface EncodedChunk {
  chunk: string | Uint8Array;
  event: AGUIEvent;
}

/** The RUN_ERROR that ends a stream the adapter has to stop, or undefined if even that cannot be encoded. */
export function runErrorChunk(encoding: EventEncoding, message: string, code: string): EncodedChunk | undefined {
  const event: AGUIEvent = { type: EventType.RUN_ERROR, message, code, timestamp: Date.now() };
  try {
    return { chunk: encoding.encode(event), event };
  } catch {
    return undefined;
  }
}

/** True for a value a run may yield: an object with a string `type` (a host pipeline may yield anything). */
export const isEventLike = (value: unknown): value is AGUIEvent =>
  typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string";

/** The failure of a run that yielded `value`, which is not an event. */
export const notAnEvent = (value: unknown): TypeError =>
  new TypeError(`The run yielded ${value === null ? "null" : typeof value}, not an AG-UI event.`);

/** True for the events that end a run. */
export const isTerminal = (event: AGUIEvent): boolean => event.type === EventType.RUN_FINISHED || event.type === EventType.RUN_ERROR;

/** The SSE heartbeat comment. */
export const HEARTBEAT = ": heartbeat\n\n";

/** True for the events after which heartbeats stop (the model is producing). */
export const endsHeartbeat = (event: AGUIEvent): boolean =>
  event.type === EventType.TEXT_MESSAGE_CONTENT || event.type === EventType.REASONING_MESSAGE_CONTENT;
