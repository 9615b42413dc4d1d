import type { RedisClient } from "./redis-store.js";
import { timerMs } from "../shared/timer.js";

/** Resolves when `client` has ended (ioredis status `end`), or after `timeoutMs` at the latest. */
export function clientEnded(client: RedisClient, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    if (client.status === "end") return resolve();
    const timer = setTimeout(resolve, timerMs(timeoutMs));
    timer.unref?.();
    client.once("end", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
