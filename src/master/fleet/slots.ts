import { type HeapNode, IndexedHeap } from './heap.ts';
import type { PlacementPolicy, SlaveLoad } from './placement.ts';

/** One connected slave, as the scheduler counts its task slots. */
export interface Slot<C> extends SlaveLoad {
  readonly connection: C;
  inFlight: number;
  idleSince: number;
  /** Its handle in the free-slave heap of every lane it can serve (in the heap only while it has a free slot). */
  readonly nodes: Map<Lane<C>, HeapNode<Slot<C>>>;
}

/** A tag set some task asked for: its waiting tasks (counted here, held by the queue) and the slaves that fit it. */
export interface Lane<C> {
  /** The canonical key (`laneKey`). */
  readonly key: string;
  readonly tags: readonly string[];
  /** Slaves carrying every tag of the lane that have a free slot, in placement order. */
  readonly free: IndexedHeap<Slot<C>>;
  /** Free slots on those slaves. */
  freeSlots: number;
  /** Tasks of this lane waiting in the queue (the scheduler keeps the count). */
  waiting: number;
}

/** Lanes kept once no task waits in them; past it, idle lanes are dropped (and rebuilt when asked for again). */
export const kMaxIdleLanes = 256;

/** The canonical key of a tag set: sorted, without repeats, newline-separated ('' for none). */
export function laneKey(tags: readonly string[]): string {
  if (tags.length === 0) return '';
  if (tags.length === 1) return tags[0]!;
  return [...new Set(tags)].sort().join('\n');
}

const freeOf = (slot: SlaveLoad) => Math.max(0, slot.capacity - slot.inFlight);

/**
 * The free-slot index. Slaves are grouped by the tag sets tasks asked for ("lanes"; every slave serves the
 * untagged lane ''); each lane keeps its slaves that have a free slot in a heap ordered by the placement policy.
 * So placing a task reads the first slave of its lane (O(1)), and a task starting or ending on a slave moves
 * that slave in each lane it serves (O(lanes × log n)); nothing scans the fleet. A lane is built once, when a
 * task first asks for its tag set, from the slaves carrying its rarest tag.
 */
export class SlotIndex<C> {
  readonly #policy: PlacementPolicy;
  readonly #lanes = new Map<string, Lane<C>>();
  readonly #byTag = new Map<string, Set<Slot<C>>>();
  readonly #slots = new Set<Slot<C>>();
  readonly #all: Lane<C>;
  #capacity = 0;

  constructor(policy: PlacementPolicy) {
    this.#policy = policy;
    this.#all = this.lane([]);
  }

  /** Connected slaves. */
  get size(): number {
    return this.#slots.size;
  }

  /** Task slots of every connected slave. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Free task slots of every connected slave. */
  get freeSlots(): number {
    return this.#all.freeSlots;
  }

  get laneCount(): number {
    return this.#lanes.size;
  }

  add(connection: C, name: string, capacity: number, tags: readonly string[], now: number): Slot<C> {
    const slot: Slot<C> = {
      connection,
      name,
      capacity,
      inFlight: 0,
      idleSince: now,
      tags: new Set(tags),
      nodes: new Map(),
    };
    this.#slots.add(slot);
    this.#capacity += capacity;
    for (const tag of slot.tags) {
      const set = this.#byTag.get(tag);
      if (set === undefined) this.#byTag.set(tag, new Set([slot]));
      else set.add(slot);
    }
    for (const lane of this.#lanes.values()) if (carries(slot, lane)) this.#join(slot, lane);
    return slot;
  }

  /** The slave left: it is in no lane any more. */
  remove(slot: Slot<C>): void {
    if (!this.#slots.delete(slot)) return;
    this.#capacity -= slot.capacity;
    for (const [lane, node] of slot.nodes) {
      if (lane.free.remove(node)) lane.freeSlots -= freeOf(slot);
    }
    slot.nodes.clear();
    for (const tag of slot.tags) {
      const set = this.#byTag.get(tag)!;
      set.delete(slot);
      if (set.size === 0) this.#byTag.delete(tag);
    }
  }

  /** The slave now has `inFlight` tasks; when that went down, it has been idle since `now`. */
  setInFlight(slot: Slot<C>, inFlight: number, now: number): void {
    const before = freeOf(slot);
    if (inFlight < slot.inFlight) slot.idleSince = now;
    slot.inFlight = inFlight;
    if (!this.#slots.has(slot)) return;
    const after = freeOf(slot);
    for (const [lane, node] of slot.nodes) {
      lane.freeSlots += after - before;
      if (after === 0) lane.free.remove(node);
      else if (lane.free.has(node)) lane.free.update(node);
      else lane.free.insert(node);
    }
  }

  /** The lane of a tag set, built on first use. */
  lane(tags: readonly string[]): Lane<C> {
    const key = laneKey(tags);
    const known = this.#lanes.get(key);
    if (known !== undefined) return known;
    if (this.#lanes.size > kMaxIdleLanes) this.#dropIdleLanes();
    const lane: Lane<C> = {
      key,
      tags: key === '' ? [] : key.split('\n'),
      free: new IndexedHeap<Slot<C>>(this.#policy),
      freeSlots: 0,
      waiting: 0,
    };
    this.#lanes.set(key, lane);
    for (const slot of this.#candidates(lane)) if (carries(slot, lane)) this.#join(slot, lane);
    return lane;
  }

  /** The lane of that key, if some task asked for it. */
  laneOf(key: string): Lane<C> | undefined {
    return this.#lanes.get(key);
  }

  /** Every lane kept now. */
  lanes(): IterableIterator<Lane<C>> {
    return this.#lanes.values();
  }

  /** The lanes a slave serves (for a slave with a free slot: where its next task may come from). */
  lanesOf(slot: Slot<C>): IterableIterator<Lane<C>> {
    return slot.nodes.keys();
  }

  /**
   * The slave that gets the lane's next task: the first in placement order, or the next one when the first is
   * `avoid` (the slave a re-dispatched task just lost), unless `avoid` is the only one free.
   */
  pick(lane: Lane<C>, avoid?: C): Slot<C> | undefined {
    const first = lane.free.peek();
    if (avoid === undefined || first === undefined || first.connection !== avoid) return first;
    return lane.free.peekExcept(first) ?? first;
  }

  #join(slot: Slot<C>, lane: Lane<C>): void {
    const node: HeapNode<Slot<C>> = { value: slot, index: -1 };
    slot.nodes.set(lane, node);
    const free = freeOf(slot);
    if (free > 0) {
      lane.free.insert(node);
      lane.freeSlots += free;
    }
  }

  /** The slaves that may carry every tag of the lane: those of its rarest tag (all of them for ''). */
  #candidates(lane: Lane<C>): Iterable<Slot<C>> {
    if (lane.tags.length === 0) return this.#slots;
    let rarest: Set<Slot<C>> | undefined;
    for (const tag of lane.tags) {
      const set = this.#byTag.get(tag);
      if (set === undefined) return [];
      if (rarest === undefined || set.size < rarest.size) rarest = set;
    }
    return rarest ?? [];
  }

  #dropIdleLanes(): void {
    for (const lane of this.#lanes.values()) {
      if (lane === this.#all || lane.waiting > 0) continue;
      this.#lanes.delete(lane.key);
      for (const slot of this.#candidates(lane)) {
        const node = slot.nodes.get(lane);
        if (node === undefined) continue;
        slot.nodes.delete(lane);
      }
    }
  }
}

function carries<C>(slot: Slot<C>, lane: Lane<C>): boolean {
  for (const tag of lane.tags) if (!slot.tags.has(tag)) return false;
  return true;
}
