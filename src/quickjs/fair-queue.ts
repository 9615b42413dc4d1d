/**
 * The executor's waiting room: per user, a FIFO queue of fresh blocks and one of blocks waiting
 * for their second run (they did not finish in their first slice), and a fair choice of the next
 * block.
 *
 * The next block is a fresh one whenever one may start (its user has fewer than
 * `perUserConcurrency` blocks running); a second run only when no fresh block may. Within a
 * class, it comes from the user who has had the least sandbox time: the milliseconds of their
 * finished runs plus the time their running blocks have run so far. A user who starts waiting
 * starts level with the least-served user already there (never below: new user ids cannot jump
 * ahead of users who wait), and a user with nothing queued or running is forgotten. Ties go to
 * the block that has waited longest. With blocks of equal length this is plain round-robin; a
 * user whose blocks run long yields to users whose blocks are quick. Every run charges at least
 * 1 ms, so no user can be picked for ever while others wait.
 *
 * Written here rather than taken from a library: p-limit and p-queue have one FIFO (p-queue adds
 * static priorities), not per-key fairness with per-key bounds.
 */

interface UserState<T> {
  /** Fresh blocks, oldest first. */
  readonly fresh: Array<Entry<T>>;
  /** Blocks waiting for their second run, oldest first. */
  readonly second: Array<Entry<T>>;
  /** Start times (performance.now()) of the user's running blocks. */
  readonly running: number[];
  /** Sandbox time used, ms (meaningful only relative to other users'). */
  used: number;
}

interface Entry<T> {
  readonly item: T;
  /** Arrival order, for ties. */
  readonly seq: number;
}

/** A block taken from the queue; pass it back to {@link FairQueue.finished} when its run ends. */
export interface Ticket<T> {
  readonly user: string;
  readonly item: T;
  readonly startedAt: number;
  /** Whether this is the block's second run. */
  readonly second: boolean;
}

export class FairQueue<T> {
  readonly #users = new Map<string, UserState<T>>();
  readonly #perUserConcurrency: number;
  #queued = 0;
  #running = 0;
  #seq = 0;

  constructor(perUserConcurrency: number) {
    this.#perUserConcurrency = perUserConcurrency;
  }

  /** Blocks waiting, all users. */
  get size(): number {
    return this.#queued;
  }

  /** Blocks running, all users. */
  get running(): number {
    return this.#running;
  }

  /** Users with blocks waiting or running. */
  get users(): number {
    return this.#users.size;
  }

  /** Blocks `user` has waiting. */
  queuedFor(user: string): number {
    const state = this.#users.get(user);
    return state === undefined ? 0 : state.fresh.length + state.second.length;
  }

  /** Whether a new block of `user` would be the next of its user (nothing queued, room to run). */
  eligible(user: string): boolean {
    const state = this.#users.get(user);
    return state === undefined || (this.queuedFor(user) === 0 && state.running.length < this.#perUserConcurrency);
  }

  /** Blocks that could start now if there were enough sandboxes (`fresh` only: fresh blocks only). */
  startable(fresh = false): number {
    let count = 0;
    for (const state of this.#users.values()) {
      const waiting = fresh ? state.fresh.length : state.fresh.length + state.second.length;
      count += Math.min(waiting, Math.max(0, this.#perUserConcurrency - state.running.length));
    }
    return count;
  }

  /** Queues a block: a fresh one, or (`second`) one that waits for its second run. */
  push(user: string, item: T, now: number, second = false): void {
    let state = this.#users.get(user);
    if (state === undefined) {
      state = { fresh: [], second: [], running: [], used: this.#leastUsed(now) };
      this.#users.set(user, state);
    }
    (second ? state.second : state.fresh).push({ item, seq: this.#seq++ });
    this.#queued++;
  }

  /** Takes `item` out of the queue (an abort, a queue timeout). False when it is not waiting. */
  remove(user: string, item: T): boolean {
    const state = this.#users.get(user);
    if (state === undefined) return false;
    for (const list of [state.fresh, state.second]) {
      const index = list.findIndex((entry) => entry.item === item);
      if (index < 0) continue;
      list.splice(index, 1);
      this.#queued--;
      this.#forgetIfIdle(user, state);
      return true;
    }
    return false;
  }

  /**
   * Takes the next block to run (see the module comment), or undefined when none may start.
   * `allowSecond: false` takes fresh blocks only.
   */
  take(now: number, allowSecond = true): Ticket<T> | undefined {
    const fresh = this.#best(now, "fresh");
    const pick = fresh ?? (allowSecond ? this.#best(now, "second") : undefined);
    if (pick === undefined) return undefined;
    const second = fresh === undefined;
    const entry = (second ? pick.state.second : pick.state.fresh).shift() as Entry<T>;
    this.#queued--;
    pick.state.running.push(now);
    this.#running++;
    return { user: pick.user, item: entry.item, startedAt: now, second };
  }

  /** A run taken with {@link take} has ended: its time is charged to its user. */
  finished(ticket: Ticket<T>, now: number): void {
    const state = this.#users.get(ticket.user);
    if (state === undefined) return;
    const index = state.running.indexOf(ticket.startedAt);
    if (index < 0) return;
    state.running.splice(index, 1);
    this.#running--;
    state.used += Math.max(1, now - ticket.startedAt);
    this.#forgetIfIdle(ticket.user, state);
  }

  /** Every waiting block, oldest first, leaving the queue empty (close()). */
  drain(): T[] {
    const all: Array<Entry<T>> = [];
    for (const [user, state] of this.#users) {
      all.push(...state.fresh.splice(0), ...state.second.splice(0));
      this.#forgetIfIdle(user, state);
    }
    this.#queued = 0;
    return all.sort((a, b) => a.seq - b.seq).map((entry) => entry.item);
  }

  #best(now: number, list: "fresh" | "second"): { user: string; state: UserState<T> } | undefined {
    let best: { user: string; state: UserState<T>; used: number; seq: number } | undefined;
    for (const [user, state] of this.#users) {
      const head = state[list][0];
      if (head === undefined || state.running.length >= this.#perUserConcurrency) continue;
      const used = this.#effective(state, now);
      if (best === undefined || used < best.used || (used === best.used && head.seq < best.seq)) {
        best = { user, state, used, seq: head.seq };
      }
    }
    return best;
  }

  #effective(state: UserState<T>, now: number): number {
    let used = state.used;
    for (const startedAt of state.running) used += now - startedAt;
    return used;
  }

  #leastUsed(now: number): number {
    let least: number | undefined;
    for (const state of this.#users.values()) {
      const used = this.#effective(state, now);
      if (least === undefined || used < least) least = used;
    }
    return least ?? 0;
  }

  #forgetIfIdle(user: string, state: UserState<T>): void {
    if (state.fresh.length === 0 && state.second.length === 0 && state.running.length === 0) this.#users.delete(user);
  }
}
