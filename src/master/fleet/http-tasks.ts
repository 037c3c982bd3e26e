import { decodeBody, isObject } from '../../protocol/codec.ts';
import { MasterErrorCode as C } from '../../protocol/codes.ts';
import { type Answer, fail, ok } from '../../protocol/envelope.ts';
import { type Task, TaskEndCode, TaskEndedError, TaskStatus } from '../task.ts';
import type { SubmitOptions } from './submit-options.ts';

/**
 * The fleet's HTTP routes for other languages (`POST /fleet/tasks`, `GET /fleet/tasks/{id}` with `?wait=S`,
 * `DELETE /fleet/tasks/{id}`), as functions from a parsed request to an answer, so the transport around them
 * (http-routes.ts, on either HTTP engine) only reads the request and writes the answer. The self token is the
 * transport's to check, before these run.
 */

/** An answer: the envelope, and headers beside it. */
export interface FleetReply {
  readonly answer: Answer;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A `GET` that waits: the answer comes later, unless the client leaves first (then call `cancel`). */
export interface PendingFleetReply {
  readonly later: Promise<FleetReply>;
  cancel(): void;
}

export interface FleetTasksHost {
  submit(data: unknown, options?: SubmitOptions): Task;
}

export interface FleetTasksOptions {
  /** Seconds a settled task stays readable. */
  retention: number;
  /** Most settled tasks kept at once (the oldest go first). */
  kept: number;
}

/** What `GET /fleet/tasks/{id}` tells about a task (`data` of the envelope). */
export interface FleetTaskView {
  id: string;
  status: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
  attempts: number;
  /** The slave of the last attempt. */
  slave: string | null;
  /** The slave's result (completed or failed); null until settled. */
  result: unknown;
  /** Why the master failed or cancelled it (`QUEUE_FULL`, `SLAVE_LOST`, `CANCELLED`, …); null otherwise. */
  error: { code: string; message: string } | null;
}

/** The longest `?wait=S` (seconds). */
export const kMaxWaitSeconds = 60;
/** Requests waiting at once; past it a `?wait` answers at once with the task as it is. */
export const kMaxWaiters = 1000;
/** Fields `POST /fleet/tasks` takes. */
const kBodyFields = new Set(['data', 'retries', 'deadline', 'tags', 'priority']);

const kRetryAfter = Object.freeze({ 'retry-after': '1' });
const kQueueFull = fail(503, C.QUEUE_FULL, 'Queue full; retry later.', { retryAfterMs: 1000 });
const kNotFound = fail(404, C.TASK_NOT_FOUND, 'No such task (unknown id, or no longer kept).');

const invalid = (message: string): FleetReply => ({ answer: fail(400, C.REQUEST_DATA_INVALID, message) });

/**
 * The tasks submitted over HTTP, by id: every one until it settles, then for `retention` seconds and at most
 * `kept` of them (so memory is bounded by the queue, the running tasks and `kept`).
 */
export class FleetHttpTasks {
  readonly #host: FleetTasksHost;
  readonly #retentionMs: number;
  readonly #kept: number;
  readonly #tasks = new Map<string, Task>();
  /** Settled tasks by id, in the order they settled, with when. */
  readonly #settled = new Map<string, number>();
  /** Ends each waiting `GET` (answering the task as it is). */
  readonly #waiting = new Set<() => void>();

  constructor(host: FleetTasksHost, options: FleetTasksOptions) {
    this.#host = host;
    this.#retentionMs = options.retention * 1000;
    this.#kept = options.kept;
  }

  /** Tasks readable now (unsettled and kept settled ones). */
  get size(): number {
    return this.#tasks.size;
  }

  /** `POST /fleet/tasks`: body `{ data, retries?, deadline?, tags?, priority? }` (JSON or MessagePack). */
  submit(body: Uint8Array, contentType: string): FleetReply {
    const decoded = decodeBody(body, contentType);
    if (!decoded.ok) return invalid(decoded.message);
    const value = decoded.value;
    if (!isObject(value))
      return invalid('Body must be an object: { data, retries?, deadline?, tags?, priority? }.');
    for (const key of Object.keys(value)) {
      if (!kBodyFields.has(key))
        return invalid(`Unknown field ${JSON.stringify(key)} (takes ${[...kBodyFields].join(', ')}).`);
    }
    const { data, ...options } = value;
    let task: Task;
    try {
      task = this.#host.submit(data, options as SubmitOptions);
    } catch (err) {
      // the library's own check, naming the option: options.retries must … → retries must …
      return invalid((err instanceof Error ? err.message : String(err)).replace(/^options\./, ''));
    }
    if (task.error instanceof TaskEndedError && task.error.code === TaskEndCode.QUEUE_FULL) {
      return { answer: kQueueFull, headers: kRetryAfter };
    }
    this.#prune(performance.now());
    this.#tasks.set(task.id, task);
    if (task.isEnded) this.#settle(task);
    else void task.join().then((t) => this.#settle(t));
    return { answer: ok('Task submitted.', { id: task.id, status: statusOf(task) }) };
  }

  /** `GET /fleet/tasks/{id}?wait=S`: the task now, or once it settles or S seconds passed. */
  read(id: string, query: string): FleetReply | PendingFleetReply {
    const wait = waitOf(query);
    if (typeof wait === 'string') return invalid(wait);
    this.#prune(performance.now());
    const task = this.#tasks.get(id);
    if (task === undefined) return { answer: kNotFound };
    if (wait === 0 || task.isEnded || this.#waiting.size >= kMaxWaiters) return viewReply(task);
    let timer: NodeJS.Timeout | undefined;
    let finish!: () => void;
    const later = new Promise<FleetReply>((resolve) => {
      finish = () => {
        if (!this.#waiting.delete(finish)) return;
        clearTimeout(timer);
        resolve(viewReply(task));
      };
      this.#waiting.add(finish);
      timer = setTimeout(finish, wait * 1000);
      timer.unref();
      void task.join().then(finish);
    });
    return { later, cancel: finish };
  }

  /** Requests waiting now. */
  get waiters(): number {
    return this.#waiting.size;
  }

  /** The master closes: every waiting `GET` is answered now, with its task as it is. */
  close(): void {
    for (const finish of [...this.#waiting]) finish();
  }

  /** `DELETE /fleet/tasks/{id}`: cancels it (a settled task is left as it is). */
  cancel(id: string): FleetReply {
    const task = this.#tasks.get(id);
    if (task === undefined) return { answer: kNotFound };
    const cancelled = task.cancel('cancelled over HTTP');
    return viewReply(task, cancelled ? 'Task cancelled.' : 'Task had already ended.');
  }

  #settle(task: Task): void {
    if (this.#tasks.get(task.id) !== task) return;
    this.#settled.set(task.id, performance.now());
    this.#prune(performance.now());
  }

  /** Drops settled tasks past their retention, and the oldest beyond `kept`. */
  #prune(now: number): void {
    for (const [id, at] of this.#settled) {
      if (this.#settled.size <= this.#kept && now - at < this.#retentionMs) break;
      this.#settled.delete(id);
      this.#tasks.delete(id);
    }
  }
}

/** `wait=S` from a query string: seconds (0 when absent), or the reason it is refused. */
function waitOf(query: string): number | string {
  if (query === '') return 0;
  const raw = new URLSearchParams(query).get('wait');
  if (raw === null) return 0;
  const seconds = raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > kMaxWaitSeconds) {
    return `wait must be a number of seconds between 0 and ${kMaxWaitSeconds} (got ${JSON.stringify(raw.slice(0, 20))}).`;
  }
  return seconds;
}

export function statusOf(task: Task): FleetTaskView['status'] {
  switch (task.status) {
    case TaskStatus.COMPLETED:
      return 'completed';
    case TaskStatus.FAILED:
    case TaskStatus.START_FAILED:
      return 'failed';
    case TaskStatus.CANCELLED:
      return 'cancelled';
    case TaskStatus.STARTING:
    case TaskStatus.STARTED:
      return 'running';
    default:
      return 'queued';
  }
}

export function viewOf(task: Task): FleetTaskView {
  const { error } = task;
  return {
    id: task.id,
    status: statusOf(task),
    attempts: task.attempts,
    slave: task.slave ?? null,
    result: task.isEnded ? (task.result ?? null) : null,
    error:
      error === undefined
        ? null
        : { code: String((error as { code?: unknown }).code ?? error.name), message: error.message },
  };
}

function viewReply(task: Task, message = 'Task.'): FleetReply {
  const view = viewOf(task);
  try {
    return { answer: ok(message, view) };
  } catch (err) {
    // a result the handler made of something JSON cannot carry (a BigInt): say so rather than fail the route
    const reason = err instanceof Error ? err.message : String(err);
    return { answer: ok(message, { ...view, result: null, resultError: `result is not JSON: ${reason}` }) };
  }
}
