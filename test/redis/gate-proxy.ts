/** A TCP proxy in front of a Redis server that can hold back the replies to a store's data connection. */
import net from "node:net";

export interface GateProxy {
  readonly url: string;
  /** From now on, keep what Redis sends to every connection but the subscriber. */
  hold(): void;
  /** Bytes held so far (Redis has answered something held). */
  heldBytes(): number;
  /** Deliver what was held, in order, and stop holding. */
  release(): void;
  /** Withhold the next SUBSCRIBE from Redis and hand `handler` the function that sends it. */
  interceptSubscribe(handler: (send: () => void) => void): void;
  /** Close every connection but the subscriber's, as a network would. */
  dropData(): void;
  /** Send new connections to Redis at `port` from now on (a failover behind one address). */
  retarget(port: number): void;
  close(): Promise<void>;
}

/**
 * Forward every connection to Redis at `targetPort`. A connection that has sent SUBSCRIBE is the
 * store's invalidation connection and is never held: while the data connection's replies wait in
 * the proxy, invalidations still arrive, as they can on a real network.
 */
export async function gateProxy(firstPort: number): Promise<GateProxy> {
  let targetPort = firstPort;
  const sockets = new Set<net.Socket>();
  const gates: Array<{ client: net.Socket; held: Buffer[]; subscriber: boolean }> = [];
  // Each connection's upstream goes with it (see `end` below).
  let holding = false;
  let onSubscribe: ((send: () => void) => void) | undefined;
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: "127.0.0.1", port: targetPort });
    sockets.add(client).add(upstream);
    const gate = { client, held: [] as Buffer[], subscriber: false };
    gates.push(gate);
    client.on("data", (data: Buffer) => {
      if (/subscribe/i.test(data.toString("latin1"))) {
        gate.subscriber = true;
        const handler = onSubscribe;
        onSubscribe = undefined;
        if (handler) return handler(() => upstream.write(data));
      }
      upstream.write(data);
    });
    upstream.on("data", (data: Buffer) => {
      if (holding && !gate.subscriber) gate.held.push(data);
      else client.write(data);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on("error", end).on("close", end);
    client.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    hold: () => {
      holding = true;
    },
    heldBytes: () => gates.reduce((n, g) => n + g.held.reduce((m, b) => m + b.length, 0), 0),
    release: () => {
      holding = false;
      for (const gate of gates) {
        for (const data of gate.held) gate.client.write(data);
        gate.held = [];
      }
    },
    interceptSubscribe: (handler) => {
      onSubscribe = handler;
    },
    retarget: (port) => {
      targetPort = port;
    },
    dropData: () => {
      for (const gate of gates) if (!gate.subscriber) gate.client.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
