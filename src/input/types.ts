import type { Context, Message, RunAgentInput, Tool } from "@ag-ui/core";

/** An AG-UI run input plus the id of the user it runs for. */
export type ZoeRunAgentInput = RunAgentInput & { userId?: string };

/** The shorthand for hosts that do not speak AG-UI. */
export interface ShorthandInput {
  userId: string;
  /** Default: `"default"`, one ongoing thread per user. */
  threadId?: string;
  /** Default: a random UUID. */
  runId?: string;
  message: string;
}

/** What `pipeline.run()` accepts. */
export type RunInput = ZoeRunAgentInput | ShorthandInput;

/** A validated turn, whatever form it came in. */
export interface Turn {
  threadId: string;
  runId: string;
  userId: string;
  /** The text of the last user message. */
  text: string;
  userMessageId: string;
  /** The conversation the input carried (AG-UI), user turn included; empty for the shorthand. */
  messages: Message[];
  tools: Tool[];
  context: Context[];
  /** The client's state, when it was an object. */
  state: Record<string, unknown> | undefined;
}
