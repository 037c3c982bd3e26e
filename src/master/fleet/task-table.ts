import type { Logger } from '../../options.ts';
import { kOnlyTask, kOwns } from '../connection.ts';
import type { ResultJob, ResultVerdict, StageHost } from '../results/stage.ts';
import { kEnd, kReported, kSettle, kWireId, type Task, TaskEndCode, TaskEndedError } from '../task.ts';
import type { ResultCounters } from './counters.ts';

const kDelivered: ResultVerdict = Object.freeze({ kind: 'delivered' });
const kIgnored: ResultVerdict = Object.freeze({ kind: 'ignored' });
const kHintMismatch: ResultVerdict = Object.freeze({
  kind: 'invalid',
  message: 'The Task-Id header names another task than the body.',
});

/**
 * The running tasks by id, where a decoded result finds its task (the result stage calls `deliver` and `fail`
 * on the main thread). A result settles a task only if the task is running and belongs to the connection the
 * result came on; anything else is acknowledged and ignored, so a result can never reach the wrong task.
 */
export class TaskTable implements StageHost {
  readonly #tasks = new Map<string, Task>();
  readonly #logger: Logger;
  /** The master's counters (this table bumps the result ones). */
  readonly counters: ResultCounters;

  /** Called with each result's decode-and-handler time, wherever it ran (the master's metrics, when on). */
  observeHandler: ((ms: number) => void) | undefined;

  constructor(logger: Logger, counters: ResultCounters) {
    this.#logger = logger;
    this.counters = counters;
  }

  handled(ms: number): void {
    this.observeHandler?.(ms);
  }

  get size(): number {
    return this.#tasks.size;
  }

  /** Under the id of its current attempt: a result for an earlier attempt finds nothing, and is ignored. */
  track(task: Task): void {
    this.#tasks.set(task[kWireId], task);
  }

  untrack(task: Task): void {
    const id = task[kWireId];
    if (this.#tasks.get(id) === task) this.#tasks.delete(id);
  }

  deliver(job: ResultJob, taskId: string, value: unknown): ResultVerdict {
    if (job.taskIdHint !== '' && job.taskIdHint !== taskId) return kHintMismatch;
    const task = this.#tasks.get(taskId);
    if (
      task === undefined ||
      !job.connection[kOwns](task) ||
      task[kSettle](job.outcome, value) === 'ignored'
    ) {
      this.counters.resultsIgnored++;
      return kIgnored;
    }
    this.counters.resultsDelivered++;
    return kDelivered;
  }

  fail(job: ResultJob, taskId: string, reason: string): ResultVerdict {
    if (job.taskIdHint !== '' && taskId !== '' && job.taskIdHint !== taskId) return kHintMismatch;
    // without an id (a DI-engine slave sends no Task-Id), its one running task is the one this result was for
    const task = taskId ? this.#tasks.get(taskId) : job.connection[kOnlyTask]();
    if (task === undefined || !job.connection[kOwns](task) || task.isEnded) {
      // a task that settled while its slave still worked on it (cancelled): the slave has reported now
      if (task !== undefined && job.connection[kOwns](task)) task[kReported]();
      this.#logger.warn({ slave: job.connection.name, taskId, reason }, 'a result could not be processed');
      this.counters.resultsIgnored++;
      return kIgnored;
    }
    this.counters.resultsFailed++;
    task[kEnd](new TaskEndedError(TaskEndCode.RESULT_HANDLER_FAILED, reason));
    return kDelivered;
  }

  /** Ends every task still running (the master is closing). */
  endAll(reason: TaskEndedError): void {
    for (const task of [...this.#tasks.values()]) task[kEnd](reason);
  }
}
