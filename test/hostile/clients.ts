import { request as httpRequest } from "node:http";
import type { AGUIEvent } from "@ag-ui/core";
import { createParser } from "eventsource-parser";
import { expect } from "vitest";
import { expectValidStream } from "../helpers/ag-ui.js";

/** What a server answered. */
export interface Answer {
  status: number;
  contentType: string;
  text: string;
}

/** Send one request with fetch; the answer is read to the end. */
export async function send(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array } = {},
): Promise<Answer> {
  const response = await fetch(url, {
    method: init.method ?? "POST",
    headers: init.headers ?? { "content-type": "application/json" },
    ...(init.body === undefined ? {} : { body: init.body }),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, contentType: response.headers.get("content-type") ?? "", text: await response.text() };
}

/** The events of an SSE body. */
export function sseEvents(text: string): AGUIEvent[] {
  const events: AGUIEvent[] = [];
  const parser = createParser({ onEvent: (message) => events.push(JSON.parse(message.data) as AGUIEvent) });
  parser.feed(text);
  return events;
}

/**
 * A well-formed answer: a 4xx/5xx JSON error `{ error: { code, message } }`, or a 200 SSE stream
 * that @ag-ui/client accepts and that ends with exactly one terminal event. Returns the error code
 * or the terminal event's type (and code).
 */
export async function expectWellFormed(answer: Answer): Promise<string> {
  if (answer.status === 200) {
    expect(answer.contentType).toMatch(/^text\/event-stream/);
    const events = sseEvents(answer.text);
    await expectValidStream(events);
    const last = events.at(-1) as { type: string; code?: string };
    return last.code ? `${last.type} ${last.code}` : last.type;
  }
  expect(answer.status, answer.text).toBeGreaterThanOrEqual(400);
  expect(answer.contentType).toMatch(/^application\/json/);
  const body = JSON.parse(answer.text) as { error: { code: unknown; message: unknown } };
  expect(typeof body.error.code).toBe("string");
  expect(typeof body.error.message).toBe("string");
  return body.error.code as string;
}

/** How a raw upload ended: the status the server answered, or the connection closing first. */
export type UploadOutcome = { status: number; body: string } | { closed: true };

/**
 * POST a body of `declared` bytes but send only `sent` of them, then either destroy the socket
 * after `leaveAfterMs` (a client that vanishes) or wait for the server's answer.
 */
export function partialUpload(
  port: number,
  path: string,
  options: { declared: number; sent: number; leaveAfterMs?: number; headers?: Record<string, string> },
): Promise<UploadOutcome> {
  return new Promise((resolve) => {
    const req = httpRequest({
      host: "127.0.0.1",
      port,
      path,
      method: "POST",
      agent: false,
      headers: {
        "content-type": "application/json",
        "content-length": String(options.declared),
        authorization: "Bearer ada",
        ...options.headers,
      },
    });
    let settled = false;
    const settle = (outcome: UploadOutcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => settle({ status: res.statusCode ?? 0, body }));
      res.on("error", () => settle({ closed: true }));
    });
    req.on("error", () => settle({ closed: true }));
    req.on("close", () => setTimeout(() => settle({ closed: true }), 50));
    req.write(
      `{"threadId":"t","runId":"r","messages":[{"id":"m","role":"user","content":"${"x".repeat(Math.max(0, options.sent - 60))}`.slice(
        0,
        options.sent,
      ),
    );
    if (options.leaveAfterMs !== undefined) setTimeout(() => req.destroy(), options.leaveAfterMs);
  });
}
