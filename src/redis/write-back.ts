import type { CacheStore, ListAppendOptions } from "../cache/types.js";
import type { WriteBackEvent } from "./fallback-types.js";
import { isArgumentError } from "./errors.js";
import type { JournalRecord, WriteJournal } from "./journal.js";

/** Records written back at once (each a call with its own deadline). */
const WRITE_BACK_BATCH = 256;

/** Options of an idempotent list append (`listAppendOnce`). */
export interface ListAppendOnceOptions extends ListAppendOptions {
  /** Delete whatever the key holds before appending. */
  replace?: boolean;
}

/** A primary that can take a journal record back. */
export type WriteBackTarget = Pick<CacheStore, "set" | "delete" | "listAppend"> & {
  listAppendOnce?(key: string, items: readonly unknown[], options: ListAppendOnceOptions): Promise<void>;
};

/**
 * Write one journal record to `primary`, with the TTL it has left (an expired record deletes
 * the key: the value the fallback served is gone too). Lists go through `listAppendOnce` when the
 * primary has it, so that writing a record back twice (after a lost reply) appends nothing twice.
 */
export async function writeBackRecord(primary: WriteBackTarget, key: string, record: JournalRecord, now: number): Promise<void> {
  switch (record.kind) {
    case "delete":
      return primary.delete(key);
    case "set": {
      const left = record.expiresAt - now;
      return left > 0 ? primary.set(key, JSON.parse(record.json) as unknown, left) : primary.delete(key);
    }
    case "list": {
      const left = record.ttlMs - (now - record.writtenAt);
      if (left <= 0) return primary.delete(key);
      const items = record.items.map((s) => JSON.parse(s) as unknown);
      const options = { maxLength: record.maxLength, ttlMs: left };
      if (primary.listAppendOnce) return primary.listAppendOnce(key, items, { ...options, replace: record.replace });
      if (record.replace) await primary.delete(key);
      return primary.listAppend(key, items, options);
    }
  }
}

/**
 * One write-back pass over what `journal` holds now, in batches, each record under `deadline`:
 * a record that went back is settled (unless written again meanwhile); one the primary refuses
 * with a `TypeError` or a `RangeError` (the arguments, not Redis) is settled and reported to
 * `onRefused` (retrying cannot help: the record would keep the store degraded for good). Undefined
 * when every record went back, else the first other error (the rest waits for the next pass).
 */
export async function writeBackPass(
  journal: WriteJournal,
  primary: WriteBackTarget,
  deadline: (work: () => Promise<void>, op: string) => Promise<void>,
  report: WriteBackEvent,
  onRefused: (error: TypeError | RangeError) => void,
): Promise<unknown> {
  const records = journal.entries();
  for (let at = 0; at < records.length; at += WRITE_BACK_BATCH) {
    const batch = records.slice(at, at + WRITE_BACK_BATCH);
    const outcomes = await Promise.allSettled(
      batch.map(([key, record]) => deadline(() => writeBackRecord(primary, key, record, performance.now()), "writeBack")),
    );
    let stop: unknown;
    outcomes.forEach((outcome, i) => {
      const [key, record] = batch[i] as [string, JournalRecord];
      if (outcome.status === "fulfilled") {
        journal.settle(key, record);
        report.written++;
      } else if (isArgumentError(outcome.reason)) {
        journal.settle(key, record);
        report.failed++;
        onRefused(outcome.reason);
      } else {
        stop ??= outcome.reason;
      }
    });
    if (stop !== undefined) return stop;
  }
  return undefined;
}
