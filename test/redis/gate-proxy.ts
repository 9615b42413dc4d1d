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
  /**
   * From now on, answer a chunk of whole commands for which `answer` returns a reply, as a faulty
   * proxy would: Redis never sees them. Only for tests that send one call at a time (a reply sent
   * here overtakes any Redis still owes).
   */
  answer(answer: (commands: string[][]) => string | undefined): void;
  /** Send new connections to Redis at `port` from now on (a failover behind one address). */
  retarget(port: number): void;
  close(): Promise<void>;
}

/**
 * Forward every connection to Redis at `targetPort`. A connection that has sent SUBSCRIBE is the
 * store's invalidation connection and is never held: while the data connection's replies wait in
 * the proxy, invalidations still arrive, as they can on a real network.
 */
/** The commands of one chunk a client sent (RESP arrays of bulk strings); undefined unless it holds whole ones only. */
function commandsOf(data: Buffer): string[][] | undefined {
  const text = data.toString("latin1");
  const commands: string[][] = [];
  let at = 0;
  const line = () => {
    const end = text.indexOf("\r\n", at);
    if (end === -1) return undefined;
    const value = text.slice(at, end);
    at = end + 2;
    return value;
  };
  while (at < text.length) {
    const head = line();
    if (!head?.startsWith("*")) return undefined;
    const args: string[] = [];
    for (let n = Number(head.slice(1)); n > 0; n--) {
      const size = Number(line()?.slice(1));
      if (!Number.isInteger(size) || at + size + 2 > text.length) return undefined;
      args.push(text.slice(at, at + size));
      at += size + 2;
    }
    commands.push(args);
  }
  return commands;
}

export async function gateProxy(firstPort: number): Promise<GateProxy> {
  let targetPort = firstPort;
  const sockets = new Set<net.Socket>();
  const gates: Array<{ client: net.Socket; held: Buffer[]; subscriber: boolean }> = [];
  // Each connection's upstream goes with it (see `end` below).
  let holding = false;
  let onSubscribe: ((send: () => void) => void) | undefined;
  let answerer: ((commands: string[][]) => string | undefined) | undefined;
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
      const commands = answerer && commandsOf(data);
      const reply = commands && answerer?.(commands);
      if (reply === undefined) upstream.write(data);
      else client.write(reply);
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
    answer: (answer) => {
      answerer = answer;
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
