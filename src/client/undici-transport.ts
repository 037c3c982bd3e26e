import { Client, type Dispatcher, Pool } from 'undici';
import { AnswerTimeoutError, AnswerTooLargeError } from '../errors.ts';
import { AnswerBody } from './answer-body.ts';
import { type Swept, unwatch, watch } from './sweep.ts';
import {
  type Exchange,
  type ExchangeRequest,
  type HttpMethod,
  kMaxHeadBytes,
  kMaxInterimAnswers,
  kMaxTrailerFields,
  type Transport,
  type TransportOptions,
} from './transport.ts';

/**
 * The undici transport (any HTTP/1.1 peer): a `Client` (one keep-alive socket) or, with `connections > 1`, a
 * `Pool`. Requests go through `dispatch` with a small handler that gathers the answer's bytes, instead of
 * `request()` and a body stream: measured as the master's largest cost per task in the fleet benchmark.
 *
 * Bounds: the body through undici's `maxResponseSize` (and a Content-Length over it is refused before any byte of
 * the body), head and trailer bytes through `maxHeaderSize`, trailer fields and interim answers counted here. The
 * deadline is ours, one per request on the shared sweep: undici's `headersTimeout` restarts on every interim
 * answer and its `bodyTimeout` on every chunk, so a peer trickling bytes would hold a request for ever.
 */
export class UndiciTransport implements Transport, Swept {
  readonly #dispatcher: Dispatcher;
  readonly #headers: Record<string, string>;
  /** The headers of a request with a JSON body, built once (most requests). */
  readonly #jsonHeaders: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #maxAnswerBytes: number;
  /** Exchanges not settled, oldest first: one timeout for all, so their deadlines are in this order too. */
  readonly #inFlight = new Set<UndiciExchange>();
  readonly #settled = (exchange: UndiciExchange) => {
    this.#inFlight.delete(exchange);
    if (this.#inFlight.size === 0) unwatch(this);
  };

  constructor(options: TransportOptions) {
    const { timeoutMs, keepAliveMs } = options;
    const common = {
      pipelining: 1,
      keepAliveTimeout: keepAliveMs,
      keepAliveMaxTimeout: keepAliveMs,
      headersTimeout: 0,
      bodyTimeout: 0,
      maxResponseSize: options.maxAnswerBytes,
      maxHeaderSize: kMaxHeadBytes,
      connect: { timeout: Math.min(timeoutMs, 10_000), ...(options.tls ?? {}) },
    };
    this.#dispatcher =
      options.connections > 1
        ? new Pool(options.origin, { ...common, connections: options.connections })
        : new Client(options.origin, common);
    this.#headers = options.headers;
    this.#jsonHeaders = { ...options.headers, 'content-type': 'application/json' };
    this.#timeoutMs = timeoutMs;
    this.#maxAnswerBytes = options.maxAnswerBytes;
  }

  exchange(method: HttpMethod, path: string, request: ExchangeRequest): Promise<Exchange> {
    const { body, contentType = 'application/json', headers, signal } = request;
    const allHeaders =
      body === undefined
        ? headers
          ? { ...this.#headers, ...headers }
          : this.#headers
        : headers === undefined && contentType === 'application/json'
          ? this.#jsonHeaders
          : { ...this.#headers, 'content-type': contentType, ...headers };
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const exchange = new UndiciExchange(
        performance.now() + this.#timeoutMs,
        this.#maxAnswerBytes,
        signal,
        resolve,
        reject,
        this.#settled,
      );
      if (this.#inFlight.size === 0) watch(this);
      this.#inFlight.add(exchange);
      try {
        this.#dispatcher.dispatch({ path, method, headers: allHeaders, body }, exchange);
      } catch (err) {
        exchange.fail(err as Error);
      }
    });
  }

  sweep(now: number): void {
    for (const exchange of this.#inFlight) {
      if (now < exchange.deadline) return;
      exchange.fail(new AnswerTimeoutError(this.#timeoutMs));
    }
  }

  async close(): Promise<void> {
    await this.#dispatcher.close().catch(() => undefined);
  }

  async destroy(): Promise<void> {
    await this.#dispatcher.destroy().catch(() => undefined);
  }
}

/** One request's handler: gathers its answer, enforces the counts undici does not, settles once. */
class UndiciExchange implements Dispatcher.DispatchHandler {
  readonly deadline: number;
  readonly #maxAnswerBytes: number;
  readonly #signal: AbortSignal | undefined;
  readonly #resolve: (exchange: Exchange) => void;
  readonly #reject: (error: Error) => void;
  readonly #onSettled: (exchange: UndiciExchange) => void;
  #controller: Dispatcher.DispatchController | undefined;
  /** Why it failed, when that happened before undici started it (it is aborted as it starts). */
  #reason: Error | undefined;
  #settled = false;
  #statusCode = 0;
  #headers: Exchange['headers'] = {};
  #interim = 0;
  #body: AnswerBody | undefined;

  constructor(
    deadline: number,
    maxAnswerBytes: number,
    signal: AbortSignal | undefined,
    resolve: (exchange: Exchange) => void,
    reject: (error: Error) => void,
    onSettled: (exchange: UndiciExchange) => void,
  ) {
    this.deadline = deadline;
    this.#maxAnswerBytes = maxAnswerBytes;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#onSettled = onSettled;
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Settles with `error` and aborts the request (now, or as undici starts it). */
  fail(error: Error): void {
    if (this.#settled) return;
    this.#settle();
    this.#reason = error;
    this.#controller?.abort(error);
    this.#reject(error);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#reason !== undefined) controller.abort(this.#reason);
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Exchange['headers'],
  ): void {
    if (statusCode < 200) {
      if (++this.#interim > kMaxInterimAnswers) {
        this.fail(
          new AnswerTooLargeError('interim', `more than ${kMaxInterimAnswers} interim (1xx) answers`),
        );
      }
      return;
    }
    this.#statusCode = statusCode;
    this.#headers = headers;
    const length = Number(headers['content-length']);
    try {
      this.#body = new AnswerBody(this.#maxAnswerBytes, length >= 0 ? length : this.#maxAnswerBytes);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    try {
      this.#body?.append(chunk);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: Exchange['headers']): void {
    let fields = 0;
    for (const name in trailers) {
      const value = trailers[name];
      fields += Array.isArray(value) ? value.length : 1;
    }
    if (fields > kMaxTrailerFields) {
      this.fail(new AnswerTooLargeError('trailers', `more than ${kMaxTrailerFields} trailer fields`));
      return;
    }
    if (this.#settled) return;
    this.#settle();
    const text = this.#body?.text() ?? '';
    this.#resolve({ statusCode: this.#statusCode, headers: this.#headers, text });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.fail(this.#translate(error));
  }

  /** undici's errors for our bounds become ours, so both transports fail alike. */
  #translate(error: Error): Error {
    const code = (error as { code?: unknown }).code;
    if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') {
      return new AnswerTooLargeError('body', `answer body larger than ${this.#maxAnswerBytes} bytes`, {
        cause: error,
      });
    }
    if (code === 'UND_ERR_HEADERS_OVERFLOW') {
      // undici counts trailers against maxHeaderSize too, from zero once the head is complete
      const limit = this.#statusCode === 0 ? 'head' : 'trailers';
      return new AnswerTooLargeError(limit, `${limit} larger than ${kMaxHeadBytes} bytes`, { cause: error });
    }
    return error;
  }

  #settle(): void {
    this.#settled = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#onSettled(this);
  }

  readonly #onAbort = () => this.fail(this.#signal!.reason);
}
