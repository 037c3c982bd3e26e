import type { FleetEvent } from './frames.ts';

type WithoutStamp<E> = E extends unknown ? Omit<E, 'seq' | 'at'> : never;
/** An event as recorded: the log stamps its sequence number and time. */
export type FleetEventInput = WithoutStamp<FleetEvent>;

/** Longest text kept in an event (a reason, a name): the log's memory is bounded by count × this. */
const kMaxText = 200;

/**
 * The fleet's last events (connects, disconnects, evictions, task failures) in a ring of fixed size: recording
 * one is O(1) and the oldest is forgotten. A new kind (a retry, a cancellation) is one more member of
 * `FleetEvent` and one `record()` call where it happens.
 */
export class FleetEventLog {
  readonly capacity: number;
  readonly #ring: (FleetEvent | undefined)[];
  #seq = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be an integer >= 1');
    this.capacity = capacity;
    this.#ring = new Array(capacity).fill(undefined);
  }

  /** The sequence number of the last event recorded (0 before the first). */
  get lastSeq(): number {
    return this.#seq;
  }

  record(input: FleetEventInput): void {
    const event = { ...input, seq: ++this.#seq, at: Date.now() } as FleetEvent;
    for (const key of ['slave', 'address', 'reason', 'code', 'taskId'] as const) {
      const value = (event as Record<string, unknown>)[key];
      if (typeof value === 'string' && value.length > kMaxText) {
        (event as Record<string, unknown>)[key] = `${value.slice(0, kMaxText - 1)}…`;
      }
    }
    this.#ring[this.#seq % this.capacity] = event;
  }

  /**
   * The events after `afterSeq`, oldest first, at most `max` (the newest ones); `skipped` counts the others
   * (left out, or already forgotten by the ring).
   */
  since(afterSeq: number, max: number): { events: FleetEvent[]; skipped: number } {
    const newer = this.#seq - Math.max(0, afterSeq);
    if (newer <= 0) return { events: [], skipped: 0 };
    const take = Math.min(newer, max, this.capacity);
    const events: FleetEvent[] = [];
    for (let seq = this.#seq - take + 1; seq <= this.#seq; seq++)
      events.push(this.#ring[seq % this.capacity]!);
    return { events, skipped: newer - take };
  }

  /** The last `max` events, oldest first. */
  last(max: number): FleetEvent[] {
    return this.since(0, max).events;
  }
}
