import { setTimeout as sleep } from 'node:timers/promises';
import {
  AnswerTooLargeError,
  BadAnswerError,
  ClosedError,
  RequestFailedError,
  type ResponseError,
} from '../errors.ts';
import { type Envelope, parseEnvelope } from '../protocol/envelope.ts';
import { H1Transport } from './h1-transport.ts';
import {
  type Exchange,
  type ExchangeRequest,
  type HttpMethod,
  kDefaultMaxAnswerBytes,
  type Transport,
  type TransportOptions,
} from './transport.ts';
import { UndiciTransport } from './undici-transport.ts';

export type { Body } from './transport.ts';

export interface PeerClientOptions {
  /** `http://host:port` or `https://host:port`. */
  origin: string;
  /** Sent on every request (Channel, Token, …). */
  headers: Record<string, string>;
  /** Extra attempts after a connection-level failure (an HTTP error answer is never retried). */
  retries: number;
  /** Milliseconds between attempts. */
  retryWaitingMs: number;
  /** Turns an error answer into the peer side's typed error. */
  errorFor: (statusCode: number, envelope: Envelope) => ResponseError;
  /** Keep-alive sockets to this peer (undici only; `h1` has one). @defaultValue 1 */
  connections?: number;
  /**
   * Milliseconds one attempt may take, from the call to the whole answer: one deadline, that bytes arriving do
   * not extend. @defaultValue 30000
   */
  timeoutMs?: number;
  /**
   * Largest answer body accepted, on either transport; past it the request fails with `AnswerTooLargeError`, not
   * retried. Protocol answers are envelopes of a few hundred bytes. @defaultValue 1048576 (1 MiB)
   */
  maxAnswerBytes?: number;
  /** TLS options for an https origin (e.g. `ca`, `rejectUnauthorized`). */
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
  /**
   * `undici` (any HTTP/1.1 peer), or `h1`: fleetmaster's own lean client (`H1Client`), one socket, for the
   * per-task request to peers known to be fleetmaster's (measured in bench/fleet/). @defaultValue 'undici'
   */
  transport?: 'undici' | 'h1';
}

const kDefaults = Object.freeze({
  connections: 1,
  timeoutMs: 30_000,
  maxAnswerBytes: kDefaultMaxAnswerBytes,
  transport: 'undici' as 'undici' | 'h1',
});

/** The transports, by the name the `transport` option gives. */
const kTransports: Record<'undici' | 'h1', new (options: TransportOptions) => Transport> = {
  undici: UndiciTransport,
  h1: H1Transport,
};

export interface PeerAnswer {
  statusCode: number;
  envelope: Envelope;
  /** The answer's headers (lower-case names). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface RequestOptions extends ExchangeRequest {
  /** Overrides the client's retry count for this request. */
  retries?: number;
}

/** One header of an answer as a string ('' when absent). */
export function headerOf(answer: PeerAnswer, name: string): string {
  const value = answer.headers[name];
  return typeof value === 'string' ? value : '';
}

/** A success answer; its headers are read from the exchange only when asked (most answers' never are). */
class SuccessAnswer implements PeerAnswer {
  readonly statusCode: number;
  readonly envelope: Envelope;
  readonly #exchange: Exchange;

  constructor(statusCode: number, envelope: Envelope, exchange: Exchange) {
    this.statusCode = statusCode;
    this.envelope = envelope;
    this.#exchange = exchange;
  }

  get headers(): PeerAnswer['headers'] {
    return this.#exchange.headers;
  }
}

/**
 * The link to one peer: retries, envelopes and typed errors over a `Transport` (undici, or the lean `h1`) that
 * sends each attempt. Retries only on connection-level errors (every HTTP answer arrives as one), so a refusal is
 * never sent twice; nor is a request whose answer broke a bound (`AnswerTooLargeError`: the peer answered).
 *
 * Idle sockets are closed after 4 s, before the peer's own idle timeout (uWS: about 10 s) closes them under the
 * client: a server-side close costs undici an error with a stack trace per socket, which at 10,000 slaves
 * stalled the master's event loop for most of a second.
 */
export class PeerClient {
  readonly origin: string;
  readonly #transport: Transport;
  readonly #retries: number;
  readonly #retryWaitingMs: number;
  readonly #errorFor: PeerClientOptions['errorFor'];
  #closed = false;

  constructor(options: PeerClientOptions) {
    const resolved = {
      connections: options.connections ?? kDefaults.connections,
      timeoutMs: options.timeoutMs ?? kDefaults.timeoutMs,
      maxAnswerBytes: options.maxAnswerBytes ?? kDefaults.maxAnswerBytes,
      transport: options.transport ?? kDefaults.transport,
    };
    positiveInteger('connections', resolved.connections);
    positiveInteger('maxAnswerBytes', resolved.maxAnswerBytes);
    if (!(resolved.timeoutMs > 0)) throw new RangeError('options.timeoutMs must be a number > 0');
    const Transport = kTransports[resolved.transport];
    if (Transport === undefined) throw new RangeError("options.transport must be 'undici' or 'h1'");
    this.origin = options.origin;
    this.#transport = new Transport({
      origin: options.origin,
      headers: options.headers,
      timeoutMs: resolved.timeoutMs,
      maxAnswerBytes: resolved.maxAnswerBytes,
      connections: resolved.connections,
      keepAliveMs: kKeepAliveMs,
      tls: options.tls,
    });
    this.#retries = options.retries;
    this.#retryWaitingMs = options.retryWaitingMs;
    this.#errorFor = options.errorFor;
  }

  /** Sends one request; resolves with a success answer, rejects with a typed error or `RequestFailedError`. */
  async request(method: HttpMethod, path: string, options: RequestOptions = {}): Promise<PeerAnswer> {
    const retries = options.retries ?? this.#retries;
    const signal = options.signal;
    let attempt = 0;
    for (;;) {
      attempt++;
      let exchange: Exchange;
      try {
        if (this.#closed) throw new ClosedError('client closed');
        exchange = await this.#transport.exchange(method, path, options);
      } catch (err) {
        if (err instanceof AnswerTooLargeError) throw err;
        if (this.#closed || attempt > retries || signal?.aborted) {
          throw new RequestFailedError(this.origin + path, attempt, err);
        }
        await sleep(this.#retryWaitingMs);
        continue;
      }
      const { statusCode, text } = exchange;
      const envelope = parseEnvelope(text);
      if (envelope === undefined) throw new BadAnswerError(this.origin + path, statusCode, text);
      if (statusCode >= 400) {
        const error = this.#errorFor(statusCode, envelope);
        const retryAfter = Number(exchange.headers['retry-after']);
        if (retryAfter >= 0) error.retryAfter = retryAfter;
        throw error;
      }
      return new SuccessAnswer(statusCode, envelope, exchange);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#transport.close();
  }

  async destroy(): Promise<void> {
    this.#closed = true;
    await this.#transport.destroy();
  }
}

const kKeepAliveMs = 4000;

function positiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`options.${name} must be an integer >= 1`);
}
