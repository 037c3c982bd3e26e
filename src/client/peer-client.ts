import { setTimeout as sleep } from 'node:timers/promises';
import { type Dispatcher, Pool } from 'undici';
import { type Envelope, parseEnvelope } from '../protocol/envelope.ts';
import { BadAnswerError, RequestFailedError, type ResponseError } from '../protocol/errors.ts';

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
  /** Keep-alive sockets to this peer. */
  connections?: number;
  /** Milliseconds to wait for an answer's headers and body. */
  timeoutMs?: number;
  /** TLS options for an https origin (e.g. `ca`, `rejectUnauthorized`). */
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
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

/**
 * One keep-alive undici pool per peer. Retries only on connection-level errors (undici throws for those and
 * returns every HTTP answer), so a refusal is never sent twice.
 */
export class PeerClient {
  readonly origin: string;
  readonly #pool: Pool;
  readonly #headers: Record<string, string>;
  readonly #retries: number;
  readonly #retryWaitingMs: number;
  readonly #errorFor: PeerClientOptions['errorFor'];
  #closed = false;

  constructor(options: PeerClientOptions) {
    this.origin = options.origin;
    const timeout = options.timeoutMs ?? 30_000;
    this.#pool = new Pool(options.origin, {
      connections: options.connections ?? 4,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      connect: { timeout: Math.min(timeout, 10_000), ...(options.tls ?? {}) },
    });
    this.#headers = options.headers;
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
      body === undefined
        ? headers
          ? { ...this.#headers, ...headers }
          : this.#headers
        : { ...this.#headers, 'content-type': contentType, ...headers };
    let attempt = 0;
    for (;;) {
      attempt++;
      let statusCode: number;
      let text: string;
      let responseHeaders: Record<string, string | string[] | undefined>;
      try {
        if (this.#closed) throw new Error('client closed');
        const res = await this.#pool.request({ method, path, headers: allHeaders, body, signal });
        statusCode = res.statusCode;
        responseHeaders = res.headers;
        text = await res.body.text();
      } catch (err) {
        if (this.#closed || attempt > retries || signal?.aborted) {
          throw new RequestFailedError(this.origin + path, attempt, err);
        }
        await sleep(this.#retryWaitingMs);
        continue;
      }
      const envelope = parseEnvelope(text);
      if (envelope === undefined) throw new BadAnswerError(this.origin + path, statusCode, text);
      if (statusCode >= 400) {
        const error = this.#errorFor(statusCode, envelope);
        const retryAfter = Number(responseHeaders['retry-after']);
        if (retryAfter >= 0) error.retryAfter = retryAfter;
        throw error;
      }
      return { statusCode, envelope, headers: responseHeaders };
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.close().catch(() => undefined);
  }

  async destroy(): Promise<void> {
    this.#closed = true;
    await this.#pool.destroy().catch(() => undefined);
  }
}
