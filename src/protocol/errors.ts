import { FleetmasterError } from '../errors.ts';
import { codeName, MasterErrorCode, SlaveErrorCode } from './codes.ts';
import type { Envelope } from './envelope.ts';

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

export { codeName };
