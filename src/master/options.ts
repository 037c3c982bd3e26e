import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { kAnyHost, normaliseHostname } from '../http/allowed-hosts.ts';
import { type EngineChoice, kEngineOption } from '../http/engine.ts';
import {
  type JetStreamOptions,
  type ResolvedJetStreamOptions,
  resolveJetStreamOptions,
} from '../nats/options.ts';
import {
  checkFunction,
  checkHooks,
  checkList,
  checkString,
  checkTls,
  freezeRedacted,
  kFleetSecretOption,
  kMaxSeconds,
  type Logger,
  type LoggerLike,
  listenOptions,
  type OptionTable,
  requestOptions,
  resolveTable,
  secretsOf,
  type TlsOptions,
  toLogger,
} from '../options.ts';
import { type ConnectionHooks, kConnectionHooks } from './connection.ts';
import { leastLoaded, type PlacementPolicy } from './fleet/placement.ts';

/** The connection and task hooks, any of them (see `kConnectionHooks`): each may return a Promise. */
export type MasterHooks = Partial<ConnectionHooks>;

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
   * in bench/fleet/, side by side), or `'undici'`, as every other request goes. A DI-engine slave always gets
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
  /** Serve the front end over TLS (on either engine); `myAddress` then defaults to `https://`. */
  tls?: TlsOptions;
  /** TLS settings for requests to `https` slaves (e.g. the CA of self-signed slave certificates). */
  slaveTls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
  /**
   * A secret shared with the slaves (fleetmaster extension; off by default for DI-engine compatibility). With it
   * the master proves itself on `/connect` (answering the slave's challenge, one more round trip) and accepts only
   * slaves that prove the same secret over a nonce of its own (else `FleetSecretError`). It authenticates
   * `/connect` only: see docs/protocol.md, "Fleet secret", for what it does and does not protect.
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
  /**
   * Results held at once (uploads still arriving, queued, or on a thread) before the master pushes back.
   * @defaultValue 10000
   */
  resultQueueLimit?: number;
  /**
   * Result body bytes held at once, counted from before an upload is read, before the master pushes back; one
   * slave's unfinished uploads hold at most `maxBodySize`. @defaultValue 256 MiB
   */
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
   * Host names (or IP addresses) the admin listener answers besides `localhost`, `127.0.0.1`, `::1` and
   * `adminHost` itself (unless that is `0.0.0.0` or `::`): any other `Host` header, or none, gets 403 with code 910
   * (`MasterHostNotAllowedError`), so that a web page whose name was rebound to the listener's address (DNS
   * rebinding) cannot read it from the operator's browser. No ports; an IPv6 address with or without brackets.
   * `'*'` turns the check off (any `Host` is answered): only behind a proxy that checks it.
   * @defaultValue none: only the names above
   */
  adminAllowedHosts?: readonly string[];
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
  /** Normalised (lower-case, no trailing dot, IPv6 without brackets); undefined when none were given. */
  readonly adminAllowedHosts: readonly string[] | undefined;
  readonly queueLimit: number;
  readonly placement: PlacementPolicy;
  readonly fleetTaskRetention: number;
  readonly fleetTasksKept: number;
  readonly queue: ResolvedJetStreamOptions | undefined;
  readonly hooks: Readonly<MasterHooks>;
  readonly logger: Logger;
}

/**
 * The master's options that are values: type, default, bounds and help, written once (see src/options.ts). The
 * constructor checks against it; the CLI's `master` fields, `--help` and README's reference come from it. The
 * options that are code or objects (`hooks`, `logger`, `placement`, `tls`, `slaveTls`, `queue`) are resolved
 * beside it.
 */
export const kMasterOptions = Object.freeze({
  ...listenOptions(7235),
  engine: kEngineOption,
  heartbeatTolerance: {
    type: 'number',
    default: 17,
    min: 0.2,
    max: kMaxSeconds,
    arg: 'seconds',
    help: 'silence before a slave is evicted',
  },
  heartbeatCheckSpan: {
    type: 'number',
    default: 1,
    min: 0.1,
    max: kMaxSeconds,
    arg: 'seconds',
    help: 'time between two sweeps',
  },
  ...requestOptions('a slave'),
  taskClient: {
    type: 'string',
    default: 'lean',
    choices: ['lean', 'undici'],
    arg: 'client',
    help: 'client for POST /task/new to fleetmaster slaves (DI-engine slaves: always undici)',
  },
  myAddress: {
    type: 'string',
    shown: 'derived',
    check: checkAddress,
    arg: 'url',
    help: 'address slaves report to, e.g. http://10.0.0.5:7235',
  },
  resultHandler: {
    type: 'string',
    check: checkModule,
    arg: 'module',
    help: 'ES module run on a pool thread for every result (its default export)',
  },
  resultThreads: {
    type: 'integer',
    // leave a core to the main thread: measured, a pool as wide as the machine delays heartbeats on 2 cores
    default: Math.max(1, availableParallelism() - 1),
    shown: 'cores − 1',
    min: 0,
    max: 256,
    arg: 'n',
    help: 'result pool threads (0: decode and handle inline on the main thread)',
  },
  resultQueueLimit: {
    type: 'integer',
    default: 10_000,
    min: 1,
    arg: 'n',
    help: 'results held before backpressure',
  },
  resultQueueBytes: {
    type: 'integer',
    default: 256 * 1024 * 1024,
    min: 1,
    arg: 'bytes',
    help: 'result bytes held before backpressure',
  },
  resultTimeLimit: {
    type: 'number',
    default: 30,
    min: 0.01,
    max: kMaxSeconds,
    arg: 'seconds',
    help: "one result's handler time; past it the thread is replaced and the task fails",
  },
  resultBatch: {
    type: 'integer',
    default: 64,
    min: 1,
    max: 10_000,
    arg: 'n',
    help: 'most results handed to a thread at once',
  },
  queueLimit: {
    type: 'integer',
    default: 100_000,
    min: 1,
    max: 100_000_000,
    arg: 'n',
    help: 'most submitted tasks waiting for a slave (beyond: QUEUE_FULL, HTTP 503)',
  },
  fleetTaskRetention: {
    type: 'number',
    default: 600,
    min: 1,
    max: kMaxSeconds,
    arg: 'seconds',
    help: 'how long a task submitted over HTTP stays readable once settled',
  },
  fleetTasksKept: {
    type: 'integer',
    default: 10_000,
    min: 1,
    max: 10_000_000,
    arg: 'n',
    help: 'most settled HTTP-submitted tasks kept readable',
  },
  fleetSecret: kFleetSecretOption,
  metrics: {
    type: 'boolean',
    default: false,
    help: 'serve Prometheus metrics at GET /metrics (behind the self token)',
  },
  selfToken: {
    type: 'string',
    check: checkSelfToken,
    arg: 'token',
    help: 'token of /ping, /shutdown, /status, /metrics (≥ 16 chars; default: random, never logged)',
    secret: true,
  },
  adminPort: {
    type: 'integer',
    min: 0,
    max: 65535,
    arg: 'port',
    help: 'separate listener for /metrics and /status without a token',
  },
  adminHost: { type: 'string', default: '127.0.0.1', arg: 'host', help: 'address of the admin listener' },
  adminAllowedHosts: {
    type: 'list',
    check: checkAllowedHosts,
    arg: 'host',
    help: "more names the admin listener answers in the Host header, besides localhost, 127.0.0.1, ::1 and --admin-host (any other: 403, code 910; repeat the flag, comma-separated in the environment); '*' turns the check off",
  },
} satisfies OptionTable);

export function resolveMasterOptions(options: MasterOptions = {}): ResolvedMasterOptions {
  const values = resolveTable(kMasterOptions, options as Record<string, unknown>);
  const resolved = {
    ...values,
    tls: checkTls('tls', options.tls),
    slaveTls: options.slaveTls,
    queue: options.queue === undefined ? undefined : resolveJetStreamOptions(options.queue),
    placement:
      options.placement === undefined
        ? leastLoaded
        : checkFunction<PlacementPolicy>('placement', options.placement)!,
    hooks: checkHooks<MasterHooks>(Object.keys(kConnectionHooks), options.hooks),
    logger: toLogger(options.logger),
  } as ResolvedMasterOptions;
  return freezeRedacted(resolved, secretsOf(kMasterOptions) as (keyof ResolvedMasterOptions & string)[]);
}

/** `http://host:port` (a trailing slash dropped): what slaves are told to report to. */
function checkAddress(name: string, value: unknown): string {
  const address = checkString(name, value).replace(/\/$/, '');
  if (!/^https?:\/\/[^/]+$/.test(address)) {
    throw new TypeError(`options.${name} must look like http://host:port (got ${String(value)})`);
  }
  return address;
}

/** Host names without a port, normalised (`LocalHost.` → `localhost`, `[::1]` → `::1`), or `*`. */
function checkAllowedHosts(name: string, value: unknown): readonly string[] {
  const items = checkList(name, value);
  return Object.freeze(
    items.map((item, i) => {
      if (item === kAnyHost) return item;
      const host = normaliseHostname(item);
      if (host === undefined) {
        throw new TypeError(
          `options.${name}[${i}] must be a host name or IP address without a port, or '*' (got ${JSON.stringify(item)})`,
        );
      }
      return host;
    }),
  );
}

function checkSelfToken(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length < 16 || /[\s]/.test(value)) {
    throw new TypeError(`options.${name} must be a string of at least 16 characters without spaces`);
  }
  return value;
}

/** A module path or URL, as an absolute URL string that `import()` accepts from any thread. */
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
