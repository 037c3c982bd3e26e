// The workload of `fleetmaster demo`: one master and a fleet of in-process slaves doing real work over real
// sockets on 127.0.0.1, with live progress and a summary. Half of the slaves speak MessagePack (their results
// carry the trace as a binary Float64Array), the other half JSON; every result goes through a result handler
// (./demo-handler.ts) on the master's pool threads. One task is deliberately bad, so a failure travels back too.
import { extname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { TaskFail } from '../errors.ts';
import type { SlaveConnection } from '../master/connection.ts';
import { Master } from '../master/master.ts';
import type { MasterOptions } from '../master/options.ts';
import type { MasterStats } from '../master/status.ts';
import { type Task, TaskStatus } from '../master/task.ts';
import { checkOption, type OptionTable } from '../options.ts';
import { Slave } from '../slave/slave.ts';
import type { DemoScore } from './demo-handler.ts';

export type { DemoScore } from './demo-handler.ts';

/** The demo's own sizes, written once: `runDemo` checks against them, `fleetmaster demo` takes its fields from them. */
export const kDemoOptions = Object.freeze({
  slaves: { type: 'integer', default: 8, min: 1, max: 1000, arg: 'n', help: 'in-process slaves' },
  tasks: {
    type: 'integer',
    default: 400,
    min: 0,
    max: 100_000_000,
    arg: 'n',
    help: 'tasks in all (one deliberately bad)',
  },
  samples: {
    type: 'integer',
    default: 500_000,
    min: 1,
    max: 1_000_000_000,
    arg: 'n',
    help: 'Monte-Carlo samples per task',
  },
} satisfies OptionTable);

export interface DemoOptions {
  /** In-process slaves, each on 127.0.0.1 and a free port; every other one speaks MessagePack. */
  slaves: number;
  /** Tasks in all (one of them deliberately bad). */
  tasks: number;
  /** Monte-Carlo samples per task. */
  samples: number;
  /** Threads of the master's result pool. @defaultValue the master's default */
  resultThreads?: number;
  /** Where the progress and the summary go. A TTY gets one status line redrawn in place. */
  out: NodeJS.WritableStream;
  /**
   * Merged into the master's options (logger, …). The demo's `host`/`port` (127.0.0.1, any free port) are
   * defaults this may override; `resultHandler` is always the demo's. The slaves get the same `logger`.
   */
  masterOptions?: Partial<MasterOptions>;
  /** Aborting stops handing out tasks; tasks already running get two seconds to end, then all closes. */
  signal?: AbortSignal;
  /**
   * After the `tasks`, keep every slave going with a task every one to two seconds (one in 40 deliberately bad)
   * until `signal` aborts: a live fleet to watch on the dashboard. Needs `signal`. @defaultValue false
   */
  keepRunning?: boolean;
  /**
   * Called on the main thread for every task that ended (COMPLETED or FAILED) and was counted; a completed
   * task's `result` is the handler's {@link DemoScore}. A callback that throws ends the demo with its error.
   */
  onTask?: (task: Task<DemoWork, unknown>) => void;
  /** Called once the summary is written, before the fleet is taken down (e.g. to scrape the master's metrics). */
  afterWork?: (master: Master) => Promise<void>;
}

/** One task's data. */
export interface DemoWork {
  seed: number;
  /** Samples to draw; the deliberately bad task has -1. */
  samples: number;
}

export interface DemoSummary {
  /** Tasks asked for. */
  tasks: number;
  completed: number;
  /** Tasks that ended FAILED (the bad one, and any other failure) before the demo ended. */
  failed: number;
  /** Wall time of the work, from the first task handed out to the last one ended. */
  seconds: number;
  /** (completed + failed) / seconds. */
  tasksPerSecond: number;
  /** π estimated from every completed task's samples (NaN when none completed). */
  estimate: number;
  /** |estimate − π|. */
  error: number;
  /** Samples behind the estimate. */
  samples: number;
  /** The master's counters when the work ended (before the fleet was taken down). */
  master: MasterStats;
  /** True when `signal` aborted the demo before every task had run. */
  aborted: boolean;
}

/** The command line's defaults, measured to take a few seconds on a 2-core machine. */
export const kDemoDefaults = Object.freeze({ slaves: 8, tasks: 400, samples: 500_000 });

/** The handler module, as .ts under tsx and as .js once built to dist/. */
const kHandler = new URL('./demo-handler' + extname(fileURLToPath(import.meta.url)), import.meta.url);

/** Chunks of a task's samples; after each one the slave records its running estimate in the trace. */
const kTraceChunks = 16;
/** After an abort, how long running tasks may take to end before everything is closed under them. */
const kAbortGraceMs = 2000;
/** With `keepRunning`, each slave rests this long (plus up to as much again) between two tasks. */
const kSlowFeedMs = 1000;
/** With `keepRunning`, one task in this many is deliberately bad. */
const kBadEvery = 40;

interface Sampled {
  inside: number;
  samples: number;
  trace: Float64Array | number[];
}

/** A small deterministic PRNG (mulberry32), so every run gives the same estimate. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A slave's task: estimates π from `samples` random points, recording the running estimate after each chunk.
 * A MessagePack slave sends the trace as a Float64Array (binary on the wire); a JSON slave as a number array
 * (JSON.stringify would turn a typed array into an object with index keys).
 */
function sample(data: unknown, binary: boolean): Sampled {
  const { seed, samples } = (data ?? {}) as Partial<DemoWork>;
  if (typeof samples !== 'number' || !Number.isSafeInteger(samples) || samples <= 0) {
    throw new TaskFail({ reason: `bad sample count ${String(samples)}`, seed });
  }
  if (typeof seed !== 'number' || !Number.isInteger(seed)) {
    throw new TaskFail({ reason: `bad seed ${String(seed)}` });
  }
  const random = rng(seed);
  const chunks = Math.min(kTraceChunks, samples);
  const trace = new Float64Array(chunks);
  let inside = 0;
  let done = 0;
  for (let c = 0; c < chunks; c++) {
    const end = Math.round(((c + 1) * samples) / chunks);
    for (; done < end; done++) {
      const x = random();
      const y = random();
      if (x * x + y * y <= 1) inside++;
    }
    trace[c] = (4 * inside) / done;
  }
  return { inside, samples, trace: binary ? trace : Array.from(trace) };
}

const integer = new Intl.NumberFormat('en');
const oneDecimal = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs the demo: starts a master and `slaves` in-process slaves, keeps every slave busy until `tasks` tasks have
 * ended, writes live progress and a summary to `out`, and takes the whole fleet down again (also when something
 * throws). `onMaster` is called once the master has started and every slave is connected.
 */
export async function runDemo(
  options: DemoOptions,
  onMaster?: (master: Master) => void | Promise<void>,
): Promise<DemoSummary> {
  const slaveCount = checkOption('slaves', kDemoOptions.slaves, options.slaves) as number;
  const taskCount = checkOption('tasks', kDemoOptions.tasks, options.tasks) as number;
  const sampleCount = checkOption('samples', kDemoOptions.samples, options.samples) as number;
  const { out, signal, masterOptions = {} } = options;
  if (typeof out?.write !== 'function') throw new TypeError('options.out must be a writable stream');
  const keepRunning = options.keepRunning === true;
  if (keepRunning && signal === undefined) {
    throw new TypeError('options.keepRunning needs options.signal (the only way it ends)');
  }
  const tty = (out as { isTTY?: boolean }).isTTY === true;

  const slaves: Slave[] = [];
  let master: Master | undefined;
  let timer: NodeJS.Timeout | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  let stopping = false;
  let aborted = false;
  let wakeOnAbort: (() => void) | undefined;
  const onAbort = () => {
    aborted = true;
    wakeOnAbort?.();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) aborted = true;

  // progress, shared by the drivers and the status line
  let completed = 0;
  let failed = 0;
  let inside = 0;
  let samples = 0;
  let workStarted = 0;
  let workEnded = 0;
  let shownFailures = 0;

  const statusLine = (): string => {
    const ended = completed + failed;
    const seconds = ((workEnded || performance.now()) - workStarted) / 1000;
    const rate = workStarted > 0 && seconds > 0 ? ended / seconds : 0;
    const estimate = samples > 0 ? ((4 * inside) / samples).toFixed(5) : '–';
    const connected = master ? master.names().length : 0;
    const of = keepRunning ? '' : `/${integer.format(taskCount)}`;
    return (
      `slaves ${connected}/${slaveCount} connected · tasks ${integer.format(ended)}${of} ` +
      `done, ${failed} failed · ${integer.format(Math.round(rate))} tasks/s · π ≈ ${estimate}`
    );
  };
  const redraw = () => out.write(`\r\x1b[2K${statusLine()}`);
  /** A line of its own, above the status line on a TTY. */
  const note = (message: string) => {
    if (tty) {
      out.write(`\r\x1b[2K${message}\n`);
      if (timer) redraw();
    } else out.write(`${message}\n`);
  };

  let summary: DemoSummary | undefined;
  let failure: { error: unknown } | undefined;
  try {
    const logger = masterOptions.logger;
    master = await new Master({
      host: '127.0.0.1',
      port: 0,
      ...masterOptions,
      resultHandler: kHandler,
      ...(options.resultThreads === undefined ? {} : { resultThreads: options.resultThreads }),
    }).start();

    // start every slave; those that started are closed in the end even if another one fails to start
    const started = await Promise.allSettled(
      Array.from({ length: slaveCount }, (_, i) => {
        const binary = i % 2 === 0;
        const slave = new Slave({
          host: '127.0.0.1',
          port: 0,
          format: binary ? 'msgpack' : 'json',
          logger,
          processTask: (data) => sample(data, binary),
        });
        return slave.start();
      }),
    );
    for (const s of started) if (s.status === 'fulfilled') slaves.push(s.value);
    const refused = started.find((s) => s.status === 'rejected');
    if (refused) throw refused.reason;

    const m = master;
    const connections: SlaveConnection[] = await Promise.all(
      slaves.map(async (slave, i) => {
        const connection = m.newConnection(`slave-${i + 1}`, '127.0.0.1', slave.port, {
          msgpack: i % 2 === 0,
        });
        await connection.connect();
        return connection;
      }),
    );
    const binaryCount = Math.ceil(slaveCount / 2);
    note(
      `master on 127.0.0.1:${m.port} (${m.engine} engine); ${slaveCount} slaves connected ` +
        `(${binaryCount} MessagePack, ${slaveCount - binaryCount} JSON); ` +
        `${integer.format(taskCount)} tasks of ${integer.format(sampleCount)} samples`,
    );
    await onMaster?.(m);

    const bad = taskCount === 0 ? -1 : Math.min(7, taskCount - 1);
    const queue: DemoWork[] = Array.from({ length: taskCount }, (_, i) => ({
      seed: i + 1,
      samples: i === bad ? -1 : sampleCount,
    }));

    let nextSeed = taskCount + 1;
    /** With `keepRunning`, once the queue is empty: a rest, then a new task (undefined once aborted). */
    const slowFeed = async (): Promise<DemoWork | undefined> => {
      const seed = nextSeed++;
      await sleep(kSlowFeedMs * (1 + rng(seed)()), undefined, { signal }).catch(() => undefined);
      if (stopping || aborted) return undefined;
      return { seed, samples: seed % kBadEvery === 0 ? -1 : sampleCount };
    };

    /** One slave's loop: the next task as soon as its previous one has ended. */
    const drive = async (connection: SlaveConnection): Promise<void> => {
      while (!stopping && !aborted) {
        const work = queue.shift() ?? (keepRunning ? await slowFeed() : undefined);
        if (work === undefined) return;
        const task = connection.newTask<DemoWork, unknown>(work);
        try {
          await task.start();
        } catch (err) {
          if (stopping) return;
          queue.unshift(work); // another slave takes it
          note(`${connection.name} could not start a task (${messageOf(err)}); it gets no more work`);
          return;
        }
        await task.join();
        if (stopping) return; // ended by the shutdown after an abort: not counted
        if (task.status === TaskStatus.COMPLETED) {
          const score = task.result as DemoScore;
          completed++;
          inside += score.inside;
          samples += score.samples;
        } else {
          failed++;
          if (shownFailures++ < 5) {
            const why = task.error ? messageOf(task.error) : JSON.stringify(task.result);
            note(`task seed ${work.seed} failed on ${connection.name}: ${why}`);
          }
        }
        options.onTask?.(task);
        if (!m.has(connection.name)) {
          note(`${connection.name} is gone; it gets no more work`);
          return;
        }
      }
    };

    workStarted = performance.now();
    timer = setInterval(tty ? redraw : () => out.write(`${statusLine()}\n`), tty ? 100 : 1000);
    timer.unref();
    if (tty) redraw();
    const drivers = Promise.all(connections.map(drive));
    if (!aborted) {
      const abortedNow = new Promise<void>((resolve) => {
        wakeOnAbort = resolve;
      });
      await Promise.race([drivers, abortedNow]);
    }
    if (aborted) {
      drivers.catch(() => undefined); // may settle after the fleet is closed under it
      const grace = new Promise<void>((resolve) => {
        graceTimer = setTimeout(resolve, kAbortGraceMs);
      });
      await Promise.race([drivers, grace]);
    } else {
      await drivers; // a driver that threw ends the demo
    }
    workEnded = performance.now();
    clearInterval(timer);
    timer = undefined;
    stopping = true;

    // the final status line, then the summary
    out.write(tty ? `\r\x1b[2K${statusLine()}\n` : `${statusLine()}\n`);
    const seconds = (workEnded - workStarted) / 1000;
    const ended = completed + failed;
    const estimate = samples > 0 ? (4 * inside) / samples : Number.NaN;
    summary = {
      // with keepRunning, the tasks handed out after the first `tasks` count too
      tasks: keepRunning ? Math.max(taskCount, ended) : taskCount,
      completed,
      failed,
      seconds,
      tasksPerSecond: seconds > 0 ? ended / seconds : 0,
      estimate,
      error: Math.abs(estimate - Math.PI),
      samples,
      master: m.stats(),
      aborted: aborted && ended < taskCount,
    };
    out.write(formatSummary(summary));
    await options.afterWork?.(m);
  } catch (err) {
    failure = { error: err };
  } finally {
    stopping = true;
    signal?.removeEventListener('abort', onAbort);
    clearInterval(timer);
    clearTimeout(graceTimer);
    if (tty && failure && timer !== undefined) out.write('\n');
  }

  // take the fleet down whatever happened: every connection, the master, every slave
  const cleanup: unknown[] = [];
  if (master) {
    for (const name of master.names()) await master.delete(name).catch((err) => cleanup.push(err));
    await master.close().catch((err) => cleanup.push(err));
  }
  await Promise.all(slaves.map((slave) => slave.close().catch((err) => cleanup.push(err))));
  if (failure) throw failure.error;
  if (cleanup.length > 0) {
    for (const err of cleanup) note(`while closing the fleet: ${messageOf(err)}`);
    throw cleanup[0];
  }
  return summary!;
}

/** The summary block: a few aligned lines. */
function formatSummary(s: DemoSummary): string {
  const ended = s.completed + s.failed;
  const lines = [
    `tasks     ${integer.format(s.completed)} completed, ${integer.format(s.failed)} failed` +
      (ended < s.tasks
        ? `, ${integer.format(s.tasks - ended)} not run${s.aborted ? ' (aborted)' : ''}`
        : '') +
      ` of ${integer.format(s.tasks)}`,
    `time      ${s.seconds.toFixed(2)} s, ${oneDecimal.format(s.tasksPerSecond)} tasks/s`,
    Number.isNaN(s.estimate)
      ? 'π         no estimate (no task completed)'
      : `π         ≈ ${s.estimate.toFixed(6)} (error ${s.error.toExponential(2)}) from ${integer.format(s.samples)} samples`,
    `master    ${Object.entries(s.master)
      .map(([key, value]) => `${key} ${String(value)}`)
      .join(', ')}`,
  ];
  return `${lines.join('\n')}\n`;
}
