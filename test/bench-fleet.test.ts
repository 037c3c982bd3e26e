// bench/fleet/'s pure parts: argument parsing, the first-beat spread, the profile window, the targets, the rows
// of each engine and path (submit ÷ per connection) and the report. Nothing here starts a process or times
// anything.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fleet } from '../bench/fleet/fleet.ts';
import {
  checkTargets,
  countersSince,
  countFalseEvictions,
  type FleetResult,
  formatMarkdown,
  headlines,
  statsSince,
} from '../bench/fleet/report.ts';
import {
  type LoadRow,
  loadRow,
  rowHeadlines,
  rowLabel,
  rowsTable,
  submitRatios,
  submitTargets,
} from '../bench/fleet/rows.ts';
import { type CpuProfile, profileThreadOf, trimCpuProfile } from '../bench/harness/profile.ts';
import { firstBeatPhase } from '../bench/harness/virtual-fleet.ts';

const { defaults: kDefaults, parseArgs } = fleet;

describe('parseArgs', () => {
  test("the defaults are the README's: 1,000 slaves, 2 + 20 s of load per connection, a beat a second, 5 s baselines", () => {
    const { slaves, warmup, duration, heartbeatSpan, baselineDuration, via } = parseArgs([]).options;
    assert.deepEqual(
      { slaves, warmup, duration, heartbeatSpan, baselineDuration, via },
      {
        slaves: 1000,
        warmup: 2,
        duration: 20,
        heartbeatSpan: 1,
        baselineDuration: 5,
        via: ['connection'],
      },
    );
  });

  test('--via lists the paths in the order they run, each once', () => {
    assert.deepEqual(parseArgs(['--via', 'submit']).options.via, ['submit']);
    assert.deepEqual(parseArgs(['--via=connection,submit']).options.via, ['connection', 'submit']);
    assert.deepEqual(parseArgs(['--via', 'submit,connection,submit']).options.via, ['submit', 'connection']);
    assert.throws(() => parseArgs(['--via', 'queue']), /--via must be connection or submit, got "queue"/);
    assert.throws(() => parseArgs(['--via', '']), /--via needs a comma-separated list/);
  });

  test('reads every flag, as `--flag value` and `--flag=value`', () => {
    const args = parseArgs([
      '--slaves=10000',
      '--duration',
      '30',
      '--warmup=1',
      '--heartbeat-span',
      '2',
      '--heartbeat-jitter=0.2',
      '--heartbeat-tolerance',
      '10',
      '--heartbeat-check-span=0.5',
      '--result-bytes',
      '1024',
      '--work-us=50',
      '--sleep-ms',
      '5',
      '--result-threads=0',
      '--task-client',
      'undici',
      '--connect-concurrency',
      '128',
      '--ports=8',
      '--sim-connections',
      '2000',
      '--baseline-duration=0',
      '--engine',
      'node,uws',
      '--via',
      'submit,connection',
      '--msgpack',
      '--profile',
      '--out',
      '/tmp/x',
      '--no-write',
    ]);
    assert.deepEqual(args.options, {
      slaves: 10000,
      duration: 30,
      warmup: 1,
      heartbeatSpan: 2,
      heartbeatJitter: 0.2,
      heartbeatTolerance: 10,
      heartbeatCheckSpan: 0.5,
      resultBytes: 1024,
      workUs: 50,
      sleepMs: 5,
      resultThreads: 0,
      taskClient: 'undici',
      connectConcurrency: 128,
      ports: 8,
      simConnections: 2000,
      baselineDuration: 0,
      engine: ['uws', 'node'],
      via: ['submit', 'connection'],
      msgpack: true,
      profile: true,
    });
    assert.equal(args.out, '/tmp/x');
    assert.equal(args.write, false);
  });

  test('bad values are refused with the flag named', () => {
    assert.throws(() => parseArgs(['--slaves', '0']), /--slaves must be a number in/);
    assert.throws(() => parseArgs(['--slaves', '1.5']), /--slaves must be an integer/);
    assert.throws(() => parseArgs(['--duration']), /--duration must be a number/);
    assert.throws(() => parseArgs(['--heartbeat-jitter', '0.9']), /--heartbeat-jitter/);
    assert.throws(() => parseArgs(['--heartbeat-check-span', '0.01']), /--heartbeat-check-span/);
    assert.throws(() => parseArgs(['--result-threads', '-1']), /--result-threads/);
    assert.throws(() => parseArgs(['--task-client', 'fast']), /--task-client must be lean or undici/);
    assert.throws(() => parseArgs(['--out']), /--out needs a directory/);
    assert.throws(() => parseArgs(['--fast']), /unknown argument "--fast"/);
  });

  test('a tolerance that every slave would miss is refused', () => {
    assert.throws(
      () => parseArgs(['--heartbeat-span', '5', '--heartbeat-tolerance', '5']),
      /--heartbeat-tolerance \(5 s\) must exceed --heartbeat-span/,
    );
  });

  test('does not mutate the defaults', () => {
    parseArgs(['--slaves', '7']);
    assert.equal(kDefaults.slaves, 1000);
  });
});

describe('firstBeatPhase', () => {
  test('spreads any prefix of the fleet evenly over the span', () => {
    for (const n of [10, 1000, 10_000]) {
      const bins = new Array(10).fill(0);
      for (let seq = 0; seq < n; seq++) {
        const phase = firstBeatPhase(seq);
        assert.ok(phase >= 0 && phase < 1);
        bins[Math.floor(phase * 10)]++;
      }
      for (const count of bins) assert.ok(Math.abs(count - n / 10) <= Math.max(1, n / 100), `${n}: ${bins}`);
    }
  });
});

describe('profiles', () => {
  const frame = (functionName: string) => ({ functionName, url: '', lineNumber: 0, columnNumber: 0 });
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame('(root)') },
      { id: 2, callFrame: frame('a') },
      { id: 3, callFrame: frame('b') },
    ],
    startTime: 1000,
    endTime: 1500,
    // sample timestamps: 1100, 1200, 1300, 1400, 1500
    samples: [2, 2, 3, 3, 2],
    timeDeltas: [100, 100, 100, 100, 100],
  };

  test('trimCpuProfile keeps the samples inside the window, with their spacing', () => {
    const trimmed = trimCpuProfile(profile, 1150, 1400);
    assert.deepEqual(trimmed.samples, [2, 3, 3]);
    assert.deepEqual(trimmed.timeDeltas, [0, 100, 100]);
    assert.equal(trimmed.startTime, 1150);
    assert.equal(trimmed.endTime, 1400);
    assert.deepEqual(
      trimmed.nodes.map((n) => n.hitCount),
      [0, 1, 2],
    );
  });

  test('a window outside the profile keeps nothing', () => {
    assert.deepEqual(trimCpuProfile(profile, 0, 999).samples, []);
  });

  test('profileThreadOf reads the thread from a --cpu-prof file name', () => {
    assert.equal(profileThreadOf('/x/CPU.20261128.150953.20656.0.001.cpuprofile'), 0);
    assert.equal(profileThreadOf('CPU.20261128.150954.20656.3.004.cpuprofile'), 3);
    assert.ok(Number.isNaN(profileThreadOf('master.cpuprofile')));
  });
});

describe('targets', () => {
  test('an eviction and its refused heartbeat count once', () => {
    assert.equal(countFalseEvictions(0, 0), 0);
    assert.equal(countFalseEvictions(3, 3), 3);
    assert.equal(countFalseEvictions(0, 2), 2);
  });

  test('each target is met or not, with a note when the run is not its shape', () => {
    const [tasks, evictions, idle, loaded] = checkTargets(
      { slaves: 1000, heartbeatSpan: 1 },
      16_000,
      5,
      25,
      0,
    );
    assert.equal(tasks?.met, true);
    assert.equal(tasks?.note, '');
    assert.equal(evictions?.met, true);
    assert.equal(idle?.met, true);
    assert.equal(loaded?.met, false);
    assert.match(idle?.note ?? '', /10,000 slaves/);
    const at10k = checkTargets({ slaves: 10_000, heartbeatSpan: 1 }, 100, 5, 5, 1);
    assert.equal(at10k[0]?.met, false);
    assert.match(at10k[0]?.note ?? '', /this run: 10,000 slaves/);
    assert.equal(at10k[1]?.met, false);
    assert.equal(at10k[2]?.note, '');
  });

  test('a target the run did not measure is left out, not reported as missed', () => {
    const checks = checkTargets({ slaves: 1000, heartbeatSpan: 1 }, 16_000, Number.NaN, 5, 0);
    assert.deepEqual(
      checks.map((c) => c.name),
      ['tasks/s ≥ 15,000 with 1,000 slaves', 'false evictions = 0', 'heartbeat p99 < 20 ms, under task load'],
    );
  });
});

function fakeResult(): FleetResult {
  const phase = (kind: 'null' | 'idle' | 'loaded', p99Ms: number) => ({
    kind,
    seconds: 5,
    beats: 5000,
    beatsPerSec: 1000,
    p50Ms: 0.3,
    p99Ms,
    maxMs: 9,
    refused: 0,
    errors: 0,
    serverCpu: 0.03,
    serverCpuUsPerBeat: kind === 'loaded' ? Number.NaN : 30,
    serverLoopDelayP99Ms: kind === 'null' ? Number.NaN : 11,
    serverLoopDelayMaxMs: kind === 'null' ? Number.NaN : 40,
    simCpu: 0.2,
  });
  return {
    bench: 'fleet',
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    environment: { node: 'v20', platform: 'linux', cpus: 2, cpuModel: 'cpu', loadAverage: [0.5, 1] },
    options: { ...kDefaults },
    master: { resultThreads: 2 },
    connect: {
      slaves: 1000,
      connected: 1000,
      failed: 0,
      seconds: 1,
      perSec: 1000,
      firstError: undefined,
      rssBeforeMiB: 100,
      rssAfterMiB: 130,
      rssPerSlaveKiB: 30.7,
      heapPerSlaveKiB: 25,
    },
    load: {
      seconds: 20,
      tasks: 80_000,
      tasksPerSec: 4000,
      failed: 0,
      startFailed: 0,
      unfinished: 0,
      loopsLost: 0,
      p50Ms: 250,
      p99Ms: 430,
      maxMs: 460,
      meanMs: 250,
      masterCpu: 0.9,
      masterElu: 0.99,
      masterLoopDelayP99Ms: 30,
      masterLoopDelayMaxMs: 80,
      masterRssMiB: 300,
      simCpu: 0.35,
      simElu: 0.4,
      simLoopDelayP99Ms: 12,
      reportP50Ms: 100,
      reportP99Ms: 400,
      resultsPushedBack: 0,
      resultsRefused: 0,
      resultErrors: 0,
      tasksRefused: 0,
      windowUs: [1, 2],
    },
    heartbeats: [phase('null', 2), phase('idle', 3), phase('loaded', 40)],
    ratios: { p50: 1, p99: 1.5, cpuPerBeat: 1.2 },
    evictions: { master: 0, heartbeatsRefused: 0, falseEvictions: 0 },
    masterStats: { evictions: 0 },
    targets: checkTargets({ slaves: 1000, heartbeatSpan: 1 }, 4000, 3, 40, 0),
    ok: true,
    problems: [],
    profile: undefined,
    loads: [],
  };
}

describe('formatMarkdown', () => {
  test('shows throughput, the three heartbeat rows with ratios against the null master, and the targets', () => {
    const text = formatMarkdown(fakeResult());
    assert.match(text, /### Fleet: 1,000 virtual slaves/);
    assert.match(text, /\| 4,000 \| 250\.00 \| 430\.00 \|/);
    assert.match(text, /\| null master \(raw server of the engine, heartbeats only\) \| 1,000 \|/);
    // idle p99 3 ms ÷ null 2 ms
    assert.match(text, /\| master, heartbeats only \|.*\| 1\.50 \| 1\.00 \|/);
    assert.match(text, /target tasks\/s ≥ 15,000 with 1,000 slaves: \*\*4,000\*\* \(NOT met\)/);
    assert.match(text, /target false evictions = 0: \*\*0\*\* \(met\)/);
    assert.doesNotMatch(text, /problem:/);
    assert.doesNotMatch(text, /By engine/, 'one engine: no engine table');
  });

  test('with two engines, a row per engine and tasks/s of each ÷ the first', () => {
    const result = fakeResult();
    result.loads = [row('uws', 'connection', 16_000), row('node', 'connection', 8_000)];
    const text = formatMarkdown(result);
    assert.match(text, /By engine \(/);
    assert.match(text, /\| uws \| 16,000 \|.*\| 1\.00 \|/);
    assert.match(text, /\| node \| 8,000 \|.*\| 0\.50 \|/);
    assert.doesNotMatch(text, /submit tasks\/s ÷/);
  });

  test('with both paths, a row per path, submit ÷ per connection, and the target', () => {
    const result = fakeResult();
    result.loads = [row('uws', 'connection', 16_000), row('uws', 'submit', 14_800)];
    result.targets.push(...submitTargets(result.loads, 1000));
    const text = formatMarkdown(result);
    assert.match(text, /By path \(/);
    assert.match(text, /\| per connection: newTask\(\)\.start\(\) → join\(\) \| 16,000 \|.*\| 1\.00 \|/);
    assert.match(text, /\| submit: master\.submit\(\) → join\(\) \| 14,800 \|.*\| 0\.93 \|/);
    assert.match(
      text,
      /target submit tasks\/s ÷ per-connection tasks\/s ≥ 0\.9 with 1,000 slaves: \*\*0\.93\*\* \(met\)/,
    );
  });
});

const row = (engine: LoadRow['engine'], via: LoadRow['via'], tasksPerSec: number): LoadRow => ({
  engine,
  via,
  tasksPerSec,
  p50Ms: 1,
  p99Ms: 2,
  loadedBeatP99Ms: 3,
  masterCpu: 1,
  failed: 0,
  falseEvictions: 0,
});

describe('rows', () => {
  test("a row holds one load's figures: failed counts failed starts too", () => {
    const figures = fakeResult();
    figures.load.failed = 2;
    figures.load.startFailed = 1;
    assert.deepEqual(loadRow('node', 'submit', figures), {
      engine: 'node',
      via: 'submit',
      tasksPerSec: 4000,
      p50Ms: 250,
      p99Ms: 430,
      loadedBeatP99Ms: 40,
      masterCpu: 0.9,
      failed: 3,
      falseEvictions: 0,
    });
  });

  test('submit ÷ per connection, per engine that ran both paths', () => {
    const rows = [
      row('uws', 'connection', 10_000),
      row('uws', 'submit', 9_500),
      row('node', 'submit', 4_000),
      row('node', 'connection', 5_000),
    ];
    assert.deepEqual(submitRatios(rows), [
      { engine: 'uws', ratio: 0.95 },
      { engine: 'node', ratio: 0.8 },
    ]);
    assert.deepEqual(submitRatios([row('uws', 'submit', 1)]), []);
    const [uws, node] = submitTargets(rows, 200);
    assert.equal(uws?.name, 'submit tasks/s ÷ per-connection tasks/s ≥ 0.9 with 1,000 slaves');
    assert.equal(uws?.met, true);
    assert.equal(uws?.note, 'this run: 200 slaves');
    assert.equal(node?.name, 'submit tasks/s ÷ per-connection tasks/s ≥ 0.9 with 1,000 slaves, node engine');
    assert.equal(node?.met, false);
    assert.equal(submitTargets(rows, 1000)[0]?.note, '');
  });

  test('a row is named by what differs from the first', () => {
    const first = { engine: 'uws' as const, via: 'connection' as const };
    assert.equal(rowLabel({ engine: 'node', via: 'connection' }, first), 'node engine');
    assert.equal(rowLabel({ engine: 'uws', via: 'submit' }, first), 'via submit');
    assert.equal(rowLabel({ engine: 'node', via: 'submit' }, first), 'node engine, via submit');
  });

  test('the table: none for one load; engine and path columns only when they differ', () => {
    assert.deepEqual(rowsTable([row('uws', 'connection', 1)]), []);
    const both = rowsTable([
      row('uws', 'connection', 10_000),
      row('uws', 'submit', 9_000),
      row('node', 'connection', 5_000),
      row('node', 'submit', 5_500),
    ]).join('\n');
    assert.match(both, /By engine and path/);
    assert.match(both, /\| engine \| path \| tasks\/s \|.*\| tasks\/s ÷ uws \| tasks\/s ÷ per connection \|/);
    // node submit: ÷ uws submit, ÷ node per connection
    assert.match(both, /\| node \| submit: master\.submit\(\) → join\(\) \| 5,500 \|.*\| 0\.61 \| 1\.10 \|/);
  });

  test('headlines: tasks/s of every row but the first, and the ratio per engine', () => {
    const named = rowHeadlines([
      row('uws', 'connection', 10_000),
      row('uws', 'submit', 9_000),
      row('node', 'connection', 5_000),
      row('node', 'submit', 5_500),
    ]).map((h) => [h.name, h.value, h.better]);
    assert.deepEqual(named, [
      ['tasks/s, via submit', 9_000, 'higher'],
      ['tasks/s, node engine', 5_000, 'higher'],
      ['tasks/s, node engine, via submit', 5_500, 'higher'],
      ['submit ÷ per-connection tasks/s', 0.9, 'higher'],
      ['submit ÷ per-connection tasks/s, node engine', 1.1, 'higher'],
    ]);
    const result = fakeResult();
    result.loads = [row('uws', 'connection', 4000), row('uws', 'submit', 3600)];
    assert.equal(headlines(result).find((h) => h.name === 'submit ÷ per-connection tasks/s')?.value, 0.9);
  });

  test("a later load's evictions and simulator counts are its own", () => {
    assert.deepEqual(statsSince({ evictions: 5, slaves: 10 }, { evictions: 2, slaves: 10 }), {
      evictions: 3,
      slaves: 10,
    });
    const counters = (beats: number, refused: number, problems: string[]) => ({
      tasksRefused: 1,
      resultsSent: beats * 2,
      resultsPushedBack: 0,
      resultsRefused: 0,
      resultErrors: 0,
      beats,
      beatsRefused: refused,
      firstProblems: problems,
    });
    assert.deepEqual(countersSince(counters(100, 3, ['a: 1', 'b: 2']), counters(40, 1, ['a: 1'])), {
      ...counters(60, 2, ['b: 2']),
      tasksRefused: 0,
    });
  });
});
