#!/usr/bin/env node
// The command line: `fleetmaster master|slave|demo` (see --help; exit codes in program.ts).
import { createReadStream, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { destination, type Logger as Pino, pino } from 'pino';
import { Master } from '../master/master.ts';
import { TaskStatus } from '../master/task.ts';
import { Slave } from '../slave/slave.ts';
import { ConfigError } from './config.ts';
import { runDemo } from './demo.ts';
import { type Command, parseCommand } from './program.ts';

type Run<K extends Command['kind']> = Extract<Command, { kind: K }>;

/** JSON lines on stderr (stdout carries results), written synchronously so nothing is lost at exit. */
function createLogger(level: string, role: string): Pino {
  return pino({ level, base: { role, pid: process.pid } }, destination({ fd: 2, sync: true }));
}

const kSignalNumbers: Record<string, number> = { SIGINT: 2, SIGTERM: 15 };

/** The first SIGTERM/SIGINT closes gracefully; a second one exits at once with 128 + the signal's number. */
function onSignals(log: Pino, close: (signal: string) => Promise<unknown>): void {
  let closing = false;
  const handler = (signal: NodeJS.Signals) => {
    if (closing) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(128 + (kSignalNumbers[signal] ?? 0));
    }
    closing = true;
    log.info({ signal }, 'closing gracefully (again to force)');
    close(signal).then(
      () => process.exit(process.exitCode ?? 0),
      (err: unknown) => {
        log.error({ err }, 'close failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

async function importDefault(file: string, what: string): Promise<(data: unknown) => unknown> {
  const mod = (await import(pathToFileURL(resolve(file)).href)) as { default?: unknown };
  if (typeof mod.default !== 'function') throw new Error(`${what} ${file} has no default export function`);
  return mod.default as (data: unknown) => unknown;
}

async function runSlave(command: Run<'slave'>): Promise<void> {
  const log = createLogger(command.logLevel, 'slave');
  const processTask = await importDefault(command.module, '--module');
  const slave = await new Slave({ ...command.options, processTask, logger: log }).start();
  onSignals(log, () => slave.close());
}

async function runMaster(command: Run<'master'>): Promise<void> {
  const log = createLogger(command.logLevel, 'master');
  const master = await new Master({ ...command.options, logger: log }).start();
  if (
    command.options.selfToken === undefined &&
    command.options.metrics &&
    command.options.adminPort === undefined
  ) {
    // a secret is never logged: without one given, /metrics answers only a token nobody knows
    log.warn(
      {},
      'metrics are on but no self token was given: set --self-token (FLEETMASTER_SELF_TOKEN) or --admin-port to scrape',
    );
  }
  onSignals(log, () => master.close());
  const connections = [];
  for (const target of command.slaves) {
    const connection = master.newConnection(target.name, target.host, target.port, {
      msgpack: command.msgpack,
    });
    await connection.connect();
    connections.push(connection);
  }
  if (command.tasks === undefined) return; // serve until a signal
  if (connections.length === 0) throw new ConfigError('tasks: needs at least one slave (--slave)');
  const file = command.tasks;
  // read lazily: map() takes a line only when a task may be outstanding, so a file of any size is fine
  async function* lines(): AsyncGenerator<unknown> {
    const input = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
    let lineNumber = 0;
    for await (const line of input) {
      lineNumber++;
      if (line.trim() === '') continue;
      try {
        yield JSON.parse(line);
      } catch (err) {
        throw new ConfigError(`tasks: ${file} line ${lineNumber} is not JSON (${(err as Error).message})`);
      }
    }
  }
  let done = 0;
  let failed = 0;
  const progress = setInterval(() => {
    const s = master.stats();
    log.info(
      { completed: done, failed, queued: s.tasksQueued, running: s.runningTasks, retries: s.taskRetries },
      'tasks progress',
    );
  }, 1000);
  progress.unref();
  try {
    // every task goes to the fleet; each line of stdout is written as its task settles
    for await (const task of master.map(lines(), { deadline: command.deadline, retries: command.retries })) {
      const ok = task.status === TaskStatus.COMPLETED;
      if (ok) done++;
      else failed++;
      const status = statusOf(task.status);
      const result = task.result ?? (task.error ? { error: task.error.message } : null);
      const { data } = task;
      process.stdout.write(`${JSON.stringify({ slave: task.slave ?? null, data, status, result })}\n`);
    }
  } finally {
    clearInterval(progress);
  }
  const retries = master.stats().taskRetries;
  log.info({ completed: done, failed, retries }, `${done} tasks completed, ${failed} failed`);
  if (failed > 0) process.exitCode = 3;
  await master.close();
}

function statusOf(status: TaskStatus): string {
  if (status === TaskStatus.COMPLETED) return 'completed';
  if (status === TaskStatus.START_FAILED) return 'start_failed';
  if (status === TaskStatus.CANCELLED) return 'cancelled';
  return 'failed';
}

async function runDemoCommand(command: Run<'demo'>): Promise<void> {
  const log = createLogger(command.logLevel, 'demo');
  const abort = new AbortController();
  let metricsText: string | undefined;
  const demo = runDemo({
    slaves: command.slaves,
    tasks: command.tasks,
    samples: command.samples,
    resultThreads: command.resultThreads,
    out: process.stdout,
    masterOptions: { logger: log, metrics: true },
    signal: abort.signal,
    // scraped over HTTP with the self token, as Prometheus would, before the fleet is taken down
    afterWork: command.showMetrics
      ? async (master) => {
          const res = await fetch(`http://127.0.0.1:${master.port}/metrics`, {
            headers: { authorization: `Bearer ${master.selfToken}` },
          });
          metricsText = await res.text();
        }
      : undefined,
  });
  const printMetrics = () => {
    if (metricsText === undefined) return;
    // the fleet's own series; histogram buckets left out (their _sum and _count stay)
    const ours = metricsText.split('\n').filter((l) => /^fleetmaster_/.test(l) && !/_bucket\{/.test(l));
    process.stdout.write(`\nGET /metrics (fleetmaster_* series, buckets omitted):\n${ours.join('\n')}\n`);
    metricsText = undefined;
  };
  // a signal stops handing out tasks; the demo ends what runs, takes the fleet down and prints its summary
  onSignals(log, async () => {
    abort.abort();
    await demo;
    printMetrics();
  });
  await demo;
  printMetrics();
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

// a reader that went away (`fleetmaster master --help | head`) is not an error
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

async function main(): Promise<void> {
  const io = { out: (t: string) => process.stdout.write(t), err: (t: string) => process.stderr.write(t) };
  const command = parseCommand(process.argv.slice(2), process.env, io, version());
  if (command.kind === 'slave') await runSlave(command);
  else if (command.kind === 'master') await runMaster(command);
  else if (command.kind === 'demo') await runDemoCommand(command);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`fleetmaster: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`fleetmaster: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
