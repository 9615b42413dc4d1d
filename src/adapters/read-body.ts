import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { bodyTooLarge } from "./content-type.js";
import { httpError } from "./http-error.js";
import type { Limits } from "./limits.js";
import { givenBody, parseBody, type BodyResult } from "./parse-body.js";
import { timerMs } from "../shared/timer.js";

/** The request is gone: nobody is left to answer. */
export const GONE = { kind: "gone" } as const;

/** A body handed over by the host: `{ body }`, what its framework parsed (Fastify, Koa, ...). */
export interface ParsedBody {
  /** The parsed JSON value; a string or bytes are parsed as JSON text. */
  body: unknown;
}

/**
 * The JSON body of a Node request: the one the host handed over, the one its framework left on
 * `req.body`, or read from the stream with a size limit and a deadline. Never throws: a client
 * that leaves mid-upload is {@link GONE}; a body read by someone else and not handed over is a
 * 500 `BODY_ALREADY_READ` instead of a request that hangs.
 */
export function readNodeBody(
  req: IncomingMessage & { body?: unknown },
  given: ParsedBody | undefined,
  limits: Limits,
): Promise<BodyResult | typeof GONE> {
  if (given) return Promise.resolve(givenBody(given.body, limits));
  if (req.body !== undefined) return Promise.resolve(givenBody(req.body, limits));
  if (req.readableEnded || req.readableDidRead || req.destroyed) {
    if (req.destroyed && !req.readableEnded) return Promise.resolve(GONE);
    return Promise.resolve(
      httpError(
        500,
        "BODY_ALREADY_READ",
        "The request body was read before the AG-UI handler saw it: hand the parsed body over (handler(req, res, { body })) or set req.body.",
        { error: new Error("The request stream was already consumed and no parsed body was handed over."), stage: "internal" },
      ),
    );
  }
  // A middleware's `req.setEncoding()` turns the body into decoded text: its bytes (for the size
  // limit and the strict UTF-8 check) are gone, so it is refused rather than guessed at.
  if (req.readableEncoding !== null) {
    return Promise.resolve(
      httpError(
        500,
        "BODY_ENCODING_SET",
        "The request's encoding was set (req.setEncoding) before the AG-UI handler read the body: leave the body as bytes, or hand the parsed body over (handler(req, res, { body })).",
        { error: new Error(`req.setEncoding("${req.readableEncoding}") was called before the handler.`), stage: "internal" },
      ),
    );
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: BodyResult | typeof GONE) => {
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onGone);
      req.off("close", onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.maxBodyBytes) finish(bodyTooLarge(limits.maxBodyBytes));
      else chunks.push(chunk);
    };
    const onEnd = () => {
      // In a stream's event listener a throw would be an uncaught exception: the host's end.
      try {
        finish(parseBody(Buffer.concat(chunks, size), limits.maxDepth));
      } catch (error) {
        finish(httpError(500, "INTERNAL_ERROR", "The request body could not be read.", { error, stage: "internal" }));
      }
    };
    const onGone = () => finish(GONE);
    const onClose = () => {
      if (!req.readableEnded) finish(GONE);
    };
    const timer = setTimeout(
      () =>
        finish(httpError(408, "BODY_TIMEOUT", `The request body did not arrive within ${limits.bodyTimeoutMs} ms (option bodyTimeoutMs).`)),
      timerMs(limits.bodyTimeoutMs),
    );
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onGone);
    req.on("close", onClose);
  });
}

/**
 * The bounds of a lingering close: how long it waits for more of the client's body, how long it
 * reads in all, and how many bytes it drops at most, before it closes the connection.
 */
export interface Linger {
  idleMs: number;
  totalMs: number;
  maxBytes: number;
}

/**
 * The default lingering close: 2 s without data, 10 s and 16 MiB in all. nginx lingers up to
 * 5 s between reads and 30 s in all; Go drops at most 256 KiB, too little for a client that
 * declared a body just over a 1 MiB limit.
 */
const LINGER: Linger = { idleMs: 2_000, totalMs: 10_000, maxBytes: 16 * 1024 * 1024 };

const ignore = () => {};

/**
 * Node ends a `connection: close` answer with `socket.destroySoon()`, which destroys the socket as
 * soon as the answer is written: its reading side too, so a client still sending its body meets a
 * reset (EPIPE, ECONNRESET) and may never read the answer. This ends only the writing side.
 */
function endWritingSide(this: Socket): void {
  if (this.writable) this.end();
}

/** Sockets in a lingering close: a request that arrives on one (pipelined after the early answer) is not served. */
const lingering = new WeakSet<Socket>();

/** The request came on a connection that is closing after an early answer: it gets no answer and starts nothing. */
export const onClosingConnection = (req: IncomingMessage): boolean => lingering.has(req.socket);

/**
 * After answering a request whose body was not (fully) read: close the connection, but first
 * read and drop what the client still sends (a "lingering close"), so that the client sees the
 * answer rather than a connection reset. Once the answer is written, the socket closes as soon as
 * the body is all in or the client closes, and at the latest after `linger.idleMs` without data,
 * `linger.totalMs` in all or `linger.maxBytes` dropped.
 */
export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse, linger: Linger = LINGER): void {
  // HTTP/2 has no `connection` header and its streams share one socket: a stream's early answer ends that stream alone.
  if (req.httpVersionMajor >= 2) return;
  if (!res.headersSent) res.setHeader("connection", "close");
  const socket = req.socket as Socket | null;
  if (!socket || socket.destroyed) return;
  req.on("error", ignore);
  // Reading keeps Node from dumping the request, which would drop its data unseen by the timers below.
  req.resume();
  if (lingering.has(socket)) return;
  lingering.add(socket);
  socket.destroySoon = endWritingSide;
  // The bounds start once this answer is written: one queued behind an earlier response (pipelining) must not cut that response short.
  res.once("finish", () => {
    if (socket.destroyed) return;
    const close = () => socket.destroy();
    // Once the body is all in there is nothing left to drop: whatever came next would be a new request.
    if (req.complete) return close();
    let dropped = 0;
    const idle = setTimeout(close, linger.idleMs);
    const total = setTimeout(close, linger.totalMs);
    idle.unref();
    total.unref();
    const onData = (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > linger.maxBytes) close();
      else idle.refresh();
    };
    req.on("data", onData);
    req.once("end", close);
    socket.once("close", () => {
      clearTimeout(idle);
      clearTimeout(total);
      req.off("data", onData);
      req.off("end", close);
    });
  });
}
