import {
  kAgeScale,
  kEmptySlot,
  kLateFraction,
  kSilentFraction,
  type SlaveState,
  type SlotChange,
} from './frames.ts';

/** What the slots read of a slave (a registry record). */
export interface SlotSource {
  readonly name: string;
  readonly state: SlaveState;
  readonly lastHeartbeat: number;
  readonly connection: { readonly origin: string; readonly runningTasks: number };
}

/** The fleet in one pass: counts by state and the histogram of `ages` bytes. */
export interface FleetPass {
  total: number;
  connected: number;
  pending: number;
  fresh: number;
  late: number;
  silent: number;
  /** `histogram[b]`: slaves whose age byte is `b` (0–254). */
  histogram: Uint32Array;
}

interface Occupant<R> {
  readonly record: R;
  readonly id: number;
  state: SlaveState;
  /** The pass that last saw it. */
  seen: number;
}

const kLate = Math.round(kLateFraction * kAgeScale);
const kSilent = Math.round(kSilentFraction * kAgeScale);

/** Heartbeat age ÷ tolerance, as one byte (0–254). */
export function ageByte(ageMs: number, toleranceMs: number): number {
  const b = Math.round((Math.max(0, ageMs) / toleranceMs) * kAgeScale);
  return Math.min(b, 254);
}

/**
 * Gives every slave a slot (a small integer, reused once its slave left) so the page can receive per-slave
 * figures as byte arrays indexed by slot; names and addresses then cross the wire once per slave, when it takes
 * its slot. One `pass()` a second walks the registry once (O(slaves), no allocation per slave but for newcomers).
 */
export class SlaveSlots<R extends SlotSource> {
  readonly #slotOf = new Map<R, number>();
  #occupants: (Occupant<R> | undefined)[] = [];
  #ages = new Uint8Array(64).fill(kEmptySlot);
  #inflight = new Uint8Array(64);
  #inflightChanged = false;
  /** Slots in use so far: every slot from here on is empty. */
  #capacity = 0;
  /** No slot below this one is free. */
  #lowestFree = 0;
  #nextId = 1;
  #pass = 0;
  /** Slots whose slave changed since `takeChanges()`, with what they hold now. */
  #changed = new Set<number>();

  get capacity(): number {
    return this.#capacity;
  }

  get size(): number {
    return this.#slotOf.size;
  }

  /** Reads every slave's age and tasks in flight, gives newcomers a slot and frees the slots of those gone. */
  pass(records: Iterable<R>, now: number, toleranceMs: number): FleetPass {
    const pass = ++this.#pass;
    const histogram = new Uint32Array(255);
    const out: FleetPass = { total: 0, connected: 0, pending: 0, fresh: 0, late: 0, silent: 0, histogram };
    for (const record of records) {
      let slot = this.#slotOf.get(record);
      if (slot === undefined) slot = this.#take(record);
      const occupant = this.#occupants[slot]!;
      occupant.seen = pass;
      if (occupant.state !== record.state) {
        occupant.state = record.state;
        this.#changed.add(slot);
      }
      const age = ageByte(now - record.lastHeartbeat, toleranceMs);
      this.#ages[slot] = age;
      const tasks = Math.min(254, record.connection.runningTasks);
      if (this.#inflight[slot] !== tasks) {
        this.#inflight[slot] = tasks;
        this.#inflightChanged = true;
      }
      histogram[age]!++;
      out.total++;
      if (record.state === 'connected') out.connected++;
      else out.pending++;
      if (age >= kSilent) out.silent++;
      else if (age >= kLate) out.late++;
      else out.fresh++;
    }
    for (let slot = 0; slot < this.#capacity; slot++) {
      const occupant = this.#occupants[slot];
      if (occupant !== undefined && occupant.seen !== pass) this.#release(slot, occupant.record);
    }
    while (this.#capacity > 0 && this.#occupants[this.#capacity - 1] === undefined) this.#capacity--;
    return out;
  }

  /** Every occupied slot, as a page that knows nothing needs it. */
  all(): SlotChange[] {
    const all: SlotChange[] = [];
    for (let slot = 0; slot < this.#capacity; slot++) {
      if (this.#occupants[slot] !== undefined) all.push(this.#describe(slot));
    }
    return all;
  }

  /** The slots whose slave changed since the last call (their state now), and forgets them. */
  takeChanges(): SlotChange[] {
    const changes: SlotChange[] = [];
    for (const slot of this.#changed)
      changes.push(slot < this.#capacity ? this.#describe(slot) : [slot, null]);
    this.#changed.clear();
    return changes.sort((a, b) => a[0] - b[0]);
  }

  /** Ages of the slots in use, base64. */
  agesBase64(): string {
    return Buffer.from(this.#ages.buffer, 0, this.#capacity).toString('base64');
  }

  inflightBase64(): string {
    return Buffer.from(this.#inflight.buffer, 0, this.#capacity).toString('base64');
  }

  /** True when a slot's count of tasks in flight changed since the last call. */
  takeInflightChanged(): boolean {
    const changed = this.#inflightChanged;
    this.#inflightChanged = false;
    return changed;
  }

  #describe(slot: number): SlotChange {
    const occupant = this.#occupants[slot];
    if (occupant === undefined) return [slot, null];
    const { record } = occupant;
    return [slot, occupant.id, record.name, record.connection.origin, occupant.state];
  }

  #take(record: R): number {
    let slot = this.#lowestFree;
    while (this.#occupants[slot] !== undefined) slot++;
    this.#lowestFree = slot + 1;
    if (slot >= this.#ages.length) this.#grow(slot + 1);
    this.#occupants[slot] = { record, id: this.#nextId++, state: record.state, seen: 0 };
    this.#slotOf.set(record, slot);
    if (slot >= this.#capacity) this.#capacity = slot + 1;
    this.#inflight[slot] = 0;
    this.#changed.add(slot);
    return slot;
  }

  #release(slot: number, record: R): void {
    this.#occupants[slot] = undefined;
    this.#slotOf.delete(record);
    this.#ages[slot] = kEmptySlot;
    if (this.#inflight[slot] !== 0) this.#inflightChanged = true;
    this.#inflight[slot] = 0;
    if (slot < this.#lowestFree) this.#lowestFree = slot;
    this.#changed.add(slot);
  }

  #grow(min: number): void {
    let size = this.#ages.length;
    while (size < min) size *= 2;
    const ages = new Uint8Array(size).fill(kEmptySlot);
    ages.set(this.#ages);
    const inflight = new Uint8Array(size);
    inflight.set(this.#inflight);
    this.#ages = ages;
    this.#inflight = inflight;
  }
}
