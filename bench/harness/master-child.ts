/**
 * The master under test, alone in its own process (bench/harness/ipc-child.ts): a real `Master` from src/,
 * which connects slaves through the real `POST /connect` when asked, and reports its stats; CPU time, memory,
 * event-loop delay and CPU profiles come with every child. A benchmark adds requests of its own with a plugin
 * module (`handlers(host)`: the fleet benchmark's task load). With `--cpu-prof` in its execArgv node writes one
 * profile per thread as it exits.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import type { Master, MasterStats, SlaveConnection } from '../../src/index.ts';
import { IpcChild, type RequestHandlers } from './ipc-child.ts';
import { kThreadCpuEnv, pinProcess } from './pin.ts';

export interface MasterChildConfig {
  /** MasterOptions (JSON); host and port are 127.0.0.1 and 0. */
  options: Record<string, unknown>;
  /** Modules exporting `handlers(host: PluginHost): RequestHandlers`. */
  plugins?: string[];
  /** Environment for the result handlers (pool threads inherit it). */
  env?: Record<string, string>;
  /** `--pin`: the master's threads on `main`; its pool threads move to `pool` when they load the handler. */
  pin?: { main: string; pool: string } | undefined;
  /** Warnings printed (the rest are only counted): a fleet of thousands can warn thousands of times. */
  warnings: number;
}

export interface MasterReady {
  port: number;
  /** The admin listener's port (with `adminPort` in the options: the dashboard, `/metrics`), else -1. */
  adminPort: number;
  /** What the master resolved (its result threads, batch, queue limit, heartbeat tolerance and sweep span). */
  notes: Record<string, number | string>;
}

export interface ConnectRequest {
  ports: readonly number[];
  slaves: number;
  /** The first slave's number: slaves are named `slave-<first + i>` (a later call connects replacements). @defaultValue 0 */
  first?: number;
  concurrency: number;
  msgpack: boolean;
  /** Give up starting connects after this many milliseconds. */
  limitMs: number;
}

/** What one `connect` request did. */
export interface ConnectOutcome {
  connected: number;
  failed: number;
  seconds: number;
  firstError: string | undefined;
  /** Every slave this request connected: its token, in order. */
  tokens: string[];
}

/** `master.stats()`, plus what the child counts itself. */
export type ChildStats = MasterStats & {
  warnings: number;
  /** The latest warning, on one line (printed or not): what a count of warnings in a window was. */
  lastWarning: string | undefined;
  /** Batches the pool stage handed to its threads (`Piscina#run` calls), and the results they carried. */
  batches: number;
  batchedResults: number;
};

/** Progress, once a second while connecting (and whenever a plugin sends it). */
export interface Progress {
  type: 'progress';
  connected: number;
  /** Tasks completed since the load began (warm-up included). */
  completed: number;
  stats: MasterStats;
}

export interface PluginHost {
  master: Master;
  connections: SlaveConnection[];
  progress(completed: number): void;
}

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

/** The child's side. */
export async function setup(config: MasterChildConfig) {
  Object.assign(process.env, config.env);
  if (config.pin) {
    // before the pool exists: its threads start on the main CPU, then each moves itself when it loads the handler
    pinProcess(process.pid, config.pin.main);
    process.env[kThreadCpuEnv] = config.pin.pool;
  }
  const batches = countBatches((await import('piscina')).Piscina);
  const { Master } = await import('../../src/index.ts');
  let warnings = 0;
  let lastWarning: string | undefined;
  const logger = {
    warn(error: object, message?: string) {
      // one line: stack frames dropped (an Error's inspect keeps its newlines whatever the break length)
      const detail = inspect(error, { breakLength: Number.POSITIVE_INFINITY, depth: 2 })
        .replace(/\n\s*at [^\n]*/g, '')
        .replace(/\s*\n\s*/g, ' ');
      lastWarning = `${message} ${detail}`.slice(0, 500);
      if (++warnings <= config.warnings) console.error(`[master] ${message}`, error ?? '');
    },
  };
  const master = await new Master({ ...config.options, host: '127.0.0.1', port: 0, logger }).start();
  const connections: SlaveConnection[] = [];
  const host: PluginHost = {
    master,
    connections,
    progress: (completed) =>
      process.send?.({ type: 'progress', connected: connections.length, completed, stats: master.stats() }),
  };

  const connect = async (r: ConnectRequest): Promise<ConnectOutcome> => {
    const started = performance.now();
    const deadline = started + r.limitMs;
    let next = 0;
    let failed = 0;
    let firstError: string | undefined;
    const made: SlaveConnection[] = [];
    const timer = setInterval(() => host.progress(0), 1000);
    const lane = async () => {
      while (next < r.slaves && performance.now() < deadline) {
        const i = (r.first ?? 0) + next++;
        const port = r.ports[i % r.ports.length]!;
        const connection = master.newConnection(`slave-${i}`, '127.0.0.1', port, { msgpack: r.msgpack });
        try {
          await connection.connect();
          connections.push(connection);
          made.push(connection);
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
    host.progress(0);
    const seconds = (performance.now() - started) / 1000;
    return { connected: made.length, failed, seconds, firstError, tokens: made.map((c) => c.token) };
  };

  const handlers: RequestHandlers = {
    connect,
    stats: (): ChildStats => ({ ...master.stats(), warnings, lastWarning, ...batches }),
  };
  for (const plugin of config.plugins ?? []) {
    const module = (await import(pathToFileURL(plugin).href)) as {
      handlers(host: PluginHost): RequestHandlers;
    };
    Object.assign(handlers, module.handlers(host));
  }
  const o = master.options;
  const notes = {
    resultThreads: o.resultThreads,
    resultBatch: o.resultBatch,
    resultQueueLimit: o.resultQueueLimit,
    heartbeatTolerance: o.heartbeatTolerance,
    heartbeatCheckSpan: o.heartbeatCheckSpan,
  };
  return {
    value: { port: master.port, adminPort: master.adminPort, notes } satisfies MasterReady,
    handlers,
    close: () => master.destroy(),
    // a CPU profile is written as the process exits: give it time
    closeTimeoutMs: 10_000,
  };
}

/** Starts a master child, stopped by `defer` when the run ends; `onProgress` hears its progress. */
export async function startMaster(
  config: MasterChildConfig,
  options: {
    label: string;
    execArgv?: string[];
    onProgress?: (p: Progress) => void;
    defer?: (stop: () => unknown) => void;
  },
): Promise<IpcChild<MasterReady>> {
  const child = await IpcChild.start<MasterReady>(fileURLToPath(import.meta.url), config, {
    label: options.label,
    readyTimeoutMs: 60_000,
    execArgv: ['--expose-gc', ...(options.execArgv ?? [])],
    onMessage: (message) => {
      if (message.type === 'progress') options.onProgress?.(message as Progress);
    },
  });
  options.defer?.(() => child.stop(15_000));
  return child;
}

/** Most milliseconds to connect a fleet of `slaves`. */
export const connectLimitMs = (slaves: number) => 30_000 + slaves * 5;

/** Connects virtual slaves to a master child (its `connect` request, bounded by `limitMs`), tokens left out. */
export async function connectSlaves(master: IpcChild<MasterReady>, request: ConnectRequest) {
  const { tokens: _, ...outcome } = await master.request<ConnectOutcome>(
    'connect',
    request,
    request.limitMs + 15_000,
  );
  return outcome;
}

/**
 * One progress line per report of a master child after the first: `line` gets the report, the tasks completed per
 * second since the report before, and the seconds since it; it returns no line to skip one.
 */
export function progressLog(
  log: (line: string) => void,
  line: (p: Progress, tasksPerSec: number, seconds: number) => string | undefined,
): (p: Progress) => void {
  let last: { at: number; completed: number } | undefined;
  return (p) => {
    // a connect's own report (mid-load: replacements) counts no task: not the load's
    if (last && p.completed < last.completed) return;
    const now = performance.now();
    const seconds = last && (now - last.at) / 1000;
    const text = last && seconds && line(p, (p.completed - last.completed) / seconds, seconds);
    last = { at: now, completed: p.completed };
    if (text) log(text);
  };
}
