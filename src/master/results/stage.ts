import type { SlaveConnection } from '../connection.ts';

/** One result body, as the front end hands it over: headers checked, body bytes not decoded. */
export interface ResultJob {
  outcome: 'complete' | 'fail';
  connection: SlaveConnection;
  /** The body bytes; owned by the job (a fresh buffer, safe to transfer). */
  body: Buffer;
  contentType: string;
  /** The `Task-Id` header, or '' when the slave sent none (a DI-engine slave never does). */
  taskIdHint: string;
}

export type ResultVerdict =
  | { kind: 'delivered' }
  /** Unknown task id, a task that already ended, or a task of another slave: acknowledged, no effect. */
  | { kind: 'ignored' }
  | { kind: 'invalid'; message: string };

/**
 * Where result bodies go after the front end. The front end answers the slave when `submit` settles, so a
 * stage resolves only once the result has reached its task (or was found invalid / ignorable).
 */
export interface ResultStage {
  submit(job: ResultJob): Promise<ResultVerdict>;
  /** Finishes the jobs already submitted, then refuses new ones. */
  close(): Promise<void>;
}

/** The master's side of delivery: finds the task and settles it. */
export type Deliver = (job: ResultJob, taskId: string, result: unknown) => ResultVerdict;
