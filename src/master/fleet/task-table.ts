import type { Logger } from '../../options.ts';
import { kOnlyTask, kOwns } from '../connection.ts';
import type { ResultJob, ResultVerdict, StageHost } from '../results/stage.ts';
import { kEnd, kSettle, type Task, TaskEndCode, TaskEndedError } from '../task.ts';

/** Result counters, as `master.stats()` reports them. */
export interface ResultCounters {
  resultsDelivered: number;
  /** Acknowledged without effect: unknown task, a task that ended, or a task of another slave. */
  resultsIgnored: number;
  /** Refused 400/601: a body that is not a result. */
  resultsInvalid: number;
  /** Results whose handler threw, hung or crashed its thread (their tasks failed). */
  resultsFailed: number;
}

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
  readonly counters: ResultCounters = {
    resultsDelivered: 0,
    resultsIgnored: 0,
    resultsInvalid: 0,
    resultsFailed: 0,
  };

  /** Called with each result's decode-and-handler time, wherever it ran (the master's metrics, when on). */
  observeHandler: ((ms: number) => void) | undefined;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  handled(ms: number): void {
    this.observeHandler?.(ms);
  }

  get size(): number {
    return this.#tasks.size;
  }

  track(task: Task): void {
    this.#tasks.set(task.id, task);
  }

  untrack(task: Task): void {
    if (this.#tasks.get(task.id) === task) this.#tasks.delete(task.id);
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
