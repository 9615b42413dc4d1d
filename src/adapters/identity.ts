import { httpError, type HttpError } from "./http-error.js";
import { attempt, TIMED_OUT, withDeadline } from "../shared/deadline.js";

/** The signal of a wait nothing cancels (`getUserId` has only its deadline). */
const NEVER_ABORTED = new AbortController().signal;

/**
 * The authenticated user of a request: a non-empty string, or `undefined`/`null` for none (a 401).
 * Throwing is safe: an error whose `status` or `statusCode` is 401 or 403 is answered with that
 * status, any other throw with a 500 `GET_USER_ID_FAILED` (and reported to `onError`).
 */
export type GetUserId<Req> = (request: Req) => string | undefined | null | Promise<string | undefined | null>;

/**
 * Who a run is for: `getUserId` (the user the host authenticated), or, only when clients may
 * really name their own user, `allowClientUserId: true`. One of the two is required.
 */
export type IdentityOptions<Req> =
  | {
      /** The authenticated user of a request (see {@link GetUserId}). It always decides: a `userId` in the body is ignored. */
      getUserId: GetUserId<Req>;
      allowClientUserId?: boolean;
    }
  | {
      getUserId?: undefined;
      /**
       * Let the client name its own user with `userId` in the body. Any client can then read and
       * extend any user's history: only for trusted clients (a single-user tool, a service behind
       * your own auth). Default false.
       */
      allowClientUserId: true;
    };

/** Check the identity options when a handler is created: no `getUserId` and no explicit opt-out is a TypeError. */
export function checkIdentity(fn: string, options: { getUserId?: unknown; allowClientUserId?: unknown }): void {
  if (options.getUserId !== undefined && typeof options.getUserId !== "function") {
    throw new TypeError(`${fn}: \`getUserId\` must be a function (request) => user id.`);
  }
  if (options.allowClientUserId !== undefined && typeof options.allowClientUserId !== "boolean") {
    throw new TypeError(`${fn}: \`allowClientUserId\` must be a boolean.`);
  }
  if (!options.getUserId && options.allowClientUserId !== true) {
    throw new TypeError(
      `${fn}: pass \`getUserId\` (request) => the authenticated user's id. Without it any client could name any user and read their history; ` +
        "if clients really may choose their own user (a single-user tool), pass `allowClientUserId: true`.",
    );
  }
}

const statusOf = (error: unknown): unknown => {
  if (typeof error !== "object" || error === null) return undefined;
  const e = error as { status?: unknown; statusCode?: unknown };
  try {
    return e.status ?? e.statusCode;
  } catch {
    // A getter that throws, a revoked Proxy: no status to tell.
    return undefined;
  }
};

/**
 * The user of a request: `{ userId }` (undefined when the client names its own), or the HTTP
 * error to answer. Never throws. `gone` gives a signal that aborts when the client leaves; it is
 * asked for only when `getUserId` has not answered at once, and a client that left while it
 * waited gets a 499 that nobody is told of.
 */
export async function userOf<Req>(
  options: IdentityOptions<Req>,
  request: Req,
  deadlineMs: number,
  gone?: () => AbortSignal,
): Promise<{ userId: string | undefined } | HttpError> {
  const getUserId = options.getUserId;
  if (!getUserId) return { userId: undefined };
  let user: unknown;
  let goneSignal: AbortSignal | undefined;
  try {
    // A getUserId that never settles (a hung identity service) must not hold the request forever.
    user = await withDeadline(
      attempt(() => getUserId(request)),
      deadlineMs,
      gone ? () => (goneSignal = gone()) : NEVER_ABORTED,
    );
  } catch (error) {
    if (goneSignal?.aborted)
      return httpError(499, "CLIENT_CLOSED_REQUEST", "The client closed the request while its user was being found.");
    const status = statusOf(error);
    if (status === 401) return httpError(401, "UNAUTHENTICATED", "Not signed in, or the credentials were rejected.");
    if (status === 403) return httpError(403, "FORBIDDEN", "This user may not start runs.");
    return httpError(500, "GET_USER_ID_FAILED", "The server could not tell who you are (getUserId failed).", { error, stage: "getUserId" });
  }
  if (user === TIMED_OUT) {
    return httpError(503, "GET_USER_ID_TIMEOUT", "The server could not tell who you are in time; try again.", {
      error: new Error(`getUserId did not settle within ${deadlineMs} ms (option getUserIdMs).`),
      stage: "getUserId",
    });
  }
  if (user === undefined || user === null || user === "") return httpError(401, "UNAUTHENTICATED", "No user: sign in to start a run.");
  if (typeof user !== "string") {
    return httpError(500, "GET_USER_ID_FAILED", "The server could not tell who you are (getUserId failed).", {
      error: new TypeError(`getUserId returned a ${typeof user}, not a string.`),
      stage: "getUserId",
    });
  }
  return { userId: user };
}
