import { newId } from "../shared/new-id.js";
import { EventType, type AGUIEvent, type Message, type RunFinishedEvent } from "@ag-ui/core";

/** Integer milliseconds, as AG-UI requires. */
const now = (): number => Date.now();

/** Event constructors with integer timestamps and no `null` fields. */
export const events = {
  runStarted: (threadId: string, runId: string): AGUIEvent => ({
    type: EventType.RUN_STARTED,
    threadId,
    runId,
    timestamp: now(),
  }),
  runFinished: (
    threadId: string,
    runId: string,
    result: unknown,
    outcome: NonNullable<RunFinishedEvent["outcome"]>,
    usage?: RunFinishedEvent["usage"],
  ): AGUIEvent => ({
    type: EventType.RUN_FINISHED,
    threadId,
    runId,
    result,
    outcome,
    timestamp: now(),
    ...(usage ? { usage } : {}),
  }),
  runError: (message: string, code: string): AGUIEvent => ({ type: EventType.RUN_ERROR, message, code, timestamp: now() }),
  stepStarted: (stepName: string): AGUIEvent => ({ type: EventType.STEP_STARTED, stepName, timestamp: now() }),
  stepFinished: (stepName: string): AGUIEvent => ({ type: EventType.STEP_FINISHED, stepName, timestamp: now() }),
  stateSnapshot: (snapshot: unknown): AGUIEvent => ({ type: EventType.STATE_SNAPSHOT, snapshot, timestamp: now() }),
  stateDelta: (delta: JsonPatchOp[]): AGUIEvent => ({ type: EventType.STATE_DELTA, delta, timestamp: now() }),
  messagesSnapshot: (messages: Message[]): AGUIEvent => ({ type: EventType.MESSAGES_SNAPSHOT, messages, timestamp: now() }),
  activitySnapshot: (messageId: string, activityType: string, content: Record<string, unknown>): AGUIEvent => ({
    type: EventType.ACTIVITY_SNAPSHOT,
    messageId,
    activityType,
    content,
    timestamp: now(),
  }),
  activityDelta: (messageId: string, activityType: string, patch: JsonPatchOp[]): AGUIEvent => ({
    type: EventType.ACTIVITY_DELTA,
    messageId,
    activityType,
    patch,
    timestamp: now(),
  }),
  textStart: (messageId: string): AGUIEvent => ({
    type: EventType.TEXT_MESSAGE_START,
    messageId,
    role: "assistant",
    timestamp: now(),
  }),
  textContent: (messageId: string, delta: string): AGUIEvent => ({
    type: EventType.TEXT_MESSAGE_CONTENT,
    messageId,
    delta,
    timestamp: now(),
  }),
  textEnd: (messageId: string): AGUIEvent => ({ type: EventType.TEXT_MESSAGE_END, messageId, timestamp: now() }),
  reasoningStart: (messageId: string): AGUIEvent => ({ type: EventType.REASONING_START, messageId, timestamp: now() }),
  reasoningMessageStart: (messageId: string): AGUIEvent => ({
    type: EventType.REASONING_MESSAGE_START,
    messageId,
    role: "reasoning",
    timestamp: now(),
  }),
  reasoningContent: (messageId: string, delta: string): AGUIEvent => ({
    type: EventType.REASONING_MESSAGE_CONTENT,
    messageId,
    delta,
    timestamp: now(),
  }),
  reasoningMessageEnd: (messageId: string): AGUIEvent => ({
    type: EventType.REASONING_MESSAGE_END,
    messageId,
    timestamp: now(),
  }),
  reasoningEnd: (messageId: string): AGUIEvent => ({ type: EventType.REASONING_END, messageId, timestamp: now() }),
  toolCallStart: (toolCallId: string, toolCallName: string, parentMessageId?: string): AGUIEvent => ({
    type: EventType.TOOL_CALL_START,
    toolCallId,
    toolCallName,
    timestamp: now(),
    ...(parentMessageId ? { parentMessageId } : {}),
  }),
  toolCallArgs: (toolCallId: string, delta: string): AGUIEvent => ({
    type: EventType.TOOL_CALL_ARGS,
    toolCallId,
    delta,
    timestamp: now(),
  }),
  toolCallEnd: (toolCallId: string): AGUIEvent => ({ type: EventType.TOOL_CALL_END, toolCallId, timestamp: now() }),
  toolCallResult: (toolCallId: string, content: string): AGUIEvent => ({
    type: EventType.TOOL_CALL_RESULT,
    messageId: newId(),
    toolCallId,
    content,
    role: "tool",
    timestamp: now(),
  }),
  custom: (name: string, value: unknown): AGUIEvent => ({ type: EventType.CUSTOM, name, value, timestamp: now() }),
};

/** One RFC 6902 operation, as STATE_DELTA carries it. */
export type JsonPatchOp = { op: "add" | "replace"; path: string; value: unknown } | { op: "remove"; path: string };

/** One segment of a JSON Pointer (RFC 6901): `~` and `/` escaped. */
export const pointerSegment = (s: string): string => (s.includes("~") || s.includes("/") ? s.replace(/~/g, "~0").replace(/\//g, "~1") : s);
