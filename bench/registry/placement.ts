/**
 * One placement step, two ways, behind one shape: the pick of the slave that gets a task, the task's start, and
 * the end of an earlier task (the two moves a fleet makes per task). `indexPlacer` is the fleet's free-slot index
 * (src/master/fleet/slots.ts `SlotIndex` ordered by the default policy `leastLoaded`); `scanPlacer` is the naive
 * baseline, a scan of every slave for the least loaded free one (what a policy over an array of slaves costs).
 *
 * Every fleet has `size` slaves of 4 slots with 2 tasks each in flight; the tasks in flight are a ring, oldest
 * first, and each new task ends the oldest, as with tasks of equal length. Both keep the same books and break ties
 * the same way, so for the same size they pick the same slaves in the same order (test/bench-registry.test.ts).
 */
import { leastLoaded } from '../../src/master/fleet/placement.ts';
import { type Slot, SlotIndex } from '../../src/master/fleet/slots.ts';

export const kSlotsPerSlave = 4;
export const kTasksPerSlave = 2;

export interface Placer {
  readonly size: number;
  /** One step: picks a slave, starts a task on it, ends the oldest task in flight; returns the slave picked. */
  step(): number;
}

/** The tasks in flight, oldest first. */
class Ring<T> {
  readonly #items: T[];
  #head = 0;
  constructor(items: T[]) {
    this.#items = items;
  }
  /** Puts `item` in and returns the oldest. */
  swap(item: T): T {
    const oldest = this.#items[this.#head]!;
    this.#items[this.#head] = item;
    this.#head = this.#head + 1 === this.#items.length ? 0 : this.#head + 1;
    return oldest;
  }
}

/** Every slave's `kTasksPerSlave` tasks, slave by slave: the ring's starting order. */
const runningOf = <T>(slaves: readonly T[]) => slaves.flatMap((s) => new Array<T>(kTasksPerSlave).fill(s));

export function indexPlacer(size: number): Placer {
  const index = new SlotIndex<number>(leastLoaded);
  // slave i has been idle since i; every later time is past the setup's
  let clock = size;
  const slots = Array.from({ length: size }, (_, i) => index.add(i, `s${i}`, kSlotsPerSlave, [], i));
  for (const slot of slots) index.setInFlight(slot, kTasksPerSlave, clock++);
  const ring = new Ring<Slot<number>>(runningOf(slots));
  const all = index.lane([]);
  return {
    size,
    step() {
      const slot = index.pick(all);
      if (slot === undefined) throw new Error('placement: no free slot');
      index.setInFlight(slot, slot.inFlight + 1, clock++);
      const done = ring.swap(slot);
      index.setInFlight(done, done.inFlight - 1, clock++);
      return slot.connection;
    },
  };
}

interface Load {
  readonly id: number;
  inFlight: number;
  idleSince: number;
}

export function scanPlacer(size: number): Placer {
  let clock = size;
  const slaves: Load[] = Array.from({ length: size }, (_, i) => ({
    id: i,
    inFlight: kTasksPerSlave,
    idleSince: i,
  }));
  const ring = new Ring<Load>(runningOf(slaves));
  return {
    size,
    step() {
      let best: Load | undefined;
      for (const s of slaves) {
        if (s.inFlight >= kSlotsPerSlave) continue;
        // leastLoaded, inlined: the strongest form of the baseline
        if (
          best === undefined ||
          s.inFlight < best.inFlight ||
          (s.inFlight === best.inFlight && s.idleSince < best.idleSince)
        ) {
          best = s;
        }
      }
      if (best === undefined) throw new Error('placement: no free slot');
      best.inFlight++;
      clock++;
      const done = ring.swap(best);
      done.inFlight--;
      done.idleSince = clock++;
      return best.id;
    },
  };
}

/**
 * Steps per tinybench iteration: one index step is a fraction of a microsecond, far below one timer read; one
 * scan step is a pass over the fleet, so about a million slave visits per iteration whatever the size.
 */
export function stepsPerIteration(implementation: 'index' | 'scan', size: number): number {
  if (implementation === 'index') return 1000;
  return Math.min(1000, Math.max(1, Math.round(1_000_000 / size)));
}
