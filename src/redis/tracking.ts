import type { Redis } from "ioredis";
import type { NearCacheState } from "./near-cache.js";

/** Where Redis publishes invalidations to a client that redirects them (RESP2). */
const CHANNEL = "__redis__:invalidate";

/** The invalidation connection of a near cache. */
export interface Tracking {
  /** Stop listening and close the invalidation connection. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * Keep `state` coherent with Redis (server-assisted client-side caching, RESP2 form):
 * `subscriber` subscribes to `__redis__:invalidate`, and `data` runs
 * `CLIENT TRACKING ON REDIRECT <subscriber's id> NOLOOP`, so that Redis remembers every key `data`
 * reads and sends its name on `subscriber` when anyone else changes it, it expires or it is
 * evicted (a flush sends `null`). The store's own writes drop its copy themselves (NOLOOP).
 *
 * The copy is used only while both connections are up and tracking is on with the subscriber's
 * current id: either connection closing disables it and forgets everything (invalidations may
 * have been lost), and it comes back once both are ready and the tracking command has answered,
 * so only reads sent after that command are kept.
 */
export function trackInvalidations(data: Redis, subscriber: Redis, state: NearCacheState, onError: (error: Error) => void): Tracking {
  let subscriberId: string | undefined;
  // Bumped whenever a connection closes: turning tracking on, if it started before, gives up.
  let generation = 0;
  // Bumped when the subscriber closes: its set-up (CLIENT ID, SUBSCRIBE), if it started before,
  // gives up. The data connection closing does not stop it: the id stays good.
  let subscriberGeneration = 0;

  const lost = () => {
    generation++;
    state.disable();
  };
  const onSubscriberClose = () => {
    subscriberId = undefined;
    subscriberGeneration++;
    lost();
  };
  const fail = (error: unknown) => {
    if (error instanceof Error) onError(error);
  };

  const startTracking = async () => {
    const id = subscriberId;
    if (id === undefined || data.status !== "ready" || subscriber.status !== "ready") return;
    const at = generation;
    await data.call("CLIENT", "TRACKING", "ON", "REDIRECT", id, "NOLOOP");
    if (at === generation && subscriberId === id && data.status === "ready") state.enable();
  };
  const onDataReady = () => {
    startTracking().catch(fail);
  };
  const onSubscriberReady = () => {
    const at = subscriberGeneration;
    (async () => {
      const id = String(await subscriber.client("ID"));
      await subscriber.subscribe(CHANNEL);
      if (at !== subscriberGeneration) return;
      subscriberId = id;
      await startTracking();
    })().catch(fail);
  };
  const onMessage = (channel: Buffer, message: unknown) => {
    if (channel.toString() !== CHANNEL) return;
    if (message === null) state.invalidate(null);
    else if (Array.isArray(message)) for (const key of message) state.invalidate(String(key));
    else state.invalidate(String(message));
  };

  data.on("ready", onDataReady);
  data.on("close", lost);
  subscriber.on("ready", onSubscriberReady);
  subscriber.on("close", onSubscriberClose);
  subscriber.on("messageBuffer", onMessage);
  subscriber.on("error", onError);
  if (data.status === "ready") onDataReady();
  if (subscriber.status === "ready") onSubscriberReady();

  return {
    async close(timeoutMs) {
      data.off("ready", onDataReady);
      data.off("close", lost);
      subscriber.off("ready", onSubscriberReady);
      subscriber.off("close", onSubscriberClose);
      subscriber.off("messageBuffer", onMessage);
      subscriberGeneration++;
      lost();
      const ended = new Promise<void>((resolve) => {
        if (subscriber.status === "end") return resolve();
        const timer = setTimeout(resolve, timeoutMs);
        timer.unref?.();
        subscriber.once("end", () => {
          clearTimeout(timer);
          resolve();
        });
      });
      // The `error` listener stays: a late socket error must not become an unhandled one.
      subscriber.disconnect();
      await ended;
    },
  };
}
