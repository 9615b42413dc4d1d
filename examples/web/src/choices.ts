/**
 * `offer_choices`, a frontend tool: the page declares it in each run's `tools`; when the model
 * calls it, zoe does not run it but finishes the run with the call pending. The page shows the
 * options as buttons; a click sends the option back as the call's `tool` message and runs again,
 * which continues the conversation (AG-UI's human-in-the-loop pattern).
 */
import type { Tool } from "@ag-ui/client";

export const OFFER_CHOICES = "offer_choices";

export const offerChoicesTool: Tool = {
  name: OFFER_CHOICES,
  description: "Offer the user a few options to pick from, shown as buttons. Use it when the user has to choose between a few options.",
  parameters: {
    type: "object",
    properties: {
      question: { type: "string", description: "The question, in one short sentence." },
      options: { type: "array", items: { type: "string" }, minItems: 2, maxItems: 6, description: "The options, each a few words." },
    },
    required: ["options"],
  },
};

/** The result sent when the user writes a message instead of picking an option. */
export const NO_CHOICE = "The user did not pick an option and wrote a message instead.";

export interface ChoicesArgs {
  question?: string;
  options: string[];
}

/** The call's arguments (JSON text, possibly still streaming or malformed), as far as they can be read. */
export function parseChoices(argumentsJson: string): ChoicesArgs {
  try {
    const value: unknown = JSON.parse(argumentsJson);
    if (typeof value !== "object" || value === null) return { options: [] };
    const { question, options } = value as Record<string, unknown>;
    return {
      ...(typeof question === "string" && question.trim() ? { question } : {}),
      options: Array.isArray(options) ? options.filter((o): o is string => typeof o === "string" && o.trim() !== "").slice(0, 12) : [],
    };
  } catch {
    return { options: [] };
  }
}
