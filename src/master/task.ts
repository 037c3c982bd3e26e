import { randomUUID } from 'node:crypto';
import type { PeerAnswer } from '../client/peer-client.ts';
import { errorFields, kMaxSeconds, type Logger } from '../options.ts';

/** The reference's task statuses, with its values. */
export const TaskStatus = {
  IDLE: 0x00,
  STARTING: 0x11,
  STARTED: 0x12,
  START_FAILED: 0x13,
  COMPLETED: 0x21,
  FAILED: 0x22,
} as const;
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

/** Why the master ended a task that the slave never reported (fleetmaster's fix: the reference waits forever). */
export const TaskEndCode = {
  SLAVE_LOST: 'SLAVE_LOST',
  SLAVE_DISCONNECTED: 'SLAVE_DISCONNECTED',
  MASTER_SHUTTING_DOWN: 'MASTER_SHUTTING_DOWN',
  /** The result arrived, but the result handler threw, ran past its time limit or crashed its thread. */
  RESULT_HANDLER_FAILED: 'RESULT_HANDLER_FAILED',
  /** The task outlived the deadline given to `newTask` (counted from `start()`). */
  DEADLINE_EXCEEDED: 'DEADLINE_EXCEEDED',
} as const;
export type TaskEndCode = (typeof TaskEndCode)[keyof typeof TaskEndCode];

/** Set as `task.error` when the master ended the task; `task.result` is then `{ error: code, message }`. */
export class TaskEndedError extends Error {
  readonly code: TaskEndCode;
  constructor(code: TaskEndCode, message: string) {
    super(message);
    this.name = 'TaskEndedError';
    this.code = code;
  }
}

export type TaskCallback<D, R> = (data: D, result: R) => unknown;

export interface NewTaskOptions {
  /**
   * Seconds the task may take from `start()` until its result; past it the task ends FAILED with
   * `DEADLINE_EXCEEDED` (a result arriving later is acknowledged and ignored). @defaultValue none
   */
  deadline?: number;
}

/** What a task needs from its connection; kept narrow so a task never reaches into the master. */
export interface TaskHost {
  readonly logger: Logger;
  beforeNewTask(data: unknown): unknown;
  postTask(id: string, data: unknown): Promise<PeerAnswer>;
  afterNewTask(answer: PeerAnswer): unknown;
  errorNewTask(error: Error): unknown;
  track(task: Task): void;
  untrack(task: Task): void;
}

export type SettleVerdict = 'delivered' | 'ignored';

export const kSettle = Symbol('fleetmaster.task.settle');
export const kEnd = Symbol('fleetmaster.task.end');

type Outcome = 'complete' | 'fail';

/**
 * One task on one slave. `start()` sends it; `join()` settles once it completed, failed (for any reason,
 * reported by the slave or decided by the master) or failed to start. Callbacks run in the order added; one
 * that throws is logged and never stops the others, nor any other task's result.
 */
// biome-ignore lint/suspicious/noExplicitAny: task data and results are the user's types
export class Task<D = any, R = any> {
  readonly id: string = randomUUID();
  readonly data: D;
  #status: TaskStatus = TaskStatus.IDLE;
  #result: R | undefined;
  #error: Error | undefined;
  #startValue: unknown;
  readonly #host: TaskHost;
  /** Created on the first callback: most tasks are awaited through `join()`, with no callback at all. */
  #onComplete: TaskCallback<D, R>[] | undefined;
  #onFail: TaskCallback<D, R>[] | undefined;
  readonly #ended: Promise<this>;
  #resolveEnded!: (task: this) => void;
  /** A result that arrived while `/task/new` was still in flight (a fast slave can report first). */
  #early: { outcome: Outcome; result: R } | undefined;
  readonly #deadlineMs: number | undefined;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #startedAt = 0;

  constructor(host: TaskHost, data: D, options: NewTaskOptions = {}) {
    this.#host = host;
    this.data = data;
    if (options.deadline !== undefined) {
      if (typeof options.deadline !== 'number' || !(options.deadline > 0) || options.deadline > kMaxSeconds) {
        throw new RangeError(
          `options.deadline must be a number of seconds > 0 (got ${String(options.deadline)})`,
        );
      }
      this.#deadlineMs = options.deadline * 1000;
    }
    this.#ended = new Promise((resolve) => {
      this.#resolveEnded = resolve;
    });
  }

  get status(): TaskStatus {
    return this.#status;
  }

  /** The slave's result (completed or failed), or `{ error, message }` when the master ended the task. */
  get result(): R | undefined {
    return this.#result;
  }

  /** Why the task failed to start or was ended by the master; undefined for results reported by the slave. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** `performance.now()` when `start()` was called (0 before). */
  get startedAt(): number {
    return this.#startedAt;
  }

  /** What the `afterNewTask` hook returned. */
  get startValue(): unknown {
    return this.#startValue;
  }

  get isEnded(): boolean {
    return (
      this.#status === TaskStatus.COMPLETED ||
      this.#status === TaskStatus.FAILED ||
      this.#status === TaskStatus.START_FAILED
    );
  }

  onComplete(callback: TaskCallback<D, R>): this {
    this.#onComplete ??= [];
    this.#onComplete.push(callback);
    return this;
  }

  onFail(callback: TaskCallback<D, R>): this {
    this.#onFail ??= [];
    this.#onFail.push(callback);
    return this;
  }

  /**
   * Sends the task to the slave. Resolves with the task once the slave accepted it; rejects (after the
   * `errorNewTask` hook rethrew) when it could not be started — `join()` settles in that case too.
   */
  async start(): Promise<this> {
    if (this.#status !== TaskStatus.IDLE) {
      throw new Error(`Only an IDLE task can be started, but this one is ${statusName(this.#status)}`);
    }
    this.#status = TaskStatus.STARTING;
    this.#startedAt = performance.now();
    this.#host.track(this);
    if (this.#deadlineMs !== undefined) {
      const seconds = this.#deadlineMs / 1000;
      this.#deadlineTimer = setTimeout(() => {
        this[kEnd](
          new TaskEndedError(TaskEndCode.DEADLINE_EXCEEDED, `task outlived its deadline of ${seconds} s`),
        );
      }, this.#deadlineMs);
      this.#deadlineTimer.unref();
    }
    let answer: PeerAnswer;
    try {
      // hooks are usually synchronous: await only what is a promise (a microtask hop per task saved)
      const prepared = this.#host.beforeNewTask(this.data);
      const data = isPromise(prepared) ? await prepared : prepared;
      answer = await this.#host.postTask(this.id, data);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      if (this.#status === TaskStatus.STARTING) this.#startFailed(error);
      // the hook decides: rethrow (default) or turn the failure into a value
      this.#startValue = await this.#host.errorNewTask(error);
      return this;
    }
    if (this.#status !== TaskStatus.STARTING) return this; // ended meanwhile (slave lost, shutdown)
    this.#status = TaskStatus.STARTED;
    const after = this.#host.afterNewTask(answer);
    this.#startValue = isPromise(after) ? await after : after;
    const early = this.#early;
    if (early && this.#status === TaskStatus.STARTED) {
      this.#early = undefined;
      this.#finish(early.outcome, early.result, undefined);
    }
    return this;
  }

  /** Settles when the task has ended in any way; never rejects. */
  join(): Promise<this> {
    return this.#ended;
  }

  /** A result from the slave. Idempotent: a second or late result is ignored. */
  [kSettle](outcome: Outcome, result: R): SettleVerdict {
    if (this.#status === TaskStatus.STARTED) {
      this.#finish(outcome, result, undefined);
      return 'delivered';
    }
    if (this.#status === TaskStatus.STARTING && this.#early === undefined) {
      this.#early = { outcome, result };
      return 'delivered';
    }
    return 'ignored';
  }

  /** The master ends the task (slave lost, disconnected, shutting down). */
  [kEnd](error: TaskEndedError): void {
    if (this.#status !== TaskStatus.STARTED && this.#status !== TaskStatus.STARTING) return;
    this.#early = undefined;
    this.#finish('fail', { error: error.code, message: error.message } as R, error);
  }

  #startFailed(error: Error): void {
    clearTimeout(this.#deadlineTimer);
    this.#status = TaskStatus.START_FAILED;
    this.#error = error;
    this.#host.untrack(this);
    this.#resolveEnded(this);
  }

  #finish(outcome: Outcome, result: R, error: Error | undefined): void {
    clearTimeout(this.#deadlineTimer);
    this.#status = outcome === 'complete' ? TaskStatus.COMPLETED : TaskStatus.FAILED;
    this.#result = result;
    this.#error = error;
    this.#host.untrack(this);
    const callbacks = (outcome === 'complete' ? this.#onComplete : this.#onFail) ?? [];
    for (const callback of callbacks) {
      try {
        const value = callback(this.data, result);
        if (value instanceof Promise) {
          value.catch((err: unknown) =>
            this.#host.logger.warn({ taskId: this.id, ...errorFields(err) }, 'a task callback rejected'),
          );
        }
      } catch (err) {
        this.#host.logger.warn({ taskId: this.id, ...errorFields(err) }, 'a task callback threw');
      }
    }
    this.#resolveEnded(this);
  }
}

function isPromise(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

export function statusName(status: TaskStatus): string {
  for (const key in TaskStatus) if (TaskStatus[key as keyof typeof TaskStatus] === status) return key;
  return String(status);
}
