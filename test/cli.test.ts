// The command line: configuration resolution (pure), the reference in the README, and real runs of every command.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { configReference, kFields, parseTarget, resolveConfig } from '../src/cli/config.ts';
import { type Command, parseCommand } from '../src/cli/program.ts';
import { ConfigError } from '../src/errors.ts';
import { resolveMasterOptions } from '../src/master/options.ts';
import { resolveSlaveOptions } from '../src/slave/options.ts';
import { ensureDashboardBuilt } from './helpers/browser.ts';
import { freePort, waitFor } from './helpers/fleet.ts';
import { openEventStream } from './helpers/sse.ts';

const kMain = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const kSumTask = fileURLToPath(new URL('./fixtures/sum-task.ts', import.meta.url));
const kSlowSumTask = fileURLToPath(new URL('./fixtures/slow-sum-task.ts', import.meta.url));
const kValueTask = fileURLToPath(new URL('./fixtures/value-task.ts', import.meta.url));
const kValuesHandler = fileURLToPath(new URL('./fixtures/handlers/values.ts', import.meta.url));

function cli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', kMain, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
}

/** Everything a child writes to one stream, as it comes. */
function collect(stream: NodeJS.ReadableStream | null): { text: string } {
  const sink = { text: '' };
  stream?.on('data', (c: Buffer) => {
    sink.text += c.toString();
  });
  return sink;
}

/** Resolves with the first stderr match of `pattern` (the CLI logs JSON lines there). */
function waitForLine(child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      const match = pattern.exec(buffer);
      if (match) {
        child.stderr?.off('data', onData);
        resolve(match);
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited (${code}) before printing ${pattern}: ${buffer}`)));
  });
}

async function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

const silent = { out: () => undefined, err: () => undefined };
const parse = (argv: string[], env: Record<string, string> = {}): Command => parseCommand(argv, env, silent);

describe('configuration', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetmaster-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('a config file, then the environment, then flags: each overrides the one before', async () => {
    const file = join(dir, 'master.json');
    await writeFile(file, JSON.stringify({ port: 1000, channel: 7, heartbeatTolerance: 9 }));
    const env = { FLEETMASTER_PORT: '2000', FLEETMASTER_CHANNEL: '8' };
    const all = resolveConfig('master', {
      file: { path: file, values: JSON.parse(readFileSync(file, 'utf8')) },
      env,
      flags: { port: '3000' },
    });
    assert.deepEqual(all.values, { port: 3000, channel: 8, heartbeatTolerance: 9 });
    assert.deepEqual(all.sources, {
      port: '--port',
      channel: 'FLEETMASTER_CHANNEL',
      heartbeatTolerance: `config file ${file}`,
    });
    // the same through the command line, with the file named by the environment
    const command = parse(['master', '--port', '3000'], { ...env, FLEETMASTER_CONFIG: file });
    assert.equal(command.kind, 'master');
    if (command.kind !== 'master') return;
    assert.equal(command.options.port, 3000);
    assert.equal(command.options.channel, 8);
    assert.equal(command.options.heartbeatTolerance, 9);
    assert.equal(command.options.host, undefined, 'fields not given keep the library defaults');
    const fromEnv = parse(['master', '--config', file], env);
    assert.equal(fromEnv.kind === 'master' && fromEnv.options.port, 2000);
    const fromFile = parse(['master', '--config', file]);
    assert.equal(fromFile.kind === 'master' && fromFile.options.port, 1000);
  });

  test('every bad value names its field and where it came from', async () => {
    assert.throws(
      () => parse(['master', '--port', 'abc']),
      (err: Error) =>
        err instanceof ConfigError &&
        err.message === 'port: expected an integer between 0 and 65535 (got "abc" from --port)',
    );
    assert.throws(
      () => parse(['master'], { FLEETMASTER_HEARTBEAT_TOLERANCE: '0.1' }),
      /^ConfigError: heartbeatTolerance: expected a number between 0.2 and 2147483 \(got "0.1" from FLEETMASTER_HEARTBEAT_TOLERANCE\)$/,
    );
    const typo = join(dir, 'typo.json');
    await writeFile(typo, JSON.stringify({ heartbeatTolerence: 5 }));
    assert.throws(
      () => parse(['master', '--config', typo]),
      new RegExp(
        `config file ${typo}: unknown field "heartbeatTolerence" for master \\(did you mean "heartbeatTolerance"\\?\\)`,
      ),
    );
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '{ "port": ');
    assert.throws(() => parse(['master', '--config', broken]), /config file .*broken\.json: not valid JSON/);
    assert.throws(() => parse(['master', '--config', join(dir, 'none.json')]), /cannot be read \(ENOENT\)/);
    // the library's own checks, given the field's source
    const address = join(dir, 'address.json');
    await writeFile(address, JSON.stringify({ myAddress: 'nope' }));
    assert.throws(
      () => parse(['master', '--config', address]),
      new RegExp(
        `^ConfigError: myAddress \\(from config file ${address}\\): must look like http://host:port`,
      ),
    );
    // a secret is never echoed
    assert.throws(
      () => parse(['master', '--self-token', 'short']),
      (err: Error) =>
        /selfToken \(from --self-token\): must be a string of at least 16/.test(err.message) &&
        !/short/.test(err.message),
    );
    assert.throws(
      () => parse(['master', '--tls-key', 'k.pem']),
      /tlsKey \(from --tls-key\): tlsKey and tlsCert go together/,
    );
    assert.throws(() => parse(['slave']), /^ConfigError: module: required/);
    assert.throws(
      () => parse(['slave', '--module', 'm.js', '--format', 'xml']),
      /format: expected one of json, msgpack \(got "xml" from --format\)/,
    );
    assert.throws(() => parse(['master', '--bogus']), /unknown option '--bogus'/);
    assert.throws(() => parse(['serve']), /unknown command 'serve'/);
    assert.throws(
      () => parse(['master', '--slave', 'a=host']),
      /slave: expected NAME=HOST:PORT \(got "a=host" from --slave\)/,
    );
  });

  // The fields take their bounds from the library's tables; these are the values on which the two disagreed
  // before (the CLI's own copies of the facts had drifted), each refused or let through as the library does.
  test('the command line refuses exactly what the library refuses (once drifted bounds)', () => {
    const refused: [string[], RegExp][] = [
      // a deadline past a timer's reach passed the CLI, then failed master.map() after the fleet had started (exit 1)
      [['master', '--deadline', '3000000'], /^deadline: expected a number > 0 and <= 2147483 /],
      // runDemo's own bounds, which the CLI did not know: the demo failed with exit 1 instead of a config error
      [['demo', '--tasks', '200000000'], /^tasks: expected an integer between 0 and 100000000 /],
      [['demo', '--samples', '2000000000'], /^samples: expected an integer between 1 and 1000000000 /],
      // refused by the library before too, but the CLI said `>= 0`: now its own check says what the library says
      [['master', '--request-timeout', '0'], /^requestTimeout: expected a number between 0\.01 and 2147483 /],
      [
        ['slave', '--module', 'm.js', '--request-timeout', '0'],
        /^requestTimeout: expected a number between 0\.01/,
      ],
    ];
    for (const [argv, message] of refused) {
      assert.throws(
        () => parse(argv),
        (err: Error) => err instanceof ConfigError && message.test(err.message),
        argv.join(' '),
      );
    }
    // and what the library takes, the CLI takes: it refused these
    const inline = parse(['demo', '--result-threads', '0']);
    assert.equal(inline.kind === 'demo' && inline.resultThreads, 0);
    const noTasks = parse(['demo', '--tasks', '0']);
    assert.equal(noTasks.kind === 'demo' && noTasks.tasks, 0);
    const short = parse(['master', '--deadline', '0.0005']);
    assert.equal(short.kind === 'master' && short.deadline, 0.0005);
  });

  test("the README's sample config files resolve", () => {
    const master = parse(['master', '--config', 'examples/config/master.json']);
    assert.equal(master.kind === 'master' && master.options.adminPort, 9464);
    assert.deepEqual(master.kind === 'master' && master.slaves, [
      { name: 's1', host: '127.0.0.1', port: 7236 },
    ]);
    const slave = parse(['slave', '--config', 'examples/config/slave.json']);
    assert.equal(slave.kind === 'slave' && slave.options.format, 'msgpack');
  });

  test('lists, switches and the demo defaults', () => {
    const command = parse(
      ['master', '--slave', 'a=127.0.0.1:7236', '--slave', 'b=[::1]:7237', '--no-metrics', '--msgpack'],
      { FLEETMASTER_METRICS: 'true' },
    );
    assert.equal(command.kind, 'master');
    if (command.kind !== 'master') return;
    assert.deepEqual(command.slaves, [
      { name: 'a', host: '127.0.0.1', port: 7236 },
      { name: 'b', host: '::1', port: 7237 },
    ]);
    assert.equal(command.options.metrics, false, '--no-metrics beats the environment');
    assert.equal(command.msgpack, true);
    assert.equal(command.retries, 0);
    const withRetries = parse(['master', '--retries', '3', '--queue-limit', '10']);
    assert.equal(withRetries.kind === 'master' && withRetries.retries, 3);
    assert.equal(withRetries.kind === 'master' && withRetries.options.queueLimit, 10);
    assert.throws(
      () => parse(['master', '--retries', '101']),
      /retries: expected an integer between 0 and 100/,
    );
    const slave = parse(['slave', '--module', 'm.js', '--concurrency', '4']);
    assert.equal(slave.kind === 'slave' && slave.options.concurrency, 4);
    const fromEnv = parse(['master'], { FLEETMASTER_SLAVE: 'a=h:1, b=h:2', FLEETMASTER_METRICS: 'yes' });
    assert.deepEqual(fromEnv.kind === 'master' && fromEnv.slaves.map((s) => s.name), ['a', 'b']);
    assert.equal(fromEnv.kind === 'master' && fromEnv.options.metrics, true);
    assert.deepEqual(parse(['demo']), {
      kind: 'demo',
      slaves: 8,
      tasks: 400,
      samples: 500_000,
      resultThreads: undefined,
      showMetrics: false,
      dashboard: false,
      adminPort: undefined,
      logLevel: 'warn',
    });
    assert.throws(() => parseTarget('127.0.0.1:7236'), /NAME=HOST:PORT/);
  });

  test('--admin-allowed-hosts: repeat the flag, comma-separated in the environment, each item checked and named', async () => {
    const flags = parse([
      'master',
      '--admin-allowed-hosts',
      'fleet.example',
      '--admin-allowed-hosts',
      '[::1]',
    ]);
    assert.deepEqual(flags.kind === 'master' && flags.options.adminAllowedHosts, ['fleet.example', '[::1]']);
    const env = parse(['master'], { FLEETMASTER_ADMIN_ALLOWED_HOSTS: 'a.example, b.example,' });
    assert.deepEqual(env.kind === 'master' && env.options.adminAllowedHosts, ['a.example', 'b.example']);
    const beaten = parse(['master', '--admin-allowed-hosts', 'c.example'], {
      FLEETMASTER_ADMIN_ALLOWED_HOSTS: 'a.example',
    });
    assert.deepEqual(beaten.kind === 'master' && beaten.options.adminAllowedHosts, ['c.example']);
    const any = parse(['master', '--admin-allowed-hosts', '*']);
    assert.deepEqual(any.kind === 'master' && any.options.adminAllowedHosts, ['*']);
    const none = parse(['master']);
    assert.equal(none.kind === 'master' && none.options.adminAllowedHosts, undefined);
    // one bad item: its index, the field and the source
    assert.throws(
      () =>
        parse(['master', '--admin-allowed-hosts', 'ok.example', '--admin-allowed-hosts', 'bad.example:80']),
      (err: Error) =>
        err instanceof ConfigError &&
        err.message ===
          `adminAllowedHosts[1] (from --admin-allowed-hosts): must be a host name or IP address without a port, or '*' (got "bad.example:80")`,
    );
    assert.throws(
      () => parse(['master'], { FLEETMASTER_ADMIN_ALLOWED_HOSTS: 'ok.example,http://x' }),
      /^ConfigError: adminAllowedHosts\[1\] \(from FLEETMASTER_ADMIN_ALLOWED_HOSTS\): must be a host name/,
    );
    const file = join(dir, 'hosts.json');
    await writeFile(file, JSON.stringify({ adminAllowedHosts: ['ok.example', 5] }));
    assert.throws(
      () => parse(['master', '--config', file]),
      (err: Error) =>
        err instanceof ConfigError &&
        err.message ===
          `adminAllowedHosts: expected a list of strings (got ["ok.example",5] from config file ${file})`,
    );
    const help: string[] = [];
    parseCommand(['master', '--help'], {}, { out: (t) => help.push(t), err: () => undefined });
    assert.match(help.join(''), /--admin-allowed-hosts <host>/);
    assert.match(help.join(''), /FLEETMASTER_ADMIN_ALLOWED_HOSTS/);
  });

  test('--dashboard turns the admin listener on at a free port unless one is given', () => {
    const master = parse(['master', '--dashboard']);
    assert.ok(master.kind === 'master');
    assert.equal(master.dashboard, true);
    assert.equal(master.options.adminPort, 0);
    const fixed = parse(['master', '--dashboard', '--admin-port', '9464']);
    assert.equal(fixed.kind === 'master' && fixed.options.adminPort, 9464);
    const off = parse(['master']);
    assert.ok(off.kind === 'master' && off.dashboard === false && off.options.adminPort === undefined);
    const fromEnv = parse(['master'], { FLEETMASTER_DASHBOARD: 'true' });
    assert.equal(fromEnv.kind === 'master' && fromEnv.options.adminPort, 0);
    const demo = parse(['demo', '--dashboard']);
    assert.ok(demo.kind === 'demo' && demo.dashboard && demo.adminPort === 0);
    const demoFixed = parse(['demo', '--dashboard', '--admin-port', '9464']);
    assert.equal(demoFixed.kind === 'demo' && demoFixed.adminPort, 9464);
  });

  test('--help and --version print and stop; with no command the overview is shown', () => {
    for (const argv of [
      ['--help'],
      ['master', '--help'],
      ['slave', '--help'],
      ['demo', '--help'],
      ['--version'],
      [],
    ]) {
      const printed: string[] = [];
      const command = parseCommand(argv, {}, { out: (t) => printed.push(t), err: () => undefined }, '9.9.9');
      const out = printed.join('');
      assert.deepEqual(command, { kind: 'done' }, argv.join(' '));
      assert.ok(out.length > 0, `${argv.join(' ')} printed`);
    }
    const printed: string[] = [];
    parseCommand(['master', '--help'], {}, { out: (t) => printed.push(t), err: () => undefined });
    const help = printed.join('');
    for (const field of kFields.master)
      assert.ok(help.includes(field.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)));
    assert.match(help, /Exit codes:/);
    assert.match(help, /env\s+FLEETMASTER_HEARTBEAT_TOLERANCE/);
    // the bounds the library checks, from its table
    assert.match(help, /--request-timeout <seconds>\s+wait for a slave's answer \(0\.01–2147483\)/);
  });

  test("the README's reference is generated from these fields, and they cover the library's options", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const start = readme.indexOf('<!-- config-reference:start -->');
    const end = readme.indexOf('<!-- config-reference:end -->');
    assert.ok(start >= 0 && end > start, 'README has the reference markers');
    const section = readme.slice(start, end).split('\n').slice(1).join('\n').trim();
    assert.equal(section, configReference().trim(), 'run `npm run docs:config` to regenerate it');
    // every option the library resolves has a field, unless it only makes sense in code
    const covered = (command: 'master' | 'slave', keys: string[], codeOnly: string[]) => {
      const fields = new Set(kFields[command].map((f) => f.key));
      for (const key of keys) {
        if (codeOnly.includes(key)) continue;
        if (key === 'tls') assert.ok(fields.has('tlsKey') && fields.has('tlsCert'));
        else if (key === 'queue') assert.ok(fields.has('nats') && fields.has('natsFleet'));
        else assert.ok(fields.has(key), `${command}: option ${key} has a CLI field`);
      }
    };
    covered('master', Object.keys(resolveMasterOptions({})), ['hooks', 'logger', 'slaveTls', 'placement']);
    covered('slave', Object.keys(resolveSlaveOptions({})), ['hooks', 'logger', 'masterTls', 'processTask']);
    // and the other way: every field is an option of the library, or the command's own
    const commandOnly = [
      'slave',
      'tasks',
      'deadline',
      'retries',
      'msgpack',
      'logLevel',
      'module',
      'dashboard',
      'nats',
      'natsFleet',
      'tlsKey',
      'tlsCert',
      'tlsPassphrase',
    ];
    for (const [command, keys] of [
      ['master', Object.keys(resolveMasterOptions({}))],
      ['slave', Object.keys(resolveSlaveOptions({}))],
    ] as const) {
      for (const field of kFields[command]) {
        if (!commandOnly.includes(field.key))
          assert.ok(keys.includes(field.key), `${command}: field ${field.key} is an option`);
      }
    }
  });

  test('--nats and --nats-fleet become the queue option; bad ones name their field and source', () => {
    const command = parse(['master', '--nats', 'nats://10.0.0.9:4222,nats://10.0.0.10:4222'], {
      FLEETMASTER_NATS_FLEET: 'gpu-fleet',
    });
    assert.equal(command.kind, 'master');
    assert.deepEqual((command as Extract<Command, { kind: 'master' }>).options.queue, {
      servers: 'nats://10.0.0.9:4222,nats://10.0.0.10:4222',
      fleet: 'gpu-fleet',
    });
    assert.equal((parse(['master']) as Extract<Command, { kind: 'master' }>).options.queue, undefined);
    assert.throws(
      () => parse(['master', '--nats', 'http://a b']),
      /^ConfigError: nats \(from --nats\): must hold NATS URLs like nats:\/\/127\.0\.0\.1:4222/,
    );
    assert.throws(
      () => parse(['master', '--nats', 'nats://a:1', '--nats-fleet', 'a.b']),
      /^ConfigError: natsFleet \(from --nats-fleet\): must be 1 to 32 letters/,
    );
    assert.throws(
      () => parse(['master', '--nats-fleet', 'x']),
      /natsFleet \(from --nats-fleet\): goes with nats/,
    );
  });
});

describe('commands, as processes', () => {
  test('demo runs a fleet to the end, prints its summary and metrics, and exits 0', async () => {
    const child = cli(['demo', '--slaves', '3', '--tasks', '30', '--samples', '20000', '--show-metrics']);
    const stdout = collect(child.stdout);
    const stderr = collect(child.stderr);
    const code = await exitOf(child);
    assert.equal(code, 0, stderr.text);
    assert.match(stdout.text, /tasks +29 completed, 1 failed of 30/);
    assert.match(stdout.text, /slaves 3\/3 connected · tasks 30\/30 done, 1 failed/);
    assert.match(stdout.text, /^fleetmaster_tasks_total\{status="completed",reason="reported"\} 29$/m);
    assert.match(stdout.text, /^fleetmaster_results_total\{verdict="delivered"\} 30$/m);
  });

  test('a slave and a master process run a JSON-lines task file; exit 3 names the failure; SIGTERM closes the slave', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetmaster-cli-'));
    const tasks = join(dir, 'tasks.jsonl');
    await writeFile(tasks, ['{"a":1,"b":2}', '{"a":-1,"b":0}', '', '{"a":20,"b":22}'].join('\n'));
    const slave = cli(['slave', '--module', kSumTask, '--host', '127.0.0.1', '--port', '0'], {
      FLEETMASTER_HEARTBEAT_SPAN: '0.5',
    });
    try {
      const [, port] = await waitForLine(slave, /"port":(\d+),[^\n]*"msg":"slave listening"/);
      const master = cli([
        'master',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--slave',
        `s1=127.0.0.1:${port}`,
        '--tasks',
        tasks,
      ]);
      const stdout = collect(master.stdout);
      // the closing summary, not a `tasks progress` line (same fields, logged every second while tasks run)
      const summary = waitForLine(master, /"completed":(\d+),"failed":(\d+),"retries":\d+,"unwritten"/);
      const code = await exitOf(master);
      const [, completed, failed] = await summary;
      assert.equal(code, 3, 'a task failed');
      assert.equal(completed, '2');
      assert.equal(failed, '1');
      const lines = stdout.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(lines.length, 3);
      assert.deepEqual(lines[0], {
        slave: 's1',
        data: { a: 1, b: 2 },
        status: 'completed',
        result: { sum: 3 },
      });
      assert.equal(lines[1].status, 'failed');
      assert.deepEqual(lines[1].result, { error: 'Error', message: 'negative' });
      assert.deepEqual(lines[2].result, { sum: 42 });
      const closed = waitForLine(slave, /"msg":"slave shutting down"/);
      slave.kill('SIGTERM');
      await closed;
      assert.equal(await exitOf(slave), 0);
    } finally {
      slave.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('results JSON cannot write (BigInt, cycle) cost only their own lines: each is reported, exit 4', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetmaster-cli-'));
    const tasks = join(dir, 'tasks.jsonl');
    await writeFile(
      tasks,
      [
        '{"a":1}',
        '{"bigint":"5000000000"}', // an int64 from the slave: a number at the master
        '{"bigint":"2361183241434822606848"}', // 2^71: msgpackr's BigInt extension, still a BigInt
        '{"make":"cycle"}', // the result handler returns a cyclic value
        '{"b":2}',
        '{"c":3}',
      ].join('\n'),
    );
    const slave = cli([
      'slave',
      '--module',
      kValueTask,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--format',
      'msgpack',
    ]);
    try {
      const [, port] = await waitForLine(slave, /"port":(\d+),[^\n]*"msg":"slave listening"/);
      const master = cli([
        'master',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--msgpack',
        '--result-handler',
        kValuesHandler,
        '--slave',
        `s1=127.0.0.1:${port}`,
        '--tasks',
        tasks,
      ]);
      const stdout = collect(master.stdout);
      const stderr = collect(master.stderr);
      const code = await exitOf(master);
      assert.equal(code, 4, stderr.text);
      const lines = stdout.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(lines.length, 6, 'a line for every task');
      assert.deepEqual(lines[0], { slave: 's1', data: { a: 1 }, status: 'completed', result: { a: 1 } });
      assert.deepEqual(lines[1].result, { n: 5_000_000_000 });
      for (const [i, pattern] of [
        [2, /^result could not be written as JSON: TypeError: Do not know how to serialize a BigInt$/],
        [3, /^result could not be written as JSON: TypeError: Converting circular structure to JSON/],
      ] as const) {
        assert.equal(lines[i].status, 'completed', `line ${i}: the task's own status`);
        assert.equal(lines[i].slave, 's1');
        assert.ok(!('result' in lines[i]), `line ${i}: no result`);
        assert.match(lines[i].resultError, pattern, `line ${i}`);
      }
      assert.deepEqual(
        lines.slice(4).map((l) => l.result),
        [{ b: 2 }, { c: 3 }],
      );
      const reported = stderr.text.split('\n').filter((l) => l.includes('"msg":"result not written"'));
      assert.equal(reported.length, 2, 'one log line per result not written');
      assert.match(stderr.text, /"completed":6,"failed":0,"retries":0,"unwritten":2/);
    } finally {
      slave.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('master --tasks runs on the fleet: a slave process SIGKILLed mid-run, --retries gives its task to the other', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetmaster-cli-'));
    const tasks = join(dir, 'tasks.jsonl');
    await writeFile(
      tasks,
      Array.from({ length: 4 }, (_, i) => JSON.stringify({ a: i, b: 10, ms: 1500 })).join('\n'),
    );
    const env = { FLEETMASTER_HEARTBEAT_SPAN: '0.2' };
    const slaves = [0, 1].map(() =>
      cli(['slave', '--module', kSlowSumTask, '--host', '127.0.0.1', '--port', '0'], env),
    );
    try {
      const ports = await Promise.all(
        slaves.map(async (s) => (await waitForLine(s, /"port":(\d+),[^\n]*"msg":"slave listening"/))[1]),
      );
      const master = cli([
        'master',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--heartbeat-tolerance',
        '0.6',
        '--heartbeat-check-span',
        '0.1',
        '--slave',
        `s0=127.0.0.1:${ports[0]}`,
        '--slave',
        `s1=127.0.0.1:${ports[1]}`,
        '--tasks',
        tasks,
        '--retries',
        '2',
      ]);
      const stdout = collect(master.stdout);
      const stderr = collect(master.stderr);
      // progress on stderr: once both slaves work, one dies
      await waitForLine(master, /"running":2,[^\n]*"msg":"tasks progress"/);
      slaves[1]!.kill('SIGKILL');
      const code = await exitOf(master);
      assert.equal(code, 0, stderr.text);
      const lines = stdout.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(lines.length, 4);
      assert.ok(
        lines.every((l) => l.status === 'completed'),
        stdout.text,
      );
      assert.deepEqual(
        lines.map((l) => l.result.sum).sort((a: number, b: number) => a - b),
        [10, 11, 12, 13],
      );
      assert.match(stderr.text, /"completed":4,"failed":0,"retries":1/);
      assert.match(stderr.text, /"msg":"task goes back to the queue for another attempt"/);
    } finally {
      for (const s of slaves) s.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a serving master shows its fleet on /status and /metrics, logs connects, and closes on SIGTERM', async () => {
    const token = 'operator-token-0123456789';
    const slave = cli(['slave', '--module', kSumTask, '--host', '127.0.0.1', '--port', '0']);
    try {
      const [, port] = await waitForLine(slave, /"port":(\d+),[^\n]*"msg":"slave listening"/);
      const serving = cli(
        ['master', '--host', '127.0.0.1', '--port', '0', '--metrics', '--slave', `s1=127.0.0.1:${port}`],
        {
          FLEETMASTER_SELF_TOKEN: token,
        },
      );
      try {
        const [, masterPort] = await waitForLine(serving, /"port":(\d+),[^\n]*"msg":"master listening"/);
        await waitForLine(serving, /"slave":"s1"[^\n]*"msg":"slave connected"/);
        const status = await fetch(`http://127.0.0.1:${masterPort}/status`, { headers: { token } });
        assert.equal(status.status, 200);
        const body = (await status.json()) as { data: { slaves: { name: string; state: string }[] } };
        assert.deepEqual(
          body.data.slaves.map((s) => [s.name, s.state]),
          [['s1', 'connected']],
        );
        const metrics = await fetch(`http://127.0.0.1:${masterPort}/metrics`, {
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(metrics.status, 200);
        assert.match(await metrics.text(), /^fleetmaster_slaves\{state="connected"\} 1$/m);
        const closed = waitForLine(serving, /"msg":"master closed"/);
        serving.kill('SIGTERM');
        await closed;
        assert.equal(await exitOf(serving), 0);
      } finally {
        serving.kill('SIGKILL');
      }
      slave.kill('SIGTERM');
      assert.equal(await exitOf(slave), 0);
    } finally {
      slave.kill('SIGKILL');
    }
  });

  test('master --dashboard prints the URL of a page it serves; demo --dashboard keeps the fleet working until Ctrl-C', async () => {
    await ensureDashboardBuilt();
    const master = cli(['master', '--dashboard', '--port', '0', '--log-level', 'warn']);
    try {
      const [, url] = (await waitForLine(
        master,
        /fleetmaster: dashboard at (http:\/\/127\.0\.0\.1:\d+\/dashboard)\n/,
      ))!;
      const page = await fetch(url!);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>fleetmaster · dashboard<\/title>/);
      master.kill('SIGTERM');
      assert.equal(await exitOf(master), 0);
    } finally {
      master.kill('SIGKILL');
    }

    // 4 tasks asked for: the demo goes on past them, slowly, until the signal
    const demo = cli(['demo', '--dashboard', '--slaves', '2', '--tasks', '4', '--samples', '1000']);
    try {
      const out = collect(demo.stdout);
      await waitFor(
        'the URL',
        () => /dashboard at http:\/\/127\.0\.0\.1:\d+\/dashboard/.test(out.text),
        20_000,
      );
      const url = /dashboard at (\S+)/.exec(out.text)![1]!;
      const stream = openEventStream(`${url}/events`);
      const completed = () => {
        const last = stream.events.at(-1);
        return last
          ? (JSON.parse(last.data) as { summary: { tasks: { completed: number } } }).summary.tasks.completed
          : 0;
      };
      await waitFor('more tasks than were asked for', () => completed() > 5, 20_000);
      stream.close();
      demo.kill('SIGINT');
      assert.equal(await exitOf(demo), 0);
      assert.match(out.text, /tasks +\d+ completed/);
    } finally {
      demo.kill('SIGKILL');
    }
  });

  test('the first SIGINT stops the demo gracefully (exit 0); a second one forces the exit (130)', async () => {
    const graceful = cli(['demo', '--slaves', '2', '--tasks', '50', '--samples', '2000000']);
    const out = collect(graceful.stdout);
    await new Promise<void>((resolve) => graceful.stdout?.once('data', () => resolve()));
    graceful.kill('SIGINT');
    assert.equal(await exitOf(graceful), 0);
    assert.match(out.text, /not run \(aborted\) of 50/);

    // tasks of 20M samples: the in-process fleet needs seconds to finish what runs, so the second signal lands first
    const forced = cli(['demo', '--slaves', '8', '--tasks', '50', '--samples', '20000000']);
    await new Promise<void>((resolve) => forced.stdout?.once('data', () => resolve()));
    forced.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 200));
    forced.kill('SIGINT');
    assert.equal(await exitOf(forced), 130);
  });

  test('a bad configuration exits 2 with the message; a port in use exits 1', async () => {
    const bad = cli(['master', '--port', '70000']);
    const stderr = collect(bad.stderr);
    assert.equal(await exitOf(bad), 2);
    assert.match(
      stderr.text,
      /fleetmaster: port: expected an integer between 0 and 65535 \(got "70000" from --port\)/,
    );
    const first = cli(['slave', '--module', kSumTask, '--host', '127.0.0.1', '--port', '0']);
    try {
      const [, port] = await waitForLine(first, /"port":(\d+),[^\n]*"msg":"slave listening"/);
      const second = cli(['master', '--host', '127.0.0.1', '--port', String(port)]);
      const err = collect(second.stderr);
      assert.equal(await exitOf(second), 1);
      assert.match(err.text, new RegExp(`127\\.0\\.0\\.1:${port}`));
    } finally {
      first.kill('SIGKILL');
    }
  });

  test('master --nats with no NATS there exits 1, naming the URL', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const master = cli(['master', '--host', '127.0.0.1', '--port', '0', '--nats', url]);
    const err = collect(master.stderr);
    assert.equal(await exitOf(master), 1);
    assert.ok(err.text.includes(`cannot reach NATS at ${url}`), err.text);
  });
});
