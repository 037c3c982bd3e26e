import { codeName, MasterErrorCode, SlaveErrorCode } from './codes.ts';
import type { Envelope } from './envelope.ts';

// Branded with Symbol.for so `isResponseError` holds across two copies of the library (undici's habit).
const kResponseError = Symbol.for('fleetmaster.ResponseError');

/** An error answer from a peer: the HTTP status and the envelope, as the peer sent them. */
export class ResponseError extends Error {
  readonly statusCode: number;
  readonly code: number;
  readonly data: unknown;
  /** Seconds the peer asked to wait before retrying (its `Retry-After` header), if it said. */
  retryAfter: number | undefined;
  readonly [kResponseError] = true;

  constructor(statusCode: number, envelope: Envelope, options?: ErrorOptions) {
    super(envelope.message || `HTTP ${statusCode}, code ${envelope.code}`, options);
    this.name = new.target.name;
    this.statusCode = statusCode;
    this.code = envelope.code;
    this.data = envelope.data;
  }
}

export function isResponseError(value: unknown): value is ResponseError {
  return (
    typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kResponseError] === true
  );
}

/** An error answer from a slave (its codes are `SlaveErrorCode`). */
export class SlaveResponseError extends ResponseError {}
/** An error answer from a master (its codes are `MasterErrorCode`). */
export class MasterResponseError extends ResponseError {}

type ErrorClass<B> = new (statusCode: number, envelope: Envelope, options?: ErrorOptions) => B;

function pascal(key: string): string {
  return key
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

function define<B extends ResponseError>(base: ErrorClass<B>, prefix: string, key: string): ErrorClass<B> {
  const name = `${prefix}${pascal(key)}Error`;
  // a named subclass per code, so stack traces and `err.name` say which refusal it was
  const cls = { [name]: class extends (base as ErrorClass<ResponseError>) {} }[
    name
  ] as unknown as ErrorClass<B>;
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

const kSlaveByCode = new Map<number, ErrorClass<SlaveResponseError>>([
  [SlaveErrorCode.SYSTEM_SHUTTING_DOWN, SlaveSystemShuttingDownError],
  [SlaveErrorCode.CHANNEL_NOT_FOUND, SlaveChannelNotFoundError],
  [SlaveErrorCode.CHANNEL_INVALID, SlaveChannelInvalidError],
  [SlaveErrorCode.MASTER_TOKEN_NOT_FOUND, SlaveMasterTokenNotFoundError],
  [SlaveErrorCode.MASTER_TOKEN_INVALID, SlaveMasterTokenInvalidError],
  [SlaveErrorCode.SELF_TOKEN_NOT_FOUND, SlaveSelfTokenNotFoundError],
  [SlaveErrorCode.SELF_TOKEN_INVALID, SlaveSelfTokenInvalidError],
  [SlaveErrorCode.SLAVE_ALREADY_CONNECTED, SlaveAlreadyConnectedError],
  [SlaveErrorCode.SLAVE_NOT_CONNECTED, SlaveNotConnectedError],
  [SlaveErrorCode.SLAVE_CONNECTION_REFUSED, SlaveConnectionRefusedError],
  [SlaveErrorCode.SLAVE_DISCONNECTION_REFUSED, SlaveDisconnectionRefusedError],
  [SlaveErrorCode.TASK_ALREADY_EXIST, SlaveTaskAlreadyExistError],
  [SlaveErrorCode.TASK_REFUSED, SlaveTaskRefusedError],
  [SlaveErrorCode.REQUEST_BODY_TOO_LARGE, SlaveRequestBodyTooLargeError],
  [SlaveErrorCode.ROUTE_NOT_FOUND, SlaveRouteNotFoundError],
  [SlaveErrorCode.REQUEST_DATA_INVALID, SlaveRequestDataInvalidError],
  [SlaveErrorCode.REQUEST_MALFORMED, SlaveRequestMalformedError],
  [SlaveErrorCode.UPLOADS_BUSY, SlaveUploadsBusyError],
]);

const kMasterByCode = new Map<number, ErrorClass<MasterResponseError>>([
  [MasterErrorCode.SYSTEM_SHUTTING_DOWN, MasterSystemShuttingDownError],
  [MasterErrorCode.CHANNEL_NOT_GIVEN, MasterChannelNotGivenError],
  [MasterErrorCode.CHANNEL_INVALID, MasterChannelInvalidError],
  [MasterErrorCode.MASTER_TOKEN_NOT_GIVEN, MasterMasterTokenNotGivenError],
  [MasterErrorCode.MASTER_TOKEN_INVALID, MasterMasterTokenInvalidError],
  [MasterErrorCode.SELF_TOKEN_NOT_GIVEN, MasterSelfTokenNotGivenError],
  [MasterErrorCode.SELF_TOKEN_INVALID, MasterSelfTokenInvalidError],
  [MasterErrorCode.SLAVE_TOKEN_NOT_GIVEN, MasterSlaveTokenNotGivenError],
  [MasterErrorCode.SLAVE_TOKEN_INVALID, MasterSlaveTokenInvalidError],
  [MasterErrorCode.TASK_DATA_INVALID, MasterTaskDataInvalidError],
  [MasterErrorCode.REQUEST_BODY_TOO_LARGE, MasterRequestBodyTooLargeError],
  [MasterErrorCode.RESULT_STAGE_BUSY, MasterResultStageBusyError],
  [MasterErrorCode.ROUTE_NOT_FOUND, MasterRouteNotFoundError],
  [MasterErrorCode.METRICS_FAILED, MasterMetricsFailedError],
  [MasterErrorCode.REQUEST_MALFORMED, MasterRequestMalformedError],
  [MasterErrorCode.REQUEST_DATA_INVALID, MasterRequestDataInvalidError],
  [MasterErrorCode.QUEUE_FULL, MasterQueueFullError],
  [MasterErrorCode.TASK_NOT_FOUND, MasterTaskNotFoundError],
]);

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

/** The peer could not be reached (refused, reset, timed out) after every retry. */
export class RequestFailedError extends Error {
  readonly code = 'REQUEST_FAILED';
  readonly attempts: number;
  constructor(url: string, attempts: number, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`Request to ${url} failed after ${attempts} attempt(s): ${why}`, { cause });
    this.name = 'RequestFailedError';
    this.attempts = attempts;
  }
}

/** The peer answered, but not with an envelope (wrong server on that port, a proxy page, garbage). */
export class BadAnswerError extends Error {
  readonly code = 'BAD_ANSWER';
  readonly statusCode: number;
  constructor(url: string, statusCode: number, body: string) {
    super(`${url} answered HTTP ${statusCode} without a protocol envelope: ${body.slice(0, 200)}`);
    this.name = 'BadAnswerError';
    this.statusCode = statusCode;
  }
}

export { codeName };
