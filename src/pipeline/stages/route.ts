import { createHash } from "node:crypto";
import type { AGUIEvent, Message } from "@ag-ui/core";
import type { KeyBuilder } from "../../cache/keys.js";
import { writeQuietly } from "../../cache/write-quietly.js";
import type { ContextProvider } from "../../context/types.js";
import { ZoeError } from "../../errors/zoe-error.js";
import { events } from "../../events/factory.js";
import { HistoryStore } from "../../history/history-store.js";
import type { HistoryEntry } from "../../history/types.js";
import type { Turn } from "../../input/types.js";
import { beginStage, countCache, endStage, startStep, type RunContext, type RunDeps } from "../run-context.js";
import { readRunCache, type CacheRead } from "./read-cache.js";
import type { FallbackKind } from "./system-prompt.js";
import { ROUTE_KINDS, type RouteDecision, type RouteRequest, type Router } from "../../routing/types.js";
import { abortReason } from "../../shared/abort.js";
import { attempt, TIMED_OUT, withDeadline } from "../../shared/deadline.js";
import { toDecision, type RouteFallback } from "../route-fallback.js";
import { errorMessage } from "../../errors/error-message.js";

/** How the route of a turn was decided. */
export interface RouteOutcome {
  decision: RouteDecision;
  /** Read from the route cache. */
  cached: boolean;
  /** Why the fallback router decided, when it did. */
  fallback?: string;
  /** That reason in a word, for span attributes (never the router's own message). */
  fallbackKind?: FallbackKind;
  ms: number;
}

/**
 * Decide the route of a turn with no cached decision: the router under its deadline, else
 * (timeout, throw, or an answer that is not a decision) the fallback. Rejects when the run is
 * aborted, and with `ROUTER_ERROR` only when no fallback model is known.
 */
export async function decideRoute(
  router: Router,
  fallback: RouteFallback,
  request: RouteRequest,
  deadlineMs: number,
  signal: AbortSignal,
): Promise<RouteOutcome> {
  const t0 = performance.now();
  let reason: string;
  let kind: FallbackKind;
  try {
    const decided = await withDeadline(
      attempt(() => router.route(request)),
      deadlineMs,
      signal,
    );
    const answer = toDecision(decided);
    if (answer) {
      fallback.remember(answer);
      return { decision: answer, cached: false, ms: performance.now() - t0 };
    }
    kind = decided === TIMED_OUT ? "timeout" : "invalid";
    reason =
      decided === TIMED_OUT ? `the router took longer than its ${deadlineMs} ms deadline` : "the router's answer is not a route decision";
  } catch (error) {
    if (signal.aborted) throw error;
    kind = "error";
    reason = `the router failed: ${errorMessage(error)}`;
  }
  let decision: RouteDecision | undefined;
  try {
    decision = await withDeadline(attempt(() => fallback.decide(request)).then(toDecision), deadlineMs, signal).then((d) =>
      d === TIMED_OUT ? undefined : d,
    );
  } catch (error) {
    if (signal.aborted) throw error;
  }
  if (!decision) throw new ZoeError("ROUTER_ERROR", `No route: ${reason}, and no fallback model is known (give \`fallbackRouter\`).`);
  return { decision, cached: false, fallback: reason, fallbackKind: kind, ms: performance.now() - t0 };
}

/** What the route stage found and decided; the batched read also serves the later stages. */
export interface Routed extends RouteOutcome {
  /** The thread's latest stored messages (at most `history.load`, at least the last one); empty once released ({@link releaseRead}). */
  storedHistory: readonly HistoryEntry[];
  /** The `seq` of the turn's user message: one after the last stored message's. */
  nextSeq: number;
  /** The cached system prompt for the decided kind, if any. */
  cachedSystemPrompt: unknown;
  /** The system prompt's cache key for the decided kind (a `systemPrompt` function only). */
  systemKey: string | undefined;
  /** Each provider's cache key (or why it has none) and cached value, in provider order. */
  providerKeys: ReadonlyArray<string | { error: string }>;
  cachedContext: ReadonlyMap<number, unknown>;
  readMs: number;
  /** The batched read failed or timed out: `nextSeq` is not known (see `remember`). */
  readFailed: boolean;
}

/** The run's batched cache read, on its way, with the keys it asked for (a provider's `cacheKey()` may hold the whole message). */
interface ReadParts {
  read: Promise<CacheRead>;
  routeKey: string | undefined;
  systemKeys: string[];
  providerKeys: Array<string | { error: string }>;
}

/**
 * The run's batched cache read ({@link startRunRead}), until the route stage takes it: the run's
 * outer frames hold this record to the run's end, and then hold nothing through it.
 */
export interface RunRead {
  parts: ReadParts | undefined;
}

/**
 * Send the run's one batched cache read: the route, the system prompts, every provider's context
 * and the history tail. It goes out as soon as the run has its signal, so that with a store
 * across the network (Redis) the rest of the run's setup and its first events are done while the
 * store answers.
 */
export function startRunRead(deps: RunDeps, turn: Turn, signal: AbortSignal): RunRead {
  // Routes that are never cached are not read either: with a store that holds the rest in
  // process (a near cache), a new message then makes no round trip.
  const routeKey = deps.routeTtlMs > 0 ? routeCacheKey(deps.keys, turn.userId, turn.text) : undefined;
  // System prompts that are never cached are not read either: a host that set the TTL to 0 so
  // that its new prompt is used at once never gets one an earlier deploy left in the store.
  const systemKeys =
    typeof deps.systemPrompt === "function" && deps.systemPromptTtlMs > 0
      ? ROUTE_KINDS.map((k) => deps.keys.key("system", turn.userId, k))
      : [];
  const keyRequest = { userId: turn.userId, threadId: turn.threadId, text: turn.text };
  const providerKeys = deps.providers.map((p) => providerKey(deps.keys, turn.userId, p, keyRequest));
  const keys: string[] = [];
  if (routeKey !== undefined) keys.push(routeKey);
  for (const k of systemKeys) keys.push(k);
  for (const k of providerKeys) if (typeof k === "string") keys.push(k);
  const read = readRunCache(
    deps.store,
    { keys, lists: [{ key: deps.history.key(turn.userId, turn.threadId), last: historyReadLength(deps.history.settings) }] },
    deps.deadlines.cacheReadMs,
    signal,
  );
  return { parts: { read, routeKey, systemKeys, providerKeys } };
}

/**
 * The route stage: the run's batched read ({@link startRunRead}) serves the route, the system
 * prompt, every provider's context and the history; then the router decides (under its
 * deadline, with its fallback). A run that starts from stored history sends it as
 * `MESSAGES_SNAPSHOT`, so a client that reconnects rebuilds the conversation from the stream alone.
 */
export async function routeStage(ctx: RunContext, pending: RunRead): Promise<Routed> {
  const { deps, turn, signal, out } = ctx;
  const { read: reading, routeKey, systemKeys, providerKeys } = pending.parts as ReadParts;
  pending.parts = undefined;
  out.send(startStep(ctx, "route"));
  beginStage(ctx, "route");
  const read = await reading;
  if (read.status === "aborted") throw abortReason(signal);
  out.hold(); // back from I/O: what follows can wait for the model request again (RunStream.hold)
  const values = read.result.values;
  if (read.status !== "ok") deps.emitter.emit("cache:error", { userId: turn.userId, status: read.status, ms: read.ms });
  const storedHistory = HistoryStore.clean(read.result.lists[0] ?? []);
  const snapshot = messagesSnapshot(turn, storedHistory);
  if (snapshot) out.send(snapshot);

  const cachedRoute = routeKey === undefined ? undefined : toDecision(values[0]);
  // A cached decision needs no wait: only the router is awaited.
  let route: RouteOutcome;
  if (cachedRoute) route = { decision: cachedRoute, cached: true, ms: 0 };
  else {
    route = await decideRoute(
      deps.router,
      deps.routeFallback,
      { text: turn.text, userId: turn.userId, threadId: turn.threadId },
      deps.deadlines.routerMs,
      signal,
    );
    out.hold();
  }
  if (routeKey !== undefined) countCache(ctx, "route", route.cached);
  // A fallback decision is not cached: the router gets the next turn.
  if (!route.cached && !route.fallback && routeKey !== undefined) writeQuietly(deps.store, routeKey, route.decision, deps.routeTtlMs);
  if (route.fallback) deps.emitter.emit("route:fallback", { userId: turn.userId, reason: route.fallback });
  out.send(
    events.stateDelta([
      {
        op: "add",
        path: "/zoe/route",
        value: Object.assign(
          {},
          route.decision,
          route.fallback ? { cached: route.cached, fallback: route.fallback } : { cached: route.cached },
        ),
      },
      { op: "add", path: "/zoe/stage", value: "context" },
    ]),
  );
  ctx.openStep = undefined;
  out.send(events.stepFinished("route"));

  // Provider values follow the route and system prompt values, for the providers that have a key.
  const cachedContext = new Map<number, unknown>();
  const afterRoute = routeKey === undefined ? 0 : 1;
  let index = afterRoute + systemKeys.length;
  for (let i = 0; i < providerKeys.length; i++) if (typeof providerKeys[i] === "string") cachedContext.set(i, values[index++]);
  const kindIndex = ROUTE_KINDS.indexOf(route.decision.kind);
  endStage(ctx, () => ({
    "zoe.route.kind": route.decision.kind,
    "zoe.route.fast_path": route.decision.fastPath,
    "zoe.route.cached": route.cached,
    "zoe.cache.read": read.status,
    "gen_ai.request.model": route.decision.model,
    ...(route.fallbackKind ? { "zoe.route.fallback": route.fallbackKind } : {}),
  }));
  const routed: Routed = {
    decision: route.decision,
    cached: route.cached,
    ms: route.ms,
    storedHistory,
    nextSeq: (storedHistory[storedHistory.length - 1]?.seq ?? -1) + 1,
    cachedSystemPrompt: systemKeys.length > 0 ? values[afterRoute + kindIndex] : undefined,
    systemKey: systemKeys[kindIndex],
    providerKeys,
    cachedContext,
    readMs: read.ms,
    readFailed: read.status !== "ok",
  };
  if (route.fallback !== undefined) routed.fallback = route.fallback;
  return routed;
}

const NO_HISTORY: readonly HistoryEntry[] = Object.freeze([]);
const NO_KEYS: ReadonlyArray<string | { error: string }> = Object.freeze([]);
const NO_VALUES: ReadonlyMap<number, unknown> = new Map();

/**
 * Let go of what only the stages up to the prompt read: the stored history, the providers' keys
 * and cached values. A run keeps `routed` to its end (its metrics); without these it holds about
 * 1 KB less while it streams, which the garbage collector copies less often when many runs are in
 * flight.
 */
export function releaseRead(routed: Routed): void {
  routed.storedHistory = NO_HISTORY;
  routed.providerKeys = NO_KEYS;
  routed.cachedContext = NO_VALUES;
}

/**
 * How many stored messages a run reads: the most a prompt can hold (`load`), at least one (the
 * last one numbers the next). Never `keep`: the read costs the same however much a thread keeps.
 */
export const historyReadLength = (settings: { load: number }): number => Math.max(1, settings.load);

/** Whitespace that is not a lone space: a run of two, or a tab, a newline, a no-break space, ... */
const UNUSUAL_SPACE = /\s\s|[^\S ]/;
/** Line ends, one form: the router reads lines (code). */
const LINE_END = /\r\n?|[\u2028\u2029]/g;
/** Blanks that do not end a line. */
const BLANKS = /[^\S\n]+/g;
/** Blanks at a line's end or start. */
const AROUND_LINE_END = / ?\n ?/g;

/**
 * Lower-case, collapse blanks, drop trailing spaces and `.!…`: equal questions share a route.
 * What the router reads is kept: the lines (a line break is not a space: code is told by its
 * lines) and a trailing `?` (a question is not a greeting: "know any good riddles?" routes
 * otherwise than "know any good riddles"). Runs on every turn: the regular expressions run only
 * when the text needs them, and the trailing punctuation goes in a loop (an end-anchored pattern
 * is tried at every position).
 */
export function normaliseText(text: string): string {
  let t = text.toLowerCase();
  if (UNUSUAL_SPACE.test(t)) t = t.replace(LINE_END, "\n").replace(BLANKS, " ").replace(AROUND_LINE_END, "\n");
  t = t.trim();
  let end = t.length;
  let asks = false;
  for (; end > 0; end--) {
    const c = t.charCodeAt(end - 1);
    if (c === 0x3f) asks = true;
    else if (c !== 0x20 && c !== 0x0a && c !== 0x2e && c !== 0x21 && c !== 0x2026) break;
  }
  const kept = end === t.length ? t : t.slice(0, end);
  return asks && end !== t.length ? `${kept}?` : kept;
}

/** Normalised messages longer than this are keyed by their SHA-256: a key holding a whole long message costs memory in every store and bytes on every read. */
const ROUTE_ID_MAX_CHARS = 128;

/**
 * The route cache key of a message: its normalised text, or for a long one `sha256:<hex>` (two
 * segments: one segment of text, whose `:` is encoded, can never equal it).
 */
export function routeCacheKey(keys: KeyBuilder, userId: string, text: string): string {
  const id = normaliseText(text);
  if (id.length <= ROUTE_ID_MAX_CHARS) return keys.key("route", userId, id);
  return keys.key("route", userId, "sha256", createHash("sha256").update(id).digest("hex"));
}

/** A provider's cache key; a `cacheKey()` that throws or gives no string fails that provider alone. */
function providerKey(
  keys: KeyBuilder,
  userId: string,
  provider: ContextProvider,
  request: { userId: string; threadId: string; text: string },
): string | { error: string } {
  if (!provider.cacheKey) return keys.key("context", userId, provider.name);
  try {
    const id = provider.cacheKey(request);
    if (typeof id !== "string") return { error: "cacheKey() did not return a string" };
    return keys.key("context", userId, provider.name, id);
  } catch (error) {
    return { error: `cacheKey() failed: ${errorMessage(error)}` };
  }
}

/**
 * The conversation so far as AG-UI messages, when the run starts from stored history (the client
 * sent only its new message): the stored messages, then the new user message.
 */
function messagesSnapshot(turn: Turn, stored: readonly HistoryEntry[]): AGUIEvent | undefined {
  if (turn.messages.length > 1 || stored.length === 0) return undefined;
  const messages: Message[] = [];
  for (const e of stored) {
    // One shape for every message; tool calls added to the few that have them (no spread per entry).
    const message = { id: e.id, role: e.role, content: e.content } as Message;
    if (e.role === "assistant" && e.toolCalls?.length) {
      (message as Extract<Message, { role: "assistant" }>).toolCalls = e.toolCalls.map((c) => ({
        id: c.id,
        type: "function" as const,
        function: { name: c.name, arguments: c.arguments },
      }));
    }
    messages.push(message);
  }
  messages.push({ id: turn.userMessageId, role: "user", content: turn.text });
  return events.messagesSnapshot(messages);
}
