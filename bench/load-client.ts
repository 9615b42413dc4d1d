/**
 * The load generator of bench/sse.ts's "client in its own process" table (#14), forked as a child
 * process: autocannon on the machine's other core, as a remote client would be, so that the
 * server's process does nothing but serve (its CPU per run is the server's alone). One message per
 * job: `{ url, connections, amount, method, headers, body }`; the answer is the number of complete
 * responses, the time from the start to the last one, and the failures.
 */
import { createRequire } from "node:module";

type Job = { url: string; connections: number; amount: number; method: string; headers: Record<string, string>; body: string };
type Run = Promise<{ errors: number; timeouts: number }> & {
  on(event: "response", listener: (client: unknown, status: number) => void): void;
};
const autocannon = createRequire(import.meta.url)("autocannon") as (opts: Job & { timeout: number; sampleInt: number }) => Run;

process.on("message", async (job: Job) => {
  const t0 = performance.now();
  let last = t0;
  let runs = 0;
  let bad = 0;
  // Inside a worker autocannon reports histograms rather than totals: responses are counted here.
  const run = autocannon({ ...job, timeout: 30, sampleInt: 50 });
  run.on("response", (_client, status) => {
    runs++;
    if (status !== 200) bad++;
    last = performance.now();
  });
  const result = await run;
  process.send?.({ runs, seconds: (last - t0) / 1000, failures: bad + result.errors + result.timeouts });
});
