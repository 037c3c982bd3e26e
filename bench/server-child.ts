/**
 * One benchmark server in its own process, so it never shares a core's time with autocannon.
 * The parent forks this file with `--serve <kind>` and drives it over IPC (bench/ipc-child.ts): ready (port,
 * token), CPU time, a CPU profile over a chosen window, stop. This file never loads autocannon.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { IpcChild, profileHandlers, serveParent } from './ipc-child.ts';
import {
  kServerKinds,
  type MasterKnobs,
  type RunningServer,
  type ServerKind,
  startServer,
} from './servers.ts';

interface Ready {
  port: number;
  token: string;
  notes: RunningServer['notes'];
}

const kSelf = fileURLToPath(import.meta.url);
const kReadyTimeoutMs = 20_000;
const kReplyTimeoutMs = 10_000;

// ---- child side ----

async function setup(kind: ServerKind, knobs: MasterKnobs) {
  const server = await startServer(kind, knobs);
  return {
    value: { port: server.port, token: server.token, notes: server.notes } satisfies Ready,
    handlers: {
      cpu: () => process.cpuUsage(),
      ...profileHandlers(),
    },
    close: () => server.close(),
    closeTimeoutMs: 2000,
  };
}

// ---- parent side ----

/** The parent's handle on a server child. `stop()` never rejects and never leaves the process behind. */
export class ServerChild {
  readonly kind: ServerKind;
  readonly #child: IpcChild<Ready>;

  private constructor(kind: ServerKind, child: IpcChild<Ready>) {
    this.kind = kind;
    this.#child = child;
  }

  static async start(kind: ServerKind, knobs: MasterKnobs = {}): Promise<ServerChild> {
    const child = await IpcChild.start<Ready>(kSelf, ['--serve', kind, '--knobs', JSON.stringify(knobs)], {
      label: `${kind} server`,
      readyTimeoutMs: kReadyTimeoutMs,
    });
    return new ServerChild(kind, child);
  }

  get port(): number {
    return this.#child.ready.port;
  }

  get token(): string {
    return this.#child.ready.token;
  }

  get notes(): RunningServer['notes'] {
    return this.#child.ready.notes;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** The child's own CPU time (user + system, all its threads). */
  async cpuUsage(): Promise<NodeJS.CpuUsage> {
    const usage = await this.#child.request<NodeJS.CpuUsage | undefined>('cpu', undefined, kReplyTimeoutMs);
    if (!usage) throw new Error(`${this.kind} server sent no CPU time`);
    return usage;
  }

  async startProfile(intervalUs: number): Promise<void> {
    await this.#child.request('profile-start', { intervalUs }, kReplyTimeoutMs);
  }

  /** Stops the profile and has the child write it (`.cpuprofile` JSON) to `file`. */
  async stopProfile(file: string): Promise<void> {
    await this.#child.request('profile-stop', { file }, kReplyTimeoutMs);
  }

  /** Asks the child to close and exit; kills it after `graceMs`. */
  stop(graceMs = 3000): Promise<void> {
    return this.#child.stop(graceMs);
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
  void serveParent(() => setup(kind as ServerKind, knobs));
}
