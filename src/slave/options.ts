import { checkEngine, defaultEngine, type EngineChoice } from '../http/engine.ts';
import {
  checkFunction,
  checkInteger,
  checkNumber,
  checkString,
  checkTls,
  kMaxSeconds,
  type Logger,
  type LoggerLike,
  stripUndefined,
  type TlsOptions,
  toLogger,
} from '../options.ts';
import { kMaxConcurrency } from '../protocol/extensions.ts';

/** The reference slave's hooks. Each may return a Promise. */
export interface SlaveHooks {
  /** Runs on `/connect` with the master's connection data; throw `ConnectionRefuse` to refuse. */
  beforeConnection?(data: unknown): unknown;
  /** Runs on `/disconnect`; throw `DisconnectionRefuse` to refuse. */
  beforeDisconnection?(data: unknown): unknown;
  /** Runs on `/task/new` before the task is accepted; throw `TaskRefuse` to refuse. */
  beforeTask?(data: unknown): unknown;
  /** The master stopped answering heartbeats (after retries) or refused one; the slave is connectable again. */
  lostConnection?(masterAddress: string, error: Error): unknown;
}

export interface SlaveOptions {
  /** Address the slave listens on. @defaultValue `'0.0.0.0'` */
  host?: string;
  /**
   * The HTTP engine: `'uws'` (uWebSockets.js, only where its native build loads), `'node'` (`node:http`), or
   * `'auto'` (uws where it loads, else node). Read the choice from `slave.engine`.
   * @defaultValue `FLEETMASTER_ENGINE` if set, else `'auto'`
   */
  engine?: EngineChoice;
  /** Port the slave listens on; 0 picks a free port (read it from `slave.port`). @defaultValue `7236` */
  port?: number;
  /** The protocol channel; must equal the master's. @defaultValue `0` */
  channel?: number;
  /** Seconds between heartbeats (minimum 0.2). @defaultValue `3` */
  heartbeatSpan?: number;
  /** Extra attempts for a request to the master after a connection-level error. @defaultValue `5` */
  requestRetries?: number;
  /** Seconds between those attempts. @defaultValue `1` */
  requestRetryWaiting?: number;
  /** Seconds to wait for the master's answer. @defaultValue `30` */
  requestTimeout?: number;
  /** Largest request body accepted, in bytes (a larger one gets 413, code 901). @defaultValue 64 MiB */
  maxBodySize?: number;
  /**
   * Wire format of result bodies: `'msgpack'` is used only with a master that announced it (a fleetmaster
   * master does); a DI-engine master always gets JSON. @defaultValue 'json'
   */
  format?: 'json' | 'msgpack';
  /**
   * The task code, instead of overriding `processTask` in a subclass. `signal` aborts when a fleetmaster master
   * cancels the task (its result is still reported, and ignored); a DI-engine master never cancels.
   */
  processTask?: (data: unknown, signal: AbortSignal) => unknown;
  /**
   * Tasks run at once; announced to a fleetmaster master (which sends no more than that), a further
   * `/task/new` is refused (400, code 601) as DI-engine's slave refuses a second. @defaultValue 1
   */
  concurrency?: number;
  hooks?: SlaveHooks;
  /** Serve over TLS (uWS `SSLApp`). */
  tls?: TlsOptions;
  /** TLS settings for requests to an `https://` master (e.g. a private CA). */
  masterTls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
  /**
   * A secret shared with the master (fleetmaster extension; off by default for DI-engine compatibility). With it
   * the slave accepts `/connect` only from a master that proves the same secret, and proves it in return.
   */
  fleetSecret?: string;
  /** A pino-compatible logger (master links, lost connections, reporting failures). @defaultValue silent */
  logger?: LoggerLike;
}

export interface ResolvedSlaveOptions {
  readonly host: string;
  readonly engine: EngineChoice;
  readonly port: number;
  readonly channel: number;
  readonly heartbeatSpan: number;
  readonly requestRetries: number;
  readonly requestRetryWaiting: number;
  readonly requestTimeout: number;
  readonly maxBodySize: number;
  readonly format: 'json' | 'msgpack';
  readonly processTask: ((data: unknown, signal: AbortSignal) => unknown) | undefined;
  readonly concurrency: number;
  readonly hooks: Readonly<SlaveHooks>;
  readonly tls: TlsOptions | undefined;
  readonly masterTls: SlaveOptions['masterTls'];
  readonly fleetSecret: string | undefined;
  readonly logger: Logger;
}

export const kSlaveDefaults = Object.freeze({
  host: '0.0.0.0',
  port: 7236,
  channel: 0,
  heartbeatSpan: 3,
  requestRetries: 5,
  requestRetryWaiting: 1,
  requestTimeout: 30,
  maxBodySize: 64 * 1024 * 1024,
  format: 'json' as 'json' | 'msgpack',
  concurrency: 1,
});

const kHookNames = ['beforeConnection', 'beforeDisconnection', 'beforeTask', 'lostConnection'] as const;

export function resolveSlaveOptions(options: SlaveOptions = {}): ResolvedSlaveOptions {
  const o = { ...kSlaveDefaults, ...stripUndefined(options) };
  const hooks: SlaveHooks = {};
  for (const name of kHookNames) {
    const fn = checkFunction<SlaveHooks[typeof name]>(`hooks.${name}`, options.hooks?.[name]);
    if (fn) (hooks as Record<string, unknown>)[name] = fn;
  }
  return Object.freeze({
    host: checkString('host', o.host),
    engine: o.engine === undefined ? defaultEngine() : checkEngine(o.engine),
    port: checkInteger('port', o.port, 0, 65535),
    channel: checkInteger('channel', o.channel, 0),
    heartbeatSpan: checkNumber('heartbeatSpan', o.heartbeatSpan, 0.2, kMaxSeconds),
    requestRetries: checkInteger('requestRetries', o.requestRetries, 0, 1000),
    requestRetryWaiting: checkNumber('requestRetryWaiting', o.requestRetryWaiting, 0, kMaxSeconds),
    requestTimeout: checkNumber('requestTimeout', o.requestTimeout, 0.01, kMaxSeconds),
    maxBodySize: checkInteger('maxBodySize', o.maxBodySize, 1, 2 ** 31 - 1),
    format: checkFormat(o.format),
    processTask: checkFunction<(data: unknown, signal: AbortSignal) => unknown>('processTask', o.processTask),
    concurrency: checkInteger('concurrency', o.concurrency, 1, kMaxConcurrency),
    hooks: Object.freeze(hooks),
    tls: checkTls('tls', o.tls),
    masterTls: o.masterTls,
    fleetSecret: o.fleetSecret === undefined ? undefined : checkString('fleetSecret', o.fleetSecret),
    logger: toLogger(o.logger),
  });
}

function checkFormat(value: unknown): 'json' | 'msgpack' {
  if (value === 'json' || value === 'msgpack') return value;
  throw new TypeError(`options.format must be 'json' or 'msgpack' (got ${String(value)})`);
}
