import type { RedisClient } from "./redis-store.js";
import { timerMs } from "../shared/timer.js";

/**
 * Disconnect a client of the store's own; resolves once it has ended, `timeoutMs` at most.
 *
 * A client waiting to reconnect (its server is down) has no socket: `disconnect()` then cancels
 * the reconnection but ioredis never emits `end` (ioredis issue #1830), so there is nothing to
 * wait for. A client that never got ready may leave one timer of ioredis behind, its
 * `disconnectTimeout` (100 ms for the store's clients), which ends by itself.
 */
export function disconnectClient(client: RedisClient, timeoutMs: number): Promise<void> {
  const waiting = client.status === "reconnecting";
  const ended = new Promise<void>((resolve) => {
    if (waiting || client.status === "end") return resolve();
    // Not unref'd: a close() that is the last thing a process waits for must still resolve.
    const timer = setTimeout(resolve, timerMs(timeoutMs));
    client.once("end", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  client.disconnect();
  return ended;
}
