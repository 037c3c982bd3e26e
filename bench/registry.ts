/**
 * Registry micro-benchmark (tinybench): the heartbeat bookkeeping of src/master/registry.ts `SlaveRegistry`
 * (`byToken` + `touch`) and one sweep tick (`expire(cutoff)`) with 10,000 and 100,000 slaves when none, 1% and
 * all of them expire — against a naive baseline in the same run (a `Map` of records whose sweep scans the whole
 * fleet). The table shows that the registry's sweep costs what expires, not the fleet size.
 *
 *   npx tsx bench/registry.ts [--sizes 10000,100000] [--time MS]
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Bench } from 'tinybench';
import { SlaveRegistry } from '../src/master/registry.ts';
import { walkArgs } from './args.ts';
import { thousands } from './front-end-report.ts';
import { writeResultFiles } from './result-files.ts';

export type Operation = 'heartbeat' | 'sweep';
export type Implementation = 'registry' | 'naive';
export const kExpiries = ['none', '1%', 'all'] as const;
export type Expiry = (typeof kExpiries)[number];
export const kGcModes = ['minor', 'major', 'none'] as const;
export type GcMode = (typeof kGcModes)[number];

export interface RegistryOptions {
  /** Fleet sizes. @defaultValue [10_000, 100_000] */
  sizes: readonly number[];
  /**
   * Milliseconds per case (tinybench `time`). Sweeps count their setup in this budget, so a case ends in about
   * this time; the timings themselves never include setup. @defaultValue 200
   */
  time: number;
  /** Fewest iterations per case. @defaultValue 10 */
  iterations: number;
  /**
   * A garbage collection in the setup of every sweep that expires slaves, so the garbage of the last
   * re-population is not collected inside the next timed sweep: `minor` (a scavenge: cheap, keeps caches
   * mostly warm), `major` (a full GC: also leaves the CPU caches cold, as a sweep once a second meets them in a
   * busy master), `none`. @defaultValue 'minor'
   */
  gc: GcMode;
  /** Progress lines. @defaultValue none */
  log: (line: string) => void;
}

const kResultsDir = fileURLToPath(new URL('./results/', import.meta.url));

export const kDefaults: Readonly<Omit<RegistryOptions, 'log'>> = Object.freeze({
  sizes: Object.freeze([10_000, 100_000]),
  time: 200,
  iterations: 10,
  gc: 'minor',
});

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
  /** Largest fleet ÷ smallest fleet. */
  fleetFactor: number;
  /** Its expired count ÷ the smallest fleet's. */
  expiredFactor: number;
  /** Largest fleet's time ÷ the smallest's. */
  costFactor: number;
}

export interface RegistryResult {
  bench: 'registry';
  startedAt: string;
  finishedAt: string;
  environment: {
    node: string;
    platform: string;
    cpus: number;
    cpuModel: string;
    loadAverage: [number, number];
  };
  options: Omit<RegistryOptions, 'log'>;
  rows: RegistryRow[];
  scaling: Scaling[];
}

// ---- CLI parsing (pure) ----

export interface ParsedArgs {
  options: Omit<RegistryOptions, 'log'>;
  out: string;
  write: boolean;
  help: boolean;
}

export const kUsage = `usage: npx tsx bench/registry.ts [options]
  --sizes LIST     comma-separated fleet sizes (default ${kDefaults.sizes.join(',')})
  --time MS        milliseconds per case, setup included (default ${kDefaults.time}); timings exclude setup
  --iterations N   fewest iterations per case (default ${kDefaults.iterations})
  --gc MODE        collect garbage in the setup of expiring sweeps: minor, major or none (default ${kDefaults.gc})
  --out DIR        results directory (default bench/results)
  --no-write       print only`;

/** Parses `process.argv.slice(2)` (`--flag value` or `--flag=value`). Pure: throws a RangeError naming the flag. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const options = { ...kDefaults };
  const integer = (name: string, raw: string | undefined, min: number, max: number) => {
    const value = Number(raw);
    if (raw === undefined || raw === '' || !Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(`--${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
    }
    return value;
  };
  const common = walkArgs(argv, kUsage, (flag, value) => {
    switch (flag) {
      case '--sizes': {
        const raw = value();
        const sizes = (raw ?? '').split(',').map((s) => integer('sizes', s, 100, 10_000_000));
        options.sizes = [...new Set(sizes)].sort((a, b) => a - b);
        break;
      }
      case '--time':
        options.time = integer('time', value(), 10, 600_000);
        break;
      case '--iterations':
        options.iterations = integer('iterations', value(), 1, 1_000_000);
        break;
      case '--gc': {
        const mode = value();
        if (!kGcModes.includes(mode as GcMode)) {
          throw new RangeError(`--gc must be one of ${kGcModes.join(', ')}, got ${JSON.stringify(mode)}`);
        }
        options.gc = mode as GcMode;
        break;
      }
      default:
        return false;
    }
    return true;
  });
  const out = common.out ?? kResultsDir;
  const { write, help } = common;
  return { options, out, write, help };
}

/** How many slaves a sweep expires in a fleet of `size`. Pure. */
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
function collector(mode: GcMode): () => void {
  if (mode === 'none') return () => {};
  let gc = (globalThis as { gc?: GcFunction }).gc;
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as GcFunction;
  }
  const collect = gc;
  return () => collect({ type: mode });
}

export async function run(input: Partial<RegistryOptions> = {}): Promise<RegistryResult> {
  const options: RegistryOptions = { ...kDefaults, log: () => {}, ...input };
  const gc = collector(options.gc);
  const startedAt = new Date();
  const loadBefore = os.loadavg()[0] ?? Number.NaN;
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
    if (task) options.log(`done: ${task.name}`);
  });
  options.log(
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
  return {
    bench: 'registry',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    environment: {
      node: process.version,
      platform: `${process.platform} ${os.release()}`,
      cpus: os.availableParallelism(),
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
      loadAverage: [loadBefore, os.loadavg()[0] ?? Number.NaN],
    },
    options: { sizes: options.sizes, time: options.time, iterations: options.iterations, gc: options.gc },
    rows,
    scaling: scalingOf(rows),
  };
}

/** Largest fleet ÷ smallest fleet, per operation, expiry and implementation. Pure. */
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

const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

/** µs with enough digits for nanosecond operations. */
const us = (n: number) => (n >= 100 ? fixed(n, 0) : n >= 1 ? fixed(n, 2) : fixed(n, 4));

export function formatMarkdown(result: RegistryResult): string {
  const env = result.environment;
  const lines = [
    '### Registry: heartbeat bookkeeping and one sweep tick, `SlaveRegistry` vs a naive full scan',
    '',
    `tinybench, ≥ ${result.options.time} ms measured and ≥ ${result.options.iterations} iterations per case ` +
      `(re-population between sweeps excluded${result.options.gc === 'none' ? '' : `, a ${result.options.gc} GC before each expiring sweep`}); node ${env.node}, ${env.cpus} × ${env.cpuModel}; load average ` +
      `${fixed(env.loadAverage[0], 2)} → ${fixed(env.loadAverage[1], 2)}; ${result.startedAt}.`,
    '',
    '| operation | fleet | expired per sweep | registry µs/op | p99 µs | ± % | registry ns per expired slave | naive full scan µs/op | naive ÷ registry |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  const find = (r: RegistryRow, implementation: Implementation) =>
    result.rows.find(
      (x) =>
        x.implementation === implementation &&
        x.operation === r.operation &&
        x.size === r.size &&
        x.expiry === r.expiry,
    );
  for (const r of result.rows) {
    if (r.implementation !== 'registry') continue;
    const naive = find(r, 'naive');
    const label = r.operation === 'heartbeat' ? 'heartbeat (byToken + touch)' : `sweep, ${r.expiry} expire`;
    lines.push(
      `| ${label} | ${thousands(r.size)} | ${thousands(r.expired)} | ${us(r.meanUs)} | ${us(r.p99Us)} | ` +
        `${fixed(r.rme, 1)} | ${r.expired > 0 ? fixed((r.meanUs * 1000) / r.expired, 1) : '–'} | ` +
        `${naive ? us(naive.meanUs) : '–'} | ${naive ? fixed(naive.meanUs / r.meanUs, 1) : '–'} |`,
    );
  }
  lines.push(
    '',
    "Scaling, largest fleet ÷ smallest (the registry's sweep should follow the expired column):",
    '',
  );
  lines.push('| operation | implementation | fleet × | expired × | time × |', '|---|---|--:|--:|--:|');
  for (const s of result.scaling) {
    const label = s.operation === 'heartbeat' ? 'heartbeat' : `sweep, ${s.expiry} expire`;
    lines.push(
      `| ${label} | ${s.implementation} | ${fixed(s.fleetFactor, 0)} | ` +
        `${Number.isFinite(s.expiredFactor) ? fixed(s.expiredFactor, 0) : '–'} | ${fixed(s.costFactor, 2)} |`,
    );
  }
  return lines.join('\n') + '\n';
}

export function writeResults(result: RegistryResult, dir: string): Promise<string[]> {
  return writeResultFiles(dir, 'registry', result.startedAt, result, formatMarkdown(result));
}

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.help) {
    console.log(kUsage);
    return 0;
  }
  const result = await run({ ...args.options, log: (line) => console.error(line) });
  console.log(formatMarkdown(result));
  if (args.write) {
    for (const file of await writeResults(result, args.out)) {
      console.error(`wrote ${path.relative(process.cwd(), file)}`);
    }
  }
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 2;
    },
  );
}
