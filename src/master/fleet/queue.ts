/**
 * Where submitted tasks wait for a slave. The scheduler is the queue's only caller; the in-memory queue
 * (`MemoryQueue`) is the embedded default, and a queue on a distributed engine (JetStream, issue 16) plugs in
 * behind the same shape:
 *
 * - **Lanes.** Every entry belongs to a lane, the canonical key of its tag set ('' for a task without tags).
 *   The scheduler asks for the best entry of the lanes a free slave can serve, so a task waiting for a tag no
 *   free slave carries never blocks the tasks behind it.
 * - **Order.** Within a lane: higher `priority` first, first in first out within a priority. `unshift` puts an
 *   entry taken earlier back ahead of every entry of its priority (a re-dispatch keeps its turn; it does not
 *   jump over higher priorities).
 * - **Taken, then acknowledged.** `shift` hands an entry to a slave; `ack` says its outcome is published (the
 *   task settled and its callbacks ran). A durable queue keeps the entry until `ack` and redelivers what a dead
 *   master never acknowledged; an entry that goes back (`unshift`) is not acknowledged.
 * - **Pulling.** A queue fed from elsewhere reads `context.freeSlots(lane)` to fetch no more than can run now,
 *   and calls `context.wake(lane)` when entries arrive, so the scheduler places them. The in-memory queue never
 *   needs either: every entry reaches it through `push`.
 */
export interface TaskQueue<E extends QueueEntry> {
  /** Entries waiting (pushed or put back, not taken). */
  readonly size: number;
  /** A new entry, behind every waiting entry of its priority. False (and nothing added) when the queue is full. */
  push(entry: E): boolean;
  /** An entry taken earlier goes back, ahead of every waiting entry of its priority. Never refused. */
  unshift(entry: E): void;
  /** The best waiting entry of the lane, left in place. */
  peek(lane: string): E | undefined;
  /** Takes the best waiting entry of the lane. */
  shift(lane: string): E | undefined;
  /** A waiting entry leaves (cancelled, or the master closes); false if it was not waiting. */
  remove(entry: E): boolean;
  /** The outcome of an entry taken earlier is published: a durable queue forgets it now. */
  ack(entry: E): void;
}

export interface QueueEntry {
  /** Higher first. */
  readonly priority: number;
  /** The canonical key of the entry's tag set; '' when it has none. */
  readonly lane: string;
}

/** What a queue gets from the scheduler that makes it. */
export interface QueueContext {
  /** Most entries `push` accepts (the master's `queueLimit`). */
  readonly limit: number;
  /** Slots free now on slaves that can serve the lane: a pulling queue fetches no more than this. */
  freeSlots(lane: string): number;
  /** Entries arrived in the lane outside `push` (a pulling queue): the scheduler places what it can. */
  wake(lane: string): void;
}

export type QueueFactory<E extends QueueEntry> = (context: QueueContext) => TaskQueue<E>;
