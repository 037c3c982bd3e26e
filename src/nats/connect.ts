// The one place that loads the NATS client: imported only when a master is given `queue` or a FleetClient
// connects, so a master without NATS never loads @nats-io/*.
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { QueueUnreachableError } from '../errors.ts';
import type { Logger } from '../options.ts';
import { type NatsLogin, printableUrl, splitLogin } from './options.ts';

export interface NatsLink {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly kv: typeof import('@nats-io/kv');
  readonly jetstream: typeof import('@nats-io/jetstream');
  /** True while connected (false while it reconnects). */
  readonly connected: () => boolean;
}

export interface NatsConnectOptions {
  servers: string | readonly string[];
  /** The connection's name, as the server shows it. */
  name: string;
  /** Milliseconds for the first connection. */
  timeoutMs: number;
  logger: Logger;
  /** Told when the connection drops (false) and comes back (true). */
  onState?: (connected: boolean) => void;
}

/** Backoff between reconnect attempts: 250 ms doubling to 4 s (plus up to a quarter of jitter), reset once connected. */
const kReconnectFirstMs = 250;
const kReconnectMaxMs = 4000;

/**
 * Connects with JetStream. A server that cannot be reached at start is a `QueueUnreachableError` naming the
 * URL; once connected, the client reconnects for ever with a growing delay, and `onState` says when it is away.
 */
export async function connectNats(options: NatsConnectOptions): Promise<NatsLink> {
  const given = typeof options.servers === 'string' ? [options.servers] : [...options.servers];
  const where = given.map(printableUrl).join(', ');
  const { servers, login } = splitLogin(given);
  let transport: typeof import('@nats-io/transport-node');
  let jetstream: typeof import('@nats-io/jetstream');
  let kv: typeof import('@nats-io/kv');
  try {
    [transport, jetstream, kv] = await Promise.all([
      import('@nats-io/transport-node'),
      import('@nats-io/jetstream'),
      import('@nats-io/kv'),
    ]);
  } catch (err) {
    throw new QueueUnreachableError(
      `cannot load the NATS client (@nats-io/transport-node, @nats-io/jetstream, @nats-io/kv): ${(err as Error).message}`,
      { cause: err },
    );
  }
  let delay = kReconnectFirstMs;
  let nc: NatsConnection;
  try {
    nc = await transport.connect({
      servers,
      ...login,
      name: options.name,
      timeout: options.timeoutMs,
      maxReconnectAttempts: -1,
      reconnectDelayHandler: () => {
        const now = delay;
        delay = Math.min(delay * 2, kReconnectMaxMs);
        return now + Math.floor(Math.random() * (now / 4));
      },
    });
  } catch (err) {
    const cause = withoutSecrets(err, given, login);
    throw new QueueUnreachableError(`cannot reach NATS at ${where}: ${cause.message}`, { cause });
  }
  let jsm: JetStreamManager;
  try {
    jsm = await jetstream.jetstreamManager(nc, { timeout: options.timeoutMs });
  } catch (err) {
    await nc.close();
    const cause = withoutSecrets(err, given, login);
    throw new QueueUnreachableError(
      `NATS at ${where} has no JetStream (start nats-server with -js): ${cause.message}`,
      { cause },
    );
  }
  let connected = true;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        connected = false;
        options.logger.warn({ server: status.server }, 'NATS connection lost; reconnecting');
        options.onState?.(false);
      } else if (status.type === 'reconnect') {
        connected = true;
        delay = kReconnectFirstMs;
        options.logger.info({ server: status.server }, 'NATS connection back');
        options.onState?.(true);
      } else if (status.type === 'error') {
        options.logger.warn({ reason: status.error.message }, 'NATS server error');
      }
    }
  })().catch(() => undefined);
  return {
    nc,
    js: jetstream.jetstream(nc),
    jsm,
    kv,
    jetstream,
    connected: () => connected && !nc.isClosed(),
  };
}

/**
 * The NATS client's error as this package passes it on. When a server URL carries a login, a copy (name,
 * message, code) with the login taken out of its message, since the client's errors may quote a URL (an invalid
 * URL's `input`) or what it sent.
 */
function withoutSecrets(err: unknown, servers: readonly string[], login: NatsLogin): Error {
  const error = err instanceof Error ? err : new Error(String(err));
  const urls = servers.filter((s) => printableUrl(s) !== s);
  if (urls.length === 0) return error;
  let message = error.message;
  for (const url of urls) message = message.split(url).join(printableUrl(url));
  // a password or token short enough to occur by chance in a message is left: the client never echoes them
  for (const secret of [login.pass, login.token]) {
    if (secret === undefined || secret.length < 4) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)]))
      message = message.split(form).join('[redacted]');
  }
  const copy = new Error(message);
  copy.name = error.name;
  const { code } = error as { code?: unknown };
  if (typeof code === 'string' || typeof code === 'number') Object.assign(copy, { code });
  return copy;
}
