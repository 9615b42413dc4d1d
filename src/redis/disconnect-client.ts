import type { ClusterOptions, RedisOptions } from "ioredis";
import type { RedisClient } from "./redis-store.js";
import { timerMs } from "../shared/timer.js";

/** ioredis' own default `disconnectTimeout`, ms. */
const IOREDIS_DISCONNECT_TIMEOUT_MS = 2_000;

/** ioredis' `disconnectTimeout` of a client: how long a socket it closes may stay half-open, ms. */
function disconnectTimeoutOf(client: RedisClient): number {
  const options: { disconnectTimeout?: number | undefined } | undefined =
    "redisOptions" in client.options ? (client.options as ClusterOptions).redisOptions : (client.options as RedisOptions);
  return options?.disconnectTimeout ?? IOREDIS_DISCONNECT_TIMEOUT_MS;
}

/**
 * Disconnect a client of the store's own; resolves once it has ended, `timeoutMs` at most.
 *
 * A client waiting to reconnect (its server is down, or it is being made to connect again) has no
 * socket: `disconnect()` then cancels the reconnection but ioredis never emits `end` (ioredis
 * issue #1830), and arms its `disconnectTimeout` (100 ms for the store's clients) on the socket
 * already closed; that timer is what is waited for, so that nothing of the client is left once
 * this resolves. So for a client still connecting, whose failed ready check arms it again.
 */
export function disconnectClient(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === "end") return Promise.resolve();
  // Not unref'd: a close() that is the last thing a process waits for must still resolve.
  const lingerMs = timerMs(Math.min(disconnectTimeoutOf(client), timeoutMs));
  if (client.status === "reconnecting") {
    client.disconnect();
    // Armed after ioredis' timer, of the same length at most: it fires after it.
    return new Promise((resolve) => setTimeout(resolve, lingerMs));
  }
  // One still connecting: when its pending ready check fails, after `end`, ioredis arms that timer
  // again (`recoverFromFatalError`): the wait is for it too, from the turn after `end`.
  const connecting = client.status !== "ready";
  const ended = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timerMs(timeoutMs));
    client.once("end", () => {
      clearTimeout(timer);
      if (!connecting) return resolve();
      setImmediate(() => setTimeout(resolve, lingerMs));
    });
  });
  client.disconnect();
  return ended;
}
