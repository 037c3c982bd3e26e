/**
 * One benchmark server in its own process, so it never shares a core's time with autocannon.
 * The parent forks this file with `--serve <kind>` and drives it over IPC: ready (port, token), CPU time,
 * a CPU profile over a chosen window, stop. This file never loads autocannon.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  kServerKinds,
  type MasterKnobs,
  type RunningServer,
  type ServerKind,
  startServer,
} from './servers.ts';

type Request =
  | { type: 'cpu' }
  | { type: 'profile-start'; intervalUs: number }
  | { type: 'profile-stop'; file: string }
  | { type: 'stop' };
type ToChild = Request & { id: number };
type FromChild =
  | { type: 'ready'; port: number; token: string; notes: RunningServer['notes'] }
  | { type: 'failed'; message: string }
  | { type: 'reply'; id: number; usage?: NodeJS.CpuUsage; error?: string };

const kSelf = fileURLToPath(import.meta.url);
const kReadyTimeoutMs = 20_000;
const kReplyTimeoutMs = 10_000;

// ---- child side ----

async function serve(kind: ServerKind, knobs: MasterKnobs): Promise<void> {
  const send = (message: FromChild) => process.send?.(message);
  // an orphaned server must not outlive the benchmark
  process.once('disconnect', () => process.exit(0));
  let server: RunningServer;
  try {
    server = await startServer(kind, knobs);
  } catch (err) {
    send({ type: 'failed', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    process.exit(1);
  }
  let session: Session | undefined;
  const handle = async (message: ToChild): Promise<NodeJS.CpuUsage | undefined> => {
    switch (message.type) {
      case 'cpu':
        return process.cpuUsage();
      case 'profile-start':
        // the inspector profiles only the measured window: no start-up, no module loading, no warm-up
        session = new Session();
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: message.intervalUs });
        await session.post('Profiler.start');
        return undefined;
      case 'profile-stop': {
        if (!session) throw new Error('no profile running');
        const { profile } = await session.post('Profiler.stop');
        session.disconnect();
        session = undefined;
        await writeFile(message.file, JSON.stringify(profile));
        return undefined;
      }
      case 'stop': {
        const exit = () => process.exit(0);
        setTimeout(exit, 2000).unref();
        server.close().then(exit, exit);
        return undefined;
      }
    }
  };
  process.on('message', (message: ToChild) => {
    handle(message).then(
      (usage) => send({ type: 'reply', id: message.id, usage }),
      (err: unknown) => send({ type: 'reply', id: message.id, error: String(err) }),
    );
  });
  send({ type: 'ready', port: server.port, token: server.token, notes: server.notes });
}

// ---- parent side ----

/** The parent's handle on a server child. `stop()` never rejects and never leaves the process behind. */
export class ServerChild {
  readonly kind: ServerKind;
  readonly port: number;
  readonly token: string;
  readonly notes: RunningServer['notes'];
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, (reply: Extract<FromChild, { type: 'reply' }>) => void>();
  #nextId = 0;

  private constructor(kind: ServerKind, child: ChildProcess, ready: Extract<FromChild, { type: 'ready' }>) {
    this.kind = kind;
    this.#child = child;
    this.port = ready.port;
    this.token = ready.token;
    this.notes = ready.notes;
    child.on('message', (message: FromChild) => {
      if (message.type !== 'reply') return;
      this.#pending.get(message.id)?.(message);
      this.#pending.delete(message.id);
    });
  }

  static start(kind: ServerKind, knobs: MasterKnobs = {}): Promise<ServerChild> {
    const child = fork(kSelf, ['--serve', kind, '--knobs', JSON.stringify(knobs)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new Error(`${kind} server not ready after ${kReadyTimeoutMs} ms`)),
        kReadyTimeoutMs,
      );
      const cleanup = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        child.off('error', fail);
      };
      function fail(err: Error) {
        cleanup();
        child.kill('SIGKILL');
        reject(err);
      }
      function onExit(code: number | null, signal: string | null) {
        fail(new Error(`${kind} server exited before ready (code ${code}, signal ${signal})`));
      }
      function onMessage(message: FromChild) {
        if (message.type === 'failed') fail(new Error(`${kind} server failed to start: ${message.message}`));
        if (message.type !== 'ready') return;
        cleanup();
        resolve(new ServerChild(kind, child, message));
      }
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.once('error', fail);
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** The child's own CPU time (user + system, all its threads). */
  async cpuUsage(): Promise<NodeJS.CpuUsage> {
    const { usage } = await this.#request({ type: 'cpu' });
    if (!usage) throw new Error(`${this.kind} server sent no CPU time`);
    return usage;
  }

  async startProfile(intervalUs: number): Promise<void> {
    await this.#request({ type: 'profile-start', intervalUs });
  }

  /** Stops the profile and has the child write it (`.cpuprofile` JSON) to `file`. */
  async stopProfile(file: string): Promise<void> {
    await this.#request({ type: 'profile-stop', file });
  }

  /** Asks the child to close and exit; kills it after `graceMs`. */
  stop(graceMs = 3000): Promise<void> {
    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      if (child.connected) child.send({ type: 'stop', id: this.#nextId++ } satisfies ToChild);
      else child.kill('SIGKILL');
    });
  }

  #request(request: Request): Promise<Extract<FromChild, { type: 'reply' }>> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.kind} server did not answer ${request.type}`));
      }, kReplyTimeoutMs);
      this.#pending.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.error) reject(new Error(`${this.kind} server: ${request.type} failed: ${reply.error}`));
        else resolve(reply);
      });
      this.#child.send({ ...request, id } satisfies ToChild);
    });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const kind = process.argv[process.argv.indexOf('--serve') + 1];
  if (!kServerKinds.includes(kind as ServerKind)) {
    console.error(`usage: server-child.ts --serve ${kServerKinds.join('|')}`);
    process.exit(2);
  }
  const knobs = process.argv.includes('--knobs')
    ? (JSON.parse(process.argv[process.argv.indexOf('--knobs') + 1] ?? '{}') as MasterKnobs)
    : {};
  void serve(kind as ServerKind, knobs);
}
