import { type Task, type TaskEndCode, TaskEndedError, TaskStatus } from '../task.ts';

/** Why a slave left the registry. */
export type RemovalReason = 'heartbeat_timeout' | 'disconnected' | 'shutdown';

/**
 * How a task ended: the slave's report, the master's reason (a `TaskEndCode`: `slave_lost`, `cancelled`,
 * `queue_full`, …), or a failed start.
 */
export type TaskEnd = 'completed' | 'reported_failure' | 'start_failed' | Lowercase<TaskEndCode>;

/** Result counters, as `master.stats()` reports them. */
export interface ResultCounters {
  resultsDelivered: number;
  /** Acknowledged without effect: unknown task, a task that ended, an earlier attempt, or a task of another slave. */
  resultsIgnored: number;
  /** Refused 400/601: a body that is not a result. */
  resultsInvalid: number;
  /** Results whose handler threw, hung or crashed its thread (their tasks failed). */
  resultsFailed: number;
}

/**
 * The fleet's plain counters, in one place. They are bumped where things happen (on the heartbeat path: one
 * integer add, and nothing else) and read by `stats()`, `status()` and the Prometheus collector at scrape time.
 */
export class FleetCounters implements ResultCounters {
  heartbeats = 0;
  /** Result uploads cut before their body was complete. */
  resultsAborted = 0;
  resultsDelivered = 0;
  resultsIgnored = 0;
  resultsInvalid = 0;
  resultsFailed = 0;
  /** Tasks made (`newTask`, `submit`): at rest, created = completed + failed + cancelled. */
  tasksCreated = 0;
  /** Attempts put back in the queue after their slave was lost, refused them or could not be reached. */
  taskRetries = 0;
  /** Error answers of the front end, by protocol code. */
  readonly errors = new Map<number, number>();
  readonly removals: Record<RemovalReason, number> = { heartbeat_timeout: 0, disconnected: 0, shutdown: 0 };
  readonly tasksEnded = new Map<TaskEnd, number>();

  error(code: number): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  taskEnded(end: TaskEnd): void {
    this.tasksEnded.set(end, (this.tasksEnded.get(end) ?? 0) + 1);
  }

  /** The result counters alone (for `stats()`). */
  results(): ResultCounters {
    const { resultsDelivered, resultsIgnored, resultsInvalid, resultsFailed } = this;
    return { resultsDelivered, resultsIgnored, resultsInvalid, resultsFailed };
  }
}

/** Counters a fleet operator watches. */
export interface MasterStats extends ResultCounters {
  slaves: number;
  runningTasks: number;
  /** Slaves the sweep removed for silence. */
  evictions: number;
  heartbeats: number;
  /** Result uploads cut before their body was complete (the slave's to resend; nothing reached a task). */
  resultsAborted: number;
  /** Tasks made (`newTask`, `submit`): at rest, tasksCreated = tasksCompleted + tasksFailed + tasksCancelled. */
  tasksCreated: number;
  tasksCompleted: number;
  /** Tasks that ended FAILED or START_FAILED, whatever the reason (a full queue included). */
  tasksFailed: number;
  tasksCancelled: number;
  /** Submitted tasks waiting for a slave now. */
  tasksQueued: number;
  /** Attempts put back in the queue (slave lost, refused, unreachable) for another try. */
  taskRetries: number;
  /** Task slots of the connected slaves, and how many are free now. */
  slots: number;
  freeSlots: number;
}

/** How an ended task ended. */
export function taskEndOf(task: Task): TaskEnd {
  const { status, error } = task;
  if (status === TaskStatus.COMPLETED) return 'completed';
  if (status === TaskStatus.START_FAILED) return 'start_failed';
  if (error instanceof TaskEndedError) return error.code.toLowerCase() as TaskEnd;
  return 'reported_failure';
}
