// bench/result-pool/'s pure parts: argument parsing, the result bodies it sends, the verdict against issue 3's
// target. Nothing here starts a process or times anything.
import assert from 'node:assert/strict';
import { createHistogram } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { summariseHistogram } from '../bench/harness/report.ts';
import { retryDelayMs } from '../bench/harness/virtual-fleet.ts';
import { burn } from '../bench/result-pool/handlers/burn.ts';
import { buildResultPayload, formatSize, parseSize } from '../bench/result-pool/payloads.ts';
import {
  findProblems,
  type HeartbeatPhase,
  type HeartbeatRun,
  judge,
  type Mode,
  modesOf,
  type Phase,
  plannedSeconds,
} from '../bench/result-pool/report.ts';
import { resultPool } from '../bench/result-pool/result-pool.ts';
import { decodeBody } from '../src/protocol/codec.ts';

const kTaskId = '3b241101-e2bb-4255-8caf-4136c566a962';
const { defaults: kDefaults, parseArgs } = resultPool;

describe('parseArgs', () => {
  test("the defaults are the README's: 1,000 slaves, 5 s windows, a pool of 1 thread, 1k/64k/1m", () => {
    const { slaves, duration, threads, sizes, senders } = parseArgs([]).options;
    assert.deepEqual(
      { slaves, duration, threads, sizes, senders },
      {
        slaves: 1000,
        duration: 5,
        threads: [1],
        sizes: [1024, 65536, 1048576],
        senders: 32,
      },
    );
  });

  test('reads every flag, as `--flag value` and `--flag=value`', () => {
    const args = parseArgs([
      '--duration',
      '2',
      '--warmup=0.5',
      '--slaves',
      '200',
      '--heartbeat-span=0.5',
      '--tolerance',
      '4',
      '--late-ms',
      '50',
      '--senders=64',
      '--threads',
      '1,2,2',
      '--handler-ms',
      '5',
      '--thread-nice=10',
      '--pin',
      '--sizes',
      '1k,64K,1m',
      '--formats=msgpack',
      '--load-size',
      '64k',
      '--load-format=msgpack',
      '--parts',
      'throughput',
      '--profile',
      '--cpu-prof',
      '--out',
      '/tmp/x',
      '--no-write',
    ]);
    const o = args.options;
    assert.equal(o.duration, 2);
    assert.equal(o.warmup, 0.5);
    assert.equal(o.slaves, 200);
    assert.equal(o.heartbeatSpan, 0.5);
    assert.equal(o.tolerance, 4);
    assert.equal(o.lateMs, 50);
    assert.equal(o.senders, 64);
    assert.deepEqual(o.threads, [1, 2]);
    assert.equal(o.handlerMs, 5);
    assert.equal(o.threadNice, 10);
    assert.equal(o.pin, true);
    assert.deepEqual(o.sizes, [1024, 65536, 1048576]);
    assert.deepEqual(o.formats, ['msgpack']);
    assert.equal(o.loadSize, 65536);
    assert.equal(o.loadFormat, 'msgpack');
    assert.deepEqual(o.parts, ['throughput']);
    assert.equal(o.profile, true);
    assert.equal(o.cpuProf, true);
    assert.equal(args.out, '/tmp/x');
    assert.equal(args.write, false);
  });

  test('--formats and --parts keep their canonical order', () => {
    const args = parseArgs(['--formats', 'msgpack,json', '--parts', 'throughput,heartbeat']);
    assert.deepEqual(args.options.formats, ['json', 'msgpack']);
    assert.deepEqual(args.options.parts, ['heartbeat', 'throughput']);
  });

  test('--help', () => {
    assert.equal(parseArgs(['-h']).help, true);
    assert.equal(parseArgs(['--help']).help, true);
  });

  for (const [argv, pattern] of [
    [['--duration', '0'], /--duration must be a number in/],
    [['--duration'], /--duration must be a number in/],
    [['--slaves', '1.5'], /--slaves must be an integer/],
    [['--threads', '0'], /--threads must be a number in \[1, 64\]/],
    [['--threads', ''], /--threads needs a comma-separated list/],
    [['--sizes', '12q'], /--sizes: not a size/],
    [['--sizes', '64'], /--sizes: sizes must be in/],
    [['--formats', 'xml'], /--formats must list json, msgpack/],
    [['--load-format', 'xml'], /--load-format must be json or msgpack/],
    [['--parts', 'all'], /--parts must list heartbeat, throughput/],
    [['--thread-nice', '20'], /--thread-nice must be a number in \[0, 19\]/],
    [['--heartbeat-span', '5', '--tolerance', '5'], /must be below --tolerance/],
    [['--out'], /--out needs a directory/],
    [['--frobnicate'], /unknown argument "--frobnicate"/],
  ] as const) {
    test(`rejects ${argv.join(' ')}`, () => {
      assert.throws(() => parseArgs(argv), pattern);
    });
  }
});

describe('modes and plan', () => {
  test('each pool size, then the inline baseline', () => {
    assert.deepEqual(modesOf([1, 2]), [
      { name: 'pool-1', threads: 1 },
      { name: 'pool-2', threads: 2 },
      { name: 'inline', threads: 0 },
    ]);
  });

  test('planned load: both parts, every mode', () => {
    const o = {
      ...kDefaults,
      duration: 2,
      warmup: 1,
      threads: [1],
      sizes: [1024],
      formats: ['json'] as const,
    };
    // heartbeat: 2 modes × (2 warm-ups + 2 phases) = 12; throughput: 2 modes × 1 cell × 3 = 6
    assert.equal(plannedSeconds(o), 18);
    assert.equal(plannedSeconds({ ...o, parts: ['throughput'] }), 6);
  });
});

describe('sizes', () => {
  test('parseSize and formatSize', () => {
    assert.equal(parseSize('1k'), 1024);
    assert.equal(parseSize('64K'), 65536);
    assert.equal(parseSize('1m'), 1048576);
    assert.equal(parseSize('1mb'), 1048576);
    assert.equal(parseSize('1500'), 1500);
    assert.throws(() => parseSize('1g'), /not a size/);
    assert.equal(formatSize(1024), '1 KB');
    assert.equal(formatSize(1048576), '1 MB');
    assert.equal(formatSize(1500), '1500 B');
  });
});

describe('result payloads', () => {
  for (const size of [1024, 65536]) {
    for (const format of ['json', 'msgpack'] as const) {
      test(`${formatSize(size)} ${format}: a valid result body just under the size, the same every time`, () => {
        const payload = buildResultPayload(size, format, kTaskId);
        assert.ok(payload.body.length <= size, `${payload.body.length} <= ${size}`);
        assert.ok(payload.body.length > size - 32, `${payload.body.length} close to ${size}`);
        const decoded = decodeBody(payload.body, payload.contentType);
        assert.ok(decoded.ok);
        const value = decoded.value as { task: { id: string }; result: { values: ArrayLike<number> } };
        assert.equal(value.task.id, kTaskId);
        assert.equal(value.result.values.length, payload.values);
        if (format === 'msgpack') assert.ok(value.result.values instanceof Float32Array);
        else assert.ok(Array.isArray(value.result.values));
        for (const v of Array.from(value.result.values)) assert.equal(Math.fround(v), v);
        // compared as bytes: msgpackr's unpack leaves a `dataView` property on the buffer it read
        assert.ok(buildResultPayload(size, format, kTaskId).body.equals(payload.body));
      });
    }
  }

  test('MessagePack carries about four bytes per value; JSON far fewer values per byte', () => {
    const json = buildResultPayload(65536, 'json', kTaskId);
    const msgpack = buildResultPayload(65536, 'msgpack', kTaskId);
    assert.ok(msgpack.values > 16000);
    assert.ok(json.values < msgpack.values / 3);
  });
});

describe('heavy handler work', () => {
  test('burn is deterministic, seeded, and does the rounds asked', () => {
    assert.equal(burn(3, 'a'), burn(3, 'a'));
    assert.notEqual(burn(3, 'a'), burn(3, 'b'));
    assert.notEqual(burn(3, 'a'), burn(4, 'a'));
  });
});

describe('summariseHistogram', () => {
  test('milliseconds from microseconds, with an offset floored at 0; empty is NaN', () => {
    const h = createHistogram();
    for (const us of [1000, 2000, 3000]) h.record(us);
    const s = summariseHistogram(h, 1000, 0.5);
    assert.equal(s.count, 3);
    assert.ok(Math.abs(s.max - 2.5) < 0.01);
    assert.ok(Math.abs(s.p50 - 1.5) < 0.01);
    assert.equal(summariseHistogram(h, 1000, 10).p50, 0);
    assert.ok(Number.isNaN(summariseHistogram(createHistogram(), 1000).p99));
  });
});

describe('retryDelayMs', () => {
  test('follows data.retryAfterMs, spread ±50%; 1 s without a hint', () => {
    for (let i = 0; i < 50; i++) {
      const d = retryDelayMs('{"success":false,"code":902,"message":"","data":{"retryAfterMs":200}}');
      assert.ok(d >= 100 && d <= 300, String(d));
      const none = retryDelayMs('not json');
      assert.ok(none >= 500 && none <= 1500, String(none));
    }
  });
});

// ---- the verdict ----

const summary = (p99: number) => ({ count: 100, p50: p99 / 2, p99, p999: p99, max: p99, mean: p99 / 2 });

function phase(p99: number, extra: { evictions?: number; missed?: number; perResult?: number } = {}): Phase {
  const heartbeats: HeartbeatPhase = {
    seconds: 1,
    answered: 100,
    perSecond: 100,
    latencyMs: summary(p99),
    lateMs: 100,
    late: 0,
    refused: extra.missed ?? 0,
    errors: 0,
    missed: extra.missed ?? 0,
    skipped: 0,
    statuses: {},
    sendLagMs: summary(0.1),
    loopDelayMs: summary(0.1),
  };
  return {
    heartbeats,
    results: undefined,
    master: {
      loopDelayMs: summary(0.1),
      cpu: 0.5,
      cpuMsPerResult: extra.perResult ?? Number.NaN,
      evictions: extra.evictions ?? 0,
      resultsInvalid: 0,
      resultsFailed: 0,
      batches: 0,
      resultsPerBatch: Number.NaN,
    },
    senderCpu: 0.1,
    fleetCpu: 0.1,
  };
}

const pool: Mode = { name: 'pool-1', threads: 1 };
const inline: Mode = { name: 'inline', threads: 0 };

describe('judge', () => {
  test('the pool meets the target at ≤ 2× its idle p99 with no eviction', () => {
    assert.deepEqual(judge(pool, phase(1), phase(2)), { ratio: 2, targetMet: true });
    assert.deepEqual(judge(pool, phase(1), phase(2.5)), { ratio: 2.5, targetMet: false });
    assert.equal(judge(pool, phase(1), phase(1, { evictions: 1 })).targetMet, false);
  });

  test('the inline baseline has a ratio but no target', () => {
    assert.deepEqual(judge(inline, phase(1), phase(50)), { ratio: 50, targetMet: undefined });
  });
});

describe('findProblems', () => {
  const run = (mode: Mode, idle: Phase, loaded: Phase): HeartbeatRun => ({
    mode,
    idle,
    loaded,
    ...judge(mode, idle, loaded),
    masterNotes: {},
  });

  test('a clean run has none', () => {
    assert.deepEqual(findProblems([run(pool, phase(1), phase(1.5, { perResult: 3 }))], [], 3), []);
  });

  test('missed heartbeats, evictions, a target not met, a handler that did not run', () => {
    const problems = findProblems(
      [run(pool, phase(1), phase(5, { missed: 2, evictions: 1, perResult: 0.5 }))],
      [],
      3,
    );
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.match(problems[0]!, /2 heartbeats missed/);
    assert.match(problems[1]!, /1 slaves evicted/);
    assert.match(problems[2]!, /did the heavy handler run/);
    assert.match(problems[3]!, /target NOT met/);
  });
});
