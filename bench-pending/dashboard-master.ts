/**
 * The dashboard benchmark's master, alone in its own process (bench/ipc-child.ts): a real `Master` with the admin
 * listener on (so the dashboard runs) or off, driven over IPC: connect the virtual slaves, keep every one busy with
 * tasks for a window, count what completed in it.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { IpcChild, serveParent } from '../bench/harness/ipc-child.ts';
import type { SlaveConnection } from '../src/index.ts';

export interface MasterKnobs {
  /** Serve the dashboard (adminPort 0). */
  admin: boolean;
  heartbeatTolerance: number;
}

export interface LoadOutcome {
  seconds: number;
  completed: number;
  failed: number;
  loopDelayP99Ms: number;
  cpuMs: number;
}

interface Ready {
  port: number;
  adminPort: number;
}

const kSelf = fileURLToPath(import.meta.url);

async function setup(knobs: MasterKnobs) {
  const { Master, TaskStatus } = await import('../src/index.ts');
  const master = await new Master({
    host: '127.0.0.1',
    port: 0,
    heartbeatTolerance: knobs.heartbeatTolerance,
    ...(knobs.admin ? { adminPort: 0 } : {}),
  }).start();
  const connections: SlaveConnection[] = [];
  return {
    value: { port: master.port, adminPort: master.adminPort } satisfies Ready,
    handlers: {
      connect: async (r: { ports: number[]; slaves: number; concurrency: number }) => {
        let next = 0;
        await Promise.all(
          Array.from({ length: r.concurrency }, async () => {
            while (next < r.slaves) {
              const i = next++;
              const c = master.newConnection(`slave-${i}`, '127.0.0.1', r.ports[i % r.ports.length]!);
              await c.connect();
              connections.push(c);
            }
          }),
        );
        return connections.length;
      },
      load: async (r: { warmup: number; duration: number }): Promise<LoadOutcome> => {
        const window = { measuring: false, stopping: false, completed: 0, failed: 0 };
        const loop = async (c: SlaveConnection) => {
          while (!window.stopping && c.isConnected) {
            const task = c.newTask({ n: 1 });
            await task.start().catch(() => undefined);
            await task.join();
            if (!window.measuring) continue;
            if (task.status === TaskStatus.COMPLETED) window.completed++;
            else window.failed++;
          }
        };
        const loops = connections.map(loop);
        await sleep(r.warmup * 1000);
        const delay = monitorEventLoopDelay({ resolution: 10 });
        delay.enable();
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        window.measuring = true;
        await sleep(r.duration * 1000);
        window.measuring = false;
        const seconds = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        delay.disable();
        window.stopping = true;
        await Promise.race([Promise.all(loops), sleep(10_000)]);
        return {
          seconds,
          completed: window.completed,
          failed: window.failed,
          loopDelayP99Ms: delay.percentile(99) / 1e6,
          cpuMs: (cpu.user + cpu.system) / 1000,
        };
      },
      evictions: () => master.stats().evictions,
    },
    close: () => master.destroy(),
  };
}

export class DashboardMasterChild {
  readonly #child: IpcChild<Ready>;

  private constructor(child: IpcChild<Ready>) {
    this.#child = child;
  }

  static async start(knobs: MasterKnobs): Promise<DashboardMasterChild> {
    return new DashboardMasterChild(
      await IpcChild.start<Ready>(kSelf, ['--dashboard-master', JSON.stringify(knobs)], {
        label: 'dashboard master',
        execArgv: [],
      }),
    );
  }

  get port(): number {
    return this.#child.ready.port;
  }

  get adminPort(): number {
    return this.#child.ready.adminPort;
  }

  connect(ports: readonly number[], slaves: number): Promise<number> {
    return this.#child.request('connect', { ports, slaves, concurrency: 128 }, 120_000);
  }

  load(warmup: number, duration: number): Promise<LoadOutcome> {
    return this.#child.request('load', { warmup, duration }, (warmup + duration) * 1000 + 30_000);
  }

  evictions(): Promise<number> {
    return this.#child.request('evictions');
  }

  stop(): Promise<void> {
    return this.#child.stop(15_000);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf('--dashboard-master');
  void serveParent(() => setup(JSON.parse(process.argv[at + 1] ?? '{}') as MasterKnobs));
}
