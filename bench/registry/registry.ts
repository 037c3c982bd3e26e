/**
 * Registry micro-benchmark (tinybench): the heartbeat bookkeeping of src/master/fleet/registry.ts `SlaveRegistry`
 * (`byToken` + `touch`) and one sweep tick (`expire(cutoff)`) when none, 1% and all slaves expire, against a
 * naive baseline in the same run (a `Map` of records whose sweep scans the whole fleet); one placement step of
 * the fleet scheduler's free-slot index (src/master/fleet/slots.ts, issue 14) against a full scan of the slaves
 * (./placement.ts); and the live dashboard's once-a-second tick and a page's snapshot (./dashboard-tick.ts, issue
 * 15), whose time ÷ the tick's period is the share of the master's main thread the dashboard takes. The tables
 * show that the registry's sweep costs what expires, not the fleet size, and that a placement step grows like
 * log n, not n.
 *
 *   npx tsx bench/registry/registry.ts [--sizes 1000,10000,100000] [--time MS] [--parts heartbeat,sweep,placement,dashboard]
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { Bench } from 'tinybench';
import { type SlaveRecord, SlaveRegistry } from '../../src/master/fleet/registry.ts';
import { type Context, defineBench, runIfMain } from '../harness/bench.ts';
import { thousands } from '../harness/report.ts';
import { dashboardTick } from './dashboard-tick.ts';
import { indexPlacer, type Placer, scanPlacer, stepsPerIteration } from './placement.ts';
import {
  type DashboardRow,
  expiredCount,
  formatMarkdown,
  headlines,
  type Implementation,
  kExpiries,
  kFlags,
  type PlacementImplementation,
  type PlacementRow,
  placementGrowthOf,
  type RegistryOptions,
  type RegistryResult,
  type RegistryRow,
  scalingOf,
} from './report.ts';

export type { RegistryResult };

/** Heartbeats per iteration: one `touch` is tens of nanoseconds, far below one timer read. */
const kBeatsPerIteration = 1000;
/** Sweeps per iteration when nothing expires (nothing to re-populate, and one sweep is a few nanoseconds). */
const kEmptySweepsPerIteration = 1000;

// ---- the registry and its baseline, behind one shape ----

/**
 * A fleet whose heartbeat times are a contiguous run of a clock: the oldest record heartbeated at
 * `clock - size`, so `cutoff = clock - size + k` expires exactly the k oldest.
 */
interface Fleet {
  readonly size: number;
  clock: number;
  /** One heartbeat of the slave with this token. */
  beat(token: string): void;
  /** One sweep tick; returns how many expired. */
  sweep(cutoff: number): number;
  /** Puts back what the last sweep expired, as fresh heartbeats (setup, never timed). */
  restore(): void;
}

const kConnection = Object.freeze({});

function tokensFor(size: number): string[] {
  return Array.from({ length: size }, (_, i) => `token-${i.toString(16).padStart(8, '0')}`);
}

function registryFleet(size: number): Fleet {
  const registry = new SlaveRegistry<object>();
  const tokens = tokensFor(size);
  let expired: SlaveRecord<object>[] = [];
  const fleet: Fleet = {
    size,
    clock: 0,
    beat(token) {
      const record = registry.byToken(token);
      if (record !== undefined) registry.touch(record, fleet.clock++);
    },
    sweep(cutoff) {
      expired = registry.expire(cutoff);
      return expired.length;
    },
    restore() {
      for (const r of expired) registry.add(r.name, r.token, r.connection, 'connected', fleet.clock++);
      expired = [];
    },
  };
  for (let i = 0; i < size; i++)
    registry.add(`slave-${i}`, tokens[i]!, kConnection, 'connected', fleet.clock++);
  return fleet;
}

/** The registry's record without its list links. */
type NaiveRecord = Pick<SlaveRecord<object>, 'name' | 'token' | 'lastHeartbeat'>;

/** The baseline: a Map of records, and a sweep that looks at every one of them. */
function naiveFleet(size: number): Fleet {
  const records = new Map<string, NaiveRecord>();
  const tokens = tokensFor(size);
  let expired: NaiveRecord[] = [];
  const fleet: Fleet = {
    size,
    clock: 0,
    beat(token) {
      const record = records.get(token);
      if (record !== undefined) record.lastHeartbeat = fleet.clock++;
    },
    sweep(cutoff) {
      expired = [];
      for (const [token, record] of records) {
        if (record.lastHeartbeat < cutoff) {
          records.delete(token);
          expired.push(record);
        }
      }
      return expired.length;
    },
    restore() {
      for (const r of expired) records.set(r.token, { ...r, lastHeartbeat: fleet.clock++ });
      expired = [];
    },
  };
  for (let i = 0; i < size; i++) {
    records.set(tokens[i]!, { name: `slave-${i}`, token: tokens[i]!, lastHeartbeat: fleet.clock++ });
  }
  return fleet;
}

const kFactories: Readonly<Record<Implementation, (size: number) => Fleet>> = {
  registry: registryFleet,
  naive: naiveFleet,
};

/** Shuffled, so heartbeats land all over the list (and the Map), as a fleet's do. */
function shuffledTokens(size: number): string[] {
  const tokens = tokensFor(size);
  let seed = 0x9e3779b9;
  for (let i = tokens.length - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const j = seed % (i + 1);
    [tokens[i], tokens[j]] = [tokens[j]!, tokens[i]!];
  }
  return tokens;
}

/** A tinybench task, the operations each of its iterations runs, and the row its timing becomes. */
interface Case {
  name: string;
  /** Makes the timing of one iteration (ms) a row of the result. */
  record: (latency: Latency) => void;
}

/** What tinybench measured of a case's iterations, in milliseconds. */
type Latency = Record<'mean' | 'p50' | 'p99' | 'rme' | 'samplesCount', number>;

/** The rows the cases make. */
interface Rows {
  rows: RegistryRow[];
  placement: PlacementRow[];
  dashboard: DashboardRow[];
}

/** A time per operation, from one of an iteration of `ops` in ms, in `unit`s of a ms (1000: µs, 1e6: ns). */
const perOp = (ms: number, ops: number, unit: number) => (ms * unit) / ops;
const precision = (l: Latency) => ({ rme: l.rme, iterations: l.samplesCount });

type GcFunction = (options?: { type: 'major' | 'minor' }) => void;

/** A collection of the chosen kind; `global.gc` without `--expose-gc` on the command line (tsx starts node). */
function collector(mode: RegistryOptions['gc']): () => void {
  if (mode === 'none') return () => {};
  let gc = (globalThis as { gc?: GcFunction }).gc;
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as GcFunction;
  }
  const collect = gc;
  return () => collect({ type: mode });
}

const kImplementations: readonly Implementation[] = ['registry', 'naive'];

/**
 * A tinybench task whose fixture is built before its iterations and dropped after them (never timed); `each`
 * readies it before every iteration (also untimed).
 */
function addCase<T>(
  bench: Bench,
  name: string,
  make: () => T,
  iteration: (fixture: T) => unknown,
  each?: (fixture: T) => void,
): void {
  let fixture: T | undefined;
  bench.add(name, () => iteration(fixture!), {
    beforeAll() {
      fixture = make();
    },
    ...(each && { beforeEach: () => each(fixture!) }),
    afterAll() {
      fixture = undefined;
    },
  });
}

/** The registry's figures per operation, from an iteration of `ops` of them. */
const registryTimes = (l: Latency, ops: number) => ({
  meanUs: perOp(l.mean, ops, 1000),
  p50Us: perOp(l.p50, ops, 1000),
  p99Us: perOp(l.p99, ops, 1000),
  ...precision(l),
});

/** Heartbeats: byToken + touch, kBeatsPerIteration of them per iteration, all over the fleet. */
function addHeartbeats(bench: Bench, size: number, out: Rows): Case[] {
  return kImplementations.map((implementation) => {
    const order = shuffledTokens(size);
    let cursor = 0;
    const name = `heartbeat ${implementation} ${size}`;
    addCase(
      bench,
      name,
      () => kFactories[implementation](size),
      (fleet) => {
        for (let i = 0; i < kBeatsPerIteration; i++) {
          fleet.beat(order[cursor]!);
          cursor = cursor + 1 === size ? 0 : cursor + 1;
        }
      },
    );
    const of = { operation: 'heartbeat' as const, implementation, size, expired: 0, expiry: undefined };
    return { name, record: (l) => out.rows.push({ ...of, ...registryTimes(l, kBeatsPerIteration) }) };
  });
}

/** One sweep tick that expires none, 1% or all of the fleet; the re-population between sweeps is not timed. */
function addSweeps(bench: Bench, size: number, gc: () => void, out: Rows): Case[] {
  const cases: Case[] = [];
  for (const expiry of kExpiries) {
    const k = expiredCount(expiry, size);
    for (const implementation of kImplementations) {
      let cutoff = 0;
      let setupMs = 0;
      // one empty registry sweep is a few nanoseconds: repeat it (nothing changes, nothing to restore)
      const ops = k === 0 && implementation === 'registry' ? kEmptySweepsPerIteration : 1;
      const name = `sweep ${expiry} ${implementation} ${size}`;
      addCase(
        bench,
        name,
        () => {
          const fleet = kFactories[implementation](size);
          // correctness before speed: the sweep must expire exactly k, then restore must refill
          const got = fleet.sweep(fleet.clock - fleet.size + k);
          if (got !== k) throw new Error(`${name}: expired ${got}, expected ${k}`);
          fleet.restore();
          return fleet;
        },
        (fleet) => {
          const started = performance.now();
          for (let i = 0; i < ops; i++) fleet.sweep(cutoff);
          // the time budget counts setup too, or a cheap sweep behind a costly setup runs for minutes
          return { overriddenIterationCost: performance.now() - started + setupMs };
        },
        // setup, outside the timed call: put back what the last sweep removed, aim at the k oldest
        (fleet) => {
          const started = performance.now();
          fleet.restore();
          cutoff = fleet.clock - fleet.size + k;
          if (k > 0) gc();
          setupMs = performance.now() - started;
        },
      );
      const of = { operation: 'sweep' as const, implementation, size, expired: k, expiry };
      cases.push({ name, record: (l) => out.rows.push({ ...of, ...registryTimes(l, ops) }) });
    }
  }
  return cases;
}

const kPlacers: Readonly<Record<PlacementImplementation, (size: number) => Placer>> = {
  index: indexPlacer,
  scan: scanPlacer,
};

/** Placement steps on the free-slot index and on a full scan; the fleet is built outside the timing. */
function addPlacement(bench: Bench, size: number, out: Rows): Case[] {
  return (['index', 'scan'] as const).map((implementation) => {
    const ops = stepsPerIteration(implementation, size);
    const name = `placement ${implementation} ${size}`;
    addCase(
      bench,
      name,
      () => kPlacers[implementation](size),
      (placer) => {
        for (let i = 0; i < ops; i++) placer.step();
      },
    );
    const record = (l: Latency) =>
      out.placement.push({
        implementation,
        size,
        meanNs: perOp(l.mean, ops, 1e6),
        p99Ns: perOp(l.p99, ops, 1e6),
        ...precision(l),
      });
    return { name, record };
  });
}

/** The dashboard's tick (after a second of churn, untimed) and a page's snapshot; the fleet is built once per case. */
function addDashboard(bench: Bench, size: number, out: Rows): Case[] {
  return (['tick', 'snapshot'] as const).map((part) => {
    let bytes = 0;
    const name = `dashboard ${part} ${size}`;
    addCase(
      bench,
      name,
      () => dashboardTick(size),
      (dashboard) => {
        bytes = part === 'tick' ? dashboard.tick() : dashboard.snapshot();
      },
      // every tick sees a new second: all ages moved, a third of the in-flight counts changed
      part === 'tick' ? (dashboard) => dashboard.churn() : undefined,
    );
    const record = (l: Latency) =>
      out.dashboard.push({ part, size, meanUs: l.mean * 1000, p99Us: l.p99 * 1000, ...precision(l), bytes });
    return { name, record };
  });
}

async function run(options: RegistryOptions, ctx: Context) {
  const gc = collector(options.gc);
  const bench = new Bench({ name: 'registry', time: options.time, iterations: options.iterations });
  const parts = new Set(options.parts);
  const out: Rows = { rows: [], placement: [], dashboard: [] };
  const cases: Case[] = [];
  for (const size of options.sizes) {
    if (parts.has('heartbeat')) cases.push(...addHeartbeats(bench, size, out));
    if (parts.has('sweep')) cases.push(...addSweeps(bench, size, gc, out));
    if (parts.has('placement')) cases.push(...addPlacement(bench, size, out));
    if (parts.has('dashboard')) cases.push(...addDashboard(bench, size, out));
  }

  bench.addEventListener('cycle', (event) => {
    const task = (event as unknown as { task?: { name: string } }).task;
    if (task) ctx.log(`done: ${task.name}`);
  });
  ctx.log(
    `registry: ${cases.length} cases × ≥ ${options.time} ms measured (setup excluded); sizes ${options.sizes.map(thousands).join(', ')}`,
  );
  await bench.run();

  for (const c of cases) {
    const result = bench.getTask(c.name)?.result;
    if (result?.state !== 'completed') {
      const error = result && 'error' in result ? String(result.error) : (result?.state ?? 'missing');
      throw new Error(`registry case ${c.name} did not complete: ${error}`);
    }
    c.record(result.latency);
  }
  const { rows, placement, dashboard } = out;
  return {
    rows,
    scaling: scalingOf(rows),
    placement,
    placementGrowth: placementGrowthOf(placement),
    dashboard,
  };
}

export const registry = defineBench({
  name: 'registry',
  flags: kFlags,
  run,
  format: formatMarkdown,
  headlines,
});

runIfMain(import.meta.url, registry);
