/**
 * The fleet benchmark's master, alone in its own process (through bench/ipc-child.ts): a real `Master`
 * from src/, driven by the parent over IPC — connect N slaves, keep every one busy for a while, report what it
 * measured (task latency start → join, its own CPU, memory and event loop), stop. With `--cpu-prof` in its
 * execArgv (the parent's `--profile`) node writes its CPU profiles when it exits.
 */
import { createHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { MasterStats, SlaveConnection } from '../src/index.ts';
import { IpcChild, serveParent } from './ipc-child.ts';

/** Master options the benchmark turns. */
export interface FleetMasterKnobs {
  heartbeatTolerance: number;
  heartbeatCheckSpan: number;
  /** undefined: the master's default (a pool as wide as the machine). */
  resultThreads: number | undefined;
  taskClient: 'lean' | 'undici';
}

export interface ConnectRequest {
  ports: readonly number[];
  slaves: number;
  concurrency: number;
  msgpack: boolean;
  /** Give up starting connects after this many milliseconds. */
  limitMs: number;
}

export interface ConnectOutcome {
  connected: number;
  failed: number;
  seconds: number;
  firstError: string | undefined;
}

export interface LoadRequest {
  /** Measured seconds. */
  duration: number;
  /** Unmeasured seconds first. */
  warmup: number;
  /** Most milliseconds to wait, after the measured window, for tasks in flight to end. */
  drainMs: number;
}

/** What the master measured over the load's window. */
export interface LoadOutcome {
  seconds: number;
  completed: number;
  /** Tasks that ended FAILED (slave lost, result handler failed…). */
  failed: number;
  /** `start()` rejected. */
  startFailed: number;
  /** Still running when the drain gave up. */
  unfinished: number;
  /** Loops that stopped because their connection was no longer connected. */
  loopsLost: number;
  latencyUs: { p50: number; p99: number; max: number; mean: number };
  cpu: { userMs: number; systemMs: number };
  /** Main-thread event loop utilisation, 0–1. */
  elu: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  memory: NodeJS.MemoryUsage;
  /** `process.hrtime` at the window's start and end, in microseconds (the CPU profile's clock). */
  windowUs: [number, number];
}

export interface Sample {
  cpu: NodeJS.CpuUsage;
  elu: ReturnType<typeof performance.eventLoopUtilization>;
  stats: MasterStats;
  /** Event-loop delay p99 and max since the previous sample, in ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

export interface Progress {
  type: 'progress';
  connected: number;
  /** Tasks completed since the load began (warm-up included). */
  completed: number;
  failed: number;
  stats: MasterStats;
}

interface Ready {
  port: number;
  resultThreads: number;
}

const kSelf = fileURLToPath(import.meta.url);
const kReadyTimeoutMs = 30_000;
const kReplyTimeoutMs = 15_000;

// ---- child side ----

async function setup(knobs: FleetMasterKnobs) {
  const { Master, TaskStatus } = await import('../src/index.ts');
  let warnings = 0;
  const logger = {
    warn(error: object, message?: string) {
      // a fleet of thousands can warn thousands of times: the first few are enough
      if (++warnings <= 5) console.error(`[master] ${message}`, error ?? '');
    },
  };
  const master = new Master({
    host: '127.0.0.1',
    port: 0,
    heartbeatTolerance: knobs.heartbeatTolerance,
    heartbeatCheckSpan: knobs.heartbeatCheckSpan,
    resultThreads: knobs.resultThreads,
    taskClient: knobs.taskClient,
    logger,
  });
  await master.start();

  const connections: SlaveConnection[] = [];
  const totals = { completed: 0, failed: 0 };
  const progress = () =>
    process.send?.({
      type: 'progress',
      connected: connections.length,
      ...totals,
      stats: master.stats(),
    } satisfies Progress);

  const connect = async (r: ConnectRequest): Promise<ConnectOutcome> => {
    const started = performance.now();
    const deadline = started + r.limitMs;
    let next = 0;
    let failed = 0;
    let firstError: string | undefined;
    const timer = setInterval(progress, 1000);
    const lane = async () => {
      while (next < r.slaves && performance.now() < deadline) {
        const i = next++;
        const connection = master.newConnection(`slave-${i}`, '127.0.0.1', r.ports[i % r.ports.length]!, {
          msgpack: r.msgpack,
        });
        try {
          await connection.connect();
          connections.push(connection);
        } catch (err) {
          failed++;
          firstError ??= err instanceof Error ? err.message : String(err);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(r.concurrency, r.slaves) }, lane));
    } finally {
      clearInterval(timer);
    }
    progress();
    return {
      connected: connections.length,
      failed,
      seconds: (performance.now() - started) / 1000,
      firstError,
    };
  };

  const load = async (r: LoadRequest): Promise<LoadOutcome> => {
    const latency = createHistogram({ lowest: 1, highest: 600_000_000, figures: 3 });
    const window = { measuring: false, stopping: false, completed: 0, failed: 0, startFailed: 0 };
    let loopsLost = 0;
    const data = { n: 1 };
    const loop = async (connection: SlaveConnection) => {
      while (!window.stopping) {
        if (!connection.isConnected) {
          loopsLost++;
          return;
        }
        const task = connection.newTask(data);
        const started = performance.now();
        let startFailed = false;
        try {
          await task.start();
        } catch {
          startFailed = true;
        }
        await task.join();
        const measuring = window.measuring;
        if (task.status === TaskStatus.COMPLETED) {
          totals.completed++;
          if (measuring) {
            window.completed++;
            latency.record(Math.max(1, Math.round((performance.now() - started) * 1000)));
          }
        } else {
          totals.failed++;
          if (measuring) {
            if (startFailed) window.startFailed++;
            else window.failed++;
          }
          // a refused start comes back at once: do not spin on it
          if (startFailed) await sleep(50);
        }
      }
    };
    totals.completed = 0;
    totals.failed = 0;
    const timer = setInterval(progress, 1000);
    const loops = connections.map(loop);
    try {
      await sleep(r.warmup * 1000);
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      const cpu0 = process.cpuUsage();
      const elu0 = performance.eventLoopUtilization();
      const t0 = process.hrtime.bigint();
      window.measuring = true;
      await sleep(r.duration * 1000);
      window.measuring = false;
      const t1 = process.hrtime.bigint();
      const cpu = process.cpuUsage(cpu0);
      const elu = performance.eventLoopUtilization(elu0).utilization;
      delay.disable();
      const memory = process.memoryUsage();
      window.stopping = true;
      let drained = false;
      await Promise.race([
        Promise.all(loops).then(() => {
          drained = true;
        }),
        sleep(r.drainMs),
      ]);
      const seconds = Number(t1 - t0) / 1e9;
      return {
        seconds,
        completed: window.completed,
        failed: window.failed,
        startFailed: window.startFailed,
        unfinished: drained ? 0 : master.stats().runningTasks,
        loopsLost,
        latencyUs: {
          p50: latency.count > 0 ? latency.percentile(50) : Number.NaN,
          p99: latency.count > 0 ? latency.percentile(99) : Number.NaN,
          max: latency.count > 0 ? latency.max : Number.NaN,
          mean: latency.count > 0 ? latency.mean : Number.NaN,
        },
        cpu: { userMs: cpu.user / 1000, systemMs: cpu.system / 1000 },
        elu,
        loopDelayP99Ms: delay.percentile(99) / 1e6,
        loopDelayMaxMs: delay.max / 1e6,
        memory,
        windowUs: [Number(t0 / 1000n), Number(t1 / 1000n)],
      };
    } finally {
      window.stopping = true;
      clearInterval(timer);
      progress();
    }
  };

  const gc = (globalThis as { gc?: () => void }).gc;
  // between two samples: how long a ready callback (a heartbeat) could wait for the main thread
  const sampleDelay = monitorEventLoopDelay({ resolution: 10 });
  sampleDelay.enable();
  return {
    value: { port: master.port, resultThreads: master.options.resultThreads } satisfies Ready,
    handlers: {
      connect,
      load,
      memory: () => {
        // twice: the first pass can leave finalisable garbage for the second
        gc?.();
        gc?.();
        return process.memoryUsage();
      },
      sample: (): Sample => {
        const sample: Sample = {
          cpu: process.cpuUsage(),
          elu: performance.eventLoopUtilization(),
          stats: master.stats(),
          loopDelayP99Ms: sampleDelay.percentile(99) / 1e6,
          loopDelayMaxMs: sampleDelay.max / 1e6,
        };
        sampleDelay.reset();
        return sample;
      },
    },
    close: () => master.destroy(),
    // the master's CPU profile is written as it exits: give it time
    closeTimeoutMs: 10_000,
  };
}

// ---- parent side ----

export interface FleetChildOptions {
  knobs: FleetMasterKnobs;
  /** Extra node flags for the child (e.g. `--cpu-prof`). */
  execArgv?: readonly string[];
  onProgress?: (progress: Progress) => void;
}

/** The parent's handle on the master child. `stop()` never rejects and never leaves the process behind. */
export class FleetMasterChild {
  readonly #child: IpcChild<Ready>;
  onProgress: ((progress: Progress) => void) | undefined;

  private constructor(child: IpcChild<Ready>) {
    this.#child = child;
  }

  static async start(options: FleetChildOptions): Promise<FleetMasterChild> {
    let handle: FleetMasterChild | undefined;
    const child = await IpcChild.start<Ready>(kSelf, ['--fleet-master', JSON.stringify(options.knobs)], {
      label: 'fleet master',
      readyTimeoutMs: kReadyTimeoutMs,
      execArgv: ['--expose-gc', ...(options.execArgv ?? [])],
      onMessage: (message) => {
        if (message.type === 'progress') handle?.onProgress?.(message as Progress);
      },
    });
    handle = new FleetMasterChild(child);
    handle.onProgress = options.onProgress;
    return handle;
  }

  get port(): number {
    return this.#child.ready.port;
  }

  get resultThreads(): number {
    return this.#child.ready.resultThreads;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  connect(request: ConnectRequest): Promise<ConnectOutcome> {
    return this.#child.request('connect', request, request.limitMs + kReplyTimeoutMs);
  }

  load(request: LoadRequest): Promise<LoadOutcome> {
    const ms = (request.warmup + request.duration) * 1000 + request.drainMs + kReplyTimeoutMs;
    return this.#child.request('load', request, ms);
  }

  /** Memory after two full collections. */
  memory(): Promise<NodeJS.MemoryUsage> {
    return this.#child.request('memory', undefined, kReplyTimeoutMs);
  }

  sample(): Promise<Sample> {
    return this.#child.request('sample', undefined, kReplyTimeoutMs);
  }

  /** Asks the child to close and exit (writing its CPU profile, if any); kills it after `graceMs`. */
  stop(graceMs = 15_000): Promise<void> {
    return this.#child.stop(graceMs);
  }

  /** For an `exit` handler: no waiting, no IPC. */
  kill(): void {
    this.#child.kill();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf('--fleet-master');
  if (at < 0) {
    console.error('usage: fleet-child.ts --fleet-master <knobs JSON> (forked by bench/fleet.ts)');
    process.exit(2);
  }
  const knobs = JSON.parse(process.argv[at + 1] ?? '{}') as FleetMasterKnobs;
  void serveParent(() => setup(knobs));
}
