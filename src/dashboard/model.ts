/**
 * The page's copy of the fleet, fed by the event stream's frames. Pure (no DOM): the snapshot and updates are
 * applied here, per-slave ages are aged locally between frames, and the slaves are sorted by name once per change
 * of membership. Unit-tested without a browser.
 */
import {
  type FleetEvent,
  type HistoryPoint,
  kAgeScale,
  kEmptySlot,
  kLateFraction,
  kSilentFraction,
  type MasterInfo,
  type SlaveState,
  type SlotChange,
  type SnapshotFrame,
  type Summary,
  type UpdateFrame,
} from '../master/dashboard/frames.ts';

export interface SlaveView {
  slot: number;
  id: number;
  name: string;
  address: string;
  state: SlaveState;
}

/** What a person reads off a slave: pending (not yet connected), or fresh / late / silent by heartbeat age. */
export type Health = 'pending' | 'fresh' | 'late' | 'silent';

export function healthOf(state: SlaveState, fraction: number): Health {
  if (state === 'pending') return 'pending';
  if (fraction >= kSilentFraction) return 'silent';
  if (fraction >= kLateFraction) return 'late';
  return 'fresh';
}

export function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

const kNames = new Intl.Collator('en', { numeric: true });

export const kMaxEvents = 300;
export const kMaxHistory = 900;

export class FleetModel {
  master: MasterInfo | undefined;
  summary: Summary | undefined;
  history: HistoryPoint[] = [];
  /** Oldest first. */
  events: FleetEvent[] = [];
  eventsSkipped = 0;
  capacity = 0;
  readonly slots: (SlaveView | undefined)[] = [];
  ages: Uint8Array = new Uint8Array(0);
  inflight: Uint8Array = new Uint8Array(0);
  /** The page's clock (ms) when the last frame arrived: ages grow from there. */
  receivedAt = 0;
  /** Bumped when a slave came, left or changed state. */
  version = 0;
  #sorted: SlaveView[] = [];
  #sortedVersion = -1;

  applySnapshot(frame: SnapshotFrame, now: number): void {
    this.master = frame.master;
    this.slots.length = 0;
    this.history = frame.history.slice(-kMaxHistory);
    this.events = [];
    this.#applySlots(frame.slots);
    this.#addEvents(frame.events);
    this.#applyCommon(frame.capacity, frame.ages, frame.inflight, frame.summary, now);
  }

  applyUpdate(frame: UpdateFrame, now: number): void {
    this.#applySlots(frame.slots);
    this.history.push(frame.point);
    if (this.history.length > kMaxHistory) this.history.splice(0, this.history.length - kMaxHistory);
    this.#addEvents(frame.events);
    this.eventsSkipped += frame.eventsSkipped;
    this.#applyCommon(frame.capacity, frame.ages, frame.inflight, frame.summary, now);
  }

  /**
   * Heartbeat age ÷ tolerance at `now` (NaN for an empty slot). A slave that was already late in the last frame
   * keeps ageing between frames (it has been silent a while: a slave going silent reddens smoothly, not once a
   * second); a fresh one is shown as the frame saw it, since it most likely beat again meanwhile.
   */
  fraction(slot: number, now: number): number {
    const byte = slot < this.capacity ? (this.ages[slot] ?? kEmptySlot) : kEmptySlot;
    if (byte === kEmptySlot || this.master === undefined) return Number.NaN;
    const fraction = byte / kAgeScale;
    if (fraction < kLateFraction) return fraction;
    return fraction + Math.max(0, now - this.receivedAt) / 1000 / this.master.heartbeatTolerance;
  }

  ageSeconds(slot: number, now: number): number {
    return this.fraction(slot, now) * (this.master?.heartbeatTolerance ?? Number.NaN);
  }

  tasksInFlight(slot: number): number {
    return this.inflight[slot] ?? 0;
  }

  health(slave: SlaveView, now: number): Health {
    return healthOf(slave.state, this.fraction(slave.slot, now));
  }

  /** Every slave, by name (numbers in names in numeric order). */
  sorted(): SlaveView[] {
    if (this.#sortedVersion !== this.version) {
      this.#sorted = this.slots
        .filter((s): s is SlaveView => s !== undefined)
        .sort((a, b) => kNames.compare(a.name, b.name));
      this.#sortedVersion = this.version;
    }
    return this.#sorted;
  }

  #applySlots(changes: SlotChange[]): void {
    for (const change of changes) {
      const [slot, id] = change;
      if (id === null) this.slots[slot] = undefined;
      else {
        const [, , name, address, state] = change as Exclude<SlotChange, [number, null]>;
        this.slots[slot] = { slot, id, name, address, state };
      }
    }
    if (changes.length > 0) this.version++;
  }

  #applyCommon(
    capacity: number,
    ages: string,
    inflight: string | undefined,
    summary: Summary,
    now: number,
  ): void {
    if (capacity < this.slots.length) {
      this.slots.length = capacity;
      this.version++;
    }
    this.capacity = capacity;
    this.ages = decodeBase64(ages);
    if (inflight !== undefined) this.inflight = decodeBase64(inflight);
    this.summary = summary;
    this.receivedAt = now;
  }

  #addEvents(events: FleetEvent[]): void {
    const last = this.events.at(-1)?.seq ?? 0;
    for (const event of events) if (event.seq > last) this.events.push(event);
    if (this.events.length > kMaxEvents) this.events.splice(0, this.events.length - kMaxEvents);
  }
}
