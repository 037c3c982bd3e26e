// bench/registry/registry.ts's pure parts: argument parsing, expired counts, scaling factors and the table.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  expiredCount,
  formatMarkdown,
  type RegistryResult,
  type RegistryRow,
  registry,
  scalingOf,
} from '../bench/registry/registry.ts';

const { defaults: kDefaults, parseArgs } = registry;

describe('parseArgs', () => {
  test("the defaults are the README's: 10,000 and 100,000 slaves, 200 ms per case, a minor GC", () => {
    assert.deepEqual(parseArgs([]).options, {
      sizes: [10_000, 100_000],
      time: 200,
      iterations: 10,
      gc: 'minor',
    });
  });

  test('reads every flag; sizes are sorted and deduplicated', () => {
    const args = parseArgs(['--sizes', '100000,1000,1000', '--time=50', '--iterations', '3', '--gc=major']);
    assert.deepEqual(args.options.sizes, [1000, 100_000]);
    assert.equal(args.options.time, 50);
    assert.equal(args.options.iterations, 3);
    assert.equal(args.options.gc, 'major');
    assert.equal(parseArgs(['--no-write']).write, false);
  });

  test('bad values are refused with the flag named', () => {
    assert.throws(() => parseArgs(['--sizes', '10,abc']), /--sizes must be a number in \[100, 10000000\]/);
    assert.throws(() => parseArgs(['--time', '0']), /--time must be a number in \[10, 600000\]/);
    assert.throws(() => parseArgs(['--gc', 'full']), /--gc must be one of minor, major, none/);
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

describe('formatMarkdown', () => {
  test('registry rows with the naive baseline beside them', () => {
    const rows = [
      row(10_000, 'none', 0.02),
      { ...row(10_000, 'none', 200), implementation: 'naive' as const },
    ];
    const result: RegistryResult = {
      bench: 'registry',
      startedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: '2026-01-01T00:00:10.000Z',
      environment: { node: 'v20', platform: 'linux', cpus: 2, cpuModel: 'cpu', loadAverage: [0, 0] },
      options: { ...kDefaults },
      rows,
      scaling: scalingOf(rows),
    };
    const text = formatMarkdown(result);
    assert.match(text, /\| sweep, none expire \| 10,000 \| 0 \| 0\.0200 \|/);
    assert.match(text, /\| 200 \| 10000\.0 \|/);
  });
});
