import { randomUUID } from 'node:crypto';
import type { PeerAnswer } from '../client/peer-client.ts';
import { errorFields, kMaxSeconds, type Logger } from '../options.ts';

/**
 * The reference's task statuses, with its values, and fleetmaster's two additions (values the reference does
 * not use): `QUEUED`, a submitted task waiting for a slave, and `CANCELLED`, a task cancelled before it ended.
 */
export const TaskStatus = {
  IDLE: 0x00,
  /** fleetmaster: submitted (`master.submit`) and waiting in the queue for a free slot. */
  QUEUED: 0x01,
  STARTING: 0x11,
  STARTED: 0x12,
  START_FAILED: 0x13,
  COMPLETED: 0x21,
  FAILED: 0x22,
  /** fleetmaster: cancelled (`task.cancel()` or its signal) before it ended; an outcome of its own. */
  CANCELLED: 0x23,
} as const;
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

/** Why the master ended a task that the slave never reported (fleetmaster's fix: the reference waits forever). */
export const TaskEndCode = {
  SLAVE_LOST: 'SLAVE_LOST',
  SLAVE_DISCONNECTED: 'SLAVE_DISCONNECTED',
  MASTER_SHUTTING_DOWN: 'MASTER_SHUTTING_DOWN',
  /** The result arrived, but the result handler threw, ran past its time limit or crashed its thread. */
  RESULT_HANDLER_FAILED: 'RESULT_HANDLER_FAILED',
  /** The task outlived its deadline (counted from `start()`, or from `submit()` for a submitted task). */
  DEADLINE_EXCEEDED: 'DEADLINE_EXCEEDED',
  /** `task.cancel()` or the task's `signal` (status `CANCELLED`). */
  CANCELLED: 'CANCELLED',
  /** `master.submit()` met a full queue (`queueLimit`): the task never waited. */
  QUEUE_FULL: 'QUEUE_FULL',
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
   * Seconds the task may take from `start()` (from `submit()` for a submitted task, queueing included) until
   * its result; past it the task ends FAILED with `DEADLINE_EXCEEDED` (a result arriving later is acknowledged
   * and ignored). @defaultValue none
   */
  deadline?: number;
}

/** What one attempt of a task needs from its connection; kept narrow so a task never reaches into the master. */
export interface TaskHost {
  readonly logger: Logger;
  /** The connection's name (`task.slave`). */
  readonly slaveName: string;
  beforeNewTask(data: unknown): unknown;
  /** `json`: the data already encoded, when what is sent is the task's own data. */
  postTask(id: string, data: unknown, json: string | undefined): Promise<PeerAnswer>;
  afterNewTask(answer: PeerAnswer): unknown;
  errorNewTask(error: Error): unknown;
  track(task: Task): void;
  untrack(task: Task): void;
  /** The task settled (once per task): the master counts it. */
  ended(task: Task): void;
  /** Asks the slave to stop this attempt (a fleetmaster slave that announced `cancel`; nothing otherwise). */
  cancel(wireId: string): void;
}

/** What a submitted task asks of the scheduler. */
export interface FleetTaskHost {
  readonly logger: Logger;
  /**
   * An attempt ended without an outcome (it could not start, or its slave is gone): true when the scheduler put
   * the task back in the queue for another attempt.
   */
  retry(task: Task, error: Error): boolean;
  /** A waiting task leaves the queue (cancelled, or past its deadline). */
  dequeue(task: Task): void;
  /** The task settled (once): count it, acknowledge it to the queue. */
  ended(task: Task): void;
}

export type SettleVerdict = 'delivered' | 'ignored';

export const kSettle = Symbol('fleetmaster.task.settle');
export const kEnd = Symbol('fleetmaster.task.end');
/** The id of the current attempt on the wire (`task.id` for the first; a new one for each re-dispatch). */
export const kWireId = Symbol('fleetmaster.task.wireId');
/** The scheduler sends the task to a slave (a new attempt). */
export const kDispatch = Symbol('fleetmaster.task.dispatch');
/** A slave reported on an attempt that no longer counts (the slot it held is free again). */
export const kReported = Symbol('fleetmaster.task.reported');
/** A task made by `submit`: its scheduler, encoded data and deadline, set before anything else happens. */
export const kSubmitted = Symbol('fleetmaster.task.submitted');
/** Settles a task that never reached a slave (queue full, master closing) with that error. */
export const kReject = Symbol('fleetmaster.task.reject');

type Outcome = 'complete' | 'fail';

const kLoss = new Set<TaskEndCode>([TaskEndCode.SLAVE_LOST, TaskEndCode.SLAVE_DISCONNECTED]);

/**
 * One task. Made by `connection.newTask()` it runs on that connection once `start()` is called; made by
 * `master.submit()` it waits in the fleet's queue and the scheduler starts it on a slave with a free slot, again
 * on another slave when a slave is lost (its `retries`), each attempt with its own id on the wire so a late result
 * of an earlier attempt is acknowledged and ignored. `join()` settles once, however it ends: completed, failed
 * (reported by the slave or decided by the master), failed to start, or cancelled. Callbacks run in the order
 * added; one that throws is logged and never stops the others, nor any other task's result.
 */
// biome-ignore lint/suspicious/noExplicitAny: task data and results are the user's types
export class Task<D = any, R = any> {
  readonly id: string = randomUUID();
  readonly data: D;
  #wireId = this.id;
  #status: TaskStatus = TaskStatus.IDLE;
  #result: R | undefined;
  #error: Error | undefined;
  #startValue: unknown;
  /** The connection of the current (or last) attempt. */
  #host: TaskHost | undefined;
  #fleet: FleetTaskHost | undefined;
  /** The data as JSON, kept from `submit`'s check so the first send does not encode it again. */
  #json: string | undefined;
  #attempts = 0;
  /** In the connection's and the master's tables: from an attempt's start until its slave reports or is gone. */
  #tracked = false;
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

  constructor(host: TaskHost | undefined, data: D, options: NewTaskOptions = {}) {
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

  /** Why the task failed to start, was ended by the master or cancelled; undefined for the slave's own results. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** `performance.now()` when its first attempt started (0 before). */
  get startedAt(): number {
    return this.#startedAt;
  }

  /** What the `afterNewTask` hook returned (for the last attempt). */
  get startValue(): unknown {
    return this.#startValue;
  }

  /** The name of the connection that ran the task's last attempt; undefined while it never left the queue. */
  get slave(): string | undefined {
    return this.#attempts === 0 ? undefined : this.#host?.slaveName;
  }

  /** Attempts so far: sends to a slave, refused or lost ones included (1 for a task that ran once). */
  get attempts(): number {
    return this.#attempts;
  }

  get isEnded(): boolean {
    return (
      this.#status === TaskStatus.COMPLETED ||
      this.#status === TaskStatus.FAILED ||
      this.#status === TaskStatus.START_FAILED ||
      this.#status === TaskStatus.CANCELLED
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
   * `errorNewTask` hook rethrew) when it could not be started — `join()` settles in that case too. A submitted
   * task is started by the scheduler: calling this on one throws.
   */
  async start(): Promise<this> {
    if (this.#fleet) throw new Error('A submitted task is started by the fleet scheduler, not by start()');
    if (this.#status !== TaskStatus.IDLE) {
      throw new Error(`Only an IDLE task can be started, but this one is ${statusName(this.#status)}`);
    }
    this.#startedAt = performance.now();
    this.#armDeadline();
    const failure = await this.#attempt();
    // the hook decides: rethrow (default) or turn the failure into a value
    if (failure) this.#startValue = await this.#host!.errorNewTask(failure);
    return this;
  }

  /** Settles when the task has ended in any way; never rejects. */
  join(): Promise<this> {
    return this.#ended;
  }

  /**
   * Cancels the task: a queued one leaves the queue and never reaches a slave; a running one settles at once as
   * CANCELLED (its slave's late result is acknowledged and ignored, and a fleetmaster slave is told to stop).
   * No `onComplete`/`onFail` callback runs; `join()` settles. Returns false when the task had already ended.
   */
  cancel(reason?: unknown): boolean {
    if (this.isEnded) return false;
    const error = new TaskEndedError(TaskEndCode.CANCELLED, cancelMessage(reason));
    const status = this.#status;
    if (status === TaskStatus.QUEUED) this.#fleet!.dequeue(this);
    this.#early = undefined;
    // a running attempt keeps its slot (and its place in the tables) until its slave reports or is gone
    this.#settle(TaskStatus.CANCELLED, error, false);
    if (status === TaskStatus.STARTED) this.#host!.cancel(this.#wireId);
    return true;
  }

  /** A result from the slave for the current attempt. Idempotent: a second or late result is ignored. */
  [kSettle](outcome: Outcome, result: R): SettleVerdict {
    if (this.#status === TaskStatus.STARTED) {
      this.#finish(outcome, result, undefined);
      return 'delivered';
    }
    if (this.#status === TaskStatus.STARTING && this.#early === undefined) {
      this.#early = { outcome, result };
      return 'delivered';
    }
    this[kReported]();
    return 'ignored';
  }

  /** The slave reported on an attempt of a task that already settled (cancelled, past its deadline). */
  [kReported](): void {
    if (this.isEnded) this.#release();
  }

  /** The master ends the task (slave lost, disconnected, shutting down, deadline, result handler failed). */
  [kEnd](error: TaskEndedError): void {
    const status = this.#status;
    if (status === TaskStatus.QUEUED) {
      this.#fleet!.dequeue(this);
      this.#settle(TaskStatus.FAILED, error, false);
      return;
    }
    if (status !== TaskStatus.STARTED && status !== TaskStatus.STARTING) {
      // an attempt that outlived its task: its slave is gone now, or the master closes
      if (this.isEnded) this.#release();
      return;
    }
    this.#early = undefined;
    const fleet = this.#fleet;
    if (fleet !== undefined && kLoss.has(error.code)) {
      this.#release();
      if (this.#retry(error)) return;
    }
    if (fleet !== undefined && error.code === TaskEndCode.DEADLINE_EXCEEDED) {
      // the slave is still working on it: its slot stays taken until it reports
      this.#settle(TaskStatus.FAILED, error, false);
      if (status === TaskStatus.STARTED) this.#host!.cancel(this.#wireId);
      return;
    }
    this.#finish('fail', { error: error.code, message: error.message } as R, error);
  }

  // ---- the scheduler's side (submitted tasks) ----

  get [kWireId](): string {
    return this.#wireId;
  }

  /** Marks a new task as submitted: queued under `fleet`, its deadline running from now. */
  [kSubmitted](fleet: FleetTaskHost, json: string | undefined): void {
    this.#fleet = fleet;
    this.#json = json;
    this.#status = TaskStatus.QUEUED;
    this.#armDeadline();
  }

  /** Settles a submitted task that never reached a slave (queue full, master closing). */
  [kReject](error: TaskEndedError): void {
    if (!this.isEnded) this.#settle(TaskStatus.FAILED, error, false);
  }

  /** A new attempt on `host`'s slave. Never rejects: its failure goes back to the scheduler. */
  async [kDispatch](host: TaskHost): Promise<void> {
    if (this.#status !== TaskStatus.QUEUED) return;
    this.#host = host;
    if (this.#attempts > 0) this.#wireId = randomUUID();
    if (this.#startedAt === 0) this.#startedAt = performance.now();
    const failure = await this.#attempt();
    if (failure) {
      try {
        await host.errorNewTask(failure);
      } catch {
        // its default rethrows for start()'s caller; a submitted task has none: the scheduler handles it
      }
    }
  }

  // ---- private ----

  /**
   * Sends the current attempt. Resolves with the error when it could not start (the task is then already put
   * back or settled), else undefined.
   */
  async #attempt(): Promise<Error | undefined> {
    const host = this.#host!;
    const attempt = ++this.#attempts;
    this.#status = TaskStatus.STARTING;
    this.#tracked = true;
    host.track(this);
    let answer: PeerAnswer;
    try {
      // hooks are usually synchronous: await only what is a promise (a microtask hop per task saved)
      const prepared = host.beforeNewTask(this.data);
      const data = isPromise(prepared) ? await prepared : prepared;
      answer = await host.postTask(this.#wireId, data, data === this.data ? this.#json : undefined);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      if (this.#attempts !== attempt) return error; // put back meanwhile (slave lost): that was handled
      if (this.#status === TaskStatus.STARTING) {
        this.#release();
        if (!this.#retry(error)) this.#settle(TaskStatus.START_FAILED, error, true);
      } else if (this.isEnded) {
        this.#release(); // cancelled while starting, and it never reached the slave
      }
      return error;
    }
    if (this.#attempts !== attempt) return undefined;
    if (this.#status !== TaskStatus.STARTING) {
      // ended meanwhile: cancelled or past its deadline while starting (tell the slave now), or lost
      if (this.isEnded && this.#tracked) host.cancel(this.#wireId);
      return undefined;
    }
    this.#status = TaskStatus.STARTED;
    const after = host.afterNewTask(answer);
    this.#startValue = isPromise(after) ? await after : after;
    const early = this.#early;
    if (early && this.#status === TaskStatus.STARTED && this.#attempts === attempt) {
      this.#early = undefined;
      this.#finish(early.outcome, early.result, undefined);
    }
    return undefined;
  }

  /** Back to the queue for another attempt, if the scheduler takes it. */
  #retry(error: Error): boolean {
    if (this.#fleet === undefined) return false;
    this.#status = TaskStatus.QUEUED;
    if (this.#fleet.retry(this, error)) return true;
    this.#status = TaskStatus.STARTING;
    return false;
  }

  #armDeadline(): void {
    if (this.#deadlineMs === undefined) return;
    const seconds = this.#deadlineMs / 1000;
    this.#deadlineTimer = setTimeout(() => {
      this[kEnd](
        new TaskEndedError(TaskEndCode.DEADLINE_EXCEEDED, `task outlived its deadline of ${seconds} s`),
      );
    }, this.#deadlineMs);
    this.#deadlineTimer.unref();
  }

  /** Out of the tables: the attempt's slot is free again. */
  #release(): void {
    if (!this.#tracked) return;
    this.#tracked = false;
    this.#host!.untrack(this);
  }

  /** Settles without a result from the slave (the master's decision, a failed start, a cancellation). */
  #settle(status: TaskStatus, error: Error, release: boolean): void {
    clearTimeout(this.#deadlineTimer);
    this.#status = status;
    this.#error = error;
    if (error instanceof TaskEndedError) this.#result = { error: error.code, message: error.message } as R;
    if (release) this.#release();
    this.#ended_();
  }

  #finish(outcome: Outcome, result: R, error: Error | undefined): void {
    clearTimeout(this.#deadlineTimer);
    this.#status = outcome === 'complete' ? TaskStatus.COMPLETED : TaskStatus.FAILED;
    this.#result = result;
    this.#error = error;
    this.#release();
    const callbacks = (outcome === 'complete' ? this.#onComplete : this.#onFail) ?? [];
    for (const callback of callbacks) {
      try {
        const value = callback(this.data, result);
        if (value instanceof Promise) {
          value.catch((err: unknown) =>
            this.#logger().warn({ taskId: this.id, ...errorFields(err) }, 'a task callback rejected'),
          );
        }
      } catch (err) {
        this.#logger().warn({ taskId: this.id, ...errorFields(err) }, 'a task callback threw');
      }
    }
    this.#ended_();
  }

  /** Counted once, then `join()` settles. */
  #ended_(): void {
    if (this.#fleet) this.#fleet.ended(this);
    else this.#host?.ended(this);
    this.#resolveEnded(this);
  }

  #logger(): Logger {
    return (this.#fleet ?? this.#host)!.logger;
  }
}

function cancelMessage(reason: unknown): string {
  if (reason === undefined) return 'cancelled';
  const text = reason instanceof Error ? reason.message : String(reason);
  return `cancelled: ${text.slice(0, 500)}`;
}

function isPromise(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

export function statusName(status: TaskStatus): string {
  for (const key in TaskStatus) if (TaskStatus[key as keyof typeof TaskStatus] === status) return key;
  return String(status);
}
