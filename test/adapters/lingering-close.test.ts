import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { closeAfterAnswer, type Linger } from "../../src/adapters/read-body.js";
import { listen } from "../helpers/http.js";

/**
 * The lingering close after an early answer (src/adapters/read-body.ts): the server answers at
 * once, reads and drops the rest of the body, and closes when the client does, when the client
 * goes quiet, or when the total time is up.
 */
let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** A server that answers every request at once with a 413; `closed` settles when the server's side of the connection is closed. */
async function earlyAnswerServer(linger: Linger) {
  let onClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => (onClosed = resolve));
  const server = await listen((req, res) => {
    req.socket.once("close", onClosed);
    closeAfterAnswer(req, res, linger);
    res.writeHead(413, { "content-type": "text/plain", "content-length": "9" });
    res.end("too large");
  });
  cleanups.push(server.close);
  return { ...server, closed };
}

/** A raw client that declares a large body and sends `first` bytes of it. */
function uploader(port: number, first: number) {
  const socket: Socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  let answer = "";
  let error: string | undefined;
  socket.on("data", (d: Buffer) => (answer += d.toString("latin1")));
  socket.on("error", (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
  socket.write(`POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100000000\r\n\r\n${"x".repeat(first)}`);
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  // The server's end of its writing side: everything it sent has been read.
  const ended = new Promise<void>((resolve) => socket.on("end", () => resolve()));
  return { socket, closed, ended, answer: () => answer, error: () => error };
}

describe("closeAfterAnswer: a lingering close", () => {
  it("closes the connection when the client stops sending (idle), after the client has the answer", async () => {
    const { port, closed } = await earlyAnswerServer({ idleMs: 100, totalMs: 60_000, maxBytes: 1e9 });
    const client = uploader(port, 1_000);
    cleanups.push(async () => void client.socket.destroy());
    await Promise.all([closed, client.ended]);
    expect(client.answer()).toMatch(/^HTTP\/1\.1 413 [\s\S]*connection: close[\s\S]*\r\n\r\ntoo large$/i);
    expect(client.error()).toBeUndefined();
  });

  it("closes the connection of a client that never stops sending (total), though each piece comes before the idle time", async () => {
    const { port, closed } = await earlyAnswerServer({ idleMs: 60_000, totalMs: 300, maxBytes: 1e9 });
    const client = uploader(port, 10);
    let pieces = 0;
    const drip = setInterval(() => {
      if (client.socket.destroyed || client.socket.closed) return;
      pieces++;
      client.socket.write("x".repeat(1_000), () => {});
    }, 10);
    cleanups.push(async () => void (clearInterval(drip), client.socket.destroy()));
    await Promise.all([closed, client.ended]);
    clearInterval(drip);
    expect(client.answer()).toMatch(/^HTTP\/1\.1 413 [\s\S]*\r\n\r\ntoo large$/);
    expect(pieces).toBeGreaterThan(0);
  });

  it("closes as soon as the client closes after reading the answer", async () => {
    const { port, closed } = await earlyAnswerServer({ idleMs: 60_000, totalMs: 60_000, maxBytes: 1e9 });
    const client = uploader(port, 1_000);
    await new Promise<void>((resolve) => client.socket.on("data", () => resolve()));
    client.socket.end();
    // Both timers are a minute long: the sockets close only because the client closed its side.
    await Promise.all([closed, client.closed]);
    expect(client.error()).toBeUndefined();
    expect(client.answer()).toContain("too large");
  });

  it("closes once it has dropped maxBytes, though the client is neither idle nor out of time", async () => {
    const { port, closed } = await earlyAnswerServer({ idleMs: 60_000, totalMs: 60_000, maxBytes: 64 * 1024 });
    const client = uploader(port, 10);
    let sent = 0;
    const pump = () => {
      if (client.socket.destroyed || sent > 10 * 1024 * 1024) return;
      sent += 16 * 1024;
      client.socket.write(Buffer.alloc(16 * 1024, 0x78), (error) => {
        if (!error) setImmediate(pump);
      });
    };
    pump();
    cleanups.push(async () => void client.socket.destroy());
    await Promise.all([closed, client.ended]);
    expect(client.answer()).toMatch(/^HTTP\/1\.1 413 [\s\S]*\r\n\r\ntoo large$/);
    expect(sent).toBeLessThan(10 * 1024 * 1024);
  });

  it("waits for the answer to be written: an early answer queued behind a slow response does not cut that response short", async () => {
    let onClosed: () => void = () => {};
    const closed = new Promise<void>((resolve) => (onClosed = resolve));
    const server = await listen(async (req, res) => {
      req.socket.once("close", onClosed);
      if (req.method === "GET") {
        closeAfterAnswer(req, res, { idleMs: 20, totalMs: 40, maxBytes: 1e9 });
        res.writeHead(405, { "content-length": "2" });
        res.end("no");
        return;
      }
      req.resume();
      res.writeHead(200, { "content-type": "text/plain" });
      for (let i = 0; i < 10; i++) {
        res.write(`part ${i}\n`);
        await new Promise((r) => setTimeout(r, 30));
      }
      res.end("done\n");
    });
    cleanups.push(server.close);
    // A slow POST, then a pipelined GET that gets the early answer.
    const socket = connect({ port: server.port, host: "127.0.0.1" });
    let answer = "";
    socket.on("data", (d: Buffer) => (answer += d.toString("latin1")));
    socket.on("error", () => {});
    socket.write("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n");
    cleanups.push(async () => void socket.destroy());
    await Promise.all([closed, new Promise((r) => socket.on("close", r))]);
    // The whole chunked response (its last part and the terminating chunk), then the 405.
    expect(answer).toMatch(/part 9\n\r\n5\r\ndone\n\r\n0\r\n\r\nHTTP\/1\.1 405 [\s\S]*\r\n\r\nno$/);
  });
});
