/**
 * The chaos benchmark's load, run inside the master child (a plugin of bench/harness/master-child.ts): one closed
 * loop per slave connected at the start, `master.submit(data, { retries })` → `join()` → next, until told to
 * stop; then every task still out is waited for (up to a bound). It keeps the user's side of the books: tasks
 * made, how each settled, tasks never settled (lost), and tasks whose `onComplete`/`onFail` ran more than once
 * (delivered twice). Ended tasks are not kept: a 40 s run makes hundreds of thousands.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Task, TaskEndedError, TaskStatus } from '../../src/index.ts';
import { settleWithin } from '../harness/bench.ts';
import type { PluginHost } from '../harness/master-child.ts';

export interface ChaosStart {
  retries: number;
}

export interface ChaosStop {
  /** Most milliseconds to wait for the tasks still out. */
  drainMs: number;
}

/** The user's side of the books, when the load has stopped and its tasks have settled (or the drain gave up). */
export interface ChaosBooks {
  /** Tasks submitted by the loops. */
  made: number;
  /** How each settled: `completed`, `cancelled`, `failed (<code>)` (the master's reason) or `failed (reported)`. */
  outcomes: Record<string, number>;
  /** Never settled: submitted, and `join()` had not resolved when the drain ended. */
  lost: number;
  /** Tasks whose callbacks ran more than once (counted until the books are read). */
  deliveredTwice: number;
  /** Completed after more than one attempt: the retries that saved a task. */
  completedAfterRetry: number;
  /** Seconds from the stop to the last task settled (or to the drain's end). */
  drainSeconds: number;
}

/** How a settled task ended, in a word or two. */
export function outcomeOf(task: Pick<Task, 'status' | 'error'>): string {
  if (task.status === TaskStatus.COMPLETED) return 'completed';
  if (task.status === TaskStatus.CANCELLED) return 'cancelled';
  if (task.status === TaskStatus.START_FAILED) return 'start failed';
  const error = task.error;
  return `failed (${error instanceof TaskEndedError ? error.code : 'reported'})`;
}

export function handlers({ master, connections, progress }: PluginHost) {
  const out = new Set<Task>();
  const outcomes: Record<string, number> = {};
  let made = 0;
  let deliveredTwice = 0;
  let completedAfterRetry = 0;
  let completed = 0;
  let stopping = false;
  let loops: Promise<void>[] = [];
  let timer: NodeJS.Timeout | undefined;

  const loop = async (retries: number) => {
    while (!stopping) {
      const task = master.submit({ n: 1 }, { retries });
      made++;
      out.add(task);
      let deliveries = 0;
      const delivered = () => {
        if (++deliveries === 2) deliveredTwice++;
      };
      task.onComplete(delivered).onFail(delivered);
      await task.join();
      out.delete(task);
      const outcome = outcomeOf(task);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      if (task.status === TaskStatus.COMPLETED) {
        completed++;
        if (task.attempts > 1) completedAfterRetry++;
      } else {
        // a task refused at once (a full queue) must not make the loop spin
        await sleep(50);
      }
    }
  };

  return {
    'chaos-start': (r: ChaosStart) => {
      if (loops.length > 0) throw new Error('the chaos load already runs');
      loops = connections.map(() => loop(r.retries));
      timer = setInterval(() => progress(completed), 1000);
      return { loops: loops.length };
    },
    'chaos-stop': async (r: ChaosStop): Promise<ChaosBooks> => {
      stopping = true;
      const started = performance.now();
      try {
        await settleWithin(Promise.all(loops), r.drainMs);
      } finally {
        clearInterval(timer);
        progress(completed);
      }
      return {
        made,
        outcomes: { ...outcomes },
        lost: out.size,
        deliveredTwice,
        completedAfterRetry,
        drainSeconds: (performance.now() - started) / 1000,
      };
    },
  };
}
