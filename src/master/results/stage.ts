import type { SlaveConnection } from '../connection.ts';
import type { JobVerdict } from './handler.ts';

/** One result body, as the front end hands it over: headers checked, body bytes not decoded. */
export interface ResultJob {
  outcome: 'complete' | 'fail';
  connection: SlaveConnection;
  /** The body bytes, owned by the job; a pool stage transfers only copies of them (a retry needs them). */
  body: Buffer;
  contentType: string;
  /** The `Task-Id` header, or '' when the slave sent none (a DI-engine slave never does). */
  taskIdHint: string;
}

export type ResultVerdict =
  | { kind: 'delivered' }
  /** Unknown task id, a task that already ended, or a task of another slave: acknowledged, no effect. */
  | { kind: 'ignored' }
  | { kind: 'invalid'; message: string }
  /** The stage was destroyed before it got to this result. */
  | { kind: 'shutdown' };

/** What a stage calls back into the master with, on the main thread. */
export interface StageHost {
  /** The result (or the handler's value) reached the decoding step: settle its task. */
  deliver(job: ResultJob, taskId: string, value: unknown): ResultVerdict;
  /** The handler threw, hung or crashed its thread: fail the task (`taskId` may be '' when unknown). */
  fail(job: ResultJob, taskId: string, reason: string): ResultVerdict;
  /** One result was decoded and handled in `ms` (wherever it ran); feeds the handler latency metric. */
  handled(ms: number): void;
}

/** How busy a stage is, read at scrape time. */
export interface StageLoad {
  /** Results held: waiting in the queue or on a thread. */
  held: number;
  /** Of those, waiting for a thread. */
  queued: number;
  threads: number;
  /** Threads running a batch now. */
  busyThreads: number;
  /** Thread time spent on batches since the stage started, in ms (its rate over `threads` is the utilisation). */
  busyMs: number;
}

/**
 * Where result bodies go after the front end. The front end answers the slave when `submit` settles, so a
 * stage resolves only once the result has reached its task (or was found invalid or ignorable): a success
 * answer always means delivered.
 */
export interface ResultStage {
  /** Loads the result handler once; rejects with `ResultHandlerLoadError` (`start()` waits for it). */
  ready(): Promise<void>;
  submit(job: ResultJob): Promise<ResultVerdict>;
  /** How busy the stage is now. */
  load(): StageLoad;
  /** Finishes the jobs already submitted, then stops. */
  close(): Promise<void>;
  /** Stops at once; pending jobs settle as `shutdown`. */
  destroy(): Promise<void>;
}

/** A job's verdict (from a thread or inline) applied on the main thread: the task settles or fails. */
export function applyVerdict(host: StageHost, job: ResultJob, verdict: JobVerdict): ResultVerdict {
  switch (verdict.kind) {
    case 'invalid':
      return verdict;
    case 'result':
      host.handled(verdict.ms);
      return host.deliver(job, verdict.taskId, verdict.value);
    case 'handler-error':
      host.handled(verdict.ms);
      return host.fail(job, verdict.taskId, `result handler failed: ${verdict.message}`);
  }
}
