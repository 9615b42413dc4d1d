/**
 * A TCP proxy in front of Redis that can turn chosen connections into black holes: their bytes are
 * no longer forwarded in either direction, but neither socket is closed (a half-open connection,
 * as left by a NAT/conntrack/load-balancer that drops a flow, or a partition). New connections
 * are forwarded normally.
 */
import net from "node:net";

export interface BlackholeProxy {
  readonly url: string;
  /** Connections opened so far, and which of them sent SUBSCRIBE. */
  connections(): Array<{ subscriber: boolean; holed: boolean }>;
  /** Black-hole every connection open now for which `which` holds. Returns how many. */
  blackhole(which: (c: { subscriber: boolean }) => boolean): number;
  /** Black-hole them and close their server side too: Redis frees the client, which hears nothing. Returns how many. */
  cutServerSide(which: (c: { subscriber: boolean }) => boolean): number;
  close(): Promise<void>;
}

export async function blackholeProxy(targetPort: number): Promise<BlackholeProxy> {
  const conns: Array<{ client: net.Socket; upstream: net.Socket; subscriber: boolean; holed: boolean }> = [];
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: "127.0.0.1", port: targetPort });
    const c = { client, upstream, subscriber: false, holed: false };
    conns.push(c);
    client.on("data", (d: Buffer) => {
      if (/subscribe/i.test(d.toString("latin1"))) c.subscriber = true;
      if (!c.holed) upstream.write(d);
    });
    upstream.on("data", (d: Buffer) => {
      if (!c.holed) client.write(d);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    // A black-holed connection's server side going away is not passed on: the client keeps a half-open socket.
    upstream
      .on("error", () => {})
      .on("close", () => {
        if (!c.holed) end();
      });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    connections: () => conns.filter((c) => !c.client.destroyed).map(({ subscriber, holed }) => ({ subscriber, holed })),
    blackhole(which) {
      let n = 0;
      for (const c of conns) {
        if (c.client.destroyed || c.holed || !which(c)) continue;
        c.holed = true;
        n++;
      }
      return n;
    },
    cutServerSide(which) {
      let n = 0;
      for (const c of conns) {
        if (c.client.destroyed || c.holed || !which(c)) continue;
        c.holed = true;
        c.upstream.destroy();
        n++;
      }
      return n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) {
          c.client.destroy();
          c.upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
