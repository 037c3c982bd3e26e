/**
 * The registry benchmark's result: its flags, its rows (heartbeats and sweeps of `SlaveRegistry` against a naive
 * `Map`; placement steps of the free-slot index against a full scan; the dashboard's tick and snapshot), how their
 * cost grows with the fleet, its tables and headlines. Pure.
 */
import { kDashboardLimits } from '../../src/master/dashboard/dashboard.ts';
import { int, listOf, type OptionsOf, oneOf, subsetOf, value } from '../harness/args.ts';
import type { Result } from '../harness/bench.ts';
import { environmentLine, fixed, lower, table, thousands } from '../harness/report.ts';

export type Operation = 'heartbeat' | 'sweep';
export type Implementation = 'registry' | 'naive';
export type PlacementImplementation = 'index' | 'scan';
export const kExpiries = ['none', '1%', 'all'] as const;
export type Expiry = (typeof kExpiries)[number];
export const kGcModes = ['minor', 'major', 'none'] as const;
export const kParts = ['heartbeat', 'sweep', 'placement', 'dashboard'] as const;

export const kFlags = {
  sizes: value<readonly number[]>(
    [1000, 10_000, 100_000],
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
  parts: value<readonly (typeof kParts)[number][]>(
    kParts,
    subsetOf(kParts),
    'LIST',
    'what to measure: heartbeat, sweep (the registry), placement (the free-slot index), dashboard (its tick and snapshot)',
  ),
};
export type RegistryOptions = OptionsOf<typeof kFlags>;

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

/** One placement step (a pick, its task's start, an earlier task's end) in a fleet of `size`. */
export interface PlacementRow {
  implementation: PlacementImplementation;
  size: number;
  /** Mean time of one step, in nanoseconds; p99 of a tinybench iteration, per step. */
  meanNs: number;
  p99Ns: number;
  rme: number;
  iterations: number;
}

/** Largest fleet ÷ smallest, per implementation: the index should follow log n, the scan n. */
export interface PlacementGrowth {
  implementation: PlacementImplementation;
  smallest: number;
  largest: number;
  fleetFactor: number;
  /** log2(largest) ÷ log2(smallest): what an O(log n) step would grow by. */
  logFactor: number;
  costFactor: number;
}

/** The dashboard's tick (once a second, a page open) or a page's snapshot, in a fleet of `size`. */
export interface DashboardRow {
  part: 'tick' | 'snapshot';
  size: number;
  /** Mean time of one, in microseconds. */
  meanUs: number;
  p99Us: number;
  rme: number;
  iterations: number;
  /** The SSE event it built (an update, or a snapshot), in bytes. */
  bytes: number;
}

export type RegistryResult = Result<
  RegistryOptions,
  {
    rows: RegistryRow[];
    scaling: Scaling[];
    placement: PlacementRow[];
    placementGrowth: PlacementGrowth[];
    dashboard: DashboardRow[];
  }
>;

/** How many slaves a sweep expires in a fleet of `size`. */
export function expiredCount(expiry: Expiry, size: number): number {
  if (expiry === 'none') return 0;
  if (expiry === 'all') return size;
  return Math.max(1, Math.round(size / 100));
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

/** Largest fleet ÷ smallest fleet, per placement implementation. */
export function placementGrowthOf(rows: readonly PlacementRow[]): PlacementGrowth[] {
  const out: PlacementGrowth[] = [];
  for (const implementation of ['index', 'scan'] as const) {
    const group = rows.filter((r) => r.implementation === implementation).sort((a, b) => a.size - b.size);
    const small = group[0];
    const large = group[group.length - 1];
    if (!small || !large || small === large) continue;
    out.push({
      implementation,
      smallest: small.size,
      largest: large.size,
      fleetFactor: large.size / small.size,
      logFactor: Math.log2(large.size) / Math.log2(small.size),
      costFactor: large.meanNs / small.meanNs,
    });
  }
  return out;
}

// ---- tables ----

/** µs with enough digits for nanosecond operations. */
const us = (n: number) => (n >= 100 ? fixed(n, 0) : n >= 1 ? fixed(n, 2) : fixed(n, 4));
const ns = (n: number) => (n >= 100 ? fixed(n, 0) : fixed(n, 1));

const label = (r: Pick<RegistryRow, 'operation' | 'expiry'>) =>
  r.operation === 'heartbeat' ? 'heartbeat' : `sweep, ${r.expiry} expire`;

function registryTables(result: RegistryResult): string[] {
  const o = result.options;
  if (result.rows.length === 0) return [];
  const same = (a: RegistryRow, b: RegistryRow) =>
    a.operation === b.operation && a.size === b.size && a.expiry === b.expiry;
  const rows = result.rows
    .filter((r) => r.implementation === 'registry')
    .map((r) => ({ r, naive: result.rows.find((x) => x.implementation === 'naive' && same(x, r)) }));
  return [
    '### Registry: heartbeat bookkeeping and one sweep tick, `SlaveRegistry` vs a naive full scan',
    '',
    `tinybench, ≥ ${o.time} ms measured and ≥ ${o.iterations} iterations per case (re-population between ` +
      `sweeps excluded${o.gc === 'none' ? '' : `, a ${o.gc} GC before each expiring sweep`}); ${environmentLine(result)}`,
    '',
    ...table<(typeof rows)[number]>(
      [
        [
          'operation',
          'l',
          ({ r }) => (r.operation === 'heartbeat' ? 'heartbeat (byToken + touch)' : label(r)),
        ],
        ['fleet', 'r', ({ r }) => thousands(r.size)],
        ['expired per sweep', 'r', ({ r }) => thousands(r.expired)],
        ['registry µs/op', 'r', ({ r }) => us(r.meanUs)],
        ['p99 µs', 'r', ({ r }) => us(r.p99Us)],
        ['± %', 'r', ({ r }) => fixed(r.rme, 1)],
        [
          'registry ns per expired slave',
          'r',
          ({ r }) => (r.expired > 0 ? fixed((r.meanUs * 1000) / r.expired, 1) : '–'),
        ],
        ['naive full scan µs/op', 'r', ({ naive }) => (naive ? us(naive.meanUs) : '–')],
        ['naive ÷ registry', 'r', ({ r, naive }) => (naive ? fixed(naive.meanUs / r.meanUs, 1) : '–')],
      ],
      rows,
    ),
    '',
    ...(result.scaling.length === 0
      ? []
      : [
          "Scaling, largest fleet ÷ smallest (the registry's sweep should follow the expired column):",
          '',
          ...table<Scaling>(
            [
              ['operation', 'l', label],
              ['implementation', 'l', (s) => s.implementation],
              ['fleet ×', 'r', (s) => fixed(s.fleetFactor, 0)],
              ['expired ×', 'r', (s) => (Number.isFinite(s.expiredFactor) ? fixed(s.expiredFactor, 0) : '–')],
              ['time ×', 'r', (s) => fixed(s.costFactor, 2)],
            ],
            result.scaling,
          ),
          '',
        ]),
  ];
}

/** The growth line under the placement table: the index against log n, the scan against n. */
export function placementGrowthLine(growth: readonly PlacementGrowth[]): string | undefined {
  const index = growth.find((g) => g.implementation === 'index');
  const scan = growth.find((g) => g.implementation === 'scan');
  if (index === undefined && scan === undefined) return undefined;
  const g = (index ?? scan)!;
  const parts = [
    index && `index time × **${fixed(index.costFactor, 2)}** (log2 n × ${fixed(index.logFactor, 2)})`,
    scan && `scan time × **${fixed(scan.costFactor, 1)}**`,
  ].filter((p): p is string => typeof p === 'string');
  return `Growth, ${thousands(g.smallest)} → ${thousands(g.largest)} slaves (fleet × ${fixed(g.fleetFactor, 0)}): ${parts.join('; ')}.`;
}

function placementTables(result: RegistryResult): string[] {
  const o = result.options;
  if (result.placement.length === 0) return [];
  const rows = result.placement
    .filter((r) => r.implementation === 'index')
    .map((r) => ({
      r,
      scan: result.placement.find((x) => x.implementation === 'scan' && x.size === r.size),
    }));
  const growth = placementGrowthLine(result.placementGrowth);
  return [
    '### Placement: one step (a pick, its task’s start, an earlier task’s end), `SlotIndex` + `leastLoaded` vs a full scan',
    '',
    `tinybench, ≥ ${o.time} ms and ≥ ${o.iterations} iterations per case; 4 slots per slave, 2 tasks each in ` +
      `flight; ${environmentLine(result)}`,
    '',
    ...table<(typeof rows)[number]>(
      [
        ['slaves', 'r', ({ r }) => thousands(r.size)],
        ['index ns/step', 'r', ({ r }) => ns(r.meanNs)],
        ['p99 ns', 'r', ({ r }) => ns(r.p99Ns)],
        ['± %', 'r', ({ r }) => fixed(r.rme, 1)],
        ['full scan ns/step', 'r', ({ scan }) => (scan ? ns(scan.meanNs) : '–')],
        ['scan ÷ index', 'r', ({ r, scan }) => (scan ? fixed(scan.meanNs / r.meanNs, 1) : '–')],
      ],
      rows,
    ),
    '',
    ...(growth === undefined ? [] : [growth, '']),
  ];
}

/** The dashboard's tick ÷ its period: the share of the master's main thread it takes. */
export const tickShare = (tickUs: number, tickMs: number) => tickUs / 1000 / tickMs;

function dashboardTables(result: RegistryResult, tickMs: number): string[] {
  const o = result.options;
  const sizes = [...new Set(result.dashboard.map((r) => r.size))].sort((a, b) => a - b);
  if (sizes.length === 0) return [];
  const kB = (bytes: number) => fixed(bytes / 1000, 1);
  const rows = sizes.map((size) => {
    const of = (part: DashboardRow['part']) =>
      result.dashboard.find((r) => r.size === size && r.part === part);
    return { size, tick: of('tick'), snapshot: of('snapshot') };
  });
  return [
    '### Dashboard: one update tick and one page’s snapshot (`src/master/dashboard/`)',
    '',
    `tinybench, ≥ ${o.time} ms and ≥ ${o.iterations} iterations per case; before each tick a second goes by ` +
      `(every slave beat, a third of the in-flight counts changed); ${environmentLine(result)}`,
    '',
    ...table<(typeof rows)[number]>(
      [
        ['slaves', 'r', ({ size }) => thousands(size)],
        ['tick µs', 'r', ({ tick }) => (tick ? us(tick.meanUs) : '–')],
        ['p99 µs', 'r', ({ tick }) => (tick ? us(tick.p99Us) : '–')],
        ['± %', 'r', ({ tick }) => (tick ? fixed(tick.rme, 1) : '–')],
        [
          `share of the main thread (one tick per ${tickMs} ms)`,
          'r',
          ({ tick }) => (tick ? `${fixed(tickShare(tick.meanUs, tickMs) * 100, 3)}%` : '–'),
        ],
        ['update kB', 'r', ({ tick }) => (tick ? kB(tick.bytes) : '–')],
        ['snapshot µs', 'r', ({ snapshot }) => (snapshot ? us(snapshot.meanUs) : '–')],
        ['snapshot kB', 'r', ({ snapshot }) => (snapshot ? kB(snapshot.bytes) : '–')],
      ],
      rows,
    ),
    '',
  ];
}

export function formatMarkdown(result: RegistryResult): string {
  // results written before placement (or the dashboard) was measured have no such rows
  const full = {
    ...result,
    placement: result.placement ?? [],
    placementGrowth: result.placementGrowth ?? [],
    dashboard: result.dashboard ?? [],
  };
  const lines = [
    ...registryTables(full),
    ...placementTables(full),
    ...dashboardTables(full, kDashboardLimits.tickMs),
  ];
  return `${lines.join('\n').trimEnd()}\n`;
}

export function headlines(r: RegistryResult) {
  const out = r.rows
    .filter((row) => row.implementation === 'registry')
    .map((row) => lower(`${label(row)}, ${row.size} slaves`, row.meanUs, 'µs'));
  for (const s of r.scaling) {
    if (s.implementation !== 'registry' || s.operation !== 'sweep' || s.expiry !== 'none') continue;
    out.push(lower(`sweep, none expire: time × for fleet × ${s.fleetFactor}`, s.costFactor, '×'));
  }
  for (const row of r.placement ?? []) {
    if (row.implementation === 'index')
      out.push(lower(`placement step, ${row.size} slaves`, row.meanNs, 'ns'));
  }
  for (const g of r.placementGrowth ?? []) {
    const what = g.implementation === 'index' ? 'placement step' : 'placement full scan';
    out.push(lower(`${what}: time × for fleet × ${g.fleetFactor}`, g.costFactor, '×'));
  }
  for (const row of r.dashboard ?? []) {
    const what = row.part === 'tick' ? 'dashboard tick' : 'dashboard snapshot';
    out.push(lower(`${what}, ${row.size} slaves`, row.meanUs, 'µs'));
    if (row.part === 'tick')
      out.push(lower(`dashboard update size, ${row.size} slaves`, row.bytes / 1000, 'kB'));
  }
  return out;
}
