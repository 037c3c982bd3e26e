/**
 * The fleet benchmark's load, run inside the master child (a plugin of bench/harness/master-child.ts): one closed
 * loop per connected slave until the window ends, each through one path (`via`): per connection,
 * `connection.newTask(data).start()` → `join()` → next, or through the fleet's queue and scheduler,
 * `master.submit(data)` → `join()` → next. It measures, in the master, task latency (start or submit → join), its
 * own CPU, main-thread event-loop utilisation and delay, and memory.
 */
import { createHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { type SlaveConnection, type Task, TaskStatus } from '../../src/index.ts';
import { settleWithin } from '../harness/bench.ts';
import type { PluginHost } from '../harness/master-child.ts';
import { summariseHistogram } from '../harness/report.ts';
import type { Via } from './rows.ts';

export interface LoadRequest {
  /** Measured seconds, after `warmup` unmeasured ones. */
  duration: number;
  warmup: number;
  /** Most milliseconds to wait, after the measured window, for tasks in flight to end. */
  drainMs: number;
  via: Via;
}

export type LoadOutcome = Awaited<ReturnType<ReturnType<typeof handlers>['load']>>;

export function handlers({ master, connections, progress }: PluginHost) {
  const load = async (r: LoadRequest) => {
    const latency = createHistogram({ lowest: 1, highest: 600_000_000, figures: 3 });
    const window = { measuring: false, stopping: false, completed: 0, failed: 0, startFailed: 0 };
    let completed = 0;
    let loopsLost = 0;
    const data = { n: 1 };
    /** One task through the connection; true when its `start()` rejected. */
    const perConnection = async (task: Task) => {
      const startFailed = await task.start().then(
        () => false,
        () => true,
      );
      await task.join();
      return startFailed;
    };
    /** One task through the fleet's queue: the scheduler picks its slave; it failed to start on none. */
    const submitted = async (task: Task) => {
      await task.join();
      return task.status === TaskStatus.START_FAILED;
    };
    const loop = async (connection: SlaveConnection) => {
      while (!window.stopping) {
        if (r.via === 'connection' && !connection.isConnected) {
          loopsLost++;
          return;
        }
        const started = performance.now();
        const task = r.via === 'submit' ? master.submit(data) : connection.newTask(data);
        const startFailed = await (r.via === 'submit' ? submitted(task) : perConnection(task));
        const measuring = window.measuring;
        if (task.status === TaskStatus.COMPLETED) {
          completed++;
          if (!measuring) continue;
          window.completed++;
          latency.record(Math.max(1, Math.round((performance.now() - started) * 1000)));
        } else {
          if (measuring && startFailed) window.startFailed++;
          else if (measuring) window.failed++;
          // a refused start (or a submit refused by a full queue) comes back at once: do not spin on it
          await sleep(50);
        }
      }
    };
    const timer = setInterval(() => progress(completed), 1000);
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
      const drained = await settleWithin(Promise.all(loops), r.drainMs);
      const seconds = Number(t1 - t0) / 1e9;
      const latencyMs = summariseHistogram(latency, 1000);
      // named as the result's `load` names them
      return {
        seconds,
        tasks: window.completed,
        /** Tasks that ended FAILED (slave lost, result handler failed…), and those whose `start()` rejected. */
        failed: window.failed,
        startFailed: window.startFailed,
        /** Still running when the drain gave up. */
        unfinished: drained ? 0 : master.stats().runningTasks,
        /** Loops that stopped because their connection was no longer connected (per-connection path only). */
        loopsLost,
        /** Task latency, `start()` (or `submit()`) → `join()`, measured in the master. */
        p50Ms: latencyMs.p50,
        p99Ms: latencyMs.p99,
        maxMs: latencyMs.max,
        meanMs: latencyMs.mean,
        masterCpu: (cpu.user + cpu.system) / 1000 / (seconds * 1000),
        masterElu: elu,
        masterLoopDelayP99Ms: delay.percentile(99) / 1e6,
        masterLoopDelayMaxMs: delay.max / 1e6,
        masterRssMiB: memory.rss / (1024 * 1024),
        /** `process.hrtime` at the window's start and end, in µs (the CPU profile's clock). */
        windowUs: [Number(t0 / 1000n), Number(t1 / 1000n)] as [number, number],
      };
    } finally {
      window.stopping = true;
      clearInterval(timer);
      progress(completed);
    }
  };
  return { load };
}
