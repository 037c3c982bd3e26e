// The `queue` option of a master and the options of a FleetClient: resolved once, each message naming the
// option. Pure (no NATS import), so a master without `queue` never loads the client.
import { checkOption, freezeRedacted, kMaxSeconds, type OptionTable } from '../options.ts';
import { isFleetName } from './schema.ts';

/** Where the fleet's tasks and results live on NATS, and how they are kept. */
export interface JetStreamOptions {
  /** NATS server URLs (`nats://host:4222`); several for a cluster. */
  servers: string | string[];
  /**
   * Separates several fleets on one NATS: streams `<fleet>_tasks`, `<fleet>_results`, `<fleet>_dead`, bucket
   * `<fleet>_masters`. @defaultValue 'fleetmaster'
   */
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

/** The streams' settings that are numbers: type, default, bounds, written once. */
export const kJetStreamOptions = Object.freeze({
  ackWait: {
    type: 'number',
    default: 30,
    min: 0.5,
    max: kMaxSeconds,
    help: 'seconds a master may hold a task without a sign of life before JetStream gives it to another',
  },
  maxAckPending: {
    type: 'integer',
    default: 100_000,
    min: 1,
    max: 10_000_000,
    help: "tasks held by all masters at once, per lane (the consumer's max_ack_pending)",
  },
  maxDeliver: {
    type: 'integer',
    default: 5,
    min: 1,
    max: 1000,
    help: 'deliveries of one task (a task that kills every master it reaches stops after this many)',
  },
  maxTaskBytes: {
    type: 'integer',
    default: 1024 * 1024,
    min: 64,
    max: 64 * 1024 * 1024,
    help: 'largest task message a master accepts; larger ones are terminated with a failed result',
  },
  resultTtl: {
    type: 'number',
    default: 86_400,
    min: 1,
    max: 365 * 86_400,
    help: 'seconds a result stays on the results stream for a submitter to collect',
  },
  beat: {
    type: 'number',
    default: 5,
    min: 0.1,
    max: 3600,
    help: "seconds between two refreshes of this master's record in the masters' bucket",
  },
  connectTimeout: {
    type: 'number',
    default: 5,
    min: 0.1,
    max: 600,
    help: 'seconds to wait for the first connection',
  },
} satisfies OptionTable);

const kDefaultFleet = 'fleetmaster';

/**
 * `nats://`, `tls://`, `ws://`/`wss://` or none; a user and password (`user:pass@`) or a token (`token@`), up to
 * the last `@`, so either may hold an `@`; a host name or address (an IPv6 address in brackets); a port.
 */
const kUrl =
  /^((?:nats|tls|ws|wss):\/\/)?(?:([^\s]*)@)?(\[[0-9a-f:.%a-z]+\]|[^\s:/@[\]]+)(?::(\d{1,5}))?\/?$/i;

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
  let login: string | undefined;
  for (const server of servers) {
    const parts = typeof server === 'string' ? kUrl.exec(server) : null;
    if (parts === null) {
      const shown = typeof server === 'string' ? printableUrl(server) : server;
      throw new TypeError(
        `${prefix}servers must hold NATS URLs like nats://127.0.0.1:4222 (got ${JSON.stringify(shown)})`,
      );
    }
    const port = parts[4];
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
      throw new RangeError(
        `${prefix}servers: the port must be between 1 and 65535 (got ${JSON.stringify(printableUrl(server as string))})`,
      );
    }
    // the client logs in once, to whichever server it reaches: one user and password (or token) for all
    if (parts[2] !== undefined) {
      if (login !== undefined && login !== parts[2]) {
        throw new TypeError(
          `${prefix}servers: every URL that carries a user and password (or a token) must carry the same one`,
        );
      }
      login = parts[2];
    }
  }
  const fleet = options.fleet ?? kDefaultFleet;
  if (!isFleetName(fleet)) {
    throw new RangeError(
      `${prefix}fleet must be 1 to 32 letters, digits, '_' or '-' (got ${JSON.stringify(fleet)})`,
    );
  }
  // messages name the option as the caller wrote it: `options.queue.ackWait` (a master), `options.ackWait`
  const path = prefix.slice('options.'.length);
  const numbers: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(kJetStreamOptions)) {
    const value = (options as unknown as Record<string, unknown>)[key] ?? spec.default;
    numbers[key] = checkOption(`${path}${key}`, spec, value);
  }
  // a server URL may carry a user and password: printed without them
  return freezeRedacted(
    { servers: Object.freeze(servers as string[]), fleet, ...numbers } as ResolvedJetStreamOptions,
    [],
    { servers: (list) => list.map(printableUrl) },
  );
}

/**
 * A NATS URL as logs and messages show it: a user and password (`nats://user:pass@host`) or a token as
 * `[redacted]`, up to the last `@`, since a password may hold an `@`, `#`, `?` or `/` of its own.
 */
export function printableUrl(url: string): string {
  const { scheme, login, rest } = loginParts(url);
  return login === undefined ? url : `${scheme}[redacted]@${rest}`;
}

/** A URL cut at its login: the scheme (`nats://`, or ''), what stands before the last `@` (none: undefined), the rest. */
function loginParts(url: string): { scheme: string; login: string | undefined; rest: string } {
  const scheme = /^[a-z]+:\/\//i.exec(url)?.[0] ?? '';
  const at = url.lastIndexOf('@');
  if (at < 0) return { scheme, login: undefined, rest: url.slice(scheme.length) };
  return { scheme, login: url.slice(scheme.length, at), rest: url.slice(at + 1) };
}

export interface NatsLogin {
  user?: string;
  pass?: string;
  token?: string;
}

/**
 * The URLs without their user and password, and the login they carried: the NATS client reads neither from a
 * URL, so they are given to it as `user`/`pass` (`user:pass@`) or `token` (`token@`), percent-decoded.
 */
export function splitLogin(servers: readonly string[]): { servers: string[]; login: NatsLogin } {
  let login: NatsLogin = {};
  const bare = servers.map((server) => {
    const { scheme, login: userinfo, rest } = loginParts(server);
    if (userinfo === undefined) return server;
    const colon = userinfo.indexOf(':');
    login =
      colon < 0
        ? { token: decode(userinfo) }
        : { user: decode(userinfo.slice(0, colon)), pass: decode(userinfo.slice(colon + 1)) };
    return scheme + rest;
  });
  return { servers: bare, login };
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // a '%' that starts no escape is meant as itself
  }
}
