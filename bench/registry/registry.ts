/**
 * Registry micro-benchmark (tinybench): the heartbeat bookkeeping of src/master/fleet/registry.ts `SlaveRegistry`
 * (`byToken` + `touch`) and one sweep tick (`expire(cutoff)`) with 10,000 and 100,000 slaves when none, 1% and
 * all of them expire — against a naive baseline in the same run (a `Map` of records whose sweep scans the whole
 * fleet). The table shows that the registry's sweep costs what expires, not the fleet size.
 *
 *   npx tsx bench/registry/registry.ts [--sizes 10000,100000] [--time MS]
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { Bench } from 'tinybench';
import { SlaveRegistry } from '../../src/master/fleet/registry.ts';
import { int, listOf, type OptionsOf, oneOf, value } from '../harness/args.ts';
import { type Context, defineBench, type Result, runIfMain } from '../harness/bench.ts';
import { environmentLine, fixed, lower, table, thousands } from '../harness/report.ts';

export type Operation = 'heartbeat' | 'sweep';
export type Implementation = 'registry' | 'naive';
export const kExpiries = ['none', '1%', 'all'] as const;
export type Expiry = (typeof kExpiries)[number];
export const kGcModes = ['minor', 'major', 'none'] as const;

export const kFlags = {
  sizes: value<readonly number[]>(
    [10_000, 100_000],
    listOf(int(100, 10_000_000), true),
    'LIST',
    'fleet sizes',
  ),
  time: value(200, int(10, 600_000), 'MS', 'milliseconds per case, setup included; timings exclude setup'),
  iterations: value(10, int(1, 1_000_000), 'N', 'fewest iterations per case'),
  /**
   * A garbage collection in the setup of every sweep that expires slaves, so the garbage of the last
   * re-population is not collected inside the next timed sweep: `minor` (a scavenge: cheap, keeps caches mostly
   * warm), `major` (a full GC: also leaves the CPU caches cold, as a sweep once a second meets them in a busy
   * master), `none`.
   */
  gc: value(
    kGcModes[0] as (typeof kGcModes)[number],
    oneOf(kGcModes),
    'MODE',
    'collect garbage in the setup of expiring sweeps',
  ),
};
export type RegistryOptions = OptionsOf<typeof kFlags>;

/** Heartbeats per iteration: one `touch` is tens of nanoseconds, far below one timer read. */
const kBeatsPerIteration = 1000;
/** Sweeps per iteration when nothing expires (nothing to re-populate, and one sweep is a few nanoseconds). */
const kEmptySweepsPerIteration = 1000;

export interface RegistryRow {
  operation: Operation;
  implementation: Implementation;
  size: number;
  /** Slaves each sweep expires (heartbeat rows: 0). */
  expired: number;
  expiry: Expiry | undefined;
  /** Mean time of one operation (one heartbeat, or one sweep), in microseconds. */
  meanUs: number;
  p50Us: number;
  p99Us: number;
  /** Relative margin of error of the mean, in percent. */
  rme: number;
  iterations: number;
}

export interface Scaling {
  operation: Operation;
  expiry: Expiry | undefined;
  implementation: Implementation;
  /** Largest fleet ÷ smallest fleet; its expired count ÷ the smallest fleet's; its time ÷ the smallest's. */
  fleetFactor: number;
  expiredFactor: number;
  costFactor: number;
}

export type RegistryResult = Result<RegistryOptions, { rows: RegistryRow[]; scaling: Scaling[] }>;

/** How many slaves a sweep expires in a fleet of `size`. */
export function expiredCount(expiry: Expiry, size: number): number {
  if (expiry === 'none') return 0;
  if (expiry === 'all') return size;
  return Math.max(1, Math.round(size / 100));
}

// ---- the two implementations, behind one shape ----

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
  let expired: ReturnType<SlaveRegistry<object>['expire']> = [];
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

interface NaiveRecord {
  name: string;
  token: string;
  lastHeartbeat: number;
}

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

interface Case {
  name: string;
  row: Omit<RegistryRow, 'meanUs' | 'p50Us' | 'p99Us' | 'rme' | 'iterations'>;
  /** Operations per tinybench iteration. */
  ops: number;
}

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

async function run(options: RegistryOptions, ctx: Context) {
  const gc = collector(options.gc);
  const bench = new Bench({ name: 'registry', time: options.time, iterations: options.iterations });
  const cases: Case[] = [];
  const implementations: Implementation[] = ['registry', 'naive'];

  for (const size of options.sizes) {
    for (const implementation of implementations) {
      // heartbeats: byToken + touch, kBeatsPerIteration of them per iteration, all over the fleet
      let fleet: Fleet | undefined;
      const order = shuffledTokens(size);
      let cursor = 0;
      const name = `heartbeat ${implementation} ${size}`;
      bench.add(
        name,
        () => {
          const f = fleet!;
          for (let i = 0; i < kBeatsPerIteration; i++) {
            f.beat(order[cursor]!);
            cursor = cursor + 1 === size ? 0 : cursor + 1;
          }
        },
        {
          beforeAll() {
            fleet = kFactories[implementation](size);
          },
          afterAll() {
            fleet = undefined;
          },
        },
      );
      cases.push({
        name,
        ops: kBeatsPerIteration,
        row: { operation: 'heartbeat', implementation, size, expired: 0, expiry: undefined },
      });
    }
    for (const expiry of kExpiries) {
      const k = expiredCount(expiry, size);
      for (const implementation of implementations) {
        let fleet: Fleet | undefined;
        let cutoff = 0;
        let setupMs = 0;
        // one empty registry sweep is a few nanoseconds: repeat it (nothing changes, nothing to restore)
        const ops = k === 0 && implementation === 'registry' ? kEmptySweepsPerIteration : 1;
        const name = `sweep ${expiry} ${implementation} ${size}`;
        bench.add(
          name,
          () => {
            const started = performance.now();
            const f = fleet!;
            for (let i = 0; i < ops; i++) f.sweep(cutoff);
            // the time budget counts setup too, or a cheap sweep behind a costly setup runs for minutes
            return { overriddenIterationCost: performance.now() - started + setupMs };
          },
          {
            beforeAll() {
              fleet = kFactories[implementation](size);
              // correctness before speed: the sweep must expire exactly k, then restore must refill
              const f = fleet;
              const got = f.sweep(f.clock - f.size + k);
              if (got !== k) throw new Error(`${name}: expired ${got}, expected ${k}`);
              f.restore();
            },
            // setup, outside the timed call: put back what the last sweep removed, aim at the k oldest
            beforeEach() {
              const started = performance.now();
              const f = fleet!;
              f.restore();
              cutoff = f.clock - f.size + k;
              if (k > 0) gc();
              setupMs = performance.now() - started;
            },
            afterAll() {
              fleet = undefined;
            },
          },
        );
        cases.push({ name, ops, row: { operation: 'sweep', implementation, size, expired: k, expiry } });
      }
    }
  }

  bench.addEventListener('cycle', (event) => {
    const task = (event as unknown as { task?: { name: string } }).task;
    if (task) ctx.log(`done: ${task.name}`);
  });
  ctx.log(
    `registry: ${cases.length} cases × ≥ ${options.time} ms measured (setup excluded); sizes ${options.sizes.map(thousands).join(', ')}`,
  );
  await bench.run();

  const rows: RegistryRow[] = [];
  for (const c of cases) {
    const task = bench.getTask(c.name);
    const result = task?.result;
    if (result?.state !== 'completed') {
      const error = result && 'error' in result ? String(result.error) : (result?.state ?? 'missing');
      throw new Error(`registry case ${c.name} did not complete: ${error}`);
    }
    const perOp = (msPerIteration: number) => (msPerIteration * 1000) / c.ops;
    rows.push({
      ...c.row,
      meanUs: perOp(result.latency.mean),
      p50Us: perOp(result.latency.p50),
      p99Us: perOp(result.latency.p99),
      rme: result.latency.rme,
      iterations: result.latency.samplesCount,
    });
  }
  return { rows, scaling: scalingOf(rows) };
}

/** Largest fleet ÷ smallest fleet, per operation, expiry and implementation. */
export function scalingOf(rows: readonly RegistryRow[]): Scaling[] {
  const out: Scaling[] = [];
  const keys = new Set(rows.map((r) => `${r.operation}|${r.expiry ?? ''}|${r.implementation}`));
  for (const key of keys) {
    const group = rows
      .filter((r) => `${r.operation}|${r.expiry ?? ''}|${r.implementation}` === key)
      .sort((a, b) => a.size - b.size);
    const small = group[0];
    const large = group[group.length - 1];
    if (!small || !large || small === large) continue;
    out.push({
      operation: small.operation,
      expiry: small.expiry,
      implementation: small.implementation,
      fleetFactor: large.size / small.size,
      expiredFactor:
        small.expired === 0
          ? large.expired === 0
            ? 1
            : Number.POSITIVE_INFINITY
          : large.expired / small.expired,
      costFactor: large.meanUs / small.meanUs,
    });
  }
  return out;
}

// ---- report ----

/** µs with enough digits for nanosecond operations. */
const us = (n: number) => (n >= 100 ? fixed(n, 0) : n >= 1 ? fixed(n, 2) : fixed(n, 4));

const label = (r: Pick<RegistryRow, 'operation' | 'expiry'>) =>
  r.operation === 'heartbeat' ? 'heartbeat' : `sweep, ${r.expiry} expire`;

export function formatMarkdown(result: RegistryResult): string {
  const o = result.options;
  const same = (a: RegistryRow, b: RegistryRow) =>
    a.operation === b.operation && a.size === b.size && a.expiry === b.expiry;
  const rows = result.rows
    .filter((r) => r.implementation === 'registry')
    .map((r) => {
      const naive = result.rows.find((x) => x.implementation === 'naive' && same(x, r));
      return [
        r.operation === 'heartbeat' ? 'heartbeat (byToken + touch)' : label(r),
        ...[thousands(r.size), thousands(r.expired), us(r.meanUs), us(r.p99Us), fixed(r.rme, 1)],
        r.expired > 0 ? fixed((r.meanUs * 1000) / r.expired, 1) : '–',
        naive ? us(naive.meanUs) : '–',
        naive ? fixed(naive.meanUs / r.meanUs, 1) : '–',
      ];
    });
  const scaling = result.scaling.map((s) => [
    ...[label(s), s.implementation, fixed(s.fleetFactor, 0)],
    ...[Number.isFinite(s.expiredFactor) ? fixed(s.expiredFactor, 0) : '–', fixed(s.costFactor, 2)],
  ]);
  return (
    [
      '### Registry: heartbeat bookkeeping and one sweep tick, `SlaveRegistry` vs a naive full scan',
      '',
      `tinybench, ≥ ${o.time} ms measured and ≥ ${o.iterations} iterations per case (re-population between ` +
        `sweeps excluded${o.gc === 'none' ? '' : `, a ${o.gc} GC before each expiring sweep`}); ${environmentLine(result)}`,
      '',
      ...table(
        [
          ...['operation', 'fleet', 'expired per sweep', 'registry µs/op', 'p99 µs', '± %'],
          ...['registry ns per expired slave', 'naive full scan µs/op', 'naive ÷ registry'],
        ],
        'lrrrrrrrr',
        rows,
      ),
      '',
      "Scaling, largest fleet ÷ smallest (the registry's sweep should follow the expired column):",
      '',
      ...table(['operation', 'implementation', 'fleet ×', 'expired ×', 'time ×'], 'llrrr', scaling),
    ].join('\n') + '\n'
  );
}

export function headlines(r: RegistryResult) {
  const out = r.rows
    .filter((row) => row.implementation === 'registry')
    .map((row) => lower(`${label(row)}, ${row.size} slaves`, row.meanUs, 'µs'));
  for (const s of r.scaling) {
    if (s.implementation !== 'registry' || s.operation !== 'sweep' || s.expiry !== 'none') continue;
    out.push(lower(`sweep, none expire: time × for fleet × ${s.fleetFactor}`, s.costFactor, '×'));
  }
  return out;
}

export const registry = defineBench({
  name: 'registry',
  flags: kFlags,
  run,
  format: formatMarkdown,
  headlines,
});

runIfMain(import.meta.url, registry);
