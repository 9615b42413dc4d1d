/**
 * A child process of test/redis/close.test.ts: `node --import tsx test/redis/close-down-worker.ts`
 * with a JSON config in ZOE_CLOSE_DOWN. It opens a `redisCacheStore` on a port where nothing
 * listens, with a `timeoutMs` longer than the test's own timeout, waits until its client is waiting
 * to reconnect, closes the store and reports the client's state. The process must then exit by
 * itself.
 */
import { redisCacheStore } from "../../src/redis/index.js";

export interface CloseDownConfig {
  url: string;
  nearCache: boolean;
  timeoutMs: number;
}
export interface CloseDownReport {
  /** The client's status when close() was called. */
  statusAtClose: string;
}

const config = JSON.parse(process.env.ZOE_CLOSE_DOWN ?? "{}") as CloseDownConfig;
const store = redisCacheStore({ url: config.url, prefix: "close-down:", nearCache: config.nearCache, timeoutMs: config.timeoutMs });
store.on("error", () => {});
while (store.client.status !== "reconnecting") await new Promise((r) => setTimeout(r, 5));
const report: CloseDownReport = { statusAtClose: store.client.status };
await store.close();
process.send?.(report, () => process.disconnect());
