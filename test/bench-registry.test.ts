// bench/registry/'s pure parts: argument parsing, expired counts, scaling factors, the placement step's two
// implementations (they must pick alike), its growth, the tables and the headlines.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { indexPlacer, scanPlacer, stepsPerIteration } from '../bench/registry/placement.ts';
import { registry } from '../bench/registry/registry.ts';
import {
  expiredCount,
  formatMarkdown,
  headlines,
  type PlacementRow,
  placementGrowthLine,
  placementGrowthOf,
  type RegistryResult,
  type RegistryRow,
  scalingOf,
} from '../bench/registry/report.ts';

const { defaults: kDefaults, parseArgs } = registry;

describe('parseArgs', () => {
  test("the defaults are the README's: 1,000 to 100,000 slaves, 200 ms per case, a minor GC, every part", () => {
    assert.deepEqual(parseArgs([]).options, {
      sizes: [1000, 10_000, 100_000],
      time: 200,
      iterations: 10,
      gc: 'minor',
      parts: ['heartbeat', 'sweep', 'placement'],
    });
  });

  test('reads every flag; sizes are sorted and deduplicated, parts kept in their order', () => {
    const args = parseArgs([
      ...['--sizes', '100000,1000,1000', '--time=50', '--iterations', '3', '--gc=major'],
      ...['--parts', 'placement,heartbeat'],
    ]);
    assert.deepEqual(args.options.sizes, [1000, 100_000]);
    assert.equal(args.options.time, 50);
    assert.equal(args.options.iterations, 3);
    assert.equal(args.options.gc, 'major');
    assert.deepEqual(args.options.parts, ['heartbeat', 'placement']);
    assert.equal(parseArgs(['--no-write']).write, false);
  });

  test('bad values are refused with the flag named', () => {
    assert.throws(() => parseArgs(['--sizes', '10,abc']), /--sizes must be a number in \[100, 10000000\]/);
    assert.throws(() => parseArgs(['--time', '0']), /--time must be a number in \[10, 600000\]/);
    assert.throws(() => parseArgs(['--gc', 'full']), /--gc must be one of minor, major, none/);
    assert.throws(
      () => parseArgs(['--parts', 'placement,queue']),
      /--parts must list heartbeat, sweep, placement/,
    );
    assert.throws(() => parseArgs(['--x']), /unknown argument/);
  });
});

describe('expiredCount', () => {
  test('none, 1% (at least one) and all', () => {
    assert.equal(expiredCount('none', 10_000), 0);
    assert.equal(expiredCount('1%', 10_000), 100);
    assert.equal(expiredCount('1%', 50), 1);
    assert.equal(expiredCount('all', 10_000), 10_000);
  });
});

function row(size: number, expiry: RegistryRow['expiry'], meanUs: number): RegistryRow {
  return {
    operation: 'sweep',
    implementation: 'registry',
    size,
    expired: expiry === undefined ? 0 : expiredCount(expiry, size),
    expiry,
    meanUs,
    p50Us: meanUs,
    p99Us: meanUs * 2,
    rme: 1,
    iterations: 10,
  };
}

describe('scalingOf', () => {
  test('largest fleet ÷ smallest, per operation, expiry and implementation', () => {
    const scaling = scalingOf([
      row(10_000, 'none', 0.02),
      row(100_000, 'none', 0.021),
      row(10_000, '1%', 20),
      row(100_000, '1%', 210),
    ]);
    const none = scaling.find((s) => s.expiry === 'none');
    const onePercent = scaling.find((s) => s.expiry === '1%');
    assert.equal(none?.fleetFactor, 10);
    assert.equal(none?.expiredFactor, 1);
    assert.ok(Math.abs((none?.costFactor ?? 0) - 1.05) < 1e-9);
    assert.equal(onePercent?.expiredFactor, 10);
    assert.equal(onePercent?.costFactor, 10.5);
  });

  test('a single size gives no scaling', () => {
    assert.deepEqual(scalingOf([row(10_000, 'none', 1)]), []);
  });
});

function resultOf(rows: RegistryRow[], placement: PlacementRow[]): RegistryResult {
  return {
    bench: 'registry',
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:10.000Z',
    environment: { node: 'v20', platform: 'linux', cpus: 2, cpuModel: 'cpu', loadAverage: [0, 0] },
    options: { ...kDefaults },
    rows,
    scaling: scalingOf(rows),
    placement,
    placementGrowth: placementGrowthOf(placement),
  };
}

const step = (
  implementation: PlacementRow['implementation'],
  size: number,
  meanNs: number,
): PlacementRow => ({
  implementation,
  size,
  meanNs,
  p99Ns: meanNs * 2,
  rme: 1,
  iterations: 10,
});
const kPlacementRows = [
  step('index', 1000, 100),
  step('scan', 1000, 1000),
  step('index', 100_000, 180),
  step('scan', 100_000, 100_000),
];

describe('placement', () => {
  test('the free-slot index and the full scan pick the same slaves, in the same order', () => {
    for (const size of [1, 7, 50]) {
      const index = indexPlacer(size);
      const scan = scanPlacer(size);
      const picked: number[] = [];
      for (let i = 0; i < 2000; i++) {
        const a = index.step();
        assert.equal(a, scan.step(), `${size} slaves, step ${i}`);
        picked.push(a);
      }
      // least loaded, then idle longest: the fleet's tasks spread over every slave
      assert.equal(new Set(picked).size, size);
    }
  });

  test('steps per iteration: many on the index, about a million slave visits on the scan', () => {
    assert.equal(stepsPerIteration('index', 100_000), 1000);
    assert.equal(stepsPerIteration('scan', 1000), 1000);
    assert.equal(stepsPerIteration('scan', 10_000), 100);
    assert.equal(stepsPerIteration('scan', 100_000), 10);
    assert.equal(stepsPerIteration('scan', 10_000_000), 1);
  });

  test('growth, largest fleet ÷ smallest, beside log2 n', () => {
    const [index, scan] = placementGrowthOf(kPlacementRows);
    assert.equal(index?.implementation, 'index');
    assert.equal(index?.fleetFactor, 100);
    assert.ok(Math.abs((index?.costFactor ?? 0) - 1.8) < 1e-9);
    assert.ok(Math.abs((index?.logFactor ?? 0) - Math.log2(100_000) / Math.log2(1000)) < 1e-9);
    assert.equal(scan?.costFactor, 100);
    assert.deepEqual(placementGrowthOf([step('index', 1000, 1)]), []);
    assert.equal(
      placementGrowthLine(placementGrowthOf(kPlacementRows)),
      'Growth, 1,000 → 100,000 slaves (fleet × 100): index time × **1.80** (log2 n × 1.67); scan time × **100.0**.',
    );
    assert.equal(placementGrowthLine([]), undefined);
  });
});

describe('formatMarkdown', () => {
  test('registry rows with the naive baseline beside them', () => {
    const rows = [
      row(10_000, 'none', 0.02),
      { ...row(10_000, 'none', 200), implementation: 'naive' as const },
    ];
    const text = formatMarkdown(resultOf(rows, []));
    assert.match(text, /\| sweep, none expire \| 10,000 \| 0 \| 0\.0200 \|/);
    assert.match(text, /\| 200 \| 10000\.0 \|/);
    assert.doesNotMatch(text, /Placement/, 'no placement rows: no placement table');
  });

  test('placement rows with the scan beside them, and the growth line', () => {
    const text = formatMarkdown(resultOf([], kPlacementRows));
    assert.doesNotMatch(text, /### Registry/, 'no registry rows: no registry table');
    assert.match(text, /### Placement: one step/);
    assert.match(text, /\| 1,000 \| 100 \| 200 \| 1\.0 \| 1000 \| 10\.0 \|/);
    assert.match(text, /\| 100,000 \| 180 \| 360 \| 1\.0 \| 100000 \| 555\.6 \|/);
    assert.match(text, /index time × \*\*1\.80\*\*/);
  });
});

describe('headlines', () => {
  test('a placement step per fleet size, and the growth of the index and of the scan', () => {
    const named = headlines(resultOf([row(10_000, 'none', 0.02)], kPlacementRows)).map((h) => [
      h.name,
      h.value,
      h.unit,
    ]);
    assert.deepEqual(named, [
      ['sweep, none expire, 10000 slaves', 0.02, 'µs'],
      ['placement step, 1000 slaves', 100, 'ns'],
      ['placement step, 100000 slaves', 180, 'ns'],
      ['placement step: time × for fleet × 100', 1.8, '×'],
      ['placement full scan: time × for fleet × 100', 100, '×'],
    ]);
  });
});
