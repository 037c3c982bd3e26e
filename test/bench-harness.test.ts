// bench/harness/: the command line built from a flag table (pure), and the virtual fleet against a real master
// on real sockets: it must speak the protocol as src/slave does, with src/slave's own answers.
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  int,
  listOf,
  num,
  oneOf,
  parseArgs,
  subsetOf,
  toggle,
  usageOf,
  value,
} from '../bench/harness/args.ts';
import { VirtualFleet } from '../bench/harness/virtual-fleet.ts';
import { Master, TaskStatus } from '../src/index.ts';
import { kSlaveAnswers, slaveDataInvalid } from '../src/slave/answers.ts';

const kFlags = {
  duration: value(2, num(0.1, 600), 'S', 'seconds per run'),
  resultThreads: value<number | undefined>(undefined, int(0, 256), 'N', 'pool threads', "the master's"),
  threads: value<readonly number[]>([1], listOf(int(1, 64)), 'LIST', 'pool sizes'),
  routes: value<readonly ('a' | 'b')[]>(['a', 'b'], subsetOf(['a', 'b'] as const), 'LIST', 'routes'),
  client: value<'lean' | 'undici'>('lean', oneOf(['lean', 'undici']), 'C', 'task client'),
  profile: toggle('profile it'),
};

describe('a flag table', () => {
  test('gives the defaults, and --help a line per flag with its default', () => {
    const usage = usageOf('npx tsx bench/x/x.ts [options]', kFlags);
    const args = parseArgs(kFlags, [], usage);
    assert.deepEqual(args.options, {
      duration: 2,
      resultThreads: undefined,
      threads: [1],
      routes: ['a', 'b'],
      client: 'lean',
      profile: false,
    });
    assert.deepEqual(
      { out: args.out, write: args.write, help: args.help },
      { out: undefined, write: true, help: false },
    );
    const lines = usage.split('\n');
    assert.equal(lines[0], 'usage: npx tsx bench/x/x.ts [options]');
    assert.match(usage, /\n {2}--duration S +seconds per run \(default 2\)\n/);
    assert.match(usage, /\n {2}--result-threads N +pool threads \(default the master's\)\n/);
    assert.match(usage, /\n {2}--threads LIST +pool sizes \(default 1\)\n/);
    assert.match(usage, /\n {2}--profile +profile it\n/);
    assert.match(usage, /\n {2}--out DIR +results directory/);
  });

  test('reads camelCase options as kebab-case flags, `--flag value` and `--flag=value`', () => {
    const args = parseArgs(
      kFlags,
      ['--duration=0.5', '--result-threads', '0', '--threads', '2,1,2', '--routes=b,a', '--client', 'undici'],
      '',
    );
    assert.deepEqual(args.options, {
      duration: 0.5,
      resultThreads: 0,
      threads: [2, 1],
      routes: ['a', 'b'],
      client: 'undici',
      profile: false,
    });
    const more = parseArgs(kFlags, ['--profile', '--out', '/tmp/x', '--no-write', '-h'], '');
    assert.equal(more.options.profile, true);
    assert.deepEqual([more.out, more.write, more.help], ['/tmp/x', false, true]);
  });

  test('refuses with the flag named; a check refuses combinations', () => {
    assert.throws(
      () => parseArgs(kFlags, ['--duration', '0'], ''),
      /--duration must be a number in \[0.1, 600\]/,
    );
    assert.throws(
      () => parseArgs(kFlags, ['--result-threads', '1.5'], ''),
      /--result-threads must be an integer/,
    );
    assert.throws(() => parseArgs(kFlags, ['--threads', ''], ''), /--threads needs a comma-separated list/);
    assert.throws(() => parseArgs(kFlags, ['--routes', 'c'], ''), /--routes must list a, b; got "c"/);
    assert.throws(() => parseArgs(kFlags, ['--client', 'x'], ''), /--client must be lean or undici, got "x"/);
    assert.throws(() => parseArgs(kFlags, ['--fast'], 'USAGE'), /unknown argument "--fast"\nUSAGE/);
    const check = (o: { duration: number }) => {
      if (o.duration > 1) throw new RangeError('--duration too long here');
    };
    assert.throws(() => parseArgs(kFlags, ['--duration', '5'], '', check), /--duration too long here/);
  });
});

/** One request to the virtual fleet, as a master would send it (or would not). */
function send(port: number, method: string, path: string, headers: Record<string, string>, body = '') {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the virtual fleet', () => {
  test('a real master connects its slaves, runs their tasks and hears their heartbeats', async (t) => {
    const fleet = await VirtualFleet.start({
      ports: 1,
      heartbeatSpan: 0.2,
      heartbeatJitter: 0,
      resultBytes: 8,
      workUs: 0,
      sleepMs: 0,
      msgpack: false,
      sockets: 2,
      beatPipelining: 1,
    });
    t.after(() => fleet.close());
    const master = await new Master({ host: '127.0.0.1', port: 0, heartbeatTolerance: 5 }).start();
    t.after(() => master.destroy());
    const connections = [0, 1].map((i) => master.newConnection(`slave-${i}`, '127.0.0.1', fleet.ports[0]!));
    for (const connection of connections) await connection.connect();
    assert.equal(fleet.size, 2);
    for (const connection of connections) {
      const task = connection.newTask({ n: 1 });
      await task.start();
      await task.join();
      assert.equal(task.status, TaskStatus.COMPLETED);
      assert.deepEqual(task.result, { pad: 'xxxxxxxx' });
    }
    // bounded: two spans of 0.2 s are enough on an idle machine, a loaded one gets 10 s; a result's answer
    // reaches the slave after the master has ended its task
    for (let i = 0; i < 200 && (fleet.beating < 2 || fleet.counters.resultsSent < 2); i++) await sleep(50);
    assert.equal(fleet.beating, 2);
    const window = fleet.takeWindows().get(`http://127.0.0.1:${master.port}`);
    assert.ok(
      window && window.ok >= 2 && window.refused === 0 && window.errors === 0,
      JSON.stringify(window),
    );
    assert.equal(fleet.counters.resultsSent, 2);
  });

  test('a killed slave stops beating, never reports its task and cuts off every request: the master evicts it and the task completes on another slave', async (t) => {
    const fleet = await VirtualFleet.start({
      ...{ ports: 1, heartbeatSpan: 0.2, heartbeatJitter: 0, resultBytes: 8, workUs: 0, sleepMs: 1000 },
      ...{ msgpack: false, sockets: 2, beatPipelining: 1 },
    });
    t.after(() => fleet.close());
    const master = await new Master({
      ...{ host: '127.0.0.1', port: 0, heartbeatTolerance: 1, heartbeatCheckSpan: 0.2 },
      ...{ requestRetries: 0, requestTimeout: 5 },
    }).start();
    t.after(() => master.destroy());
    const port = fleet.ports[0]!;
    const connections = [0, 1].map((i) => master.newConnection(`slave-${i}`, '127.0.0.1', port));
    for (const connection of connections) await connection.connect();
    const task = master.submit({ n: 1 }, { retries: 1 });
    // bounded: the slave holds it for a second once it has it
    for (let i = 0; i < 500 && task.status !== TaskStatus.STARTED; i++) await sleep(10);
    assert.equal(task.status, TaskStatus.STARTED);
    const holder = connections.find((c) => c.name === task.slave)!;
    assert.equal(fleet.kill([holder.token, 'no-such-token']), 1);
    assert.deepEqual([fleet.killed, fleet.size], [1, 1]);
    const body = JSON.stringify({ task: { id: 'x' }, master: { address: 'http://127.0.0.1:1' } });
    const headers = { channel: '0', token: holder.token, 'content-type': 'application/json' };
    await assert.rejects(send(port, 'POST', '/task/new', headers, body), /socket hang up|ECONNRESET/);
    await assert.rejects(send(port, 'POST', '/connect', headers, body), /socket hang up|ECONNRESET/);
    // bounded: a slave that kept beating would never be evicted, and its task never retried
    await Promise.race([task.join(), sleep(15_000)]);
    assert.equal(task.status, TaskStatus.COMPLETED);
    assert.equal(task.attempts, 2);
    assert.notEqual(task.slave, holder.name);
    assert.equal(master.stats().evictions, 1);
    // only the second attempt's result was sent: the killed slave never reported the first
    for (let i = 0; i < 200 && fleet.counters.resultsSent < 1; i++) await sleep(10);
    assert.equal(fleet.counters.resultsSent, 1);
    assert.equal(
      fleet.counters.beatsRefused,
      0,
      'the killed slave stopped beating before the master forgot it',
    );
    fleet.drop(`http://127.0.0.1:${master.port}`);
    assert.equal(fleet.killed, 0);
  });

  test('killRandom kills that many slaves of one master, each once', async (t) => {
    const fleet = await VirtualFleet.start({
      ...{ ports: 1, heartbeatSpan: 60, heartbeatJitter: 0, resultBytes: 0, workUs: 0, sleepMs: 0 },
      ...{ msgpack: false, sockets: 1, beatPipelining: 1 },
    });
    t.after(() => fleet.close());
    fleet.addDirect(5, 'http://127.0.0.1:1');
    fleet.addDirect(3, 'http://127.0.0.1:2');
    const killed = fleet.killRandom(4, 'http://127.0.0.1:1');
    assert.equal(new Set(killed).size, 4);
    assert.deepEqual([fleet.killed, fleet.size], [4, 4]);
    assert.equal(fleet.killRandom(4, 'http://127.0.0.1:1').length, 1, 'only one of that master is left');
    assert.deepEqual([fleet.killed, fleet.size], [5, 3]);
  });

  test('answers what src/slave answers: its checks, in its order, with its own bodies', async (t) => {
    const fleet = await VirtualFleet.start({
      ...{ ports: 1, heartbeatSpan: 1, heartbeatJitter: 0, resultBytes: 0, workUs: 0, sleepMs: 0 },
      ...{ msgpack: false, sockets: 1, beatPipelining: 1 },
    });
    t.after(() => fleet.close());
    const port = fleet.ports[0]!;
    const json = { 'content-type': 'application/json' };
    const cases: [Record<string, string>, string, string, { status: string; body: string }][] = [
      [{}, '/connect', '{}', kSlaveAnswers.channelNotFound],
      [{ channel: '1' }, '/connect', '{}', kSlaveAnswers.channelInvalid],
      [{ channel: '0' }, '/connect', '{}', kSlaveAnswers.masterTokenNotFound],
      [{ channel: '0', token: 'unknown' }, '/task/new', '{}', kSlaveAnswers.masterTokenInvalid],
      [
        { channel: '0', token: 't', ...json },
        '/connect',
        'not json',
        slaveDataInvalid('Body is not valid JSON.'),
      ],
      [{ channel: '0', token: 't', ...json }, '/connect', '[]', slaveDataInvalid('Body is not an object.')],
      [
        { channel: '0', token: 't', ...json },
        '/connect',
        '{}',
        slaveDataInvalid('Master address not found (expected master.address as http://host:port).'),
      ],
    ];
    for (const [headers, path, body, expected] of cases) {
      const answer = await send(port, 'POST', path, headers, body);
      assert.equal(`${answer.status}`, expected.status.split(' ')[0], `${path} ${JSON.stringify(headers)}`);
      assert.equal(answer.body, expected.body, `${path} ${JSON.stringify(headers)} ${body}`);
    }
    const unrouted = await send(port, 'GET', '/nowhere', {});
    assert.equal(unrouted.body, kSlaveAnswers.routeNotFound.body);
  });
});
