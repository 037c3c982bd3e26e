import {
  checkFunction,
  checkInteger,
  checkNumber,
  checkString,
  checkTls,
  consoleLogger,
  type Logger,
  stripUndefined,
  type TlsOptions,
} from '../options.ts';
import type { SlaveConnection } from './connection.ts';

/**
 * The reference's connection and task hooks. Each may return a Promise. The last argument (the connection)
 * is fleetmaster's addition; the others are the reference's, in its order.
 */
export interface MasterHooks {
  /** Returns the connection data sent with `POST /connect`; throwing cancels the connection. */
  beforeConnect?(connection: SlaveConnection): unknown;
  /** Its return value is what `connection.connect()` resolves to. */
  afterConnect?(
    statusCode: number,
    success: boolean,
    code: number,
    message: string,
    data: unknown,
    connection: SlaveConnection,
  ): unknown;
  /** Called with the request's error; the default rethrows. A returned value becomes `connect()`'s value. */
  errorConnect?(error: Error, connection: SlaveConnection): unknown;
  beforeDisconnect?(connection: SlaveConnection): unknown;
  afterDisconnect?(
    statusCode: number,
    success: boolean,
    code: number,
    message: string,
    data: unknown,
    connection: SlaveConnection,
  ): unknown;
  errorDisconnect?(error: Error, connection: SlaveConnection): unknown;
  /** Returns the task data actually sent; the default sends `data ?? {}`. Throwing fails the start. */
  beforeNewTask?(data: unknown, connection: SlaveConnection): unknown;
  /** Its return value is kept as `task.startValue`. */
  afterNewTask?(
    statusCode: number,
    success: boolean,
    code: number,
    message: string,
    data: unknown,
    connection: SlaveConnection,
  ): unknown;
  /** Called when `/task/new` fails; the default rethrows (and `task.start()` rejects). */
  errorNewTask?(error: Error, connection: SlaveConnection): unknown;
}

export interface MasterOptions {
  /** Address the front end listens on. @defaultValue `'0.0.0.0'` */
  host?: string;
  /** Port the front end listens on; 0 picks a free port (read it from `master.port`). @defaultValue `7235` */
  port?: number;
  /** The protocol channel; slaves on another channel refuse this master. @defaultValue `0` */
  channel?: number;
  /** Seconds without a heartbeat before a slave is evicted (minimum 0.2). @defaultValue `17` */
  heartbeatTolerance?: number;
  /** Seconds between two sweeps for silent slaves (minimum 0.1). @defaultValue `1` */
  heartbeatCheckSpan?: number;
  /** Extra attempts for a request to a slave after a connection-level error. @defaultValue `5` */
  requestRetries?: number;
  /** Seconds between those attempts. @defaultValue `1` */
  requestRetryWaiting?: number;
  /** Seconds to wait for a slave's answer before the attempt counts as failed. @defaultValue `30` */
  requestTimeout?: number;
  /**
   * The address slaves send heartbeats and results to, e.g. `http://10.0.0.5:7235`. Without it, the master uses
   * its listening host if that is a specific address, else the local address of the route towards each slave.
   */
  myAddress?: string;
  /** Largest request body the front end accepts, in bytes (a larger one gets 413, code 901). @defaultValue 64 MiB */
  maxBodySize?: number;
  /** Serve the front end over TLS (uWS `SSLApp`); `myAddress` then defaults to `https://`. */
  tls?: TlsOptions;
  /** Connection and task hooks (a subclass may override the methods of the same names instead). */
  hooks?: MasterHooks;
  /** Where warnings go (a callback that threw, a result for an unknown task). @defaultValue console */
  logger?: Logger;
}

export interface ResolvedMasterOptions {
  readonly host: string;
  readonly port: number;
  readonly channel: number;
  readonly heartbeatTolerance: number;
  readonly heartbeatCheckSpan: number;
  readonly requestRetries: number;
  readonly requestRetryWaiting: number;
  readonly requestTimeout: number;
  readonly myAddress: string | undefined;
  readonly maxBodySize: number;
  readonly tls: TlsOptions | undefined;
  readonly hooks: Readonly<MasterHooks>;
  readonly logger: Logger;
}

export const kMasterDefaults = Object.freeze({
  host: '0.0.0.0',
  port: 7235,
  channel: 0,
  heartbeatTolerance: 17,
  heartbeatCheckSpan: 1,
  requestRetries: 5,
  requestRetryWaiting: 1,
  requestTimeout: 30,
  maxBodySize: 64 * 1024 * 1024,
});

const kHookNames = [
  'beforeConnect',
  'afterConnect',
  'errorConnect',
  'beforeDisconnect',
  'afterDisconnect',
  'errorDisconnect',
  'beforeNewTask',
  'afterNewTask',
  'errorNewTask',
] as const;

export function resolveMasterOptions(options: MasterOptions = {}): ResolvedMasterOptions {
  const o = { ...kMasterDefaults, ...stripUndefined(options) };
  const hooks: MasterHooks = {};
  for (const name of kHookNames) {
    const fn = checkFunction<MasterHooks[typeof name]>(`hooks.${name}`, options.hooks?.[name]);
    if (fn) (hooks as Record<string, unknown>)[name] = fn;
  }
  if (o.myAddress !== undefined) {
    checkString('myAddress', o.myAddress);
    if (!/^https?:\/\/[^/]+$/.test(o.myAddress.replace(/\/$/, ''))) {
      throw new TypeError(`options.myAddress must look like http://host:port (got ${o.myAddress})`);
    }
  }
  return Object.freeze({
    host: checkString('host', o.host),
    port: checkInteger('port', o.port, 0, 65535),
    channel: checkInteger('channel', o.channel, 0),
    heartbeatTolerance: checkNumber('heartbeatTolerance', o.heartbeatTolerance, 0.2),
    heartbeatCheckSpan: checkNumber('heartbeatCheckSpan', o.heartbeatCheckSpan, 0.1),
    requestRetries: checkInteger('requestRetries', o.requestRetries, 0, 1000),
    requestRetryWaiting: checkNumber('requestRetryWaiting', o.requestRetryWaiting, 0),
    requestTimeout: checkNumber('requestTimeout', o.requestTimeout, 0.01),
    myAddress: o.myAddress?.replace(/\/$/, ''),
    maxBodySize: checkInteger('maxBodySize', o.maxBodySize, 1, 2 ** 31 - 1),
    tls: checkTls('tls', o.tls),
    hooks: Object.freeze(hooks),
    logger: o.logger ?? consoleLogger,
  });
}
