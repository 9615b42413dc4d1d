import { EventEmitter } from "eventemitter3";
import { Cluster, Redis, ReplyError, type ClusterNode, type ClusterOptions, type RedisOptions } from "ioredis";
import type { CacheBatch, CacheBatchResult, CacheStore, ListAppendOptions } from "../cache/types.js";
import { assertTtl } from "../cache/validate.js";
import { attempt, loopDeadline } from "./deadline.js";
import { disconnectClient } from "./disconnect-client.js";
import { CacheTimeoutError } from "./errors.js";
import { MISS, NearCacheState, type NearCacheOptions, type NearCacheStats } from "./near-cache.js";
import { keepAppended, keepReadBack, keepWritten, mgetReply, nearRead, tailRange } from "./near-read.js";
import { LIST_APPEND_ONCE_LUA } from "./scripts.js";
import { clusterSlot } from "./slot.js";
import { trackInvalidations, type Tracking } from "./tracking.js";
import { copyJson } from "../cache/json-copy.js";
import { toWellFormed } from "../shared/unicode.js";
import type { ListAppendOnceOptions } from "./write-back.js";

/** An ioredis client: a single server (`Redis`) or a `Cluster`. */
export type RedisClient = Redis | Cluster;

/** Where the store's client comes from: exactly one of `client`, `url` or `nodes`. */
export type RedisConnection =
  | {
      /**
       * A client you own: the store never quits it (close it yourself after `store.close()`).
       * Create it with `autoResendUnfulfilledCommands: false` (see {@link cacheClientOptions}):
       * on ioredis' default, a write whose reply a dropped connection lost is sent again after
       * the reconnection, and a history turn is stored twice.
       */
      client: RedisClient;
      url?: never;
      nodes?: never;
    }
  | {
      /** A `redis://` or `rediss://` URL: the store creates the client and quits it on `close()`. */
      url: string;
      client?: never;
      nodes?: never;
    }
  | {
      /** Redis Cluster start-up nodes: the store creates a `Cluster` client and quits it on `close()`. */
      nodes: ClusterNode[];
      client?: never;
      url?: never;
    };

/** Options of {@link redisCacheStore}. */
export type RedisCacheStoreOptions = RedisConnection & {
  /**
   * Text put before every key (e.g. `"app1:"`). Must not contain `{` or `}`: Redis Cluster hashes
   * the first `{...}` of a key, which is the pipeline's user tag. Default `""`.
   */
  prefix?: string;
  /**
   * Deadline of every call, ms, whatever the client's options (a host client with an offline
   * queue and 20 retries included): a call with no answer by then rejects with a
   * `CacheTimeoutError`. Time the event loop was blocked is not counted. Default 500.
   */
  timeoutMs?: number;
  /**
   * A call made while the client is connecting (ioredis status `wait`, `connecting`, `connect`)
   * first waits for the connection, at most this long, ms (stalls not counted); its `timeoutMs`
   * starts once connected. Also the ioredis `connectTimeout` of a client the store creates.
   * Default 2,000.
   */
  connectTimeoutMs?: number;
  /** Extra ioredis options for a client the store creates; they win over the store's defaults. */
  redisOptions?: RedisOptions;
  /** Extra ioredis Cluster options for a `nodes` client; they win over the store's defaults. */
  clusterOptions?: ClusterOptions;
  /** Called when a stored value is not valid JSON or has the wrong Redis type (the read is a miss). */
  onInvalid?: (event: InvalidValueEvent) => void;
  /**
   * Keep an in-process copy of what the store reads, kept coherent by Redis (server-assisted
   * client-side caching): a warm read makes no round trip. Redis remembers the keys read and
   * sends their names on a second connection when anyone changes them, they expire or are
   * evicted; the copy then drops them. A value also leaves the copy when its TTL ends. While
   * either connection is down the copy is empty and unused. `true` for the defaults
   * ({@link NEAR_CACHE_DEFAULTS}). Needs `url` (a single server, Redis 6 or later): the store
   * makes both connections. Default off. See docs/redis.md.
   */
  nearCache?: boolean | NearCacheOptions;
};

/** A value the store could not use: treated as a miss, never thrown. */
export interface InvalidValueEvent {
  /** The key as the caller gave it (without the store prefix). */
  key: string;
  /** What was wrong ("not JSON", or the Redis error text, e.g. WRONGTYPE). */
  reason: string;
}

/** Events of a {@link RedisCacheStore}. */
export interface RedisCacheStoreEvents {
  /** A stored value or list item could not be used; the read treated it as a miss. */
  invalid: (event: InvalidValueEvent) => void;
  /** The client (re)connected and is ready for commands. */
  ready: () => void;
  /** An error of a client the store created (connection refused, reset...). */
  error: (error: Error) => void;
}

/** A {@link CacheStore} on Redis (ioredis), single server or Cluster. */
export interface RedisCacheStore extends CacheStore {
  readonly name: "redis";
  /** The ioredis client in use. */
  readonly client: RedisClient;
  /** The key prefix in use. */
  readonly prefix: string;
  /** Whether the client is connected and ready for commands. */
  isReady(): boolean;
  /**
   * Wait for a connection being made (at most `connectTimeoutMs`) and send a PING (at most
   * `timeoutMs`). An error reply (NOPERM for an ACL user without PING) is an answer: it resolves.
   */
  ping(): Promise<void>;
  /**
   * Append each item the list does not hold yet (equal JSON; repeats counted), trim, refresh the
   * TTL, in one atomic script: appending the same items twice appends them once. Used to write
   * back what was written on the fallback during an outage. `replace` deletes the key first.
   */
  listAppendOnce(key: string, items: readonly unknown[], options: ListAppendOnceOptions): Promise<void>;
  /** Call `listener` each time the client becomes ready; returns a function that stops it. */
  onReady(listener: () => void): () => void;
  /** What the near cache holds and has served; undefined without `nearCache`. */
  nearCacheStats(): NearCacheStats | undefined;
  on<E extends keyof RedisCacheStoreEvents>(event: E, listener: RedisCacheStoreEvents[E]): this;
  off<E extends keyof RedisCacheStoreEvents>(event: E, listener: RedisCacheStoreEvents[E]): this;
}

/** Defaults of {@link redisCacheStore}. */
export const REDIS_STORE_DEFAULTS = { prefix: "", timeoutMs: 500, connectTimeoutMs: 2_000, maxReconnectDelayMs: 500 } as const;

/**
 * How long a socket the store closes may stay half-closed, waiting for a server that does not
 * close its side (a hung one), before ioredis destroys it, ms. ioredis' default (2 s) would hold
 * the process that long after `close()`.
 */
const DISCONNECT_TIMEOUT_MS = 100;

/** PINGs in a row without an answer, on a connection that looks up, after which the store's own client connects again. */
const UNANSWERED_PINGS_TO_RECONNECT = 3;

/** Longest TTL sent to Redis (PX), ms. */
const MAX_TTL_MS = Number.MAX_SAFE_INTEGER;

/**
 * ioredis options for a cache client: fail fast instead of queueing while disconnected
 * (`enableOfflineQueue: false`), at most one retry, a `connectTimeout`, and reconnection every
 * 50 ms up to `maxReconnectDelayMs`. Commands sent before a connection dropped are not sent again
 * after the reconnection (`autoResendUnfulfilledCommands: false`): Redis may have run one whose
 * reply was lost, and a history append must not run twice; such a call fails instead, and
 * {@link fallbackCacheStore} writes it back idempotently. A `disconnectTimeout` of 100 ms: a
 * socket to a hung server is destroyed that soon after `close()`, not 2 s later, so it does not
 * hold the process. No `commandTimeout`: the store gives every call its own deadline, one that
 * does not count event-loop stalls (ioredis' `commandTimeout` fires after a stall even when the
 * reply is waiting in the socket). Used for the clients {@link redisCacheStore} creates; pass them
 * to `new Redis(...)` for a client of your own.
 */
export function cacheClientOptions(options: { maxReconnectDelayMs?: number; connectTimeoutMs?: number } = {}): RedisOptions {
  const maxReconnectDelayMs = options.maxReconnectDelayMs ?? REDIS_STORE_DEFAULTS.maxReconnectDelayMs;
  return {
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 1,
    connectTimeout: options.connectTimeoutMs ?? REDIS_STORE_DEFAULTS.connectTimeoutMs,
    disconnectTimeout: DISCONNECT_TIMEOUT_MS,
    retryStrategy: (times: number) => Math.min(times * 50, maxReconnectDelayMs),
  };
}

/** Options of the internal constructor: the public ones plus the reconnect cap. */
interface InternalOptions {
  maxReconnectDelayMs?: number;
}

function createClient(options: RedisCacheStoreOptions & InternalOptions, connectTimeoutMs: number): RedisClient {
  const base = cacheClientOptions({
    connectTimeoutMs,
    ...(options.maxReconnectDelayMs === undefined ? {} : { maxReconnectDelayMs: options.maxReconnectDelayMs }),
  });
  if (options.url !== undefined) return new Redis(options.url, { ...base, ...options.redisOptions });
  if (options.nodes !== undefined) {
    return new Cluster(options.nodes, {
      enableOfflineQueue: false,
      clusterRetryStrategy: base.retryStrategy ?? null,
      ...options.clusterOptions,
      redisOptions: { ...base, ...options.redisOptions, ...options.clusterOptions?.redisOptions },
    });
  }
  throw new TypeError("redisCacheStore: pass `client`, `url` or `nodes`.");
}

/**
 * Many values as one argument of an ioredis command, which flattens arrays (`Command`: `args.flat()`)
 * though its types do not say so. Spread (`...values`), a long list append would pass V8's limit on
 * a call's arguments: a RangeError, which the fallback store took for Redis failing.
 */
const asArgs = (values: string[]): string => values as unknown as string;

const isCluster = (client: RedisClient): client is Cluster => (client as { isCluster?: boolean }).isCluster === true;

/** Throws unless a pipeline/transaction answer holds no error; returns the replies. */
function replies(result: Array<[Error | null, unknown]> | null, what: string): unknown[] {
  if (result === null) throw new Error(`redisCacheStore: the ${what} was aborted.`);
  return result.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}

const isWrongType = (error: unknown): boolean => error instanceof Error && error.message.startsWith("WRONGTYPE");

function serialise(value: unknown, what: string): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError(`redisCacheStore.${what}: the value cannot be serialised as JSON.`);
  return json;
}

/**
 * A {@link CacheStore} on Redis through ioredis, for a single server or a Cluster.
 *
 * Values are stored as JSON strings with `SET ... PX`; `read()` sends one MGET and the LRANGEs in
 * one pipeline (per hash slot in a Cluster: a run's keys share the user's `{...}` tag, so one
 * slot and one round trip); `listAppend` is RPUSH + LTRIM + PEXPIRE in one MULTI. A value that
 * is not valid JSON is a miss and is reported (`onInvalid`, the `invalid` event), never thrown.
 * Every call has its own deadline (`timeoutMs`), whatever the client's options; a call made
 * while the client connects waits for it first (`connectTimeoutMs`). Every method returns a
 * promise and never throws synchronously. Redis errors and timeouts reject; wrap the store in
 * {@link fallbackCacheStore} (or use {@link resilientRedisStore}) to turn them into misses and
 * in-memory writes.
 */
export function redisCacheStore(options: RedisCacheStoreOptions): RedisCacheStore {
  return createRedisStore(options);
}

/** @internal {@link redisCacheStore} with the internal options. */
export function createRedisStore(options: RedisCacheStoreOptions & InternalOptions): RedisCacheStore {
  const given = [options.client, options.url, options.nodes].filter((v) => v !== undefined).length;
  if (given !== 1) throw new TypeError("redisCacheStore: pass exactly one of `client`, `url` or `nodes`.");
  const prefix = options.prefix ?? REDIS_STORE_DEFAULTS.prefix;
  if (typeof prefix !== "string" || /[{}]/.test(prefix)) {
    throw new TypeError(`redisCacheStore: prefix must be a string without "{" or "}", got ${JSON.stringify(prefix)}.`);
  }
  const timeoutMs = options.timeoutMs ?? REDIS_STORE_DEFAULTS.timeoutMs;
  const connectTimeoutMs = options.connectTimeoutMs ?? REDIS_STORE_DEFAULTS.connectTimeoutMs;
  for (const [name, v] of [
    ["timeoutMs", timeoutMs],
    ["connectTimeoutMs", connectTimeoutMs],
  ] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new TypeError(`redisCacheStore: ${name} must be a positive number.`);
  }

  const nearOptions = options.nearCache === true ? {} : options.nearCache || undefined;
  if (nearOptions !== undefined && options.url === undefined) {
    throw new TypeError("redisCacheStore: nearCache needs `url` (a single server): the store makes its two connections itself.");
  }
  if (nearOptions !== undefined && options.redisOptions?.keyPrefix) {
    throw new TypeError("redisCacheStore: nearCache cannot be used with redisOptions.keyPrefix; use the store's `prefix`.");
  }
  const near = nearOptions === undefined ? undefined : new NearCacheState(nearOptions);

  const owned = options.client === undefined;
  const client = options.client ?? createClient(options, connectTimeoutMs);
  const cluster = isCluster(client);
  const emitter = new EventEmitter<RedisCacheStoreEvents>();
  let closed = false;
  /** The one close in progress or done: every `close()` call waits for it. */
  let closing: Promise<void> | undefined;

  /** PINGs in a row that got no answer on a connection that looks up (counted from the last connection), and when the last one counted timed out. */
  let unansweredPings = 0;
  let lastUnansweredAt = Number.NEGATIVE_INFINITY;
  const onClientReady = () => {
    unansweredPings = 0;
    emitter.emit("ready");
  };
  const onClientError = (error: Error) => emitter.emit("error", error);
  client.on("ready", onClientReady);
  // Only for our own client: an `error` listener changes how a caller's client reports errors.
  if (owned) client.on("error", onClientError);
  const tracking: Tracking | undefined =
    near &&
    trackInvalidations(
      client as Redis,
      createClient({ ...options, redisOptions: { ...options.redisOptions, autoResubscribe: false } }, connectTimeoutMs) as Redis,
      near,
      onClientError,
      connectTimeoutMs,
      timeoutMs,
    );

  const full = (key: string) => prefix + key;
  /**
   * The key as Redis knows it, and as the near cache holds it: invalidations name keys by their
   * UTF-8 bytes, where a lone surrogate is U+FFFD, so two JS strings can name one Redis key.
   */
  const redisKey = near ? (key: string) => toWellFormed(prefix + key) : full;
  let invalidCount = 0;
  const invalid = (key: string, reason: string) => {
    invalidCount++;
    const event = { key, reason };
    emitter.emit("invalid", event);
    try {
      options.onInvalid?.(event);
    } catch {
      // A reporting callback never breaks a read.
    }
  };
  /** A WRONGTYPE reply is reported as an invalid value (the read is a miss); any other error is thrown. */
  const wrongType = (key: string, error: unknown): void => {
    if (!isWrongType(error)) throw error;
    invalid(key, (error as Error).message);
  };
  const parse = (key: string, raw: unknown): unknown => {
    if (raw === null || raw === undefined) return undefined;
    try {
      return JSON.parse(String(raw)) as unknown;
    } catch {
      invalid(key, "not JSON");
      return undefined;
    }
  };
  const parseList = (key: string, raw: unknown): unknown[] => {
    if (!Array.isArray(raw)) return [];
    const out: unknown[] = [];
    for (const item of raw) {
      const value = parse(key, item);
      if (value !== undefined) out.push(value);
    }
    return out;
  };
  const ttlOf = (ttlMs: number) => Math.min(Math.ceil(ttlMs), MAX_TTL_MS);
  const keepOf = (maxLength: number, what: string): number => {
    if (typeof maxLength !== "number" || Number.isNaN(maxLength))
      throw new TypeError(`redisCacheStore.${what}: maxLength must be a number.`);
    // LTRIM takes a 64-bit integer: past the safe range (1e21 is written "1e+21") keep all, as Infinity does.
    return maxLength === Number.POSITIVE_INFINITY || maxLength > Number.MAX_SAFE_INTEGER ? 0 : Math.max(1, Math.floor(maxLength));
  };

  /**
   * While a connection is being made, wait for it: one shared wait, at most `connectTimeoutMs`
   * (stalls not counted), that ends on `ready`, `close` or `end`. In any other state go at once
   * (a disconnected client then fails fast or queues, as configured; the call's deadline holds).
   */
  let connecting: Promise<void> | undefined;
  const whenConnected = (): Promise<void> | undefined => {
    const status = client.status;
    if (status === "ready") return undefined;
    if (status === "wait") client.connect().catch(() => {});
    else if (status !== "connecting" && status !== "connect") return undefined;
    connecting ??= (() => {
      let done = () => {};
      const connected = new Promise<void>((resolve) => {
        done = () => resolve();
        client.once("ready", done);
        client.once("close", done);
        client.once("end", done);
      });
      return loopDeadline(connected, connectTimeoutMs, () => new CacheTimeoutError("redisCacheStore", "connect", connectTimeoutMs)).finally(
        () => {
          client.off("ready", done);
          client.off("close", done);
          client.off("end", done);
          connecting = undefined;
        },
      );
    })();
    return connecting;
  };

  /**
   * Every call: open, connected (or not connecting), then `work` under its own deadline. Never
   * throws synchronously: argument errors and a closed store are rejections too. On a ready
   * connection `work` starts in this call, so its command is written before the caller goes on
   * (a run's setup then overlaps the round trip), not a microtask later.
   */
  const call = <T>(op: string, work: () => Promise<T>): Promise<T> =>
    attempt(() => {
      if (closed) throw new Error("redisCacheStore: the store is closed.");
      const underDeadline = () => loopDeadline(attempt(work), timeoutMs, () => new CacheTimeoutError("redisCacheStore", op, timeoutMs));
      const connecting = whenConnected();
      return connecting ? connecting.then(underDeadline) : underDeadline();
    });

  /** Keys grouped by hash slot (one group on a single server), with their positions. */
  const groupBySlot = (keys: readonly string[]): Map<number, number[]> => {
    const groups = new Map<number, number[]>();
    keys.forEach((key, i) => {
      const slot = cluster ? clusterSlot(full(key)) : 0;
      const group = groups.get(slot);
      if (group) group.push(i);
      else groups.set(slot, [i]);
    });
    return groups;
  };

  const readBatch = async (batch: CacheBatch): Promise<CacheBatchResult> => {
    const keys = batch.keys;
    const lists = batch.lists ?? [];
    const values: unknown[] = new Array<unknown>(keys.length).fill(undefined);
    const tails: unknown[][] = lists.map(() => []);
    // Every key and list of the batch, by slot: [kind, index in its array].
    const items: Array<{ key: string; list: boolean; index: number }> = [
      ...keys.map((key, index) => ({ key, list: false, index })),
      ...lists.flatMap((l, index) => (tailRange(l.last) ? [{ key: l.key, list: true, index }] : [])),
    ];
    if (items.length === 0) return { values, lists: tails };
    const groups = groupBySlot(items.map((item) => item.key));
    await Promise.all(
      [...groups.values()].map(async (positions) => {
        const group = positions.map((p) => items[p] as (typeof items)[number]);
        const plain = group.filter((item) => !item.list);
        const listed = group.filter((item) => item.list);
        const pipeline = client.pipeline();
        if (plain.length > 0) pipeline.mget(plain.map((item) => full(item.key)));
        for (const item of listed) {
          const [start, stop] = tailRange(lists[item.index]?.last ?? 0) ?? [0, -1];
          pipeline.lrange(full(item.key), start, stop);
        }
        const result = (await pipeline.exec()) ?? [];
        let at = 0;
        if (plain.length > 0) {
          const [error, raw] = result[at++] ?? [new Error("redisCacheStore: missing MGET reply."), null];
          if (error) throw error;
          const found = mgetReply(raw, plain.length);
          plain.forEach((item, i) => {
            values[item.index] = parse(item.key, found[i]);
          });
        }
        for (const item of listed) {
          const [error, raw] = result[at++] ?? [new Error("redisCacheStore: missing LRANGE reply."), null];
          if (error) {
            wrongType(item.key, error);
            continue;
          }
          tails[item.index] = parseList(item.key, raw);
        }
      }),
    );
    return { values, lists: tails };
  };

  const nearDeps = near && {
    state: near,
    full: redisKey,
    pipeline: () => client.pipeline(),
    call,
    parse,
    parseList,
    invalidCount: () => invalidCount,
    wrongType,
  };
  /** Served from the near cache while it is active: a read it holds whole makes no call. */
  const readMaybeNear = (batch: CacheBatch): Promise<CacheBatchResult> =>
    nearDeps?.state.active ? attempt(() => nearRead(nearDeps, batch)) : call("read", () => readBatch(batch));
  const getFromRedis = (key: string) =>
    call("get", async () => {
      try {
        return parse(key, await client.get(full(key)));
      } catch (error) {
        wrongType(key, error);
        return undefined;
      }
    });
  const tailFromRedis = (key: string, last: number) =>
    call("listTail", async () => {
      const range = tailRange(last);
      if (!range) return [];
      try {
        return parseList(key, await client.lrange(full(key), range[0], range[1]));
      } catch (error) {
        wrongType(key, error);
        return [];
      }
    });

  const store: RedisCacheStore = {
    name: "redis",
    client,
    prefix,
    isReady: () => client.status === "ready",
    ping: () => {
      const sentAt = performance.now();
      return call("ping", async () => {
        try {
          await client.ping();
        } catch (error) {
          // An error reply (NOPERM: an ACL user without PING) is an answer: the server is up.
          if (!(error instanceof ReplyError)) throw error;
        }
      }).then(
        () => {
          unansweredPings = 0;
        },
        (error: unknown) => {
          // No answer, PING after PING, on a connection that looks up (half-open TCP: a NAT or a load
          // balancer dropped the flow without a word), or one whose handshake never ended: ioredis
          // would keep it for good. A single server's client of the store's own connects again; not
          // at the first PING, which a slow server may still answer (the commands sent after it
          // would be cut), and not a Cluster, whose `disconnect(true)` drops every node.
          const stuck = client.status === "ready" || client.status === "connect";
          if (!(error instanceof CacheTimeoutError) || !stuck) unansweredPings = 0;
          // PINGs that overlap (a health check beside the fallback store's probe) are one wait: only
          // one sent after the last counted timeout counts.
          else if (sentAt > lastUnansweredAt) {
            lastUnansweredAt = performance.now();
            if (++unansweredPings >= UNANSWERED_PINGS_TO_RECONNECT && owned && !closed && !cluster) {
              unansweredPings = 0;
              client.disconnect(true);
            }
          }
          throw error;
        },
      );
    },
    onReady(listener) {
      emitter.on("ready", listener);
      return () => emitter.off("ready", listener);
    },
    on(event, listener) {
      emitter.on(event, listener as never);
      return store;
    },
    off(event, listener) {
      emitter.off(event, listener as never);
      return store;
    },

    get: (key) =>
      attempt(() => {
        const value = near ? near.value(redisKey(key), performance.now()) : MISS;
        return value === MISS ? getFromRedis(key) : Promise.resolve(copyJson(value));
      }),

    getMany: (keys) => readMaybeNear({ keys }).then((read) => read.values),

    read: readMaybeNear,

    set: (key, value, ttlMs) =>
      attempt(() => {
        assertTtl(ttlMs);
        if (value === undefined) throw new TypeError("redisCacheStore.set: value must not be undefined (use delete).");
        const json = serialise(value, "set");
        const k = redisKey(key);
        // Own writes drop the copy when they are called (NearCacheState.write): a read made after
        // this call goes to Redis, behind the write, as without a copy.
        const read = near?.write(k, true);
        if (!read || !near || !tracking) return call("set", async () => void (await client.set(k, json, "PX", ttlOf(ttlMs))));
        // With a near cache the MULTI also publishes the write's marker and reads the key before and
        // after the write, so that Redis sends exactly one invalidation for the write, after the
        // marker, and tracks the key for this store again: the next read is served from the copy.
        return call("set", async () => {
          const sentAt = performance.now();
          const multi = client
            .multi()
            .publish(tracking.markerChannel, read.marker as string)
            .exists(k);
          const answers = replies(await multi.set(k, json, "PX", ttlOf(ttlMs)).get(k).exec(), "MULTI");
          // A marker that reached no subscriber never arrives: keep nothing.
          if (answers[0] === 0) return;
          keepWritten(near, read, k, json, sentAt + ttlOf(ttlMs));
        }).finally(() => near.end(read));
      }),

    delete: (key) =>
      attempt(() => {
        const k = redisKey(key);
        near?.write(k, false);
        return call("delete", async () => void (await client.del(k)));
      }),

    listAppend: (key, items, listOptions: ListAppendOptions) =>
      attempt(() => {
        const { maxLength, ttlMs } = listOptions;
        assertTtl(ttlMs);
        const keep = keepOf(maxLength, "listAppend");
        const json = items.map((item) => serialise(item, "listAppend"));
        const k = redisKey(key);
        const base = near?.wholeList(k, performance.now());
        // An append of nothing may leave the key untouched: Redis would send no invalidation of it,
        // and the write's marker would wait for one (see NearRead.marker). It reads nothing back.
        const read = near?.write(k, json.length > 0, base !== undefined);
        return call("listAppend", async () => {
          // One MULTI: append, trim and refresh the TTL atomically; no read-modify-write. With a
          // near cache, the marker and a read of the key come first (see `set`).
          const multi = client.multi();
          if (read && tracking) multi.publish(tracking.markerChannel, read.marker as string).exists(k);
          if (json.length > 0) multi.rpush(k, asArgs(json));
          if (keep > 0) multi.ltrim(k, -keep, -1);
          multi.pexpire(k, ttlOf(ttlMs));
          // With a near cache the MULTI also reads, so that Redis tracks the list for this store:
          // its length when the copy held the whole list (the copy is that list plus the items),
          // else the list itself.
          if (read && tracking) {
            if (base) multi.llen(k);
            else multi.lrange(k, 0, -1).pttl(k);
          }
          const sentAt = performance.now();
          const answers = replies(await multi.exec(), "MULTI");
          // The replies start with the marker's PUBLISH (one that reached no subscriber never
          // arrives: keep nothing) and end with the read-back.
          if (!read || !near || answers[0] === 0) return;
          const last = answers[answers.length - 1];
          if (base) keepAppended(near, read, k, base, json, keep, last, sentAt + ttlOf(ttlMs));
          else keepReadBack(near, read, k, answers[answers.length - 2], last, sentAt);
        }).finally(() => near?.end(read));
      }),

    listAppendOnce: (key, items, onceOptions: ListAppendOnceOptions) =>
      attempt(() => {
        const { maxLength, ttlMs, replace = false } = onceOptions;
        assertTtl(ttlMs);
        const keep = keepOf(maxLength, "listAppendOnce");
        const json = items.map((item) => serialise(item, "listAppendOnce"));
        const k = redisKey(key);
        near?.write(k, false);
        return call("listAppendOnce", async () => {
          await client.eval(LIST_APPEND_ONCE_LUA, 1, k, keep, ttlOf(ttlMs), replace ? "1" : "0", asArgs(json));
        });
      }),

    listTail: (key, last) =>
      nearDeps?.state.active
        ? attempt(() => nearRead(nearDeps, { keys: [], lists: [{ key, last }] })).then((read) => read.lists[0] ?? [])
        : tailFromRedis(key, last),

    nearCacheStats: () => near?.stats(),

    close() {
      // Every call waits for the connections to end: a second caller (a signal handler and a
      // shutdown path) too.
      closing ??= (async () => {
        closed = true;
        client.off("ready", onClientReady);
        // Its connection ends within DISCONNECT_TIMEOUT_MS, even on a hung server (see below).
        await tracking?.close(timeoutMs + DISCONNECT_TIMEOUT_MS);
        if (owned) {
          // The `error` listener stays: a late socket error must not become an unhandled one.
          try {
            if (client.status === "ready") await loopDeadline(client.quit(), timeoutMs, () => new Error("QUIT timed out"));
          } catch {
            // Already gone, or not answering: disconnect below is enough.
          }
          // A hung server never closes its side: ioredis destroys the socket `disconnectTimeout`
          // (DISCONNECT_TIMEOUT_MS) later, then ends. Waiting for that end leaves nothing of a
          // connected store (socket, timer) to keep the process alive once close() has resolved.
          await disconnectClient(client, timeoutMs + DISCONNECT_TIMEOUT_MS);
        }
        emitter.removeAllListeners();
      })();
      return closing;
    },
  };
  return store;
}
