/**
 * How `PeerClient` sends one request: the contract its transports (undici, the lean `H1Client`) implement, and the
 * bounds every one of them enforces on what a peer sends back. Shaped after undici's `Dispatcher` (dispatch,
 * close, destroy) and piscina's `TaskQueue`: a few methods, implementations chosen by an option, callers seeing
 * only this.
 */
import type { Dispatcher } from 'undici';

export type Body = string | Uint8Array;
export type HttpMethod = Dispatcher.HttpMethod;

/** One request's own parts; the transport adds the headers it was built with. */
export interface ExchangeRequest {
  body?: Body | undefined;
  /** @defaultValue 'application/json' (sent only with a body) */
  contentType?: string | undefined;
  /** Added to the transport's own headers for this request. */
  headers?: Record<string, string> | undefined;
  signal?: AbortSignal | undefined;
}

/** A peer's answer, whatever its status, its body decoded as UTF-8. */
export interface Exchange {
  readonly statusCode: number;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
}

export interface Transport {
  /**
   * One attempt, no retry. Resolves with the answer; rejects with `AnswerTooLargeError` past a bound,
   * `AnswerTimeoutError` past the deadline, the signal's reason when aborted, or a connection or parse error.
   */
  exchange(method: HttpMethod, path: string, request: ExchangeRequest): Promise<Exchange>;
  /** Lets exchanges in flight finish, then closes. Idempotent. */
  close(): Promise<void>;
  /** Closes now; exchanges in flight reject. */
  destroy(): Promise<void>;
}

export interface TransportOptions {
  /** `http://host:port` or `https://host:port`. */
  origin: string;
  /** Sent on every request. */
  headers: Record<string, string>;
  /** Milliseconds from `exchange()` to the whole answer: one deadline, that bytes arriving do not extend. */
  timeoutMs: number;
  /** Largest answer body accepted. */
  maxAnswerBytes: number;
  /** Keep-alive sockets to the peer. */
  connections: number;
  /** An idle socket is closed after this many milliseconds. */
  keepAliveMs: number;
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean } | undefined;
}

/** The answer body bound's default: a protocol answer is an envelope of a few hundred bytes. */
export const kDefaultMaxAnswerBytes = 1024 * 1024;
/** Largest head (status line and headers) of an answer; trailers get as much again. Node's own default. */
export const kMaxHeadBytes = 16 * 1024;
/** Most trailer fields after a chunked body (they are read and dropped). */
export const kMaxTrailerFields = 32;
/** Most interim (1xx) answers before the final one (fleetmaster never asks for any; a proxy may send 103). */
export const kMaxInterimAnswers = 8;
