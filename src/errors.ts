/**
 * The error catalogue: every error fleetmaster throws, rejects with, sets as `task.error` or hands to a hook is a
 * `FleetmasterError` from this file, one class per code (the wire errors, one per protocol code, are made from the
 * code tables at the end). A new error is one class here and one row of README's error table; a test holds the
 * two together. Bad arguments and options are the exception, as in Node: `TypeError`/`RangeError`
 * naming the option, thrown at once.
 *
 * `errorCode` is the catalogue code, a stable `FLEETMASTER_…` string on the class and on every instance. `code`
 * is the same string, except on the classes whose `code` was public before the catalogue and keeps its meaning
 * (a protocol number, a `TaskEndCode`, an older string): see README, "Errors".
 */

import { describeError } from './describe-error.ts';
import type { ResultMessage } from './nats/schema.ts';
import { MasterErrorCode, SlaveErrorCode } from './protocol/codes.ts';
import type { Envelope } from './protocol/envelope.ts';

// One brand for the whole catalogue, shared by every copy of the package (`Symbol.for`), so that `instanceof`
// holds for an error made by another copy (two versions in one node_modules, a task module importing its own
// copy): each class is matched by its catalogue code, not by its identity (undici's `lib/core/errors.js`).
const kCodes = Symbol.for('fleetmaster.error.codes');

/** The catalogue codes of a class and of the catalogue classes it extends, computed once per class. */
const chains = new WeakMap<object, readonly string[]>();

function codesOf(cls: object): readonly string[] {
  let codes = chains.get(cls);
  if (codes === undefined) {
    const found: string[] = [];
    for (let c: object | null = cls; c !== null && c !== Error; c = Object.getPrototypeOf(c)) {
      if (Object.hasOwn(c, 'errorCode')) found.push((c as { errorCode: string }).errorCode);
    }
    codes = Object.freeze(found);
    chains.set(cls, codes);
  }
  return codes;
}

type AnyClass<T> = abstract new (...args: never) => T;

export class FleetmasterError extends Error {
  static readonly errorCode: string = 'FLEETMASTER_ERROR';

  /** The catalogue code: the same `FLEETMASTER_…` string for every error of this class, in any copy. */
  readonly errorCode: string;
  /** What to match on: `errorCode`, unless the class documents an older meaning (see README, "Errors"). */
  readonly code: string | number;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.errorCode = (new.target as typeof FleetmasterError).errorCode;
    this.code = this.errorCode;
  }

  get [kCodes](): readonly string[] {
    return codesOf(this.constructor);
  }

  /**
   * `err instanceof X` for any catalogue class X, whichever copy of the package made `err`. A subclass without a
   * code of its own (a user's) is matched as JavaScript matches classes.
   */
  static override [Symbol.hasInstance]<T>(this: AnyClass<T>, value: unknown): value is T {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class asked about (often a subclass)
    const cls = this as unknown as typeof FleetmasterError;
    if (!Object.hasOwn(cls, 'errorCode')) return Function.prototype[Symbol.hasInstance].call(cls, value);
    const codes = (value as { [kCodes]?: unknown } | null | undefined)?.[kCodes];
    return Array.isArray(codes) && codes.includes(cls.errorCode);
  }
}

// ---- state: a call that the object's state does not allow ----

/** A master's internals used before `start()`. */
export class NotStartedError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_NOT_STARTED';
}

/** `start()` called twice. */
export class AlreadyStartedError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_ALREADY_STARTED';
}

/** The master, slave or client is closing or closed: `start()` after `close()`, `connect()` while shutting down. */
export class ClosedError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_CLOSED';
}

/** `newConnection` or `connect()` for a name that a connected slave already has. */
export class ConnectionExistsError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_CONNECTION_EXISTS';
  readonly connection: string;
  constructor(name: string) {
    super(`Connection ${JSON.stringify(name)} already exists`);
    this.connection = name;
  }
}

/** `master.get(name)` or `master.delete(name)` for a name no connected slave has. */
export class ConnectionNotFoundError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_CONNECTION_NOT_FOUND';
  readonly connection: string;
  constructor(name: string) {
    super(`Connection ${JSON.stringify(name)} not found`);
    this.connection = name;
  }
}

/** `task.start()` on a task that is not IDLE: started already, or submitted (the scheduler starts those). */
export class TaskNotIdleError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_TASK_NOT_IDLE';
}

// ---- tasks ----

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

/**
 * Set as `task.error` when the master ended the task; `task.result` is then `{ error: code, message }`. Its `code`
 * is the `TaskEndCode` (public before the catalogue, and what `/fleet/tasks` answers as `error.code`).
 */
export class TaskEndedError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_TASK_ENDED';
  declare readonly code: TaskEndCode;
  constructor(code: TaskEndCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** `start()` could not load the result handler module; `cause` is what the module threw. */
export class ResultHandlerLoadError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_RESULT_HANDLER_LOAD';
  /** The module's URL, as resolved from `resultHandler`. */
  readonly handler: string;
  constructor(handler: string, cause: unknown) {
    super(`result handler ${handler} could not be loaded: ${describeError(cause)}`, { cause });
    this.handler = handler;
  }
}

// ---- requests to a peer ----

/** The peer could not be reached (refused, reset, timed out) after every retry; `cause` is the last failure. */
export class RequestFailedError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_REQUEST_FAILED';
  declare readonly code: 'REQUEST_FAILED';
  readonly attempts: number;
  constructor(url: string, attempts: number, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`Request to ${url} failed after ${attempts} attempt(s): ${why}`, { cause });
    this.code = 'REQUEST_FAILED';
    this.attempts = attempts;
  }
}

/** The peer answered, but not with an envelope (wrong server on that port, a proxy page, garbage). */
export class BadAnswerError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_BAD_ANSWER';
  declare readonly code: 'BAD_ANSWER';
  readonly statusCode: number;
  constructor(url: string, statusCode: number, body: string) {
    super(`${url} answered HTTP ${statusCode} without a protocol envelope: ${body.slice(0, 200)}`);
    this.code = 'BAD_ANSWER';
    this.statusCode = statusCode;
  }
}

/** Which bound an answer broke. */
export type AnswerLimit = 'body' | 'head' | 'trailers' | 'interim';

/**
 * The peer answered past a bound: a body over `maxAnswerBytes`, a head or trailers over their size or count, or
 * too many interim (1xx) answers. Not retried: the peer did answer (the request reached it and may have been
 * acted on, so sending it again could start a task twice), and a peer that answers this way once will again, each
 * time costing the memory the bound exists to protect.
 */
export class AnswerTooLargeError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_ANSWER_TOO_LARGE';
  readonly limit: AnswerLimit;
  constructor(limit: AnswerLimit, message: string, options?: ErrorOptions) {
    super(message, options);
    this.limit = limit;
  }
}

/**
 * No complete answer within the request's one deadline (`timeoutMs` from the call; bytes arriving do not extend
 * it). Retried like a connection failure: a slow peer may be a passing fault.
 */
export class AnswerTimeoutError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_ANSWER_TIMEOUT';
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`no complete answer within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/** The lean client's connection failed or closed before the answer arrived (`cause`: the socket's error, if any). */
export class H1ConnectionError extends FleetmasterError {
  static override readonly errorCode: string = 'FLEETMASTER_H1_CONNECTION';
}

/** A request to a lean client that was closed or destroyed. */
export class H1ClosedError extends H1ConnectionError {
  static override readonly errorCode = 'FLEETMASTER_H1_CLOSED';
}

/** The lean client's connection did not open within its connect timeout. */
export class H1ConnectTimeoutError extends H1ConnectionError {
  static override readonly errorCode = 'FLEETMASTER_H1_CONNECT_TIMEOUT';
}

/** The peer sent something that is not an HTTP/1.x response: the connection cannot be used any more. */
export class H1ParseError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_H1_PARSE';
}

/** A slave that answered `/connect` without proving the fleet secret. Its `code` predates the catalogue. */
export class FleetSecretError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_FLEET_SECRET_MISMATCH';
  declare readonly code: 'FLEET_SECRET_MISMATCH';
  constructor(message: string) {
    super(message);
    this.code = 'FLEET_SECRET_MISMATCH';
  }
}

// ---- listening and engines ----

/** A master or slave could not listen on its address: the port is taken, or the address is not on this host. */
export class ListenError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_LISTEN_FAILED';
  readonly host: string;
  readonly port: number;
  constructor(what: string, host: string, port: number, why: string, options?: ErrorOptions) {
    super(`${what} cannot listen on ${host}:${port}: ${why}`, options);
    this.host = host;
    this.port = port;
  }
}

// ---- the shared queue (NATS JetStream) ----

/** NATS could not be reached when a master with `queue` started, or a `FleetClient` connected. */
export class QueueUnreachableError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_QUEUE_UNREACHABLE';
}

/** A task submitted through a `FleetClient` ended without completing: `handle.result()` rejects with it. */
export class FleetTaskFailedError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_TASK_FAILED';
  /** `REPORTED_FAILURE`, `SLAVE_LOST`, `DEADLINE_EXCEEDED`, `INVALID_TASK`, … */
  readonly reason: string;
  /** The slave's failure payload, or `{ error, message }`. */
  readonly result: unknown;
  readonly outcome: ResultMessage;
  constructor(outcome: ResultMessage) {
    super(outcome.error?.message ?? 'task failed');
    this.reason = outcome.error?.code ?? 'FAILED';
    this.result = outcome.result;
    this.outcome = outcome;
  }
}

/** A `FleetClient` could not publish a task (JetStream refused it or did not answer). */
export class FleetSubmitError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_SUBMIT_FAILED';
}

/** The client closed while the task's result had not arrived (it stays on the results stream). */
export class FleetClientClosedError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_CLIENT_CLOSED';
  constructor(id: string) {
    super(`the FleetClient closed before task ${id}'s result arrived`);
  }
}

/** What the running Node offers a native build: its ABI, platform, architecture and C library. */
export interface Runtime {
  abi: string;
  platform: string;
  arch: string;
  /** `glibc 2.36`, `musl` (no glibc found) or the platform's own. */
  libc: string;
}

/** No native uWebSockets.js build loads here (`engine: 'uws'` was asked for). */
export class EngineUnavailableError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_ENGINE_UNAVAILABLE';
  readonly runtime: Runtime;
  /** Why, without the advice. */
  readonly reason: string;
  constructor(reason: string, found: Runtime, cause?: unknown) {
    super(
      `the uws engine cannot run here: ${reason} (Node ABI ${found.abi}, ${found.platform}-${found.arch}, ${found.libc}); use engine 'node' or 'auto'`,
      cause === undefined ? undefined : { cause },
    );
    this.runtime = found;
    this.reason = reason;
  }
}

// ---- the slave's side ----

/**
 * Thrown from a slave's hooks to refuse a request; answered as 403 with the refusal's protocol `code` (a number,
 * as in DI-engine) and `data`.
 */
export class SlaveRefusal extends FleetmasterError {
  static override readonly errorCode: string = 'FLEETMASTER_SLAVE_REFUSAL';
  declare readonly code: number;
  readonly statusCode = 403;
  readonly data: unknown;
  constructor(code: number, message: string, data: unknown) {
    super(message);
    this.code = code;
    this.data = data ?? {};
  }
}

/** Refuse a master's `/connect` from `beforeConnection` (403, code 503). */
export class ConnectionRefuse extends SlaveRefusal {
  static override readonly errorCode = 'FLEETMASTER_CONNECTION_REFUSE';
  constructor(data?: unknown) {
    super(SlaveErrorCode.SLAVE_CONNECTION_REFUSED, 'Connection refused!', data);
  }
}

/** Refuse a master's `/disconnect` from `beforeDisconnection` (403, code 504). */
export class DisconnectionRefuse extends SlaveRefusal {
  static override readonly errorCode = 'FLEETMASTER_DISCONNECTION_REFUSE';
  constructor(data?: unknown) {
    super(SlaveErrorCode.SLAVE_DISCONNECTION_REFUSED, 'Disconnection refused!', data);
  }
}

/** Refuse a task from `beforeTask` (403, code 602). */
export class TaskRefuse extends SlaveRefusal {
  static override readonly errorCode = 'FLEETMASTER_TASK_REFUSE';
  constructor(data?: unknown) {
    super(SlaveErrorCode.TASK_REFUSED, 'Task refused!', data);
  }
}

/** Thrown from `processTask` to end the task as failed with `result` (sent to the master's fail route). */
export class TaskFail extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_TASK_FAIL';
  readonly result: unknown;
  constructor(result?: unknown, message = 'Task process failed.') {
    super(message);
    this.result = result ?? {};
  }
}

/** A slave has no task code: neither `options.processTask` nor an override of `processTask` in a subclass. */
export class ProcessTaskMissingError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_PROCESS_TASK_MISSING';
}

/** The reason a task's `AbortSignal` aborts when its master cancels it. */
export class TaskCancelledError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_TASK_CANCELLED';
}

/** Given to `lostConnection` when another master took this slave over (the old one gone, or proving the secret). */
export class MasterReplacedError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_MASTER_REPLACED';
}

// ---- the command line ----

/** A configuration error: the CLI prints its message and exits with code 2. */
export class ConfigError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_CONFIG';
}

/** The CLI's `--module` could not be imported, or has no default export function (exit code 1). */
export class ModuleLoadError extends FleetmasterError {
  static override readonly errorCode = 'FLEETMASTER_MODULE_LOAD';
  readonly module: string;
  constructor(module: string, why: string, cause?: unknown) {
    super(`--module ${module} ${why}`, cause === undefined ? undefined : { cause });
    this.module = module;
  }
}

// ---- the wire: an error answer from a peer, one class per protocol code ----

// Before the catalogue, `isResponseError` was the only way to match across copies: the old brand stays on every
// wire error, so a copy from before the catalogue still recognises one made here, and the other way round.
const kResponseError = Symbol.for('fleetmaster.ResponseError');

/**
 * An error answer from a peer: the HTTP status and the envelope, as the peer sent them. Its `code` is the
 * envelope's number (`SlaveErrorCode.CHANNEL_INVALID`, as in DI-engine); its catalogue code is `errorCode`.
 */
export class ResponseError extends FleetmasterError {
  static override readonly errorCode: string = 'FLEETMASTER_RESPONSE';
  readonly statusCode: number;
  declare readonly code: number;
  readonly data: unknown;
  /** Seconds the peer asked to wait before retrying (its `Retry-After` header), if it said. */
  retryAfter: number | undefined;
  readonly [kResponseError] = true;

  constructor(statusCode: number, envelope: Envelope, options?: ErrorOptions) {
    super(envelope.message || `HTTP ${statusCode}, code ${envelope.code}`, options);
    this.statusCode = statusCode;
    this.code = envelope.code;
    this.data = envelope.data;
  }
}

/** True for a wire error of any copy of the package (`instanceof ResponseError` holds as well). */
export function isResponseError(value: unknown): value is ResponseError {
  return (
    value instanceof ResponseError ||
    (typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[kResponseError] === true)
  );
}

/** An error answer from a slave (its codes are `SlaveErrorCode`). */
export class SlaveResponseError extends ResponseError {
  static override readonly errorCode: string = 'FLEETMASTER_SLAVE_RESPONSE';
}
/** An error answer from a master (its codes are `MasterErrorCode`). */
export class MasterResponseError extends ResponseError {
  static override readonly errorCode: string = 'FLEETMASTER_MASTER_RESPONSE';
}

type ErrorClass<B> = (new (
  statusCode: number,
  envelope: Envelope,
  options?: ErrorOptions,
) => B) & {
  readonly errorCode: string;
};

const kSlaveByCode = new Map<number, ErrorClass<SlaveResponseError>>();
const kMasterByCode = new Map<number, ErrorClass<MasterResponseError>>();

function pascal(key: string): string {
  return key
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

/**
 * The class of one protocol code: `SlaveChannelInvalidError` for the slave's `CHANNEL_INVALID` (202), catalogue code
 * `FLEETMASTER_SLAVE_CHANNEL_INVALID`. `key` is the code's name without the table's `SLAVE_` prefix, if any.
 */
function define<B extends ResponseError>(
  base: ErrorClass<B>,
  side: 'Slave' | 'Master',
  key: string,
): ErrorClass<B> {
  const table: Record<string, number> = side === 'Slave' ? SlaveErrorCode : MasterErrorCode;
  const code = table[key] ?? (side === 'Slave' ? table[`SLAVE_${key}`] : undefined);
  if (code === undefined) throw new TypeError(`no ${side} error code ${key}`);
  const name = `${side}${pascal(key)}Error`;
  const errorCode = `FLEETMASTER_${side.toUpperCase()}_${key}`;
  // a named subclass per code, so stack traces and `err.name` say which refusal it was
  const cls = {
    [name]: class extends (base as ErrorClass<ResponseError>) {
      static override readonly errorCode = errorCode;
    },
  }[name] as unknown as ErrorClass<B>;
  (side === 'Slave' ? kSlaveByCode : kMasterByCode).set(code, cls as never);
  return cls;
}

export const SlaveSystemShuttingDownError = define(SlaveResponseError, 'Slave', 'SYSTEM_SHUTTING_DOWN');
export const SlaveChannelNotFoundError = define(SlaveResponseError, 'Slave', 'CHANNEL_NOT_FOUND');
export const SlaveChannelInvalidError = define(SlaveResponseError, 'Slave', 'CHANNEL_INVALID');
export const SlaveMasterTokenNotFoundError = define(SlaveResponseError, 'Slave', 'MASTER_TOKEN_NOT_FOUND');
export const SlaveMasterTokenInvalidError = define(SlaveResponseError, 'Slave', 'MASTER_TOKEN_INVALID');
export const SlaveSelfTokenNotFoundError = define(SlaveResponseError, 'Slave', 'SELF_TOKEN_NOT_FOUND');
export const SlaveSelfTokenInvalidError = define(SlaveResponseError, 'Slave', 'SELF_TOKEN_INVALID');
export const SlaveAlreadyConnectedError = define(SlaveResponseError, 'Slave', 'ALREADY_CONNECTED');
export const SlaveNotConnectedError = define(SlaveResponseError, 'Slave', 'NOT_CONNECTED');
export const SlaveConnectionRefusedError = define(SlaveResponseError, 'Slave', 'CONNECTION_REFUSED');
export const SlaveDisconnectionRefusedError = define(SlaveResponseError, 'Slave', 'DISCONNECTION_REFUSED');
export const SlaveTaskAlreadyExistError = define(SlaveResponseError, 'Slave', 'TASK_ALREADY_EXIST');
export const SlaveTaskRefusedError = define(SlaveResponseError, 'Slave', 'TASK_REFUSED');
export const SlaveRequestBodyTooLargeError = define(SlaveResponseError, 'Slave', 'REQUEST_BODY_TOO_LARGE');
export const SlaveRouteNotFoundError = define(SlaveResponseError, 'Slave', 'ROUTE_NOT_FOUND');
export const SlaveRequestDataInvalidError = define(SlaveResponseError, 'Slave', 'REQUEST_DATA_INVALID');
export const SlaveRequestMalformedError = define(SlaveResponseError, 'Slave', 'REQUEST_MALFORMED');
export const SlaveUploadsBusyError = define(SlaveResponseError, 'Slave', 'UPLOADS_BUSY');

export const MasterSystemShuttingDownError = define(MasterResponseError, 'Master', 'SYSTEM_SHUTTING_DOWN');
export const MasterChannelNotGivenError = define(MasterResponseError, 'Master', 'CHANNEL_NOT_GIVEN');
export const MasterChannelInvalidError = define(MasterResponseError, 'Master', 'CHANNEL_INVALID');
export const MasterMasterTokenNotGivenError = define(MasterResponseError, 'Master', 'MASTER_TOKEN_NOT_GIVEN');
export const MasterMasterTokenInvalidError = define(MasterResponseError, 'Master', 'MASTER_TOKEN_INVALID');
export const MasterSelfTokenNotGivenError = define(MasterResponseError, 'Master', 'SELF_TOKEN_NOT_GIVEN');
export const MasterSelfTokenInvalidError = define(MasterResponseError, 'Master', 'SELF_TOKEN_INVALID');
export const MasterSlaveTokenNotGivenError = define(MasterResponseError, 'Master', 'SLAVE_TOKEN_NOT_GIVEN');
export const MasterSlaveTokenInvalidError = define(MasterResponseError, 'Master', 'SLAVE_TOKEN_INVALID');
export const MasterTaskDataInvalidError = define(MasterResponseError, 'Master', 'TASK_DATA_INVALID');
export const MasterRequestBodyTooLargeError = define(MasterResponseError, 'Master', 'REQUEST_BODY_TOO_LARGE');
export const MasterResultStageBusyError = define(MasterResponseError, 'Master', 'RESULT_STAGE_BUSY');
export const MasterRouteNotFoundError = define(MasterResponseError, 'Master', 'ROUTE_NOT_FOUND');
export const MasterMetricsFailedError = define(MasterResponseError, 'Master', 'METRICS_FAILED');
export const MasterRequestMalformedError = define(MasterResponseError, 'Master', 'REQUEST_MALFORMED');
export const MasterRequestDataInvalidError = define(MasterResponseError, 'Master', 'REQUEST_DATA_INVALID');
export const MasterQueueFullError = define(MasterResponseError, 'Master', 'QUEUE_FULL');
export const MasterTaskNotFoundError = define(MasterResponseError, 'Master', 'TASK_NOT_FOUND');
export const MasterHostNotAllowedError = define(MasterResponseError, 'Master', 'HOST_NOT_ALLOWED');

/** The typed error for a slave's error answer; an unknown code still gives a `SlaveResponseError`. */
export function slaveErrorFor(statusCode: number, envelope: Envelope): SlaveResponseError {
  const Cls = kSlaveByCode.get(envelope.code) ?? SlaveResponseError;
  return new Cls(statusCode, envelope);
}

/** The typed error for a master's error answer; an unknown code still gives a `MasterResponseError`. */
export function masterErrorFor(statusCode: number, envelope: Envelope): MasterResponseError {
  const Cls = kMasterByCode.get(envelope.code) ?? MasterResponseError;
  return new Cls(statusCode, envelope);
}

export const errorClassTables = { slave: kSlaveByCode, master: kMasterByCode } as const;
