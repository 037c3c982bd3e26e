/**
 * The master under test, alone in its process: a real `Master` with the benchmark's result handler and thread
 * count, which connects `slaves` slaves of the fleet process through the real `POST /connect`. The parent reads
 * its tokens from `ready`, then asks over IPC for CPU time, `master.stats()`, its main thread's event-loop delay
 * over a window, and a CPU profile of its main thread over a window.
 *
 * Forked by bench/result-pool.ts as `result-pool-master.ts --master '<json MasterConfig>'`.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { LoggerLike, MasterStats } from '../src/index.ts';
import { kRoundsEnv } from './handlers/burn.ts';
import { kThreadNiceEnv } from './handlers/nice.ts';
import { IpcChild, profileHandlers, serveParent } from './ipc-child.ts';
import { kThreadCpuEnv, pinProcess } from './pin.ts';
import { type HistogramSummary, kLoopResolutionMs, summariseHistogram } from './result-pool-report.ts';

export interface MasterConfig {
  /** `resultThreads`: 0 runs the handler inline on the main thread. */
  threads: number;
  /** Path of the handler module. */
  handler: string;
  /** The heavy handler's calibrated rounds (set in the environment, which pool threads inherit). */
  handlerRounds: number;
  /** Nice value the handlers give their pool thread (0: untouched); see bench/handlers/nice.ts. */
  threadNice: number;
  /** `--pin`: the master's threads on CPU 0, its pool threads on CPU 1 (undefined: unpinned). */
  pin?: { main: string; pool: string } | undefined;
  /** `heartbeatTolerance`, seconds. */
  tolerance: number;
  slaves: number;
  /** The fleet's port on 127.0.0.1. */
  fleetPort: number;
  /** Run under `node --cpu-prof`, writing one profile per thread here. */
  cpuProfDir?: string | undefined;
}

export interface MasterReady {
  port: number;
  tokens: string[];
  /** What the master resolved (its `resultThreads`, batch size, queue limit). */
  notes: Record<string, number | string>;
  /** Warnings the master logged while connecting. */
  warnings: number;
}

const kSelf = fileURLToPath(import.meta.url);
/** Connects in flight at once while the master connects its fleet. */
const kConnectConcurrency = 32;

/** `master.stats()`, plus what the child counts itself. */
export type ChildStats = MasterStats & {
  warnings: number;
  /** Batches the pool stage handed to its threads (`Piscina#run` calls), and the results they carried. */
  batches: number;
  batchedResults: number;
};

// ---- child side ----

/**
 * Counts the batches the result stage hands to Piscina, by wrapping `Piscina.prototype.run` in this process
 * (a diagnostic: how many results share one hand-off, which sets the pool's cost per result).
 */
function countBatches(piscina: { prototype: object }): { batches: number; batchedResults: number } {
  const counts = { batches: 0, batchedResults: 0 };
  const proto = piscina.prototype as { run: (task: unknown, options?: unknown) => Promise<unknown> };
  const run = proto.run;
  proto.run = function (this: unknown, task: unknown, options?: unknown) {
    // a BatchInput (src/master/results/handler.ts): one end offset per result
    const ends = (task as { ends?: unknown } | null)?.ends;
    if (ends instanceof Uint32Array) {
      counts.batches++;
      counts.batchedResults += ends.length;
    }
    return run.call(this, task, options);
  };
  return counts;
}

async function serveMaster(config: MasterConfig): Promise<void> {
  process.env[kRoundsEnv] = String(config.handlerRounds);
  process.env[kThreadNiceEnv] = String(config.threadNice);
  if (config.pin) {
    // before the pool exists: its threads start on the main CPU, then each moves itself when it loads the handler
    pinProcess(process.pid, config.pin.main);
    process.env[kThreadCpuEnv] = config.pin.pool;
  }
  const batches = countBatches((await import('piscina')).Piscina);
  const { Master } = await import('../src/index.ts');
  let warnings = 0;
  const logger: LoggerLike = {
    warn: (error, message) => {
      // a result for an unknown task is the expected path here; anything else is worth seeing, once or twice
      if (++warnings <= 3) console.error(`master warning: ${message}`, error ?? '');
    },
  };
  let loop: IntervalHistogram | undefined;

  await serveParent(async () => {
    const master = await new Master({
      host: '127.0.0.1',
      port: 0,
      heartbeatTolerance: config.tolerance,
      resultHandler: config.handler,
      resultThreads: config.threads,
      requestRetries: 0,
      logger,
    }).start();
    try {
      const tokens: string[] = new Array(config.slaves);
      let next = 0;
      const connectSome = async () => {
        while (next < config.slaves) {
          const i = next++;
          const connection = master.newConnection(`slave-${i}`, '127.0.0.1', config.fleetPort);
          await connection.connect();
          tokens[i] = connection.token;
        }
      };
      await Promise.all(Array.from({ length: kConnectConcurrency }, connectSome));
      const o = master.options;
      return {
        value: {
          port: master.port,
          tokens,
          notes: {
            resultThreads: o.resultThreads,
            resultBatch: o.resultBatch,
            resultQueueLimit: o.resultQueueLimit,
            heartbeatTolerance: o.heartbeatTolerance,
            heartbeatCheckSpan: o.heartbeatCheckSpan,
          },
          warnings,
        } satisfies MasterReady,
        handlers: {
          cpu: () => process.cpuUsage(),
          stats: (): ChildStats => ({
            ...master.stats(),
            warnings,
            batches: batches.batches,
            batchedResults: batches.batchedResults,
          }),
          'loop-begin': () => {
            loop?.disable();
            loop = monitorEventLoopDelay({ resolution: kLoopResolutionMs });
            loop.enable();
          },
          'loop-end': (): HistogramSummary => {
            if (!loop) throw new Error('no loop window open');
            loop.disable();
            const summary = summariseHistogram(loop, 1e6, kLoopResolutionMs);
            loop = undefined;
            return summary;
          },
          ...profileHandlers(),
        },
        close: () => master.destroy(),
      };
    } catch (err) {
      await master.destroy();
      throw err;
    }
  });
}

// ---- parent side ----

/** The parent's handle on the master process. */
export class MasterChild {
  readonly #child: IpcChild<MasterReady>;
  readonly config: MasterConfig;

  private constructor(child: IpcChild<MasterReady>, config: MasterConfig) {
    this.#child = child;
    this.config = config;
  }

  static async start(config: MasterConfig): Promise<MasterChild> {
    const child = await IpcChild.start<MasterReady>(kSelf, ['--master', JSON.stringify(config)], {
      label: `master (resultThreads ${config.threads})`,
      readyTimeoutMs: 60_000 + config.slaves * 20,
      execArgv:
        config.cpuProfDir === undefined
          ? []
          : ['--cpu-prof', `--cpu-prof-dir=${config.cpuProfDir}`, '--cpu-prof-interval=250'],
    });
    return new MasterChild(child, config);
  }

  get ready(): MasterReady {
    return this.#child.ready;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  cpuUsage(): Promise<NodeJS.CpuUsage> {
    return this.#child.request('cpu');
  }

  stats(): Promise<ChildStats> {
    return this.#child.request('stats');
  }

  beginLoopWindow(): Promise<void> {
    return this.#child.request('loop-begin');
  }

  endLoopWindow(): Promise<HistogramSummary> {
    return this.#child.request('loop-end');
  }

  startProfile(intervalUs: number): Promise<void> {
    return this.#child.request('profile-start', { intervalUs });
  }

  stopProfile(file: string): Promise<void> {
    return this.#child.request('profile-stop', { file }, 60_000);
  }

  stop(): Promise<void> {
    return this.#child.stop();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf('--master');
  void serveMaster(JSON.parse(process.argv[at + 1] ?? '{}') as MasterConfig);
}
