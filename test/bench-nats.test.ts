// bench/nats/'s pure parts: argument parsing, the /proc and /varz readers, the figures per task, the problems, the
// tables and the headlines. Nothing here starts a process, a nats-server or times anything.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nats } from '../bench/nats/nats.ts';
import {
  assemble,
  countersOf,
  countersSince,
  formatMarkdown,
  headlines,
  type NatsResult,
  type PhaseMeasure,
  procCpuSeconds,
} from '../bench/nats/report.ts';
import { benchEnvelope } from './helpers/bench-result.ts';

const { defaults: kDefaults, parseArgs } = nats;

describe('parseArgs', () => {
  test('the defaults: 1,000 slaves, 3 + 10 s per phase, 4,000 in flight, every phase', () => {
    const { slaves, duration, warmup, inFlight, phases, natsServer } = parseArgs([]).options;
    assert.deepEqual(
      { slaves, duration, warmup, inFlight, phases, natsServer },
      {
        slaves: 1000,
        duration: 10,
        warmup: 3,
        inFlight: 4000,
        phases: ['memory', 'nats', 'nats2'],
        natsServer: 'nats-server',
      },
    );
  });

  test('reads every flag; --phases keeps run order', () => {
    const args = parseArgs([
      ...[
        '--slaves=200',
        '--duration',
        '2',
        '--warmup=0.5',
        '--in-flight',
        '100',
        '--phases',
        'nats2,memory',
      ],
      ...[
        '--result-bytes=16',
        '--ports',
        '2',
        '--connect-concurrency=8',
        '--nats-server',
        '/opt/nats-server',
      ],
      '--no-write',
    ]);
    assert.deepEqual(args.options, {
      slaves: 200,
      duration: 2,
      warmup: 0.5,
      inFlight: 100,
      phases: ['memory', 'nats2'],
      resultBytes: 16,
      ports: 2,
      connectConcurrency: 8,
      natsServer: '/opt/nats-server',
    });
    assert.equal(args.write, false);
  });

  test('bad values and combinations are refused with the flag named', () => {
    assert.throws(() => parseArgs(['--phases', 'memory,redis']), /--phases must list memory, nats, nats2/);
    assert.throws(() => parseArgs(['--in-flight', '0']), /--in-flight must be a number in \[1, 1000000\]/);
    assert.throws(() => parseArgs(['--slaves', '1.5']), /--slaves must be/);
    assert.throws(() => parseArgs(['--slaves', '999']), /--slaves \(999\) must be even for the nats2 phase/);
    assert.equal(parseArgs(['--slaves', '999', '--phases', 'memory,nats']).options.slaves, 999);
  });
});

describe('readers', () => {
  test('procCpuSeconds: utime + stime, past a command name with spaces and parentheses', () => {
    const stat = '4242 (nats server (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0';
    assert.equal(procCpuSeconds(stat), 3);
    assert.equal(procCpuSeconds(stat, 1000), 0.3);
    assert.throws(() => procCpuSeconds('garbage'), /not a \/proc stat line/);
  });

  test('countersOf and countersSince: the server counters that /varz names in_msgs, out_msgs, in_bytes, out_bytes', () => {
    const before = countersOf({ in_msgs: 10, out_msgs: 20, in_bytes: 1000, out_bytes: 2000, cpu: 3 });
    const after = countersOf({ in_msgs: 110, out_msgs: 220, in_bytes: 5000, out_bytes: 9000 });
    assert.deepEqual(countersSince(before, after), {
      inMsgs: 100,
      outMsgs: 200,
      inBytes: 4000,
      outBytes: 7000,
    });
    assert.throws(() => countersOf({ in_msgs: 1 }), /\/varz has no number out_msgs/);
  });
});

function measures(): PhaseMeasure[] {
  const base = {
    connected: 1000,
    connectFailed: 0,
    firstError: undefined,
    seconds: 10,
    failed: 0,
    masterWarnings: 0,
    lastWarning: undefined,
  };
  return [
    { ...base, phase: 'memory', tasks: 100_000, masterTasks: [100_000], cpu: { masters: [5], bench: 4 } },
    {
      ...base,
      phase: 'nats',
      tasks: 25_000,
      masterTasks: [25_100],
      cpu: { masters: [3], submitter: 1.5, natsServer: 1.25, bench: 1 },
      nats: { inMsgs: 100_000, outMsgs: 77_500, inBytes: 15_000_000, outBytes: 19_000_000 },
    },
    {
      ...base,
      phase: 'nats2',
      tasks: 20_000,
      masterTasks: [9_900, 10_100],
      cpu: { masters: [1.25, 1.5], submitter: 1.2, natsServer: 1, bench: 0.8 },
      nats: { inMsgs: 80_000, outMsgs: 70_000, inBytes: 12_000_000, outBytes: 16_000_000 },
    },
  ];
}

const resultOf = (figures: ReturnType<typeof assemble>): NatsResult => ({
  ...benchEnvelope('nats', { ...kDefaults }),
  ...figures,
});

describe('assemble', () => {
  test('tasks/s, the ratio to the memory phase, CPU per task of each process, NATS per task', () => {
    const figures = assemble({ ...kDefaults }, measures(), 'v2.9.10');
    assert.deepEqual(figures.problems, []);
    assert.deepEqual(figures.notes, []);
    assert.equal(figures.ok, true);
    const [memory, one, two] = figures.phases;
    assert.equal(memory?.tasksPerSec, 10_000);
    assert.equal(memory?.ratio, 1);
    assert.deepEqual(memory?.usPerTask.masters, [50]);
    assert.equal(memory?.usPerTask.all, 90);
    assert.ok(Number.isNaN(memory?.usPerTask.natsServer));
    assert.ok(Number.isNaN(memory?.natsMsgsPerTask));
    assert.equal(one?.ratio, 0.25);
    assert.deepEqual(one?.usPerTask, { masters: [120], submitter: 60, natsServer: 50, bench: 40, all: 270 });
    assert.equal(one?.natsMsgsPerTask, 7.1);
    assert.equal(one?.natsBytesPerTask, 1360);
    assert.deepEqual(one?.busy.masters, [0.3]);
    assert.equal(two?.ratio, 0.2);
    assert.deepEqual(two?.usPerTask.masters, [62.5, 75]);
  });

  test('without the memory phase the ratio is NaN; slaves missing, no task and failures are problems, warnings a note', () => {
    const [, one] = measures();
    one!.connected = 990;
    one!.firstError = 'ECONNREFUSED';
    one!.failed = 3;
    one!.masterWarnings = 2;
    one!.lastWarning = 'task failed { end: "slave_lost" }';
    const figures = assemble(
      { ...kDefaults },
      [one!, { ...one!, phase: 'nats2', tasks: 0, failed: 0, masterWarnings: 0, lastWarning: undefined }],
      'v2.9.10',
    );
    assert.ok(Number.isNaN(figures.phases[0]?.ratio));
    assert.equal(figures.ok, false);
    assert.deepEqual(figures.problems, [
      'nats, 1 master: 10 slaves not connected (first error: ECONNREFUSED)',
      'nats, 1 master: 3 tasks did not complete',
      'nats × 2 masters: 10 slaves not connected (first error: ECONNREFUSED)',
      'nats × 2 masters: no task completed in the window',
    ]);
    assert.deepEqual(figures.notes, [
      'nats, 1 master: the masters logged 2 warnings (the last: task failed { end: "slave_lost" })',
    ]);
    const text = formatMarkdown(resultOf(figures));
    assert.match(text, /\n- note: nats, 1 master: the masters logged 2 warnings/);
    assert.match(text, /\n- problem: nats, 1 master: 3 tasks did not complete/);
  });
});

describe('formatMarkdown and headlines', () => {
  test('one row per phase; two masters as their sum and each', () => {
    const text = formatMarkdown(resultOf(assemble({ ...kDefaults }, measures(), 'v2.9.10')));
    assert.match(
      text,
      /### NATS JetStream against the in-memory queue: 1,000 virtual slaves, in-flight 4,000/,
    );
    assert.match(text, /nats-server v2\.9\.10 \(R1, file storage\)/);
    assert.match(text, /\| memory, 1 master \| 10,000 \| 1\.000 \| 50 \| – \| – \| 40 \| 90 \| – \| – \|/);
    assert.match(
      text,
      /\| nats, 1 master \| 2,500 \| 0\.250 \| 120 \| 60 \| 50 \| 40 \| 270 \| 7\.1 \| 1,360 \|/,
    );
    assert.match(
      text,
      /\| nats × 2 masters \| 2,000 \| 0\.200 \| 138 \(63 \+ 75\) \| 60 \| 50 \| 40 \| 288 \| 7\.5 \| 1,400 \|/,
    );
    assert.match(
      text,
      /\| nats × 2 masters \| 28% \(13% \+ 15%\) \| 12% \| 10% \| 8% \| 57% \| 9,900 \/ 10,100 \| 0 \|/,
    );
    assert.match(text, /load average 1\.50 → 2\.00/);
    assert.doesNotMatch(text, /problem:/);
  });

  test('tasks/s and master CPU per phase; the ratio, nats-server CPU and messages for the nats phases', () => {
    const names = headlines(resultOf(assemble({ ...kDefaults }, measures(), 'v2.9.10'))).map((h) => [
      h.name,
      h.value,
      h.better,
    ]);
    assert.deepEqual(names, [
      ['tasks/s, memory, 1 master', 10_000, 'higher'],
      ['master µs CPU/task, memory, 1 master', 50, 'lower'],
      ['tasks/s, nats, 1 master', 2500, 'higher'],
      ['÷ memory, nats, 1 master', 0.25, 'higher'],
      ['master µs CPU/task, nats, 1 master', 120, 'lower'],
      ['nats-server µs CPU/task, nats, 1 master', 50, 'lower'],
      ['NATS msgs/task, nats, 1 master', 7.1, 'lower'],
      ['tasks/s, nats × 2 masters', 2000, 'higher'],
      ['÷ memory, nats × 2 masters', 0.2, 'higher'],
      ['master µs CPU/task, nats × 2 masters', 137.5, 'lower'],
      ['nats-server µs CPU/task, nats × 2 masters', 50, 'lower'],
      ['NATS msgs/task, nats × 2 masters', 7.5, 'lower'],
    ]);
  });
});
