import { type Task, type TaskEndCode, TaskEndedError, TaskStatus } from '../task.ts';

/** Why a slave left the registry. */
export type RemovalReason = 'heartbeat_timeout' | 'disconnected' | 'shutdown';

/** How a task ended: the slave's report, or the master's reason (a `TaskEndCode`), or a failed start. */
export type TaskEnd = 'completed' | 'reported_failure' | 'start_failed' | Lowercase<TaskEndCode>;

/**
 * The fleet's plain counters. They are bumped where things happen (on the heartbeat path: one integer add, and
 * nothing else) and read by `stats()`, `status()` and the Prometheus collector at scrape time.
 */
export class FleetCounters {
  heartbeats = 0;
  /** Result uploads cut before their body was complete. */
  resultsAborted = 0;
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
}

/** How an ended task ended. */
export function taskEndOf(task: Task): TaskEnd {
  const { status, error } = task;
  if (status === TaskStatus.COMPLETED) return 'completed';
  if (status === TaskStatus.START_FAILED) return 'start_failed';
  if (error instanceof TaskEndedError) return error.code.toLowerCase() as TaskEnd;
  return 'reported_failure';
}
