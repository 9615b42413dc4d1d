import { EventEmitter } from "eventemitter3";
import type { PipelineEvents } from "./types.js";

/**
 * The pipeline's host events. A listener that throws loses that event (for itself and the
 * listeners after it), never the run: a run's stream ends with its own terminal event whatever a
 * host's `run:error` or `run:finished` listener does, and nothing is thrown at the consumer.
 */
export class HostEvents extends EventEmitter<PipelineEvents> {
  override emit<T extends EventEmitter.EventNames<PipelineEvents>>(event: T, ...args: EventEmitter.EventArgs<PipelineEvents, T>): boolean {
    try {
      return super.emit(event, ...args);
    } catch {
      return true;
    }
  }
}
