// bench/run.ts, each benchmark's headlines and bench/compare-report.ts: argument parsing, headline figures, and
// the side-by-side comparison. Pure parts only.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareRuns, formatComparison } from '../bench/compare-report.ts';
import type { FleetResult } from '../bench/fleet/report.ts';
import type { FrontEndResult } from '../bench/front-end/report.ts';
import { formatValue, type Headline } from '../bench/harness/report.ts';
import type { RegistryResult } from '../bench/registry/registry.ts';
import { formatSummary, kBenches, kBenchNames, suite } from '../bench/run.ts';
import { benchEnvelope } from './helpers/bench-result.ts';

const parseArgs = (argv: string[]) => suite.parseArgs(argv);

describe('run.ts parseArgs', () => {
  test('defaults to every benchmark, in suite order', () => {
    const args = parseArgs([]);
    assert.deepEqual(args.options.only, kBenchNames);
    assert.deepEqual(kBenchNames, ['front-end', 'registry', 'fleet', 'chaos', 'result-pool', 'nats']);
    assert.equal(args.options.quick, false);
    assert.equal(args.write, true);
  });

  test('--only keeps suite order; --quick, --no-write', () => {
    const args = parseArgs(['--only', 'fleet,registry', '--quick', '--no-write']);
    assert.deepEqual(args.options.only, ['registry', 'fleet']);
    assert.equal(args.options.quick, true);
    assert.equal(args.write, false);
  });

  test('refuses an unknown benchmark or flag', () => {
    assert.throws(() => parseArgs(['--only', 'fleet,nope']), /--only must list/);
    assert.throws(() => parseArgs(['--fast']), /unknown argument/);
  });
});

describe('formatSummary', () => {
  test('a skipped benchmark (nats without nats-server) is one line with its reason', () => {
    const text = formatSummary({
      ...benchEnvelope('suite', { only: ['nats'], quick: false }, { loadAverage: [1, 1] }),
      entries: [
        {
          bench: 'nats',
          status: 'skipped',
          note: 'nats-server cannot run (ENOENT)',
          seconds: 0,
          headlines: [],
          files: [],
        },
      ],
    });
    assert.match(text, /\| nats \| skipped: nats-server cannot run \(ENOENT\) \| 0 \| – \| – \|/);
  });
});

describe('headlines', () => {
  test('fleet: throughput, latencies, ratios against the null master, evictions, memory', () => {
    const headlines = kBenches.fleet!.headlines({
      bench: 'fleet',
      load: { tasksPerSec: 4000, p50Ms: 1, p99Ms: 2, masterCpu: 0.5 },
      heartbeats: [
        { kind: 'idle', p99Ms: 3 },
        { kind: 'loaded', p99Ms: 4 },
      ],
      ratios: { p99: 1.5, cpuPerBeat: 1.2 },
      evictions: { falseEvictions: 0 },
      connect: { rssPerSlaveKiB: 30 },
    } as unknown as FleetResult);
    const value = (name: string) => headlines.find((h) => h.name === name)?.value;
    assert.equal(value('tasks/s'), 4000);
    assert.equal(value('heartbeat p99, under load'), 4);
    assert.equal(value('heartbeat p99 ÷ null master'), 1.5);
    assert.equal(value('false evictions'), 0);
    assert.equal(value('master CPU'), 50);
  });

  test('registry: one figure per registry row, and the empty sweep scaling', () => {
    const headlines = kBenches.registry!.headlines({
      bench: 'registry',
      rows: [
        { operation: 'sweep', implementation: 'registry', expiry: 'none', size: 10, meanUs: 0.02 },
        { operation: 'sweep', implementation: 'naive', expiry: 'none', size: 10, meanUs: 200 },
      ],
      scaling: [
        { operation: 'sweep', implementation: 'registry', expiry: 'none', fleetFactor: 10, costFactor: 1.1 },
      ],
    } as unknown as RegistryResult);
    assert.deepEqual(
      headlines.map((h) => [h.name, h.value]),
      [
        ['sweep, none expire, 10 slaves', 0.02],
        ['sweep, none expire: time × for fleet × 10', 1.1],
      ],
    );
  });

  test('front-end: per route, master req/s and its ratios against raw uWS', () => {
    const headlines = kBenches['front-end']!.headlines({
      bench: 'front-end',
      routes: {
        heartbeat: {
          servers: { master: { reqPerSec: 9000 } },
          ratios: { uws: { median: 0.95, cpuPerReq: 1.3 } },
        },
      },
    } as unknown as FrontEndResult);
    assert.deepEqual(
      headlines.map((h) => h.value),
      [9000, 0.95, 1.3],
    );
  });

  test('formatValue', () => {
    assert.equal(formatValue({ value: 15234.4, unit: 'tasks/s' }), '15,234 tasks/s');
    assert.equal(formatValue({ value: 1.234, unit: '×' }), '1.23×');
    assert.equal(formatValue({ value: 0.01234, unit: 'µs' }), '0.0123 µs');
    assert.equal(formatValue({ value: Number.NaN, unit: 'ms' }), '–');
    assert.equal(formatValue({ value: 0, unit: '' }), '0');
    assert.equal(formatValue({ value: 12, unit: 'ms' }), '12 ms');
  });
});

describe('compareRuns', () => {
  const h = (name: string, value: number, better: Headline['better']): Headline => ({
    name,
    value,
    unit: '',
    better,
  });

  test('medians per tree, the ratio, and a verdict that knows which way is better', () => {
    const current = [
      [h('tasks/s', 110, 'higher'), h('p99', 10, 'lower')],
      [h('tasks/s', 120, 'higher'), h('p99', 12, 'lower')],
      [h('tasks/s', 130, 'higher'), h('p99', 11, 'lower')],
    ];
    const baseline = [
      [h('tasks/s', 100, 'higher'), h('p99', 11, 'lower')],
      [h('tasks/s', 100, 'higher'), h('p99', 11, 'lower')],
    ];
    const [tasks, p99] = compareRuns(current, baseline);
    assert.equal(tasks?.current, 120);
    assert.equal(tasks?.baseline, 100);
    assert.equal(tasks?.ratio, 1.2);
    assert.equal(tasks?.verdict, 'better');
    assert.deepEqual(tasks?.currentRuns, [110, 120, 130]);
    assert.equal(p99?.verdict, 'same');
    const [worse] = compareRuns([[h('p99', 20, 'lower')]], [[h('p99', 10, 'lower')]]);
    assert.equal(worse?.verdict, 'worse');
  });

  test('a figure only one tree has is listed with – on the other side', () => {
    const [only] = compareRuns([[h('new', 1, 'higher')]], [[]]);
    assert.equal(only?.verdict, '–');
    const text = formatComparison(
      'fleet',
      compareRuns([[h('new', 1, 'higher')]], [[]]),
      {
        current: 'working tree',
        baseline: 'main',
      },
      { current: 1, baseline: 1 },
    );
    assert.match(text, /\| new \| 1 \| – \| – \| – \| 1 \/ – \|/);
  });
});
