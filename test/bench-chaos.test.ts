// bench/chaos/'s pure parts: argument parsing, how many slaves die when, how a task's end is named, the books and
// their problems, the table and the headlines. Nothing here starts a process or times anything.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chaos } from '../bench/chaos/chaos.ts';
import { outcomeOf } from '../bench/chaos/chaos-load.ts';
import {
  assemble,
  type ChaosResult,
  formatMarkdown,
  headlines,
  killCount,
  killTimes,
  type Parts,
} from '../bench/chaos/report.ts';
import { TaskEndCode, TaskEndedError, TaskStatus } from '../src/index.ts';
import { benchEnvelope } from './helpers/bench-result.ts';

const { defaults: kDefaults, parseArgs } = chaos;

describe('parseArgs', () => {
  test("the defaults are the issue's: 1,000 slaves, 1% killed every 10 s for 40 s, retries: 3", () => {
    const { slaves, duration, killEvery, killPercent, retries, sleepMs } = parseArgs([]).options;
    assert.deepEqual(
      { slaves, duration, killEvery, killPercent, retries, sleepMs },
      { slaves: 1000, duration: 40, killEvery: 10, killPercent: 1, retries: 3, sleepMs: 100 },
    );
  });

  test('reads every flag', () => {
    const args = parseArgs([
      ...['--slaves=200', '--duration', '12', '--kill-every=4', '--kill-percent', '2', '--sleep-ms=50'],
      ...['--retries', '1', '--heartbeat-span=0.5', '--heartbeat-jitter', '0', '--heartbeat-tolerance=2'],
      ...['--heartbeat-check-span', '0.2', '--drain=30', '--connect-concurrency', '8', '--ports=2'],
      ...['--sim-connections', '100', '--no-write'],
    ]);
    assert.deepEqual(args.options, {
      slaves: 200,
      duration: 12,
      killEvery: 4,
      killPercent: 2,
      sleepMs: 50,
      retries: 1,
      heartbeatSpan: 0.5,
      heartbeatJitter: 0,
      heartbeatTolerance: 2,
      heartbeatCheckSpan: 0.2,
      drain: 30,
      connectConcurrency: 8,
      ports: 2,
      simConnections: 100,
    });
    assert.equal(args.write, false);
  });

  test('bad values and combinations are refused with the flag named', () => {
    assert.throws(() => parseArgs(['--slaves', '1']), /--slaves must be a number in \[2, 100000\]/);
    assert.throws(() => parseArgs(['--kill-percent', '60']), /--kill-percent must be a number in/);
    assert.throws(() => parseArgs(['--retries', '1.5']), /--retries must be an integer/);
    assert.throws(
      () => parseArgs(['--duration', '5', '--kill-every', '10']),
      /--kill-every \(10 s\) must not exceed --duration \(5 s\)/,
    );
    assert.throws(
      () => parseArgs(['--heartbeat-tolerance', '1']),
      /--heartbeat-tolerance \(1 s\) must exceed --heartbeat-span/,
    );
  });
});

describe('kills', () => {
  test('a percent of the fleet, at least one, never all', () => {
    assert.equal(killCount(1000, 1), 10);
    assert.equal(killCount(200, 2), 4);
    assert.equal(killCount(50, 1), 1);
    assert.equal(killCount(2, 50), 1);
  });

  test('every span up to and including the duration', () => {
    assert.deepEqual(killTimes(40, 10), [10, 20, 30, 40]);
    assert.deepEqual(killTimes(12, 5), [5, 10]);
    assert.deepEqual(killTimes(0.9, 0.3), [0.3, 0.6, 0.9]);
  });
});

describe('outcomeOf', () => {
  test("names a settled task's end: completed, cancelled, failed to start, the master's code, or the slave's report", () => {
    const error = new TaskEndedError(TaskEndCode.SLAVE_LOST, 'gone');
    assert.equal(outcomeOf({ status: TaskStatus.COMPLETED, error: undefined }), 'completed');
    assert.equal(outcomeOf({ status: TaskStatus.CANCELLED, error }), 'cancelled');
    assert.equal(outcomeOf({ status: TaskStatus.START_FAILED, error: new Error('x') }), 'start failed');
    assert.equal(outcomeOf({ status: TaskStatus.FAILED, error }), `failed (${TaskEndCode.SLAVE_LOST})`);
    assert.equal(outcomeOf({ status: TaskStatus.FAILED, error: undefined }), 'failed (reported)');
  });
});

function parts(): Parts {
  return {
    options: { ...kDefaults },
    connect: { connected: 1000, failed: 0, seconds: 5, firstError: undefined },
    rounds: [10, 20, 30, 40].map((atSeconds) => ({ atSeconds, killed: 10, replaced: 10, failed: 0 })),
    loadSeconds: 40,
    load: {
      made: 400_000,
      outcomes: { completed: 399_990, 'failed (SLAVE_LOST)': 10 },
      lost: 0,
      deliveredTwice: 0,
      completedAfterRetry: 38,
      drainSeconds: 3.5,
    },
    stats: {
      tasksCreated: 400_000,
      tasksCompleted: 399_990,
      tasksFailed: 10,
      tasksCancelled: 0,
      taskRetries: 40,
      evictions: 40,
      resultsIgnored: 2,
      resultsDelivered: 399_990,
    },
    counters: {
      tasksRefused: 0,
      resultsSent: 399_990,
      resultsPushedBack: 0,
      resultsRefused: 0,
      resultErrors: 0,
      beats: 40_000,
      beatsRefused: 0,
      firstProblems: [],
    },
  };
}

const resultOf = (figures: ReturnType<typeof assemble>): ChaosResult => ({
  ...benchEnvelope('chaos', { ...kDefaults }),
  ...figures,
});

describe('assemble', () => {
  test('balanced books, nothing lost or delivered twice: no problem', () => {
    const figures = assemble(parts());
    assert.deepEqual(figures.problems, []);
    assert.equal(figures.ok, true);
    assert.equal(figures.killed, 40);
    assert.equal(figures.books.imbalance, 0);
    assert.equal(figures.completedPerSec, 399_990 / 40);
    assert.deepEqual(figures.master, {
      retries: 40,
      evictions: 40,
      lateResultsIgnored: 2,
      resultsDelivered: 399_990,
    });
  });

  test('a lost task, a task delivered twice, books that do not balance: each a problem', () => {
    const p = parts();
    p.load.lost = 2;
    p.load.deliveredTwice = 1;
    p.stats.tasksCreated = 400_001;
    p.load.made = 400_001;
    const figures = assemble(p);
    assert.equal(figures.ok, false);
    assert.deepEqual(figures.problems, [
      '2 tasks lost: never settled, 4 s after the load stopped',
      '1 tasks delivered twice (their callbacks ran twice)',
      'the books do not balance: created 400001 ≠ completed 399990 + failed 10 + cancelled 0',
    ]);
  });

  test("the load's count against the master's, connects, and live slaves evicted", () => {
    const p = parts();
    p.load.made = 399_999;
    p.connect.connected = 990;
    p.connect.firstError = 'ECONNREFUSED';
    p.rounds[0]!.failed = 2;
    p.counters.beatsRefused = 3;
    assert.deepEqual(assemble(p).problems, [
      '10 slaves not connected (first error: ECONNREFUSED)',
      '2 replacement slaves not connected',
      'the load submitted 399999 tasks, the master counted 400000',
      '3 heartbeats of live slaves refused (false evictions; killed slaves do not beat)',
    ]);
  });
});

describe('formatMarkdown and headlines', () => {
  test('the books in one row, balanced or not, and the problems under it', () => {
    const text = formatMarkdown(resultOf(assemble(parts())));
    assert.match(text, /### Chaos: 1,000 virtual slaves, 10 killed and replaced every 10 s/);
    assert.match(text, /\| 400,000 \| 399,990 \| 10 \| 0 \| balanced \| 0 \| 0 \| 40 \| 38 \| 40 \| 2 \|/);
    assert.match(text, /created 400,000 = completed 399,990 \+ failed 10 \+ cancelled 0: \*\*balanced\*\*/);
    assert.match(text, /completed 399,990, failed \(SLAVE_LOST\) 10/);
    assert.match(text, /load average 1\.50 → 2\.00/);
    assert.doesNotMatch(text, /problem:/);
    const p = parts();
    p.stats.tasksCompleted = 399_989;
    const off = formatMarkdown(resultOf(assemble(p)));
    assert.match(off, /\| \*\*off by 1\*\* \|/);
    assert.match(off, /\*\*NOT balanced\*\*/);
    assert.match(off, /- problem: the books do not balance/);
  });

  test('lost, twice, books off by, failed, and throughput', () => {
    const p = parts();
    p.load.lost = 1;
    assert.deepEqual(
      headlines(resultOf(assemble(p))).map((h) => [h.name, h.value, h.better]),
      [
        ['tasks lost', 1, 'lower'],
        ['tasks delivered twice', 0, 'lower'],
        ['books off by', 0, 'lower'],
        ['tasks failed', 10, 'lower'],
        ['completed tasks/s under chaos', 399_990 / 40, 'higher'],
      ],
    );
  });
});
