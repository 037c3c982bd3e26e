import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Master, type MasterOptions, Slave, type SlaveOptions } from '../../src/index.ts';

/**
 * A port that was free a moment ago, for tests that need a fixed port. (This uWS build sets SO_REUSEADDR only
 * on fixed ports: a master listening on port 0 that closed connections leaves TIME_WAIT sockets that block a
 * rebind, so restart tests must use a fixed port, as real masters do.)
 */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export const quietLogger = { warn: () => undefined };

/** A started master on 127.0.0.1, any free port. */
export function startMaster(options: MasterOptions = {}): Promise<Master> {
  return new Master({ host: '127.0.0.1', port: 0, logger: quietLogger, ...options }).start();
}

/** A started slave on 127.0.0.1, any free port. */
export function startSlave(options: SlaveOptions = {}): Promise<Slave> {
  return new Slave({ host: '127.0.0.1', port: 0, logger: quietLogger, ...options }).start();
}

/** Resolves when `check()` holds, polling every `everyMs`; rejects after `limitMs` with `what`. */
export async function waitFor(
  what: string,
  check: () => boolean,
  limitMs = 10_000,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface ChildSlave {
  child: ChildProcess;
  port: number;
}

const kSlaveProcess = fileURLToPath(new URL('../fixtures/slave-process.ts', import.meta.url));

/** A slave in its own process (so it can be SIGKILLed), started from test/fixtures/slave-process.ts. */
export async function spawnSlave(args: Record<string, string | number> = {}): Promise<ChildSlave> {
  const argv = Object.entries(args).map(([k, v]) => `--${k}=${v}`);
  const child = fork(kSlaveProcess, argv, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const message = (await firstMessage(child)) as { port: number };
  return { child, port: message.port };
}

/** The child's first IPC message; rejects if it exits before sending one (instead of waiting for ever). */
async function firstMessage(child: ChildProcess): Promise<unknown> {
  const exited = once(child, 'exit').then(([code, signal]) => {
    throw new Error(`child ${child.spawnfile} exited (${signal ?? code}) before it was ready`);
  });
  try {
    const [message] = await Promise.race([once(child, 'message'), exited]);
    return message;
  } finally {
    exited.catch(() => undefined);
  }
}

export interface ChildMaster {
  child: ChildProcess;
  port: number;
  /** The address its slaves report to. */
  address: string;
}

const kMasterProcess = fileURLToPath(new URL('../fixtures/master-process.ts', import.meta.url));

/**
 * A master in its own process (so it can be paused with SIGSTOP or SIGKILLed), started from
 * test/fixtures/master-process.ts; it has connected the slaves at `slavePorts` when this resolves.
 */
export async function spawnMaster(slavePorts: number[], fleetSecret?: string): Promise<ChildMaster> {
  const port = await freePort();
  const argv = [`--port=${port}`, `--slave-port=${slavePorts.join(',')}`];
  if (fleetSecret !== undefined) argv.push(`--fleet-secret=${fleetSecret}`);
  const child = fork(kMasterProcess, argv, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  await firstMessage(child);
  return { child, port, address: `http://127.0.0.1:${port}` };
}

/** Ends a child for good, paused (SIGSTOP) or not, and waits for its exit. */
export async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}
