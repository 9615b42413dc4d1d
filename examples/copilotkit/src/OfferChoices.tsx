/**
 * `offer_choices` as a CopilotKit human-in-the-loop tool. CopilotKit sends its definition in the
 * AG-UI input's `tools`; zoe hands the model's call back (it never runs frontend tools); this
 * component renders the options as buttons, and `respond(option)` sends the pick as the call's
 * result, which runs the agent again: the conversation continues.
 */
import { useHumanInTheLoop } from "@copilotkit/react-core/v2";
import { z } from "zod";

const parameters = z.object({
  question: z.string().optional().describe("The question, in one short sentence."),
  options: z.array(z.string()).min(2).max(6).describe("The options, each a few words."),
});

export function OfferChoices() {
  useHumanInTheLoop({
    name: "offer_choices",
    description: "Offer the user a few options to pick from, shown as buttons. Use it when the user has to choose between a few options.",
    parameters,
    render: ({ args, status, respond, result }) => (
      <div className="choices" data-status={status}>
        {args.question ? <p className="choices-question">{args.question}</p> : null}
        <div className="choice-buttons">
          {(args.options ?? []).map((option) => (
            <button
              key={option}
              type="button"
              className={`choice${result === option ? " chosen" : ""}`}
              aria-pressed={result === option}
              disabled={!respond}
              onClick={() => void respond?.(option)}
            >
              {option}
            </button>
          ))}
        </div>
      </div>
    ),
  });
  return null;
}
