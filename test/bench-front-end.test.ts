// bench/front-end/'s pure parts: argument parsing, medians and per-round ratios, profile summaries.
// Nothing here starts a server or times anything.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { frontEnd } from '../bench/front-end/front-end.ts';
import { findProblems, type Sample, summariseRoute } from '../bench/front-end/report.ts';
import { summariseCpuProfile } from '../bench/harness/profile.ts';
import { median } from '../bench/harness/report.ts';

const { defaults: kDefaults, parseArgs } = frontEnd;

describe('parseArgs', () => {
  test("the defaults are the README's: 10 rounds × 2 s, 10 connections, pipelining 1, both routes", () => {
    const { rounds, duration, connections, pipelining, routes } = parseArgs([]).options;
    assert.deepEqual(
      { rounds, duration, connections, pipelining, routes },
      {
        rounds: 10,
        duration: 2,
        connections: 10,
        pipelining: 1,
        routes: ['heartbeat', 'result'],
      },
    );
  });

  test('reads every flag, as `--flag value` and `--flag=value`', () => {
    const args = parseArgs([
      '--duration',
      '0.5',
      '--rounds=3',
      '--connections',
      '50',
      '--pipelining=4',
      '--warmup',
      '0',
      '--routes',
      'result',
      '--profile',
      '--pin',
      '--result-threads',
      '0',
      '--out',
      '/tmp/x',
      '--no-write',
    ]);
    assert.equal(args.options.duration, 0.5);
    assert.equal(args.options.rounds, 3);
    assert.equal(args.options.connections, 50);
    assert.equal(args.options.pipelining, 4);
    assert.equal(args.options.warmup, 0);
    assert.deepEqual(args.options.routes, ['result']);
    assert.equal(args.options.profile, true);
    assert.equal(args.options.pin, true);
    assert.equal(args.options.resultThreads, 0);
    assert.equal(args.out, '/tmp/x');
    assert.equal(args.write, false);
  });

  test('routes keep their canonical order and drop repeats', () => {
    assert.deepEqual(parseArgs(['--routes', 'result,heartbeat,result']).options.routes, [
      'heartbeat',
      'result',
    ]);
  });

  test('bad values are refused with the flag named', () => {
    assert.throws(() => parseArgs(['--rounds', '2.5']), /--rounds must be an integer/);
    assert.throws(() => parseArgs(['--rounds', '0']), /--rounds must be a number in/);
    assert.throws(() => parseArgs(['--duration']), /--duration must be a number/);
    assert.throws(() => parseArgs(['--duration', 'abc']), /--duration/);
    assert.throws(() => parseArgs(['--routes', 'ping']), /--routes must list/);
    assert.throws(() => parseArgs(['--out']), /--out needs a directory/);
    assert.throws(() => parseArgs(['--result-threads', '-1']), /--result-threads must be a number in/);
    assert.throws(() => parseArgs(['--fast']), /unknown argument "--fast"/);
  });

  test('does not mutate the defaults', () => {
    parseArgs(['--rounds', '7']);
    assert.equal(kDefaults.rounds, 10);
  });
});

function sample(round: number, server: Sample['server'], reqPerSec: number, cpu = 10): Sample {
  return {
    round,
    route: 'heartbeat',
    server,
    requests: reqPerSec,
    seconds: 1,
    reqPerSec,
    p50Ms: 0.1,
    p99Ms: 0.5,
    errors: 0,
    timeouts: 0,
    non2xx: 0,
    serverCpuUsPerReq: cpu,
    serverCpu: 0.5,
    clientCpu: 1,
  };
}

describe('statistics', () => {
  test('median of odd and even counts, ignoring NaN', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([Number.NaN, 5]), 5);
    assert.ok(Number.isNaN(median([])));
  });

  test('an engine that did not run has no ratio, and its servers no row', () => {
    const summary = summariseRoute([sample(0, 'master-node', 9), sample(0, 'node', 10)], 1);
    assert.equal(summary.ratios.uws, undefined);
    assert.equal(summary.ratios.node?.median, 0.9);
    assert.deepEqual(Object.keys(summary.servers), ['master-node', 'node']);
  });

  test('ratios are taken within a round, then their median', () => {
    // round 0: a slow machine for everyone; round 1: fast; the ratio is steady while req/s is not
    const samples = [
      sample(0, 'master', 45, 11),
      sample(0, 'uws', 50, 10),
      sample(0, 'master-node', 27, 22),
      sample(0, 'node', 30, 20),
      sample(1, 'master', 90, 11),
      sample(1, 'uws', 100, 10),
      sample(1, 'master-node', 57, 22),
      sample(1, 'node', 60, 20),
      sample(2, 'master', 80, 11),
      sample(2, 'uws', 100, 10),
      sample(2, 'master-node', 38, 22),
      sample(2, 'node', 40, 20),
    ];
    const summary = summariseRoute(samples, 3);
    assert.deepEqual(summary.ratios.uws?.perRound, [0.9, 0.9, 0.8]);
    assert.equal(summary.ratios.uws?.median, 0.9);
    assert.equal(summary.ratios.uws?.min, 0.8);
    assert.equal(summary.ratios.uws?.max, 0.9);
    assert.equal(summary.ratios.uws?.cpuPerReq, 1.1);
    // the node engine's master is held against raw node:http, not against uWS
    assert.deepEqual(summary.ratios.node?.perRound, [0.9, 0.95, 0.95]);
    assert.equal(summary.ratios.node?.cpuPerReq, 1.1);
    assert.equal(summary.servers.master?.reqPerSec, 80);
  });

  test('any error, timeout or non-2xx is a problem naming route and server', () => {
    const bad = { ...sample(0, 'node', 10), non2xx: 2 };
    const summary = summariseRoute([sample(0, 'master', 10), sample(0, 'uws', 10), bad], 1);
    assert.deepEqual(findProblems({ heartbeat: summary }), [
      'heartbeat on raw node:http: 0 errors, 0 timeouts, 2 non-2xx',
    ]);
  });
});

describe('summariseCpuProfile', () => {
  test('splits busy from idle time and groups by place', () => {
    const frame = (functionName: string, url: string) => ({
      functionName,
      url,
      lineNumber: 0,
      columnNumber: 0,
    });
    const summary = summariseCpuProfile({
      nodes: [
        { id: 1, callFrame: frame('(root)', '') },
        { id: 2, callFrame: frame('(idle)', '') },
        { id: 3, callFrame: frame('sendNow', 'file:///w/src/http/reply.ts') },
        { id: 4, callFrame: frame('(garbage collector)', '') },
      ],
      startTime: 0,
      endTime: 400,
      // each delta belongs to the sample before it
      samples: [2, 3, 3, 4, 2],
      timeDeltas: [0, 100, 100, 100, 100],
    });
    assert.equal(summary.idleMs, 0.1);
    assert.equal(summary.busyMs, 0.3);
    assert.deepEqual(
      summary.places.map((p) => [p.name, p.selfMs]),
      [
        ['src/http/reply.ts', 0.2],
        ['(garbage collector)', 0.1],
      ],
    );
  });
});
