import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { checkEngine, defaultEngine, type EngineChoice } from '../http/engine.ts';
import {
  type JetStreamOptions,
  type ResolvedJetStreamOptions,
  resolveJetStreamOptions,
} from '../nats/options.ts';
import {
  checkBoolean,
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
import type { SlaveConnection } from './connection.ts';
import { leastLoaded, type PlacementPolicy } from './fleet/placement.ts';

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
  /**
   * The HTTP engine of the front end and the admin listener: `'uws'` (uWebSockets.js; only where its native build
   * loads: elsewhere the constructor throws `EngineUnavailableError`, naming the Node ABI, platform and libc), `'node'` (`node:http`, everywhere),
   * or `'auto'`: uws where it loads, else node with one warn line saying why. Read the choice from
   * `master.engine`. @defaultValue `FLEETMASTER_ENGINE` if set, else `'auto'`
   */
  engine?: EngineChoice;
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
   * How `POST /task/new` (one per task) reaches a slave that announced fleetmaster's extensions: `'lean'`, our own
   * HTTP/1.1 client (`H1Client`, a keep-alive socket and a prebuilt request: 1.76× the tasks per second of undici
   * in bench/fleet.ts, side by side), or `'undici'`, as every other request goes. A DI-engine slave always gets
   * undici.
   * @defaultValue `'lean'`
   */
  taskClient?: 'lean' | 'undici';
  /**
   * The address slaves send heartbeats and results to, e.g. `http://10.0.0.5:7235`. Without it, the master uses
   * its listening host if that is a specific address, else the local address of the route towards each slave.
   */
  myAddress?: string;
  /** Largest request body the front end accepts, in bytes (a larger one gets 413, code 901). @defaultValue 64 MiB */
  maxBodySize?: number;
  /** Serve the front end over TLS (uWS `SSLApp`); `myAddress` then defaults to `https://`. */
  tls?: TlsOptions;
  /** TLS settings for requests to `https` slaves (e.g. the CA of self-signed slave certificates). */
  slaveTls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
  /**
   * A secret shared with the slaves (fleetmaster extension; off by default for DI-engine compatibility). With it
   * the master proves itself on `/connect` and accepts only slaves that prove the same secret.
   */
  fleetSecret?: string;
  /**
   * Path or URL of an ES module whose default export runs, on a pool thread, for every result:
   * `({ taskId, outcome, slave, result }) => value`; `value` becomes the task's `result` on the main thread.
   * Without it the threads only decode result bodies.
   */
  resultHandler?: string | URL;
  /** Threads of the result pool; 0 runs decoding and the handler inline on the main thread. @defaultValue cores − 1 (min 1) */
  resultThreads?: number;
  /** Results the stage holds at once (queued or on a thread) before it pushes back. @defaultValue 10000 */
  resultQueueLimit?: number;
  /** Result body bytes the stage holds at once before it pushes back. @defaultValue 256 MiB */
  resultQueueBytes?: number;
  /** Seconds one result's handler may run; past it the thread is replaced and the task fails. @defaultValue 30 */
  resultTimeLimit?: number;
  /** Most results handed to a thread at once. @defaultValue 64 */
  resultBatch?: number;
  /**
   * The token of the management routes (`/ping`, `/shutdown`, `/status`, `/metrics`), given as the `Token` header
   * or `Authorization: Bearer`. Give one (at least 16 characters) when tools such as a Prometheus scraper must
   * know it in advance. @defaultValue random, read it from `master.selfToken`
   */
  selfToken?: string;
  /**
   * Serve Prometheus metrics at `GET /metrics` on the front end, behind the self token (the collectors read
   * plain counters at scrape time: the heartbeat path pays one integer add). @defaultValue false
   */
  metrics?: boolean;
  /**
   * A separate admin listener for `GET /metrics` and `GET /status` without a token (for a scraper on a private
   * network); it turns metrics on. @defaultValue none
   */
  adminPort?: number;
  /** Address of the admin listener. @defaultValue `'127.0.0.1'` */
  adminHost?: string;
  /**
   * Most submitted tasks waiting for a slave (`master.submit`); a submit beyond it gives a task that already
   * FAILED with `QUEUE_FULL` (`POST /fleet/tasks` answers 503), and `master.map()` waits for room.
   * @defaultValue 100000
   */
  queueLimit?: number;
  /**
   * Which slave with a free slot gets a submitted task: an order over slaves (see `PlacementPolicy`; pure, it
   * reads only the load it is given). @defaultValue `leastLoaded`: fewest tasks in flight, then idle the longest
   */
  placement?: PlacementPolicy;
  /**
   * Seconds a task submitted over HTTP (`POST /fleet/tasks`) stays readable (`GET /fleet/tasks/{id}`) once it
   * settled. @defaultValue 600
   */
  fleetTaskRetention?: number;
  /** Most settled HTTP-submitted tasks kept readable at once (the oldest go first). @defaultValue 10000 */
  fleetTasksKept?: number;
  /**
   * Share the fleet's work with other masters through NATS JetStream: a NATS URL (`nats://host:4222`), or the
   * URLs and settings of the streams (see docs/queue-schema.md). The master then takes its tasks from the
   * fleet's work-queue stream, as many as its slaves have free slots, publishes their results on the results
   * stream, and keeps a record in the masters' bucket (listed in `/status`). `start()` fails with
   * `QueueUnreachableError` when NATS cannot be reached. Tasks given to `master.submit` still run here.
   * @defaultValue none: the in-memory queue, and nothing of NATS is loaded
   */
  queue?: string | JetStreamOptions;
  /** Connection and task hooks (a subclass may override the methods of the same names instead). */
  hooks?: MasterHooks;
  /**
   * A pino-compatible logger (connects, disconnects, evictions with reasons, failures, shutdown; warnings such as
   * a callback that threw). @defaultValue silent
   */
  logger?: LoggerLike;
}

export interface ResolvedMasterOptions {
  readonly host: string;
  readonly engine: EngineChoice;
  readonly port: number;
  readonly channel: number;
  readonly heartbeatTolerance: number;
  readonly heartbeatCheckSpan: number;
  readonly requestRetries: number;
  readonly requestRetryWaiting: number;
  readonly requestTimeout: number;
  readonly taskClient: 'lean' | 'undici';
  readonly myAddress: string | undefined;
  readonly maxBodySize: number;
  readonly tls: TlsOptions | undefined;
  readonly slaveTls: MasterOptions['slaveTls'];
  readonly fleetSecret: string | undefined;
  readonly resultHandler: string | undefined;
  readonly resultThreads: number;
  readonly resultQueueLimit: number;
  readonly resultQueueBytes: number;
  readonly resultTimeLimit: number;
  readonly resultBatch: number;
  readonly selfToken: string | undefined;
  readonly metrics: boolean;
  readonly adminPort: number | undefined;
  readonly adminHost: string;
  readonly queueLimit: number;
  readonly placement: PlacementPolicy;
  readonly fleetTaskRetention: number;
  readonly fleetTasksKept: number;
  readonly queue: ResolvedJetStreamOptions | undefined;
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
  taskClient: 'lean' as 'lean' | 'undici',
  maxBodySize: 64 * 1024 * 1024,
  // leave a core to the main thread: measured, a pool as wide as the machine delays heartbeats on 2 cores
  resultThreads: Math.max(1, availableParallelism() - 1),
  resultQueueLimit: 10_000,
  resultQueueBytes: 256 * 1024 * 1024,
  resultTimeLimit: 30,
  resultBatch: 64,
  metrics: false,
  adminHost: '127.0.0.1',
  queueLimit: 100_000,
  placement: leastLoaded,
  fleetTaskRetention: 600,
  fleetTasksKept: 10_000,
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
    engine: o.engine === undefined ? defaultEngine() : checkEngine(o.engine),
    port: checkInteger('port', o.port, 0, 65535),
    channel: checkInteger('channel', o.channel, 0),
    heartbeatTolerance: checkNumber('heartbeatTolerance', o.heartbeatTolerance, 0.2, kMaxSeconds),
    heartbeatCheckSpan: checkNumber('heartbeatCheckSpan', o.heartbeatCheckSpan, 0.1, kMaxSeconds),
    requestRetries: checkInteger('requestRetries', o.requestRetries, 0, 1000),
    requestRetryWaiting: checkNumber('requestRetryWaiting', o.requestRetryWaiting, 0, kMaxSeconds),
    requestTimeout: checkNumber('requestTimeout', o.requestTimeout, 0.01, kMaxSeconds),
    taskClient: checkTaskClient(o.taskClient),
    myAddress: o.myAddress?.replace(/\/$/, ''),
    maxBodySize: checkInteger('maxBodySize', o.maxBodySize, 1, 2 ** 31 - 1),
    tls: checkTls('tls', o.tls),
    slaveTls: o.slaveTls,
    fleetSecret: o.fleetSecret === undefined ? undefined : checkString('fleetSecret', o.fleetSecret),
    resultHandler: o.resultHandler === undefined ? undefined : checkModule('resultHandler', o.resultHandler),
    resultThreads: checkInteger('resultThreads', o.resultThreads, 0, 256),
    resultQueueLimit: checkInteger('resultQueueLimit', o.resultQueueLimit, 1),
    resultQueueBytes: checkInteger('resultQueueBytes', o.resultQueueBytes, 1),
    resultTimeLimit: checkNumber('resultTimeLimit', o.resultTimeLimit, 0.01, kMaxSeconds),
    resultBatch: checkInteger('resultBatch', o.resultBatch, 1, 10_000),
    selfToken: o.selfToken === undefined ? undefined : checkSelfToken(o.selfToken),
    metrics: checkBoolean('metrics', o.metrics),
    adminPort: o.adminPort === undefined ? undefined : checkInteger('adminPort', o.adminPort, 0, 65535),
    adminHost: checkString('adminHost', o.adminHost),
    queueLimit: checkInteger('queueLimit', o.queueLimit, 1, 100_000_000),
    placement: checkFunction<PlacementPolicy>('placement', o.placement)!,
    fleetTaskRetention: checkNumber('fleetTaskRetention', o.fleetTaskRetention, 1, kMaxSeconds),
    fleetTasksKept: checkInteger('fleetTasksKept', o.fleetTasksKept, 1, 10_000_000),
    queue: o.queue === undefined ? undefined : resolveJetStreamOptions(o.queue),
    hooks: Object.freeze(hooks),
    logger: toLogger(o.logger),
  });
}

function checkSelfToken(value: unknown): string {
  if (typeof value !== 'string' || value.length < 16 || /[\s]/.test(value)) {
    throw new TypeError('options.selfToken must be a string of at least 16 characters without spaces');
  }
  return value;
}

/** A module path or URL, as an absolute URL string that `import()` accepts from any thread. */
function checkTaskClient(value: unknown): 'lean' | 'undici' {
  if (value === 'lean' || value === 'undici') return value;
  throw new TypeError(`options.taskClient must be 'lean' or 'undici' (got ${String(value)})`);
}

function checkModule(name: string, value: unknown): string {
  let href: string;
  if (value instanceof URL) href = value.href;
  else if (typeof value === 'string' && value.length > 0) {
    href = /^(file|data):/.test(value) ? value : pathToFileURL(resolve(value)).href;
  } else {
    throw new TypeError(`options.${name} must be a path or URL of an ES module (got ${String(value)})`);
  }
  if (href.startsWith('file:') && !existsSync(fileURLToPath(href))) {
    throw new TypeError(`options.${name}: no such module ${fileURLToPath(href)}`);
  }
  return href;
}
