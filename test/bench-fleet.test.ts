// bench/fleet/'s pure parts: argument parsing, the first-beat spread, the profile window, the targets, the rows
// of each engine, path and dashboard page count (submit ÷ per connection, pages ÷ 0 pages), the dashboard pages'
// stream counter and the report. Nothing here starts a process or times anything.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SseTally } from '../bench/fleet/dashboard-pages.ts';
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
  pageFigures,
  pageRatios,
  pageTargets,
  rowHeadlines,
  rowKeys,
  rowLabel,
  rowsTable,
  submitRatios,
  submitTargets,
} from '../bench/fleet/rows.ts';
import { type CpuProfile, profileThreadOf, trimCpuProfile } from '../bench/harness/profile.ts';
import { firstBeatPhase } from '../bench/harness/virtual-fleet.ts';
import { benchEnvelope } from './helpers/bench-result.ts';

const { defaults: kDefaults, parseArgs } = fleet;

describe('parseArgs', () => {
  test("the defaults are the README's: 1,000 slaves, 2 + 20 s of load per connection, a beat a second, 5 s baselines", () => {
    const { slaves, warmup, duration, heartbeatSpan, baselineDuration, via, dashboardClients } = parseArgs(
      [],
    ).options;
    assert.deepEqual(
      { slaves, warmup, duration, heartbeatSpan, baselineDuration, via, dashboardClients },
      {
        slaves: 1000,
        warmup: 2,
        duration: 20,
        heartbeatSpan: 1,
        baselineDuration: 5,
        via: ['connection'],
        dashboardClients: [],
      },
    );
  });

  test('--dashboard-clients lists page counts in the order they run, each once, 0 to 32', () => {
    assert.deepEqual(parseArgs(['--dashboard-clients', '0,1,5']).options.dashboardClients, [0, 1, 5]);
    assert.deepEqual(parseArgs(['--dashboard-clients=5,0,5']).options.dashboardClients, [5, 0]);
    assert.deepEqual(parseArgs(['--dashboard-clients', '32']).options.dashboardClients, [32]);
    assert.equal(parseArgs([]).options.rounds, 1);
    assert.equal(parseArgs(['--rounds', '3']).options.rounds, 3);
    assert.throws(() => parseArgs(['--rounds', '0']), /--rounds/);
    assert.throws(
      () => parseArgs(['--dashboard-clients', '0,33']),
      /--dashboard-clients must be a number in \[0, 32\], got "33"/,
    );
    assert.throws(() => parseArgs(['--dashboard-clients', '1.5']), /--dashboard-clients must be an integer/);
    assert.throws(() => parseArgs(['--dashboard-clients', '-1']), /--dashboard-clients must be a number in/);
    assert.throws(() => parseArgs(['--dashboard-clients', 'one']), /--dashboard-clients must be a number in/);
    assert.throws(
      () => parseArgs(['--dashboard-clients']),
      /--dashboard-clients needs a comma-separated list/,
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
      '--dashboard-clients=0,1',
      '--rounds=3',
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
      dashboardClients: [0, 1],
      rounds: 3,
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
    ...benchEnvelope('fleet', { ...kDefaults }, { loadAverage: [0.5, 1] }),
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

const row = (
  engine: LoadRow['engine'],
  via: LoadRow['via'],
  tasksPerSec: number,
  pages: number | null = null,
): LoadRow => ({
  engine,
  via,
  pages,
  tasksPerSec,
  p50Ms: 1,
  p99Ms: 2,
  loadedBeatP99Ms: 3,
  masterCpu: 1,
  masterLoopDelayP99Ms: 4,
  failed: 0,
  falseEvictions: 0,
  page: null,
});

describe('rows', () => {
  test("a row holds one load's figures: failed counts failed starts too", () => {
    const figures = fakeResult();
    figures.load.failed = 2;
    figures.load.startFailed = 1;
    assert.deepEqual(loadRow({ engine: 'node', via: 'submit', pages: null }, figures), {
      engine: 'node',
      via: 'submit',
      pages: null,
      tasksPerSec: 4000,
      p50Ms: 250,
      p99Ms: 430,
      loadedBeatP99Ms: 40,
      masterCpu: 0.9,
      masterLoopDelayP99Ms: 30,
      failed: 3,
      falseEvictions: 0,
      page: null,
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
    const first = { engine: 'uws' as const, via: 'connection' as const, pages: null };
    assert.equal(rowLabel({ engine: 'node', via: 'connection', pages: null }, first), 'node engine');
    assert.equal(rowLabel({ engine: 'uws', via: 'submit', pages: null }, first), 'via submit');
    assert.equal(rowLabel({ engine: 'node', via: 'submit', pages: null }, first), 'node engine, via submit');
    const zero = { ...first, pages: 0 };
    assert.equal(rowLabel({ engine: 'uws', via: 'connection', pages: 1 }, zero), '1 page');
    assert.equal(rowLabel({ engine: 'node', via: 'connection', pages: 5 }, zero), '5 pages, node engine');
    assert.equal(rowLabel({ engine: 'node', via: 'connection', pages: 0 }, zero), 'node engine');
    assert.equal(rowLabel(zero, zero, true), '0 pages', 'the page count named even when the same');
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

describe('dashboard pages', () => {
  const bytes = (text: string) => Buffer.from(text, 'latin1');
  const stream =
    'retry: 3000\n\n' +
    'event: snapshot\ndata: {"slots":[]}\n\n' +
    ':\nevent: update\ndata: {"a":1}\n\n' +
    'event: update\ndata: {"b":22}\ndata: more\n\n' +
    'data: unnamed\n\n';

  test('SseTally counts every byte and each event by name with its size, as EventSource splits them', () => {
    const seen: [string, number][] = [];
    const tally = new SseTally((name, size) => seen.push([name, size]));
    tally.push(bytes(stream));
    assert.equal(tally.bytes, stream.length);
    // a block without data (retry: alone) dispatches nothing; a comment line counts towards its block
    assert.deepEqual(seen, [
      ['snapshot', 36],
      ['update', 31],
      ['update', 41],
      ['message', 15],
    ]);
    assert.deepEqual(tally.events.get('update'), { count: 2, bytes: 72 });
    assert.equal(tally.first.get('snapshot'), 36);
    assert.equal(tally.count('update'), 2);
    assert.equal(tally.count('nothing'), 0);
  });

  test('SseTally: the same counts however the stream is cut into chunks', () => {
    const whole = new SseTally();
    whole.push(bytes(stream));
    for (const size of [1, 2, 3, 7, 13]) {
      const cut = new SseTally();
      for (let i = 0; i < stream.length; i += size) cut.push(bytes(stream.slice(i, i + size)));
      assert.deepEqual([...cut.events], [...whole.events], `chunks of ${size}`);
      assert.equal(cut.bytes, whole.bytes);
    }
  });

  test('SseTally: a long data line cut into chunks is one event of its whole size', () => {
    const tally = new SseTally();
    const big = `event: update\ndata: ${'x'.repeat(100_000)}\n\n`;
    for (let i = 0; i < big.length; i += 4096) tally.push(bytes(big.slice(i, i + 4096)));
    assert.deepEqual(tally.events.get('update'), { count: 1, bytes: big.length });
  });

  test('per page: bytes/s, the mean update and updates/s over the window; none without pages', () => {
    const window = {
      seconds: 10,
      pages: 5,
      bytes: 5 * 10 * 14_000,
      updates: 50,
      updateBytes: 50 * 13_500,
      snapshotBytes: 700_000,
      dropped: 0,
    };
    assert.deepEqual(pageFigures(window), {
      bytesPerSec: 14_000,
      updateBytes: 13_500,
      updatesPerSec: 1,
      snapshotBytes: 700_000,
      dropped: 0,
    });
    assert.equal(pageFigures(undefined), null);
    assert.equal(pageFigures({ ...window, pages: 0 }), null);
    assert.ok(Number.isNaN(pageFigures({ ...window, updates: 0 })?.updateBytes));
    const figures = fakeResult();
    const loaded = loadRow({ engine: 'uws', via: 'connection', pages: 5 }, figures, window);
    assert.equal(loaded.pages, 5);
    assert.equal(loaded.page?.bytesPerSec, 14_000);
  });

  test('rows run per engine, per path, per page count in the order given; none given: one row without pages', () => {
    assert.deepEqual(rowKeys(['uws'], ['connection'], []), [
      { engine: 'uws', via: 'connection', pages: null, round: 1 },
    ]);
    // rounds: every other one reversed, so no count always runs last in its round
    assert.deepEqual(
      rowKeys(['uws'], ['connection'], [0, 1, 5], 3).map((k) => `${k.round}:${k.pages}`),
      ['1:0', '1:1', '1:5', '2:5', '2:1', '2:0', '3:0', '3:1', '3:5'],
    );
    assert.deepEqual(
      rowKeys(['uws', 'node'], ['submit'], [5, 0]).map((k) => `${k.engine} ${k.via} ${k.pages}`),
      ['uws submit 5', 'uws submit 0', 'node submit 5', 'node submit 0'],
    );
  });

  const paged = (pages: number, tasksPerSec: number, beatP99Ms: number, kBPerSec?: number): LoadRow => ({
    ...row('uws', 'connection', tasksPerSec, pages),
    loadedBeatP99Ms: beatP99Ms,
    page:
      kBPerSec === undefined
        ? null
        : {
            bytesPerSec: kBPerSec * 1000,
            updateBytes: 13_600,
            updatesPerSec: 1,
            snapshotBytes: 722_000,
            dropped: 0,
          },
  });
  const kPagedRows = [paged(0, 10_000, 20), paged(1, 9_600, 20.5, 14), paged(5, 9_000, 25, 60)];

  test('each page row ÷ the 0-page row of the same engine and path; none without a 0-page row', () => {
    const ratios = pageRatios(kPagedRows).map((r) => [r.row.pages, r.tasks, r.beat]);
    assert.deepEqual(ratios, [
      [1, 0.96, 20 / 20.5],
      [5, 0.9, 0.8],
    ]);
    assert.deepEqual(pageRatios(kPagedRows.slice(1)), []);
    // another path's 0-page row is no baseline
    assert.deepEqual(pageRatios([{ ...kPagedRows[0]!, via: 'submit' }, kPagedRows[1]!]), []);
  });

  test("issue 15's targets per page row: tasks/s and heartbeat p99 within 5% of 0 pages, under 50 kB/s a page", () => {
    const checks = pageTargets(kPagedRows, 10_000).map((c) => [c.name, c.value, c.met, c.note]);
    assert.deepEqual(checks, [
      ['1 page: tasks/s ÷ 0 pages ≥ 0.95 with 10,000 slaves', 0.96, true, ''],
      ['1 page: heartbeat p99 under load, 0 pages ÷ this ≥ 0.95 with 10,000 slaves', 20 / 20.5, true, ''],
      ['1 page: kB/s per page < 50 with 10,000 slaves', 14, true, ''],
      ['5 pages: tasks/s ÷ 0 pages ≥ 0.95 with 10,000 slaves', 0.9, false, ''],
      ['5 pages: heartbeat p99 under load, 0 pages ÷ this ≥ 0.95 with 10,000 slaves', 0.8, false, ''],
      ['5 pages: kB/s per page < 50 with 10,000 slaves', 60, false, ''],
    ]);
    assert.equal(pageTargets(kPagedRows, 200)[0]?.note, 'this run: 200 slaves');
    // a heartbeat p99 the run did not measure is no verdict
    const unmeasured = pageTargets([paged(0, 10_000, Number.NaN), paged(1, 9_000, 20, 14)], 10_000);
    assert.deepEqual(
      unmeasured.map((c) => c.name),
      [
        '1 page: tasks/s ÷ 0 pages ≥ 0.95 with 10,000 slaves',
        '1 page: kB/s per page < 50 with 10,000 slaves',
      ],
    );
    assert.deepEqual(pageTargets([row('uws', 'connection', 1), row('uws', 'submit', 1)], 10_000), []);
  });

  test("repeated page counts are rounds: each row ÷ its own round's 0-page row, the targets on the medians", () => {
    const inRound = (round: number, r: LoadRow): LoadRow => ({ ...r, round });
    // the second round runs in reverse: its page row is read against the 0-page row after it, its own round's
    const rounds = [
      inRound(1, paged(0, 10_000, 20)),
      inRound(1, paged(1, 9_000, 21, 14)),
      inRound(2, paged(1, 8_100, 20, 15)),
      inRound(2, paged(0, 8_000, 20)),
      inRound(3, paged(0, 12_000, 30)),
      inRound(3, paged(1, 12_600, 28, 13)),
    ];
    assert.deepEqual(
      pageRatios(rounds).map((r) => [r.tasks, r.beat]),
      [
        [0.9, 20 / 21],
        [8_100 / 8_000, 1],
        [1.05, 30 / 28],
      ],
    );
    // rows without a round (written before --rounds): the 0-page row before, else the one after
    assert.deepEqual(
      pageRatios([
        paged(0, 10_000, 20),
        paged(1, 9_000, 20, 14),
        paged(0, 8_000, 20),
        paged(1, 8_800, 20, 14),
      ]).map((r) => r.tasks),
      [0.9, 1.1],
    );
    assert.deepEqual(
      pageRatios([paged(1, 9_000, 20, 14), paged(0, 10_000, 20)]).map((r) => r.tasks),
      [0.9],
    );
    const checks = pageTargets(rounds, 10_000).map((c) => [c.name, c.value, c.met]);
    assert.deepEqual(checks, [
      ['1 page (median of 3 rounds): tasks/s ÷ 0 pages ≥ 0.95 with 10,000 slaves', 8_100 / 8_000, true],
      [
        '1 page (median of 3 rounds): heartbeat p99 under load, 0 pages ÷ this ≥ 0.95 with 10,000 slaves',
        1,
        true,
      ],
      ['1 page (median of 3 rounds): kB/s per page < 50 with 10,000 slaves', 14, true],
    ]);
    const text = rowsTable(rounds).join('\n');
    assert.match(text, /\| dashboard pages \| round \| tasks\/s \|/);
    assert.match(text, /\| 1 \| 3 \| 12,600 \|/);
    assert.match(text, /\| 1 \| 2 \| 8,100 \|.*\| 1\.012 \|/);
    // one headline per count, not per round
    const names = rowHeadlines(rounds).map((h) => h.name);
    assert.equal(new Set(names).size, names.length, names.join('; '));
    assert.ok(names.includes('tasks/s ÷ 0 pages, 1 page (median of 3 rounds)'), names.join('; '));
  });

  test('the table: a row per page count with its ratios and what a page receives, even for one count', () => {
    const text = rowsTable(kPagedRows).join('\n');
    assert.match(text, /By dashboard pages \(/);
    assert.match(
      text,
      /\| dashboard pages \| tasks\/s \|.*\| tasks\/s ÷ 0 pages \| heartbeat p99: 0 pages ÷ this \| per page kB\/s \| per page: update kB × updates\/s \| snapshot kB \|/,
    );
    assert.match(text, /\| 0 \| 10,000 \|.*\| 1\.000 \| 1\.000 \| – \| – \| – \|/);
    assert.match(text, /\| 1 \| 9,600 \|.*\| 0\.960 \| 0\.976 \| 14\.0 \| 13\.6 × 1\.00 \| 722\.0 \|/);
    assert.match(text, /\| 5 \| 9,000 \|.*\| 0\.900 \| 0\.800 \| 60\.0 \|/);
    assert.doesNotMatch(text, /\| engine \||\| path \|/, 'one engine, one path: no such columns');
    // one count alone still shows what its pages received
    assert.match(rowsTable([paged(5, 9_000, 25, 14)]).join('\n'), /\| 5 \| 9,000 \|.*\| – \| – \| 14\.0 \|/);
    const both = rowsTable([...kPagedRows.slice(0, 2), { ...kPagedRows[1]!, via: 'submit' }]).join('\n');
    assert.match(both, /By path and dashboard pages/);
  });

  test('headlines: each page row ÷ 0 pages, and kB/s per page', () => {
    const named = rowHeadlines(kPagedRows).map((h) => [h.name, h.value, h.better]);
    assert.deepEqual(named, [
      ['tasks/s, 1 page', 9_600, 'higher'],
      ['tasks/s, 5 pages', 9_000, 'higher'],
      ['tasks/s ÷ 0 pages, 1 page', 0.96, 'higher'],
      ['heartbeat p99, 0 pages ÷ 1 page', 20 / 20.5, 'higher'],
      ['kB/s per dashboard page, 1 page', 14, 'lower'],
      ['tasks/s ÷ 0 pages, 5 pages', 0.9, 'higher'],
      ['heartbeat p99, 0 pages ÷ 5 pages', 0.8, 'higher'],
      ['kB/s per dashboard page, 5 pages', 60, 'lower'],
    ]);
  });

  test('the report names the page counts in its header, shows their rows and their target lines', () => {
    const result = fakeResult();
    result.options = { ...result.options, slaves: 10_000, dashboardClients: [0, 1, 5] };
    result.loads = kPagedRows;
    result.targets.push(...pageTargets(result.loads, 10_000));
    const text = formatMarkdown(result);
    assert.match(text, /tasks via connection; dashboard: 0 pages, 1 page, 5 pages\)/);
    assert.match(text, /By dashboard pages/);
    assert.match(text, /target 1 page: tasks\/s ÷ 0 pages ≥ 0\.95 with 10,000 slaves: \*\*0\.96\*\* \(met\)/);
    assert.match(text, /target 5 pages: kB\/s per page < 50 with 10,000 slaves: \*\*60\*\* \(NOT met\)/);
    assert.equal(headlines(result).find((h) => h.name === 'tasks/s ÷ 0 pages, 5 pages')?.value, 0.9);
  });

  test('results written before --dashboard-clients read as they did', () => {
    const result = fakeResult();
    const { dashboardClients: _, ...options } = result.options;
    result.options = options as typeof result.options;
    const old = (r: LoadRow) => {
      const { pages: _p, page: _g, masterLoopDelayP99Ms: _l, ...rest } = r;
      return rest as LoadRow;
    };
    result.loads = [old(row('uws', 'connection', 4000)), old(row('uws', 'submit', 3600))];
    const text = formatMarkdown(result);
    assert.match(text, /tasks via connection\)/);
    assert.match(text, /By path \(/);
    assert.doesNotMatch(text, /dashboard/);
    assert.deepEqual(
      headlines(result)
        .filter((h) => /pages?\b/.test(h.name))
        .map((h) => h.name),
      [],
    );
  });
});
