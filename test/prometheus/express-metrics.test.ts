import { prometheusContentType } from "prom-client";
import { describe, expect, it } from "vitest";
import { createZoePipeline } from "../../src/index.js";
import { scriptedBackend, type ScriptStep } from "../../src/testing/index.js";
import { exampleAgent, exampleServers } from "../helpers/example-server.js";
import { fixedRouter } from "../helpers/fixtures.js";
import { parseMetrics } from "./parse.js";

const serve = exampleServers();

async function start() {
  const backend = scriptedBackend({
    script: (request): ScriptStep[] =>
      request.messages.at(-1)?.content.includes("fail")
        ? [{ type: "error", message: "no such model", code: "MODEL_NOT_FOUND" }]
        : [{ type: "text", text: "Hi!" }],
  });
  return serve(createZoePipeline({ backend, router: fixedRouter() }));
}

async function turn(base: string, text: string) {
  await exampleAgent(base, text)
    .runAgent({})
    .catch(() => {});
}

describe("the Express example's GET /metrics", () => {
  it("answers 200 in prom-client's text format and counts the runs made through /api/agent", async () => {
    const base = await start();
    let response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe(prometheusContentType);
    expect(parseMetrics(await response.text()).get("zoe_runs_started_total")).toBe(0);

    await turn(base, "hello");
    await turn(base, "hello again");
    await turn(base, "please fail");
    response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(200);
    const v = parseMetrics(await response.text());
    expect(v.get("zoe_runs_started_total")).toBe(3);
    expect(v.get('zoe_runs_total{outcome="success"}')).toBe(2);
    expect(v.get('zoe_run_errors_total{code="MODEL_NOT_FOUND"}')).toBe(1);
    expect(v.get('zoe_time_to_first_token_seconds_count{kind="chat"}')).toBe(2);
    expect(v.get("zoe_runs_in_flight")).toBe(0);
  });

  it("two apps in one process each have their own registry", async () => {
    const [a, b] = [await start(), await start()];
    await turn(a, "hello");
    const countOf = async (base: string) => parseMetrics(await (await fetch(`${base}/metrics`)).text()).get("zoe_runs_started_total");
    expect(await countOf(a)).toBe(1);
    expect(await countOf(b)).toBe(0);
  });
});
