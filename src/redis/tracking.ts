import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { disconnectClient } from "./disconnect-client.js";
import { loopDeadline } from "./deadline.js";
import type { NearCacheState, NearRead } from "./near-cache.js";
import { timerMs } from "../shared/timer.js";

/** Where Redis publishes invalidations to a client that redirects them (RESP2). */
const CHANNEL = "__redis__:invalidate";

/**
 * How often, while the copy is in use, a token the data connection publishes must come back on
 * the invalidation connection, ms. Either connection can go silent without closing (half-open TCP:
 * a NAT, a firewall or a load balancer that dropped the idle flow; a partition; the server freed
 * the data connection, and its tracking with it): no invalidation and no `close` then come, and
 * without this the copy would serve what it holds, changed in Redis since, until each key's TTL.
 */
export const LIVENESS_MS = 1_000;

/** The invalidation connection of a near cache. */
export interface Tracking {
  /** The store's own channel: an own write publishes its marker there, after the write. */
  readonly markerChannel: string;
  /** Stop listening and close the invalidation connection. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * Keep `state` coherent with Redis (server-assisted client-side caching, RESP2 form):
 * `subscriber` subscribes to `__redis__:invalidate`, and `data` runs
 * `CLIENT TRACKING ON REDIRECT <subscriber's id>`, so that Redis remembers every key `data` reads
 * and sends its name on `subscriber` when it is changed, expires or is evicted (a flush sends
 * `null`). Not `NOLOOP`: with it, Redis 7 would not report what it evicts, or forgets from a
 * full tracking table, while it runs one of this store's own commands. So the store hears of its
 * own writes too: each publishes a marker on `markerChannel` first in its MULTI (see
 * {@link NearRead.marker}).
 *
 * The copy is used only while both connections are up and tracking is on with the subscriber's
 * current id, checked by a token `data` publishes and `subscriber` receives (so both are on one
 * server, and the id is not a stranger's on another one): either connection closing disables it
 * and forgets everything (invalidations may have been lost), and it comes back once both are
 * ready and that check has answered, so only reads sent after it are kept.
 */
export function trackInvalidations(
  data: Redis,
  subscriber: Redis,
  state: NearCacheState,
  onError: (error: Error) => void,
  checkTimeoutMs: number,
  /** How long a liveness token has to come back (the store's `timeoutMs`). */
  livenessTimeoutMs: number,
): Tracking {
  let subscriberId: string | undefined;
  // Bumped whenever a connection closes: turning tracking on, if it started before, gives up.
  let generation = 0;
  // Bumped when the subscriber closes: its set-up (CLIENT ID, SUBSCRIBE), if it started before,
  // gives up. The data connection closing does not stop it: the id stays good.
  let subscriberGeneration = 0;
  const markerChannel = `__zoe_near__:${randomUUID()}`;

  /** The check in flight: the token `data` published, which `subscriber` must receive. */
  let check: { token: string; at: number; timer: NodeJS.Timeout } | undefined;
  let tokens = 0;
  const stopCheck = () => {
    if (check) clearTimeout(check.timer);
    check = undefined;
  };

  const lost = () => {
    generation++;
    stopCheck();
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

  /**
   * `data` is not where `subscriber` is (a failover behind one address): stop tracking there, and
   * connect `subscriber` again, to wherever the address leads now.
   */
  const elsewhere = async (at: number) => {
    stopCheck();
    if (at !== generation) return;
    await data.call("CLIENT", "TRACKING", "OFF").catch(() => {});
    subscriber.disconnect(true);
  };
  const startTracking = async () => {
    const id = subscriberId;
    if (id === undefined || data.status !== "ready" || subscriber.status !== "ready") return;
    const at = generation;
    try {
      await data.call("CLIENT", "TRACKING", "ON", "REDIRECT", id);
    } catch (error) {
      // The id is unknown where `data` is: the two connections reached two servers.
      if (error instanceof Error && /redirect/i.test(error.message)) return elsewhere(at);
      throw error;
    }
    if (at !== generation || subscriberId !== id) return;
    // The copy is used once `subscriber` receives this token from `data`: a PUBLISH count would
    // also count a stranger's pattern subscription on another server.
    stopCheck();
    const token = `on${++tokens}`;
    const timer = setTimeout(() => {
      if (check?.token === token) elsewhere(at).catch(fail);
    }, timerMs(checkTimeoutMs));
    timer.unref?.();
    check = { token, at, timer };
    const reached = Number(await data.publish(markerChannel, token));
    if (reached === 0 && check?.token === token) await elsewhere(at);
  };
  const checked = (token: string) => {
    if (check?.token !== token) return;
    const at = check.at;
    stopCheck();
    if (at === generation && data.status === "ready" && subscriber.status === "ready") state.enable();
  };
  const onDataReady = () => {
    startTracking().catch(fail);
  };
  const onSubscriberReady = () => {
    const at = subscriberGeneration;
    (async () => {
      const id = String(await subscriber.client("ID"));
      await subscriber.subscribe(CHANNEL, markerChannel);
      if (at !== subscriberGeneration) return;
      subscriberId = id;
      await startTracking();
    })().catch(fail);
  };
  const onMessage = (channel: Buffer, message: unknown) => {
    const name = channel.toString();
    if (name === markerChannel) {
      const text = String(message);
      if (text === alive?.token) return alive.arrived();
      return text.startsWith("on") ? checked(text) : state.marked(text);
    }
    if (name !== CHANNEL) return;
    if (message === null) state.invalidate(null);
    else if (Array.isArray(message)) for (const key of message) state.invalidate(String(key));
    else state.invalidate(String(message));
  };

  // While the copy is in use, every LIVENESS_MS a token `data` publishes must reach `subscriber`
  // within `livenessTimeoutMs`; otherwise the copy is taken for lost (emptied and unused).
  /** The liveness check in flight: the token `data` published, and what to call when `subscriber` receives it. */
  let alive: { token: string; arrived: () => void } | undefined;
  const liveness = setInterval(() => {
    if (alive || !state.active || data.status !== "ready" || subscriber.status !== "ready") return;
    const at = generation;
    const token = `lv${++tokens}`;
    const arrived = new Promise<void>((resolve) => {
      alive = { token, arrived: resolve };
    });
    data.publish(markerChannel, token).catch(() => {});
    loopDeadline(
      arrived,
      livenessTimeoutMs,
      () => new Error(`the near cache's liveness token did not come back within ${livenessTimeoutMs} ms`),
    )
      .catch((error: unknown) => {
        // A connection that closed meanwhile is handled by its `close`.
        if (at !== generation) return;
        lost();
        fail(error);
        // The subscriber connects again (it carries no command of the store's). Tracking starts over
        // once both connections answer, so while the data connection is the silent one the copy
        // stays unused, and its reads go to Redis under their deadlines.
        subscriber.disconnect(true);
      })
      .finally(() => {
        alive = undefined;
      });
  }, timerMs(LIVENESS_MS));
  liveness.unref?.();

  data.on("ready", onDataReady);
  data.on("close", lost);
  subscriber.on("ready", onSubscriberReady);
  subscriber.on("close", onSubscriberClose);
  subscriber.on("messageBuffer", onMessage);
  subscriber.on("error", onError);
  if (data.status === "ready") onDataReady();
  if (subscriber.status === "ready") onSubscriberReady();

  return {
    markerChannel,
    async close(timeoutMs) {
      clearInterval(liveness);
      data.off("ready", onDataReady);
      data.off("close", lost);
      subscriber.off("ready", onSubscriberReady);
      subscriber.off("close", onSubscriberClose);
      subscriber.off("messageBuffer", onMessage);
      subscriberGeneration++;
      lost();
      // The `error` listener stays: a late socket error must not become an unhandled one.
      await disconnectClient(subscriber, timeoutMs);
    },
  };
}
