// The `queue` option of a master and the options of a FleetClient: resolved once, each message naming the
// option. Pure (no NATS import), so a master without `queue` never loads the client.
import { checkInteger, checkNumber, kMaxSeconds, stripUndefined } from '../options.ts';
import { isFleetName } from './schema.ts';

/** Where the fleet's tasks and results live on NATS, and how they are kept. */
export interface JetStreamOptions {
  /** NATS server URLs (`nats://host:4222`); several for a cluster. */
  servers: string | string[];
  /** Separates several fleets on one NATS: streams `<fleet>_tasks`, `<fleet>_results`. @defaultValue 'fleetmaster' */
  fleet?: string;
  /** Seconds a master may hold a task without a sign of life before JetStream gives it to another. @defaultValue 30 */
  ackWait?: number;
  /** Tasks held by all masters at once, per lane (the consumer's `max_ack_pending`). @defaultValue 100000 */
  maxAckPending?: number;
  /** Deliveries of one task (a task that kills every master it reaches stops after this many). @defaultValue 5 */
  maxDeliver?: number;
  /** Largest task message a master accepts; larger ones are terminated with a failed result. @defaultValue 1 MiB */
  maxTaskBytes?: number;
  /** Seconds a result stays on the results stream for a submitter to collect. @defaultValue 86400 */
  resultTtl?: number;
  /** Seconds between two refreshes of this master's record in the masters' bucket. @defaultValue 5 */
  beat?: number;
  /** Seconds to wait for the first connection. @defaultValue 5 */
  connectTimeout?: number;
}

export interface ResolvedJetStreamOptions {
  readonly servers: readonly string[];
  readonly fleet: string;
  readonly ackWait: number;
  readonly maxAckPending: number;
  readonly maxDeliver: number;
  readonly maxTaskBytes: number;
  readonly resultTtl: number;
  readonly beat: number;
  readonly connectTimeout: number;
}

const kDefaults = Object.freeze({
  fleet: 'fleetmaster',
  ackWait: 30,
  maxAckPending: 100_000,
  maxDeliver: 5,
  maxTaskBytes: 1024 * 1024,
  resultTtl: 86_400,
  beat: 5,
  connectTimeout: 5,
});

/** `nats://`, `tls://`, `ws://`/`wss://` or a bare `host:port`. */
const kUrl = /^((nats|tls|ws|wss):\/\/)?[^\s/]+(:\d+)?\/?$/;

export function resolveJetStreamOptions(
  given: string | JetStreamOptions,
  /** How messages name the options: `options.queue.` for a master's `queue`, `options.` for a FleetClient. */
  prefix = 'options.queue.',
): ResolvedJetStreamOptions {
  const options: JetStreamOptions = typeof given === 'string' ? { servers: given } : given;
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${prefix.slice(0, -1)} must be a NATS URL or an object with servers`);
  }
  const list = typeof options.servers === 'string' ? options.servers.split(',') : options.servers;
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError(`${prefix}servers must be a NATS URL or a non-empty array of them`);
  }
  const servers = list.map((s) => (typeof s === 'string' ? s.trim() : s));
  for (const server of servers) {
    if (typeof server !== 'string' || !kUrl.test(server)) {
      throw new TypeError(
        `${prefix}servers must hold NATS URLs like nats://127.0.0.1:4222 (got ${JSON.stringify(server)})`,
      );
    }
  }
  const o = { ...kDefaults, ...stripUndefined(options) };
  if (!isFleetName(o.fleet)) {
    throw new RangeError(
      `${prefix}fleet must be 1 to 32 letters, digits, '_' or '-' (got ${JSON.stringify(o.fleet)})`,
    );
  }
  return Object.freeze({
    servers: Object.freeze(servers as string[]),
    fleet: o.fleet,
    ackWait: checkNumber(`${prefix.slice(8)}ackWait`, o.ackWait, 0.5, kMaxSeconds),
    maxAckPending: checkInteger(`${prefix.slice(8)}maxAckPending`, o.maxAckPending, 1, 10_000_000),
    maxDeliver: checkInteger(`${prefix.slice(8)}maxDeliver`, o.maxDeliver, 1, 1000),
    maxTaskBytes: checkInteger(`${prefix.slice(8)}maxTaskBytes`, o.maxTaskBytes, 64, 64 * 1024 * 1024),
    resultTtl: checkNumber(`${prefix.slice(8)}resultTtl`, o.resultTtl, 1, 365 * 86_400),
    beat: checkNumber(`${prefix.slice(8)}beat`, o.beat, 0.1, 3600),
    connectTimeout: checkNumber(`${prefix.slice(8)}connectTimeout`, o.connectTimeout, 0.1, 600),
  });
}
