#!/usr/bin/env node
// The command line: `fleetmaster master …` and `fleetmaster slave …` (see --help).
import { createReadStream, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { Master } from '../master/master.ts';
import { TaskStatus } from '../master/task.ts';
import { Slave } from '../slave/slave.ts';
import { type Command, kUsage, parseArgs } from './args.ts';

const log = (message: string) => process.stderr.write(`[fleetmaster] ${message}\n`);

/** Closes gracefully on the first SIGTERM/SIGINT; a second one exits at once. */
function onSignals(close: () => Promise<void>): void {
  let closing = false;
  const handler = (signal: string) => {
    if (closing) process.exit(130);
    closing = true;
    log(`${signal}: closing gracefully`);
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        log(`close failed: ${String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

async function runSlave(command: Extract<Command, { kind: 'slave' }>): Promise<void> {
  const mod = (await import(pathToFileURL(resolve(command.module)).href)) as { default?: unknown };
  if (typeof mod.default !== 'function') throw new Error(`${command.module} has no default export function`);
  const slave = await new Slave({
    ...command.options,
    processTask: mod.default as (d: unknown) => unknown,
  }).start();
  log(`slave listening on ${slave.options.host}:${slave.port}`);
  onSignals(() => slave.close());
}

async function runMaster(command: Extract<Command, { kind: 'master' }>): Promise<void> {
  const master = await new Master({
    ...command.options,
    logger: { warn: (m, e) => log(e ? `${m}: ${String(e)}` : m) },
  }).start();
  log(`master listening on ${master.options.host}:${master.port}`);
  onSignals(() => master.close());
  const connections = [];
  for (const target of command.slaves) {
    const connection = master.newConnection(target.name, target.host, target.port, {
      msgpack: command.msgpack,
    });
    await connection.connect();
    log(`connected ${target.name} at ${target.host}:${target.port}`);
    connections.push(connection);
  }
  if (command.tasks === undefined) return; // serve until a signal
  if (connections.length === 0) throw new Error('--tasks needs at least one --slave');
  const lines = createInterface({
    input: createReadStream(command.tasks),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  const queue: unknown[] = [];
  for await (const line of lines) if (line.trim() !== '') queue.push(JSON.parse(line));
  let done = 0;
  let failed = 0;
  // every slave takes the next line as soon as its previous task ended
  await Promise.all(
    connections.map(async (connection) => {
      for (let data = queue.shift(); data !== undefined; data = queue.shift()) {
        const task = connection.newTask(data, { deadline: command.deadline });
        await task.start().catch(() => undefined);
        await task.join();
        const ok = task.status === TaskStatus.COMPLETED;
        if (ok) done++;
        else failed++;
        const status = ok ? 'completed' : task.status === TaskStatus.START_FAILED ? 'start_failed' : 'failed';
        const result = task.result ?? (task.error ? { error: task.error.message } : null);
        process.stdout.write(`${JSON.stringify({ slave: connection.name, data, status, result })}\n`);
      }
    }),
  );
  log(`${done} tasks completed, ${failed} failed`);
  await master.close();
}

/** The package's version, from src/cli (under tsx) or dist/src/cli (built). */
function version(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as {
        name?: string;
        version: string;
      };
      if (pkg.name === 'fleetmaster') return pkg.version;
    } catch {
      // not here: try one level up
    }
  }
  return 'unknown';
}

async function main(): Promise<void> {
  let command: Command;
  try {
    command = parseArgs(process.argv.slice(2));
  } catch (err) {
    log(err instanceof Error ? err.message : String(err));
    process.exitCode = 2;
    return;
  }
  if (command.kind === 'help') process.stdout.write(kUsage);
  else if (command.kind === 'version') {
    process.stdout.write(`${version()}\n`);
  } else if (command.kind === 'slave') await runSlave(command);
  else await runMaster(command);
}

main().catch((err: unknown) => {
  log(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
