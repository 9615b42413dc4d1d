/** A TCP proxy in front of a Redis server that answers some commands itself, as a faulty proxy would. */
import net from "node:net";

export interface ReplyProxy {
  readonly url: string;
  close(): Promise<void>;
}

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

/**
 * Forward every connection to Redis at `targetPort`, except a chunk of commands for which
 * `answer` returns a reply: the proxy sends that reply and Redis never sees the commands. Only
 * for tests that send one call at a time (a reply sent here overtakes any Redis still owes).
 */
export async function replyProxy(targetPort: number, answer: (commands: string[][]) => string | undefined): Promise<ReplyProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: "127.0.0.1", port: targetPort });
    sockets.add(client).add(upstream);
    client.on("data", (data: Buffer) => {
      const commands = commandsOf(data);
      const reply = commands && answer(commands);
      if (reply === undefined) upstream.write(data);
      else client.write(reply);
    });
    upstream.on("data", (data: Buffer) => client.write(data));
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
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
