/** A TCP proxy in front of a Redis server that is slow to connect: a slow network, for real. */
import net from "node:net";

export interface SlowProxy {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Accept connections at once but forward nothing, either way, for `delayMs`: a client sees its
 * socket connected and its first command (the ready check) answered `delayMs` late.
 */
export async function slowConnectProxy(targetPort: number, delayMs: number): Promise<SlowProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.pause();
    const timer = setTimeout(() => {
      const upstream = net.connect({ host: "127.0.0.1", port: targetPort });
      sockets.add(upstream);
      socket.pipe(upstream).pipe(socket);
      socket.resume();
      const end = () => {
        socket.destroy();
        upstream.destroy();
      };
      upstream.on("error", end).on("close", end);
      socket.on("error", end).on("close", end);
    }, delayMs);
    socket.on("close", () => clearTimeout(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
