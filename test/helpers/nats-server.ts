import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './fleet.ts';

/** A real nats-server with JetStream (file storage in a temporary directory) on a free port of 127.0.0.1. */
export interface NatsServer {
  readonly port: number;
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly storeDir: string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s); its store stays for `start()`. */
  stop(): Promise<void>;
  /** Starts it again on the same port and store (after `stop()`). */
  start(): Promise<void>;
  /** Stops it and removes its store. */
  destroy(): Promise<void>;
}

const kBinary = process.env.NATS_SERVER ?? 'nats-server';

/**
 * Starts `nats-server -js` for one test file, with `extraArgs` after its own (`--user`, `-c <config>`, …). The binary is Debian's `nats-server` package (2.9; `.ci/run`
 * installs it); NATS_SERVER names another. Resolves once the server accepts connections.
 */
export async function startNatsServer(extraArgs: readonly string[] = []): Promise<NatsServer> {
  const port = await freePort();
  const storeDir = mkdtempSync(path.join(tmpdir(), 'fleetmaster-nats-'));
  let child: ChildProcess | undefined;

  const start = async () => {
    const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir, ...extraArgs];
    const proc = spawn(kBinary, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => {
      if (log.length < 64 * 1024) log += chunk;
    });
    child = proc;
    // a test process that exits without its after() hooks (an uncaught error) still stops its server
    const onExit = () => proc.kill('SIGKILL');
    process.once('exit', onExit);
    proc.once('exit', () => process.off('exit', onExit));
    const failed = once(proc, 'exit').then(([code]) => {
      throw new Error(`nats-server exited (${String(code)}) before it was ready:\n${log}`);
    });
    const spawnError = once(proc, 'error').then(([err]) => {
      throw new Error(
        `cannot run ${kBinary} (${(err as Error).message}); install Debian's nats-server package`,
      );
    });
    await Promise.race([accepting(port), failed, spawnError]);
  };

  const stop = async () => {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  await start();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    storeDir,
    stop,
    start,
    destroy: async () => {
      await stop();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

/** Resolves once a TCP connection to the port succeeds (polled every 20 ms, for 10 s at most). */
async function accepting(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nats-server did not listen on 127.0.0.1:${port} within 10 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
