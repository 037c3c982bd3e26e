// bench/registry/'s pure parts: argument parsing, expired counts, scaling factors, the placement step's two
// implementations (they must pick alike), its growth, the dashboard tick's fleet (what one tick and one snapshot
// carry), the tables and the headlines.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dashboardTick } from '../bench/registry/dashboard-tick.ts';
import { indexPlacer, scanPlacer, stepsPerIteration } from '../bench/registry/placement.ts';
import { registry } from '../bench/registry/registry.ts';
import {
  type DashboardRow,
  expiredCount,
  formatMarkdown,
  headlines,
  type PlacementRow,
  placementGrowthLine,
  placementGrowthOf,
  type RegistryResult,
  type RegistryRow,
  scalingOf,
  tickShare,
} from '../bench/registry/report.ts';
import { benchEnvelope } from './helpers/bench-result.ts';

const { defaults: kDefaults, parseArgs } = registry;

describe('parseArgs', () => {
  test("the defaults are the README's: 1,000 to 100,000 slaves, 200 ms per case, a minor GC, every part", () => {
    assert.deepEqual(parseArgs([]).options, {
      sizes: [1000, 10_000, 100_000],
      time: 200,
      iterations: 10,
      gc: 'minor',
      parts: ['heartbeat', 'sweep', 'placement', 'dashboard'],
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
      /--parts must list heartbeat, sweep, placement, dashboard/,
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

function resultOf(
  rows: RegistryRow[],
  placement: PlacementRow[],
  dashboard: DashboardRow[] = [],
): RegistryResult {
  return {
    ...benchEnvelope('registry', { ...kDefaults }, { loadAverage: [0, 0], seconds: 10 }),
    rows,
    scaling: scalingOf(rows),
    placement,
    placementGrowth: placementGrowthOf(placement),
    dashboard,
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

const tickRow = (part: DashboardRow['part'], size: number, meanUs: number, bytes: number): DashboardRow => ({
  part,
  size,
  meanUs,
  p99Us: meanUs * 2,
  rme: 2,
  iterations: 50,
  bytes,
});
const kDashboardRows = [
  tickRow('tick', 10_000, 400, 27_250),
  tickRow('snapshot', 10_000, 2500, 722_000),
  tickRow('tick', 1000, 40, 3_238),
];

describe('dashboard', () => {
  test('a tick after a second of load carries every slave’s age and the in-flight counts, and names no slave again', () => {
    const size = 300;
    const dashboard = dashboardTick(size);
    dashboard.churn();
    const bytes = dashboard.tick();
    const update = dashboard.lastUpdate!;
    assert.equal(update.capacity, size);
    assert.equal(Buffer.from(update.ages, 'base64').length, size);
    // a third of the counts changed: the array goes out whole
    assert.equal(Buffer.from(update.inflight ?? '', 'base64').length, size);
    assert.deepEqual(update.slots, [], 'the setup already sent every slot');
    assert.equal(update.summary.slaves.total, size);
    assert.equal(update.summary.slaves.fresh, size, 'every slave beat within the last second');
    assert.ok(bytes > Buffer.from(update.ages, 'base64').length * 2, 'two base64 arrays and the summary');
    assert.match(JSON.stringify(update.summary.pool), /"threads":2/);
  });

  test('a snapshot names every slave, with 15 minutes of history and the last events', () => {
    const dashboard = dashboardTick(400);
    const bytes = dashboard.snapshot();
    const frame = dashboard.lastSnapshot!;
    assert.equal(frame.slots.length, 400);
    assert.deepEqual(frame.slots[7], [7, 8, 'slave-7', 'http://10.0.0.7:7236', 'connected']);
    assert.equal(Buffer.from(frame.inflight, 'base64').length, 400);
    assert.equal(frame.history.length, 900);
    assert.equal(frame.events.length, 300);
    assert.equal(frame.events.at(-1)?.kind, 'connect');
    assert.ok(bytes > JSON.stringify(frame).length, 'its SSE framing on top');
  });

  test('the table: tick, its share of the main thread, update and snapshot sizes per fleet size', () => {
    assert.equal(tickShare(400, 1000), 0.0004);
    const text = formatMarkdown(resultOf([], [], kDashboardRows));
    assert.match(text, /### Dashboard: one update tick/);
    assert.match(text, /\| 1,000 \| 40\.00 \| 80\.00 \| 2\.0 \| 0\.004% \| 3\.2 \| – \| – \|/);
    assert.match(text, /\| 10,000 \| 400 \| 800 \| 2\.0 \| 0\.040% \| 27\.3 \| 2500 \| 722\.0 \|/);
    assert.doesNotMatch(
      formatMarkdown(resultOf([], kPlacementRows)),
      /Dashboard/,
      'no dashboard rows: no table',
    );
  });

  test('headlines: tick and snapshot time per fleet size, and the update size', () => {
    const named = headlines(resultOf([], [], kDashboardRows)).map((h) => [h.name, h.value, h.unit]);
    assert.deepEqual(named, [
      ['dashboard tick, 10000 slaves', 400, 'µs'],
      ['dashboard update size, 10000 slaves', 27.25, 'kB'],
      ['dashboard snapshot, 10000 slaves', 2500, 'µs'],
      ['dashboard tick, 1000 slaves', 40, 'µs'],
      ['dashboard update size, 1000 slaves', 3.238, 'kB'],
    ]);
  });

  test('results written before the dashboard part read as they did', () => {
    const { dashboard: _, ...old } = resultOf([], kPlacementRows);
    assert.doesNotMatch(formatMarkdown(old as RegistryResult), /Dashboard/);
    assert.equal(headlines(old as RegistryResult).length, 4);
  });
});
