/** What a placement policy sees of a slave with a free slot. */
export interface SlaveLoad {
  /** The connection's name. */
  readonly name: string;
  /** Task slots (1 for a DI-engine slave). */
  readonly capacity: number;
  /** Tasks on the slave now, cancelled ones it has not reported yet included. */
  readonly inFlight: number;
  /** `performance.now()` when its last task ended (or it connected). */
  readonly idleSince: number;
  readonly tags: ReadonlySet<string>;
}

/**
 * Which slave gets a task: an order over the slaves that have a free slot (negative when `a` should get it
 * before `b`). The free-slot index keeps its slaves in this order, so a pick is its first (O(1)) and keeping
 * the order costs O(log n) per task started or ended; a policy that scanned the fleet would cost O(n) per task.
 * It must be pure and read only the fields above: the index re-sorts a slave when those change, never
 * otherwise.
 */
export type PlacementPolicy = (a: SlaveLoad, b: SlaveLoad) => number;

/** The default: the fewest tasks in flight, then the one idle the longest. */
export const leastLoaded: PlacementPolicy = (a, b) => a.inFlight - b.inFlight || a.idleSince - b.idleSince;
