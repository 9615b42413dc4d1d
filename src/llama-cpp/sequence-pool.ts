/** What the pool needs to know of a context sequence (node-llama-cpp's `LlamaContextSequence`). */
export interface PoolSequence {
  /** Tokens held in the sequence's KV cache. */
  readonly nextTokenIndex: number;
  compareContextTokens(tokens: readonly number[]): { firstDifferentIndex: number };
}

/** One kept sequence and what it was last used for. */
export interface PoolSlot<S extends PoolSequence, T> {
  readonly sequence: S;
  /** Whatever the owner attaches (a `LlamaChat` bound to the sequence). */
  readonly data: T;
  busy: boolean;
  /** Length of the last prompt evaluated in it: the part of its tokens that is "the conversation". */
  promptLength: number;
  /** Monotonic use counter, for LRU. */
  lastUsed: number;
  /** False after a failure: its contents are unknown and never continued. */
  trusted: boolean;
  /** The thread whose prompt it last held (user and thread), when the request said. */
  owner?: string | undefined;
}

/** Why a slot was picked. */
export type PoolPick = "continuation" | "thread" | "fresh" | "evicted";

/** A slot leased for one request. */
export interface PoolLease<S extends PoolSequence, T> {
  slot: PoolSlot<S, T>;
  /** Prompt tokens already in the slot's KV cache (at most `prompt.length - 1`: the last is always evaluated). */
  reuse: number;
  pick: PoolPick;
}

/**
 * A bounded set of context sequences kept between requests so that a conversation's next turn
 * only evaluates its new tokens. A request goes, in order of preference, to:
 *
 * 1. an idle sequence it continues that no other thread holds (its own, one without an owner: a
 *    pre-warm's): the sequence holds the request's previous prompt as a prefix of this one (the
 *    answer after it may differ in tokenisation; the longest match wins);
 * 2. the idle sequence its thread used last (`owner`): after a planned history-window move the
 *    prompt no longer extends the last one, but its system prompt and stable context still match,
 *    and the thread's next turns continue from here — a fresh sequence would start from nothing;
 * 3. a fresh sequence: never used, emptied, or created while fewer than `capacity` exist. Before a
 *    sequence another thread holds: threads that open with the same message ("hello") would
 *    otherwise each take the last one's sequence, and its answer, its next turn's prefix, with it;
 * 4. the least recently used idle sequence, whose common prefix with the prompt (often the system
 *    prompt) is still reused: not the sequence another thread just used because this prompt
 *    continues it (that thread is the likelier to come back).
 *
 * A busy sequence is never shared. `acquire` is synchronous, so picking and marking busy is atomic.
 */
export class SequencePool<S extends PoolSequence, T> {
  readonly slots: PoolSlot<S, T>[] = [];
  private clock = 0;

  constructor(
    readonly capacity: number,
    private readonly create: () => { sequence: S; data: T },
  ) {}

  /**
   * Lease the best idle sequence for `prompt`, or undefined when every sequence is busy. `owner`
   * names the request's thread (user and thread), so that the thread keeps its sequence.
   */
  acquire(prompt: readonly number[], owner?: string): PoolLease<S, T> | undefined {
    const maxReuse = Math.max(0, prompt.length - 1);
    let best: { slot: PoolSlot<S, T>; match: number } | undefined;
    let own: { slot: PoolSlot<S, T>; match: number } | undefined;
    let fresh: PoolSlot<S, T> | undefined;
    let lru: PoolSlot<S, T> | undefined;
    for (const slot of this.slots) {
      if (slot.busy) continue;
      const held = slot.sequence.nextTokenIndex;
      if (held === 0) {
        fresh ??= slot;
        continue;
      }
      const match = slot.sequence.compareContextTokens(prompt).firstDifferentIndex;
      // A request continues a sequence when the sequence's last prompt (or, after an abort, all the
      // sequence holds) is a prefix of the new prompt.
      const continues = slot.trusted && match >= Math.min(slot.promptLength, held);
      const anotherThreads = slot.owner !== undefined && slot.owner !== owner;
      if (continues && !anotherThreads && (!best || match > best.match)) best = { slot, match };
      if (owner !== undefined && slot.owner === owner && slot.trusted) own = { slot, match };
      if (!lru || slot.lastUsed < lru.lastUsed) lru = slot;
    }
    if (best) return this.lease(best.slot, Math.min(best.match, maxReuse), "continuation", prompt.length, owner);
    if (own) return this.lease(own.slot, Math.min(own.match, maxReuse), "thread", prompt.length, owner);
    if (!fresh && this.slots.length < this.capacity) {
      const { sequence, data } = this.create();
      fresh = { sequence, data, busy: false, promptLength: 0, lastUsed: 0, trusted: true };
      this.slots.push(fresh);
    }
    if (fresh) return this.lease(fresh, 0, "fresh", prompt.length, owner);
    if (!lru) return undefined;
    const match = lru.sequence.compareContextTokens(prompt).firstDifferentIndex;
    return this.lease(lru, Math.min(match, maxReuse), "evicted", prompt.length, owner);
  }

  private lease(slot: PoolSlot<S, T>, reuse: number, pick: PoolPick, promptLength: number, owner: string | undefined): PoolLease<S, T> {
    slot.busy = true;
    slot.trusted = true;
    slot.promptLength = promptLength;
    slot.lastUsed = ++this.clock;
    slot.owner = owner;
    return { slot, reuse, pick };
  }

  /** Give a leased slot back. `forget` marks its contents unknown (after a failure). */
  release(slot: PoolSlot<S, T>, options: { forget?: boolean } = {}): void {
    slot.busy = false;
    if (options.forget) slot.trusted = false;
  }

  get busyCount(): number {
    return this.slots.reduce((n, s) => n + (s.busy ? 1 : 0), 0);
  }
}
