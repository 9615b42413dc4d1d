/** Race-free waits on a fallback store's state, for the Redis tests. */
import type { FallbackCacheStore, FallbackState } from "../../src/redis/index.js";

/**
 * Resolves once `store.state` is `wanted`: checks the current state first, then listens to the
 * store's events, so a switch that happened before the call is never missed.
 */
export function whenState(store: FallbackCacheStore, wanted: FallbackState): Promise<void> {
  if (store.state === wanted) return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (store.state !== wanted) return;
      store.off("degraded", check);
      store.off("recovered", check);
      resolve();
    };
    store.on("degraded", check);
    store.on("recovered", check);
    // `starting` ends without an event when the first probe answers.
    void store.whenStarted().then(check);
  });
}

/** Busy-wait `ms` milliseconds: the event loop is blocked, as by a model load. */
export function blockEventLoop(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

/** Send a signal to a redis-server child (SIGSTOP to freeze it, SIGCONT to resume it). */
export function signal(server: { process: { kill(signal: NodeJS.Signals): boolean } | undefined }, sig: "SIGSTOP" | "SIGCONT"): void {
  if (!server.process?.kill(sig)) throw new Error(`Could not send ${sig} to the redis-server.`);
}
