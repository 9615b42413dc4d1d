/**
 * CopilotKit's prebuilt chat talking to a zoe endpoint, with no CopilotKit runtime in between:
 * zoe speaks AG-UI, so an `HttpAgent` from @ag-ui/client pointed at it is the whole backend
 * wiring (CopilotKit v2's `selfManagedAgents`). The server identifies the visitor by its own
 * cookie, which the browser sends with the same-origin request.
 */
import { HttpAgent } from "@ag-ui/client";
import { CopilotChat, CopilotKit, type AbstractAgent } from "@copilotkit/react-core/v2";
import "@copilotkit/react-core/v2/styles.css";
import { OfferChoices } from "./OfferChoices.js";

const zoe = new HttpAgent({ url: new URL("/api/agent", location.href).href });

// CopilotKit 1.74 types its agents with the @ag-ui/client it bundles (0.0.59); an agent from
// @ag-ui/client 1.0 has the same public surface (run, runAgent, subscribe, messages, state, clone,
// abortRun) but other private fields, so TypeScript needs the cast. At run time CopilotKit only
// calls that public surface.
const agents = { zoe: zoe as unknown as AbstractAgent };

export function App() {
  return (
    <CopilotKit selfManagedAgents={agents} enableInspector={false}>
      <OfferChoices />
      <div className="page">
        <header className="topbar">
          <span className="logo" aria-hidden="true">
            Z
          </span>
          <div>
            <h1>Zoe in CopilotKit</h1>
            <p>CopilotKit's chat, streamed from a zoe-pipeline endpoint over AG-UI</p>
          </div>
        </header>
        <main className="chat">
          <CopilotChat agentId="zoe" labels={{ chatInputPlaceholder: "Message Zoe…" }} />
        </main>
      </div>
    </CopilotKit>
  );
}
