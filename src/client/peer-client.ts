import { setTimeout as sleep } from 'node:timers/promises';
import { Client, type Dispatcher, Pool } from 'undici';
import { type Envelope, parseEnvelope } from '../protocol/envelope.ts';
import { BadAnswerError, RequestFailedError, type ResponseError } from '../protocol/errors.ts';
import { H1Client } from './h1-client.ts';

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
  /** Keep-alive sockets to this peer. @defaultValue 1 */
  connections?: number;
  /** Milliseconds to wait for an answer's headers and body. */
  timeoutMs?: number;
  /** TLS options for an https origin (e.g. `ca`, `rejectUnauthorized`). */
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
  /**
   * `undici` (any HTTP/1.1 peer), or `h1`: fleetmaster's own lean client (`H1Client`), one socket, for the
   * per-task request to peers known to be fleetmaster's (measured in bench/fleet.ts). @defaultValue 'undici'
   */
  transport?: 'undici' | 'h1';
}

export interface PeerAnswer {
  statusCode: number;
  envelope: Envelope;
  /** The answer's headers (lower-case names). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

export type Body = string | Uint8Array;

export interface RequestOptions {
  body?: Body;
  /** @defaultValue 'application/json' (sent only with a body) */
  contentType?: string;
  /** Added to the client's own headers for this request. */
  headers?: Record<string, string>;
  /** Overrides the client's retry count for this request. */
  retries?: number;
  signal?: AbortSignal;
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

/** One exchange's raw outcome, before the envelope is read. */
interface Exchange {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * The link to one peer: an undici `Client` (one keep-alive socket) or, with `connections > 1`, a `Pool`.
 * Requests go through undici's `dispatch` with a small handler that gathers the answer's bytes, instead of
 * `request()` and a body stream: measured as the master's largest cost per task in the fleet benchmark.
 * Retries only on connection-level errors (every HTTP answer arrives as one), so a refusal is never sent twice.
 *
 * Idle sockets are closed by undici after 4 s, before the peer's own idle timeout (uWS: about 10 s) closes
 * them under it: a server-side close costs undici an error with a stack trace per socket, which at 10,000
 * slaves stalled the master's event loop for most of a second.
 */
export class PeerClient {
  readonly origin: string;
  readonly #dispatcher: Dispatcher | undefined;
  readonly #h1: H1Client | undefined;
  /** The h1 transport's header lines per content type ('' = no body), built once. */
  readonly #h1Heads = new Map<string, string>();
  readonly #headers: Record<string, string>;
  /** The headers of a request with a JSON body, built once (most requests). */
  readonly #jsonHeaders: Record<string, string>;
  readonly #retries: number;
  readonly #retryWaitingMs: number;
  readonly #errorFor: PeerClientOptions['errorFor'];
  #closed = false;

  constructor(options: PeerClientOptions) {
    this.origin = options.origin;
    const timeout = options.timeoutMs ?? 30_000;
    const common = {
      pipelining: 1,
      keepAliveTimeout: kKeepAliveMs,
      keepAliveMaxTimeout: kKeepAliveMs,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      connect: { timeout: Math.min(timeout, 10_000), ...(options.tls ?? {}) },
    };
    const connections = options.connections ?? 1;
    if (options.transport === 'h1') {
      const url = new URL(options.origin);
      this.#h1 = new H1Client({
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80),
        tls: url.protocol === 'https:' ? (options.tls ?? {}) : undefined,
        timeoutMs: timeout,
        keepAliveMs: kKeepAliveMs,
      });
    } else {
      this.#dispatcher =
        connections > 1
          ? new Pool(options.origin, { ...common, connections })
          : new Client(options.origin, common);
    }
    this.#headers = options.headers;
    this.#jsonHeaders = { ...options.headers, 'content-type': 'application/json' };
    this.#retries = options.retries;
    this.#retryWaitingMs = options.retryWaitingMs;
    this.#errorFor = options.errorFor;
  }

  /** Sends one request; resolves with a success answer, rejects with a typed error or `RequestFailedError`. */
  async request(
    method: Dispatcher.HttpMethod,
    path: string,
    options: RequestOptions = {},
  ): Promise<PeerAnswer> {
    const { body, contentType = 'application/json', headers, signal } = options;
    const retries = options.retries ?? this.#retries;
    const allHeaders =
      this.#h1 !== undefined
        ? this.#headers
        : body === undefined
          ? headers
            ? { ...this.#headers, ...headers }
            : this.#headers
          : headers === undefined && contentType === 'application/json'
            ? this.#jsonHeaders
            : { ...this.#headers, 'content-type': contentType, ...headers };
    let attempt = 0;
    for (;;) {
      attempt++;
      let exchange: Exchange;
      try {
        if (this.#closed) throw new Error('client closed');
        exchange =
          this.#h1 === undefined
            ? await this.#exchange(method, path, allHeaders, body, signal)
            : await this.#h1Exchange(method, path, contentType, headers, body, signal);
      } catch (err) {
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
    await this.#h1?.close();
    await this.#dispatcher?.close().catch(() => undefined);
  }

  async destroy(): Promise<void> {
    this.#closed = true;
    this.#h1?.destroy();
    await this.#dispatcher?.destroy().catch(() => undefined);
  }

  /** Not async: one promise fewer per task (a synchronous throw lands in `request`'s try all the same). */
  #h1Exchange(
    method: Dispatcher.HttpMethod,
    path: string,
    contentType: string,
    extra: Record<string, string> | undefined,
    body: Body | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Exchange> {
    const key = body === undefined ? '' : contentType;
    let head = this.#h1Heads.get(key);
    if (head === undefined) {
      head = headerLines(
        body === undefined ? this.#headers : { ...this.#headers, 'content-type': contentType },
      );
      this.#h1Heads.set(key, head);
    }
    if (extra !== undefined) head += headerLines(extra);
    return this.#h1!.request(method, path, head, body, signal);
  }

  #exchange(
    method: Dispatcher.HttpMethod,
    path: string,
    headers: Record<string, string>,
    body: Body | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Exchange> {
    return new Promise((resolve, reject) => {
      let statusCode = 0;
      let responseHeaders: Exchange['headers'] = {};
      const chunks: Buffer[] = [];
      this.#dispatcher!.dispatch(
        { path, method, headers, body },
        {
          onRequestStart(controller) {
            if (signal?.aborted) controller.abort(signal.reason);
            else signal?.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
          },
          onResponseStart(_controller, status, answerHeaders) {
            statusCode = status;
            responseHeaders = answerHeaders;
          },
          onResponseData(_controller, chunk) {
            chunks.push(chunk);
          },
          onResponseEnd() {
            const text =
              chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
            resolve({ statusCode, headers: responseHeaders, text });
          },
          onResponseError(_controller, error) {
            reject(error);
          },
        },
      );
    });
  }
}

const kKeepAliveMs = 4000;

/** `name: value\r\n` lines; a value with a CR or LF (header injection) is refused, as undici refuses it. */
function headerLines(headers: Record<string, string>): string {
  let lines = '';
  for (const name in headers) {
    const value = headers[name]!;
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n\0]/.test(value)) {
      throw new TypeError(`invalid request header ${JSON.stringify(name)}`);
    }
    lines += `${name}: ${value}\r\n`;
  }
  return lines;
}
