/** Default limits of the HTTP adapters. */
export const HTTP_DEFAULTS = {
  /** Largest accepted request body, bytes (1 MiB). */
  maxBodyBytes: 1024 * 1024,
  /** Time a client has to send its whole body once the handler starts reading, ms. */
  bodyTimeoutMs: 10_000,
  /** Deepest accepted JSON nesting of a body (objects and arrays). */
  maxDepth: 64,
  /** Interval of SSE heartbeat comments before the first token, ms (0: none). */
  heartbeatMs: 10_000,
  /** Time `getUserId` has to settle, ms. */
  getUserIdMs: 10_000,
} as const;

/** Options every HTTP adapter takes besides identity. */
export interface HttpLimitOptions {
  /** Interval of SSE heartbeat comments while the model has not produced a token yet, ms. Default 10,000; 0 turns them off. */
  heartbeatMs?: number;
  /** Largest accepted request body, bytes; larger is a 413 `BODY_TOO_LARGE`. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Time the client has to send its whole body, ms; slower is a 408 `BODY_TIMEOUT`. Default 10,000. */
  bodyTimeoutMs?: number;
  /** Deepest accepted JSON nesting (objects and arrays); deeper is a 400 `INPUT_TOO_DEEP`. Default 64. */
  maxDepth?: number;
  /** Time `getUserId` has to settle, ms; longer (a hung identity service) is a 503 `GET_USER_ID_TIMEOUT`. Default 10,000. */
  getUserIdMs?: number;
}

export type Limits = Required<HttpLimitOptions>;

/** The limits of an options object, checked: a bad value is a TypeError at creation, not a failure per request. */
export function limitsOf(fn: string, options: HttpLimitOptions): Limits {
  const pick = (name: keyof HttpLimitOptions, min: number): number => {
    const value = options[name] ?? HTTP_DEFAULTS[name];
    if (typeof value !== "number" || Number.isNaN(value) || value < min) {
      throw new TypeError(`${fn}: \`${name}\` must be a number of at least ${min}; got ${String(value)}.`);
    }
    return value;
  };
  return {
    heartbeatMs: pick("heartbeatMs", 0),
    maxBodyBytes: pick("maxBodyBytes", 1),
    bodyTimeoutMs: pick("bodyTimeoutMs", 1),
    maxDepth: pick("maxDepth", 1),
    getUserIdMs: pick("getUserIdMs", 1),
  };
}
