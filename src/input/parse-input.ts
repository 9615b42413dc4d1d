import { isToolName, TOOL_NAME_RULE } from "../tools/tool-spec.js";
import { newId } from "../shared/new-id.js";
import { contentToText, type Context, type Message, type Tool } from "@ag-ui/core";
import { RunAgentInputSchema } from "@ag-ui/core/schemas";
import { z } from "zod";
import { InputError } from "../errors/input-error.js";
import type { Turn } from "./types.js";
import { idProblem, INPUT_LIMITS, isAcceptableId, shapeProblem } from "./limits.js";
import { isWellFormed, toWellFormed } from "../shared/unicode.js";
import { errorMessage } from "../errors/error-message.js";

const ShorthandSchema = z.object({
  userId: z.string().min(1, "userId must be a non-empty string"),
  threadId: z.string().min(1, "threadId must be a non-empty string").optional(),
  runId: z.string().min(1, "runId must be a non-empty string").optional(),
  message: z.string(),
});

/** The outcome of parsing a run input: a turn, or an error with the ids known so far. */
export type ParsedInput = { ok: true; turn: Turn } | { ok: false; error: InputError; ids: { threadId: string; runId: string } | undefined };

export interface ParseOptions {
  /** Longest accepted user text, in characters. */
  maxInputChars: number;
  /** Longest accepted id, in UTF-16 code units. Default {@link INPUT_LIMITS}. */
  maxIdLength?: number;
  /** Deepest accepted nesting of the input. Default {@link INPUT_LIMITS}. */
  maxDepth?: number;
  /** Most values in the whole input. Default {@link INPUT_LIMITS}. */
  maxNodes?: number;
  /** A user id given out of band (an HTTP adapter's `getUserId`); wins over the input's own. */
  userId: string | undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const nonEmpty = (v: unknown): v is string => typeof v === "string" && v.length > 0;

function fail(code: string, message: string, ids?: { threadId: string; runId: string }): ParsedInput {
  return { ok: false, error: new InputError(code, message), ids };
}

function checkText(text: string, maxInputChars: number, ids: { threadId: string; runId: string }): ParsedInput | undefined {
  if (text.trim().length === 0) {
    return fail("EMPTY_MESSAGE", "The user message is empty: send some text.", ids);
  }
  if (text.length > maxInputChars) {
    return fail(
      "MESSAGE_TOO_LONG",
      `The user message has ${text.length} characters; the limit is ${maxInputChars} (option maxInputChars).`,
      ids,
    );
  }
  return undefined;
}

/** Validate and normalise a run input (AG-UI `RunAgentInput` + `userId`, or the shorthand). Never throws. */
export function parseRunInput(input: unknown, options: ParseOptions): ParsedInput {
  try {
    return readRunInput(input, options);
  } catch (error) {
    // Input that throws when it is read (a Proxy, a getter) is refused like any other bad input.
    return fail("INVALID_INPUT", `The run input could not be read: ${errorMessage(error)}`);
  }
}

function readRunInput(input: unknown, options: ParseOptions): ParsedInput {
  if (!isRecord(input)) {
    return fail("INVALID_INPUT", "The run input must be an object: an AG-UI RunAgentInput or { userId, message }.");
  }
  // The shape first: nothing else may walk a value nested thousands of levels deep.
  const maxDepth = options.maxDepth ?? INPUT_LIMITS.maxDepth;
  const shape = shapeProblem(input, maxDepth, options.maxNodes ?? INPUT_LIMITS.maxNodes);
  if (shape === "deep") return fail("INPUT_TOO_DEEP", `The run input is nested deeper than ${maxDepth} levels (option maxInputDepth).`);
  if (shape === "large") {
    return fail(
      "INPUT_TOO_LARGE",
      `The run input holds more than ${options.maxNodes ?? INPUT_LIMITS.maxNodes} values (option maxInputNodes).`,
    );
  }
  const parsed = "messages" in input ? parseAgUi(input, options) : "message" in input ? parseShorthand(input, options) : undefined;
  if (!parsed) return fail("INVALID_INPUT", "The run input has neither `messages` (AG-UI RunAgentInput) nor `message` (shorthand).");
  if (!parsed.ok) return parsed;
  const { turn } = parsed;
  const maxIdLength = options.maxIdLength ?? INPUT_LIMITS.maxIdLength;
  const problem =
    idProblem("userId", turn.userId, maxIdLength) ??
    idProblem("threadId", turn.threadId, maxIdLength) ??
    idProblem("runId", turn.runId, maxIdLength) ??
    messageIdProblem(turn.messages, maxIdLength);
  // The ids of an error event must be valid too: a bad one is replaced in the error's RUN_STARTED.
  if (problem) return fail("INVALID_ID", problem, safeIds(turn, maxIdLength));
  // The model sees well-formed text: a lone surrogate becomes U+FFFD, as any UTF-8 encoder would make it.
  if (!isWellFormed(turn.text)) turn.text = toWellFormed(turn.text);
  return parsed;
}

/**
 * Why an id of the conversation is not acceptable (a message's, a tool call's, the call a tool
 * result answers), or undefined: they go into the stream, the history and the prompt as the
 * run's own ids do, and are bounded alike.
 */
function messageIdProblem(messages: readonly Message[], maxIdLength: number): string | undefined {
  const ok = (id: string) => isAcceptableId(id, maxIdLength);
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as Message;
    if (!ok(m.id)) return idProblem(`messages[${i}].id`, m.id, maxIdLength);
    if (m.role === "tool" && !ok(m.toolCallId)) return idProblem(`messages[${i}].toolCallId`, m.toolCallId, maxIdLength);
    if (m.role === "assistant" && m.toolCalls) {
      for (let j = 0; j < m.toolCalls.length; j++) {
        const id = (m.toolCalls[j] as { id: string }).id;
        if (!ok(id)) return idProblem(`messages[${i}].toolCalls[${j}].id`, id, maxIdLength);
      }
    }
  }
  return undefined;
}

/** Ids to report an input error under: the input's own when they are acceptable. */
function safeIds(turn: Turn, maxIdLength: number): { threadId: string; runId: string } {
  const ok = (id: string) => isAcceptableId(id, maxIdLength);
  return { threadId: ok(turn.threadId) ? turn.threadId : "invalid", runId: ok(turn.runId) ? turn.runId : newId() };
}

/** The shorthand's fields as the schema wants them: checked by hand, as zod costs more than the run's own work here. */
const validShorthand = (input: Record<string, unknown>, userId: unknown): boolean =>
  nonEmpty(userId) &&
  typeof input.message === "string" &&
  (input.threadId === undefined || nonEmpty(input.threadId)) &&
  (input.runId === undefined || nonEmpty(input.runId));

function parseShorthand(input: Record<string, unknown>, options: ParseOptions): ParsedInput {
  const userId = options.userId ?? input.userId;
  const ids = {
    threadId: nonEmpty(input.threadId) ? input.threadId : "default",
    runId: nonEmpty(input.runId) ? input.runId : newId(),
  };
  if (!validShorthand(input, userId)) {
    // The schema only explains what is wrong.
    const parsed = ShorthandSchema.safeParse(options.userId === undefined ? input : { ...input, userId: options.userId });
    const issues = parsed.success ? [] : parsed.error.issues;
    const code = issues.some((i) => i.path[0] === "userId") ? "MISSING_USER_ID" : "INVALID_INPUT";
    return fail(code, `Invalid run input: ${parsed.success ? "malformed shorthand" : z.prettifyError(parsed.error)}`, ids);
  }
  const message = input.message as string;
  const bad = checkText(message, options.maxInputChars, ids);
  if (bad) return bad;
  return {
    ok: true,
    // Fields listed one by one: an object spread followed by more fields is a slow path in V8 (µs).
    turn: {
      threadId: ids.threadId,
      runId: ids.runId,
      userId: userId as string,
      text: message,
      userMessageId: newId(),
      messages: [],
      tools: [],
      context: [],
      state: undefined,
    },
  };
}

function parseAgUi(input: Record<string, unknown>, options: ParseOptions): ParsedInput {
  const ids = nonEmpty(input.threadId) && nonEmpty(input.runId) ? { threadId: input.threadId, runId: input.runId } : undefined;
  if (!ids) {
    return fail("MISSING_IDS", "An AG-UI RunAgentInput needs non-empty string `threadId` and `runId`.");
  }
  const parsed = RunAgentInputSchema.safeParse(input);
  if (!parsed.success) {
    return fail("INVALID_INPUT", `Invalid RunAgentInput: ${z.prettifyError(parsed.error)}`, ids);
  }
  const badTool = (parsed.data.tools ?? []).findIndex((tool) => !isToolName(tool.name));
  if (badTool >= 0) {
    return fail(
      "INVALID_INPUT",
      `Invalid RunAgentInput: tools[${badTool}] has the name ${JSON.stringify(String(parsed.data.tools?.[badTool]?.name).slice(0, 80))}; ${TOOL_NAME_RULE}.`,
      ids,
    );
  }
  const userId = options.userId ?? input.userId;
  if (!nonEmpty(userId)) {
    return fail("MISSING_USER_ID", "The run has no user: pass `userId` in the input or in run options.", ids);
  }
  const messages = parsed.data.messages as Message[];
  const lastUser = findLastUser(messages);
  if (!lastUser) {
    return fail("NO_USER_MESSAGE", "The input has no user message: add a message with role 'user'.", ids);
  }
  const text = contentToText(lastUser.content);
  const bad = checkText(text, options.maxInputChars, ids);
  if (bad) return bad;
  return {
    ok: true,
    turn: {
      threadId: ids.threadId,
      runId: ids.runId,
      userId,
      text,
      userMessageId: lastUser.id,
      messages,
      tools: (parsed.data.tools ?? []) as Tool[],
      context: (parsed.data.context ?? []) as Context[],
      state: isRecord(parsed.data.state) ? parsed.data.state : undefined,
    },
  };
}

function findLastUser(messages: Message[]): Extract<Message, { role: "user" }> | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m?.role === "user") return m;
  }
  return undefined;
}
