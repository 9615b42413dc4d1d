import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Start an HTTP server on a random loopback port. A handler whose promise rejects is recorded in
 * `rejections` (an AG-UI handler's never should) and answered with a 500.
 */
export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>) {
  const rejections: unknown[] = [];
  const server: Server = createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch((error: unknown) => {
      rejections.push(error);
      if (!res.headersSent) res.writeHead(500);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    rejections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** POST a JSON body (already a string) with fetch. */
export const postJson = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

/** A minimal valid AG-UI run input with one user message. */
export const runInput = (text: string, extra: Record<string, unknown> = {}) => ({
  threadId: "thread-1",
  runId: `run-${Math.random().toString(36).slice(2)}`,
  messages: [{ id: `m-${Math.random().toString(36).slice(2)}`, role: "user", content: text }],
  tools: [],
  context: [],
  ...extra,
});
