import { type EngineChoice, kEngineOption } from '../http/engine.ts';
import {
  checkFunction,
  checkHooks,
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
import { kMaxConcurrency } from '../protocol/extensions.ts';

/** The arguments of each kind of slave hook. */
export interface SlaveHookArguments {
  data: [data: unknown];
  lost: [masterAddress: string, error: Error];
}

/**
 * The reference slave's hooks, each with the kind of arguments it is given, declared here once: `SlaveHooks` (the
 * option), the `Slave` method of each name (its default, which a subclass may override) and the validation of
 * `options.hooks` follow from this table. Each may return a Promise.
 */
export const kSlaveHooks = {
  /** Runs on `/connect` with the master's connection data; throw `ConnectionRefuse` to refuse. */
  beforeConnection: 'data',
  /** Runs on `/disconnect`; throw `DisconnectionRefuse` to refuse. */
  beforeDisconnection: 'data',
  /** Runs on `/task/new` before the task is accepted; throw `TaskRefuse` to refuse. */
  beforeTask: 'data',
  /**
   * The master stopped answering heartbeats (after retries) or refused one (a refusal of this slave's token in the
   * first seconds after `/connect`, before any beat was accepted, is not final: see docs/protocol.md), or another
   * master took over (`MasterReplacedError`); the slave is connectable again. The default logs a warning.
   */
  lostConnection: 'lost',
} as const satisfies Record<string, keyof SlaveHookArguments>;

/** The slave's hooks, any of them (see `kSlaveHooks`). */
export type SlaveHooks = {
  [K in keyof typeof kSlaveHooks]?: (...args: SlaveHookArguments[(typeof kSlaveHooks)[K]]) => unknown;
};

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
  /**
   * Seconds the connected master must have left a request of this slave unanswered before a `/connect` from another
   * master that does not prove the fleet secret may replace it (minimum 0.2). A master that refuses this slave's
   * heartbeat (it no longer knows the slave, e.g. it restarted on its port) is replaced at once, and one that proves
   * the fleet secret always may.
   *
   * The point is to be sure the master is gone, since anyone who knows the channel can send `/connect`. So the
   * default is well above a long GC pause or a VM migration (seconds), and above the master's own default
   * `heartbeatTolerance` of 17 s: by the time a master cut off from this slave lets another master in, it has
   * evicted the slave on its side too, and never two masters count on it. It is also `requestTimeout`'s default,
   * so a heartbeat held by a paused master has timed out by then. (A master that is unreachable outright loses the
   * link sooner anyway: a heartbeat that fails after `requestRetries` ends it.)
   * @defaultValue `30`
   */
  masterTimeout?: number;
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
  /** Serve over TLS (either engine). */
  tls?: TlsOptions;
  /** TLS settings for requests to an `https://` master (e.g. a private CA). */
  masterTls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
  /**
   * A secret shared with the master (fleetmaster extension; off by default for DI-engine compatibility). With it
   * the slave accepts `/connect` only from a master that proves the same secret over a fresh challenge of the
   * slave's, and then proves it in return; such a master may also replace the slave's current master. It
   * authenticates `/connect` only: see docs/protocol.md, "Fleet secret", for what it does and does not protect.
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
  readonly masterTimeout: number;
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

/**
 * The slave's options that are values, written once (see src/options.ts): the constructor checks against it; the
 * CLI's `slave` fields, `--help` and README's reference come from it.
 */
export const kSlaveOptions = Object.freeze({
  ...listenOptions(7236),
  engine: kEngineOption,
  heartbeatSpan: {
    type: 'number',
    default: 3,
    min: 0.2,
    max: kMaxSeconds,
    arg: 'seconds',
    help: 'time between heartbeats',
  },
  masterTimeout: {
    type: 'number',
    default: 30,
    min: 0.2,
    max: kMaxSeconds,
    arg: 'seconds',
    help: "a master's silence before a /connect from another master without the fleet secret may replace it",
  },
  ...requestOptions('the master'),
  format: {
    type: 'string',
    default: 'json',
    choices: ['json', 'msgpack'],
    arg: 'format',
    help: 'result body format with masters that speak MessagePack',
  },
  concurrency: {
    type: 'integer',
    default: 1,
    min: 1,
    max: kMaxConcurrency,
    arg: 'n',
    help: 'tasks run at once (announced to a fleetmaster master)',
  },
  fleetSecret: kFleetSecretOption,
} satisfies OptionTable);

export function resolveSlaveOptions(options: SlaveOptions = {}): ResolvedSlaveOptions {
  const resolved = {
    ...resolveTable(kSlaveOptions, options as Record<string, unknown>),
    processTask: checkFunction<(data: unknown, signal: AbortSignal) => unknown>(
      'processTask',
      options.processTask,
    ),
    hooks: checkHooks<SlaveHooks>(Object.keys(kSlaveHooks), options.hooks),
    tls: checkTls('tls', options.tls),
    masterTls: options.masterTls,
    logger: toLogger(options.logger),
  } as ResolvedSlaveOptions;
  return freezeRedacted(resolved, secretsOf(kSlaveOptions) as (keyof ResolvedSlaveOptions & string)[]);
}
