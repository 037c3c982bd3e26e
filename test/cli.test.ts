// The command line: a pure parseArgs, and one real run of `fleetmaster slave` + `fleetmaster master --tasks`.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseArgs, parseTarget } from '../src/cli/args.ts';

const kMain = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

function cli(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', kMain, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolves with the first stderr line matching `pattern`. */
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

describe('parseArgs', () => {
  test('help, version and unknown commands', () => {
    assert.deepEqual(parseArgs([]), { kind: 'help' });
    assert.deepEqual(parseArgs(['--help']), { kind: 'help' });
    assert.deepEqual(parseArgs(['--version']), { kind: 'version' });
    assert.throws(() => parseArgs(['serve']), /unknown command "serve"/);
  });

  test('master: options, repeated --slave, tasks', () => {
    const command = parseArgs([
      'master',
      '--port',
      '0',
      '--channel',
      '233',
      '--heartbeat-tolerance',
      '5',
      '--result-threads',
      '0',
      '--slave',
      'a=127.0.0.1:7236',
      '--slave',
      'b=[::1]:7237',
      '--tasks',
      'jobs.jsonl',
      '--deadline',
      '30',
      '--msgpack',
    ]);
    assert.equal(command.kind, 'master');
    if (command.kind !== 'master') return;
    assert.equal(command.options.port, 0);
    assert.equal(command.options.channel, 233);
    assert.equal(command.options.heartbeatTolerance, 5);
    assert.equal(command.options.resultThreads, 0);
    assert.equal(command.options.host, undefined, 'unset options keep the library defaults');
    assert.deepEqual(command.slaves, [
      { name: 'a', host: '127.0.0.1', port: 7236 },
      { name: 'b', host: '::1', port: 7237 },
    ]);
    assert.equal(command.tasks, 'jobs.jsonl');
    assert.equal(command.deadline, 30);
    assert.equal(command.msgpack, true);
  });

  test('slave: --module is required; --format is checked; numbers are numbers', () => {
    assert.throws(() => parseArgs(['slave']), /--module/);
    assert.throws(
      () => parseArgs(['slave', '--module', 'm.js', '--format', 'xml']),
      /--format must be json or msgpack/,
    );
    assert.throws(() => parseArgs(['slave', '--module', 'm.js', '--port', 'abc']), /--port must be a number/);
    assert.throws(() => parseArgs(['master', '--bogus']), /Unknown option '--bogus'/);
    const command = parseArgs(['slave', '--module', 'm.js', '--port', '0', '--heartbeat-span', '0.5']);
    assert.deepEqual(command.kind === 'slave' && command.options.heartbeatSpan, 0.5);
  });

  test('parseTarget refuses what is not NAME=HOST:PORT', () => {
    assert.throws(() => parseTarget('a=host'), /NAME=HOST:PORT/);
    assert.throws(() => parseTarget('127.0.0.1:7236'), /NAME=HOST:PORT/);
  });
});

test('a slave and a master from the CLI run a JSON-lines task file; SIGTERM closes the slave cleanly', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fleetmaster-cli-'));
  const tasks = join(dir, 'tasks.jsonl');
  await writeFile(tasks, ['{"a":1,"b":2}', '{"a":-1,"b":0}', '', '{"a":20,"b":22}'].join('\n'));
  const module = fileURLToPath(new URL('./fixtures/sum-task.ts', import.meta.url));
  const slave = cli([
    'slave',
    '--module',
    module,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--heartbeat-span',
    '0.5',
  ]);
  try {
    const [, port] = await waitForLine(slave, /slave listening on 127\.0\.0\.1:(\d+)/);
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
    let stdout = '';
    master.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    const summary = waitForLine(master, /(\d+) tasks completed, (\d+) failed/);
    const [code] = (await once(master, 'exit')) as [number];
    const [, completed, failed] = await summary;
    assert.equal(code, 0);
    assert.equal(completed, '2');
    assert.equal(failed, '1');
    const lines = stdout
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
    const closed = waitForLine(slave, /SIGTERM: closing gracefully/);
    slave.kill('SIGTERM');
    await closed;
    const [slaveCode] = (await once(slave, 'exit')) as [number];
    assert.equal(slaveCode, 0);
  } finally {
    slave.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});
