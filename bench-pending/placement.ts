/**
 * Placement micro-benchmark (tinybench): picking the slave for a task, and the task's start and the end of an
 * earlier task that move slaves in the free-slot index (src/master/fleet/slots.ts `SlotIndex` with the default
 * `leastLoaded`), at 1,000, 10,000 and 100,000 slaves of 4 slots each with 2 tasks per slave in flight on
 * average, against a naive baseline in the same run: a scan of every slave for the least loaded free one (what
 * a policy over an array of slaves costs). The index must cost O(log n) or better per task.
 *
 *   npx tsx bench-pending/placement.ts [--sizes 1000,10000,100000] [--time 300]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { leastLoaded } from '../src/master/fleet/placement.ts';
import { type Slot, SlotIndex } from '../src/master/fleet/slots.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000,100000' },
    time: { type: 'string', default: '300' },
  },
});
const sizes = values.sizes.split(',').map(Number);
/** Tasks per timed iteration: many for the index (each well under a microsecond), few for the scan (O(n) each). */
const kIndexOps = 1000;
const kScanOps = 10;

interface Load {
  inFlight: number;
  capacity: number;
  idleSince: number;
}

/**
 * The tasks in flight, oldest first: each new task ends the oldest, so the fleet stays at 2 tasks per slave on
 * average, as with tasks of equal length.
 */
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
    this.#head = (this.#head + 1) % this.#items.length;
    return oldest;
  }
}

const bench = new Bench({ time: Number(values.time), iterations: 10 });
for (const size of sizes) {
  let clock = 0;
  let index: SlotIndex<number>;
  let indexRing: Ring<Slot<number>>;
  bench.add(
    `index ${size}`,
    () => {
      const all = index.lane([]);
      for (let i = 0; i < kIndexOps; i++) {
        const slot = index.pick(all)!;
        index.setInFlight(slot, slot.inFlight + 1, clock++);
        const done = indexRing.swap(slot);
        index.setInFlight(done, done.inFlight - 1, clock++);
      }
    },
    {
      beforeAll() {
        index = new SlotIndex<number>(leastLoaded);
        const slots = Array.from({ length: size }, (_, i) => index.add(i, `s${i}`, 4, [], i));
        const running: Slot<number>[] = [];
        for (const s of slots) {
          index.setInFlight(s, 2, clock++);
          running.push(s, s);
        }
        indexRing = new Ring(running);
      },
    },
  );
  let naive: Load[];
  let naiveRing: Ring<Load>;
  bench.add(
    `scan ${size}`,
    () => {
      for (let i = 0; i < kScanOps; i++) {
        let best: Load | undefined;
        for (const s of naive) {
          if (s.inFlight >= s.capacity) continue;
          // leastLoaded, inlined
          if (
            best === undefined ||
            s.inFlight < best.inFlight ||
            (s.inFlight === best.inFlight && s.idleSince < best.idleSince)
          ) {
            best = s;
          }
        }
        best!.inFlight++;
        const done = naiveRing.swap(best!);
        done.inFlight--;
        done.idleSince = clock++;
      }
    },
    {
      beforeAll() {
        naive = Array.from({ length: size }, (_, i) => ({ capacity: 4, inFlight: 2, idleSince: i }));
        naiveRing = new Ring(naive.flatMap((s) => [s, s]));
      },
    },
  );
}

await bench.run();
/** ns per task: a pick, its start, and an earlier task's end. */
const perTask = (name: string) => {
  const result = bench.getTask(name)?.result;
  if (result?.state !== 'completed') throw new Error(`${name}: ${result?.state}`);
  return (result.latency.mean * 1e6) / (name.startsWith('index') ? kIndexOps : kScanOps);
};
console.log(
  `\n### Placement: a pick + its start + an earlier task's end, SlotIndex vs a full scan (node ${process.version}, ${os.cpus()[0]?.model.trim()}, load ${os.loadavg()[0]!.toFixed(2)})\n`,
);
console.log('| slaves | index ns/task | scan ns/task | scan ÷ index |');
console.log('|--:|--:|--:|--:|');
for (const size of sizes) {
  const a = perTask(`index ${size}`);
  const b = perTask(`scan ${size}`);
  console.log(`| ${size.toLocaleString('en')} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(b / a).toFixed(1)} |`);
}
const small = sizes[0]!;
const large = sizes[sizes.length - 1]!;
console.log(
  `\nindex: cost × ${(perTask(`index ${large}`) / perTask(`index ${small}`)).toFixed(2)} for a fleet × ${(large / small).toFixed(0)} (log2 n × ${(Math.log2(large) / Math.log2(small)).toFixed(2)}); scan: × ${(perTask(`scan ${large}`) / perTask(`scan ${small}`)).toFixed(1)}`,
);
