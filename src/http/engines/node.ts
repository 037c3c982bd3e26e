/**
 * The `node` engine: `node:http` / `node:https`, available wherever Node runs. Each request becomes one
 * `NodeExchange`, which is both the route's request and its response (one object per request), with uWS's
 * semantics: status and headers are gathered and written with the body in one `writeHead` + `end`.
 *
 * Limits, set on purpose (uWS has its own, fixed ones; docs/protocol.md compares them):
 * - a connection silent for 10 s closes (`timeout`): before its first request, between requests
 *   (`keepAliveTimeout`), or in the middle of a request's headers or body; never while the answer is ours to
 *   give (a result on the pool, a held request, a long poll);
 * - headers must arrive within 10 s (`headersTimeout`), at most 100 lines of at most 16 KiB in all;
 * - a request body read by a route must average at least 16 KiB/s once it has taken 10 s (uWS cuts slow bodies
 *   at about that pace too), so trickling a body byte by byte cannot hold a socket and a reply;
 * - a whole request must arrive within 300 s (`requestTimeout`), whatever its pace. These three are checked
 *   every second.
 */
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { type AddressInfo, Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Answer } from '../../protocol/envelope.ts';
import type { AppOptions, HttpApp, HttpEngine, HttpRequest, HttpResponse, RouteHandler } from '../engine.ts';

export const kNodeLimits = Object.freeze({
  idleTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  checkEveryMs: 1000,
  bodyGraceMs: 10_000,
  minBodyBytesPerSecond: 16 * 1024,
  maxHeadersCount: 100,
  maxHeaderSize: 16 * 1024,
});

export const nodeEngine: HttpEngine = {
  name: 'node',
  createApp: (options) => new NodeApp(options),
};

interface ParamRoute {
  parts: string[];
  handler: RouteHandler;
}

/** Routes of one method: exact paths first, then `:name` patterns, then a `/*` catch-all. */
class MethodRoutes {
  readonly exact = new Map<string, RouteHandler>();
  readonly params: ParamRoute[] = [];
  wildcard: RouteHandler | undefined;

  add(pattern: string, handler: RouteHandler): void {
    if (pattern === '/*') this.wildcard = handler;
    else if (pattern.includes('/:')) this.params.push({ parts: pattern.split('/'), handler });
    else this.exact.set(pattern, handler);
  }

  /** The handler for `path`, with the values of its `:name` segments. */
  find(path: string): { handler: RouteHandler; params: string[] | undefined } | undefined {
    const handler = this.exact.get(path);
    if (handler !== undefined) return { handler, params: undefined };
    if (this.params.length > 0) {
      const parts = path.split('/');
      for (const route of this.params) {
        const params = matchParams(route.parts, parts);
        if (params !== undefined) return { handler: route.handler, params };
      }
    }
    return this.wildcard === undefined ? undefined : { handler: this.wildcard, params: undefined };
  }
}

function matchParams(pattern: string[], parts: string[]): string[] | undefined {
  if (pattern.length !== parts.length) return undefined;
  const params: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i]!;
    if (want.startsWith(':')) params.push(parts[i]!);
    else if (want !== parts[i]) return undefined;
  }
  return params;
}

class NodeApp implements HttpApp {
  readonly #server: http.Server;
  readonly #routes = new Map<string, MethodRoutes>();
  readonly #any = new MethodRoutes();
  #closed: Promise<void> | undefined;

  constructor(options: AppOptions) {
    const { tls } = options;
    const onRequest = (req: IncomingMessage, res: ServerResponse) => this.#dispatch(req, res);
    this.#server = tls
      ? https.createServer(
          {
            key: readFileSync(tls.keyFile),
            cert: readFileSync(tls.certFile),
            passphrase: tls.passphrase,
            ...kServerOptions,
          },
          onRequest,
        )
      : http.createServer(kServerOptions, onRequest);
    const server = this.#server;
    server.headersTimeout = kNodeLimits.headersTimeoutMs;
    server.requestTimeout = kNodeLimits.requestTimeoutMs;
    server.keepAliveTimeout = kNodeLimits.keepAliveTimeoutMs;
    server.maxHeadersCount = kNodeLimits.maxHeadersCount;
    server.timeout = kNodeLimits.idleTimeoutMs;
    // an error on the listening socket after listen() (EMFILE on accept, …) must never crash the process
    server.on('error', () => undefined);
    const malformed = rawAnswer(options.malformed);
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      // an answer only where nothing else is being written on that socket; a timeout just closes, as uWS does
      const busy = (socket as Duplex & { _httpMessage?: unknown })._httpMessage != null;
      if (!socket.writable || busy || err.code === 'ECONNRESET' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        socket.destroy();
        return;
      }
      socket.end(malformed);
    });
  }

  get(pattern: string, handler: RouteHandler): this {
    return this.#add('get', pattern, handler);
  }

  put(pattern: string, handler: RouteHandler): this {
    return this.#add('put', pattern, handler);
  }

  post(pattern: string, handler: RouteHandler): this {
    return this.#add('post', pattern, handler);
  }

  del(pattern: string, handler: RouteHandler): this {
    return this.#add('delete', pattern, handler);
  }

  any(pattern: string, handler: RouteHandler): this {
    this.#any.add(pattern, handler);
    return this;
  }

  /** Node does not set SO_REUSEPORT (a second listener gets EADDRINUSE) and libuv sets SO_REUSEADDR. */
  listen(host: string, port: number, what: string): Promise<number> {
    const server = this.#server;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        const why =
          err.code === 'EADDRINUSE'
            ? 'the address is in use by another process'
            : `${err.code ?? err.message}: not available on this host`;
        reject(new Error(`${what} cannot listen on ${host}:${port}: ${why}`));
      };
      server.once('error', onError);
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', onError);
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  /**
   * net's close, not http's: http's also closes idle keep-alive connections, while a closing master still answers
   * on them (401, 101), as the uws engine does. Resolves `#closed` once the last connection is gone.
   */
  stopListening(): void {
    this.#closed ??= new Promise((resolve) => NetServer.prototype.close.call(this.#server, () => resolve()));
  }

  async close(): Promise<void> {
    this.stopListening();
    this.#server.closeAllConnections();
    // http's close clears its timers (the not-listening error it reports is expected: net's close ran)
    this.#server.close(() => undefined);
    await this.#closed;
  }

  #add(method: string, pattern: string, handler: RouteHandler): this {
    let routes = this.#routes.get(method);
    if (routes === undefined) {
      routes = new MethodRoutes();
      this.#routes.set(method, routes);
    }
    routes.add(pattern, handler);
    return this;
  }

  #dispatch(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const method = (req.method ?? 'GET').toLowerCase();
    const found = this.#routes.get(method)?.find(path) ?? this.#any.find(path);
    if (found === undefined) {
      res.writeHead(404, { 'content-length': '0', connection: 'close' }).end();
      return;
    }
    const exchange = new NodeExchange(req, res, method, path, q < 0 ? '' : url.slice(q + 1), found.params);
    found.handler(exchange, exchange);
  }
}

const kServerOptions = {
  maxHeaderSize: kNodeLimits.maxHeaderSize,
  connectionsCheckingInterval: kNodeLimits.checkEveryMs,
} as const;

const kEmpty = new Uint8Array(0);

/** Exchanges whose route reads a body, checked for pace by one timer (running only while there are some). */
const reading = new Set<NodeExchange>();
let paceTimer: NodeJS.Timeout | undefined;

function watchPace(exchange: NodeExchange): void {
  reading.add(exchange);
  if (paceTimer !== undefined) return;
  paceTimer = setInterval(() => {
    const now = performance.now();
    for (const x of reading) x.checkPace(now);
    if (reading.size === 0) {
      clearInterval(paceTimer);
      paceTimer = undefined;
    }
  }, kNodeLimits.checkEveryMs);
  paceTimer.unref();
}

/** An answer as the bytes of a whole HTTP/1.1 response that closes its connection. */
function rawAnswer(answer: Answer): string {
  return `HTTP/1.1 ${answer.status}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(answer.body)}\r\nconnection: close\r\n\r\n${answer.body}`;
}

/** One request and its answer, with uWS's interface. */
class NodeExchange implements HttpRequest, HttpResponse {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #method: string;
  readonly #path: string;
  readonly #query: string;
  readonly #params: string[] | undefined;
  #status = 200;
  #reason: string | undefined;
  /** Header names and values, flat (what `writeHead` takes without building an object). */
  readonly #headers: string[] = [];
  #headSent = false;
  #ended = false;
  #paused = false;
  /** While a body is read: when its current pace window started, and the bytes since. */
  #paceFrom = 0;
  #paceBytes = 0;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    path: string,
    query: string,
    params: string[] | undefined,
  ) {
    this.#req = req;
    this.#res = res;
    this.#method = method;
    this.#path = path;
    this.#query = query;
    this.#params = params;
    res.on('timeout', this.#onSilence);
  }

  /**
   * The socket was silent for `idleTimeoutMs` (node asks the response, then closes unless someone handled it):
   * a request still arriving is cut, as uWS cuts it; one whose answer we owe (or hold) waits for us.
   */
  #onSilence = (): void => {
    if (!this.#req.complete && !this.#paused) this.#req.socket?.destroy();
  };

  // ---- HttpRequest ----

  getHeader(lowerCaseName: string): string {
    const value = this.#req.headers[lowerCaseName];
    return value === undefined ? '' : typeof value === 'string' ? value : value.join(', ');
  }

  getMethod(): string {
    return this.#method;
  }

  getUrl(): string {
    return this.#path;
  }

  getQuery(): string {
    return this.#query;
  }

  getParameter(index: number): string {
    return this.#params?.[index] ?? '';
  }

  // ---- HttpResponse ----

  writeStatus(status: string): this {
    this.#status = Number(status.slice(0, 3));
    this.#reason = status.length > 4 ? status.slice(4) : undefined;
    return this;
  }

  writeHeader(name: string, value: string): this {
    this.#headers.push(name, value);
    return this;
  }

  end(body?: string | Uint8Array, closeConnection = false): this {
    if (this.#ended) return this;
    this.#ended = true;
    const res = this.#res;
    if (res.destroyed) return this;
    if (!this.#headSent) {
      const headers = this.#headers;
      const length =
        body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
      headers.push('content-length', String(length));
      if (closeConnection) headers.push('connection', 'close');
      this.#headSent = true;
      res.writeHead(this.#status, this.#reason, headers);
    }
    res.end(body);
    return this;
  }

  endWithoutBody(): this {
    if (this.#ended) return this;
    this.#ended = true;
    if (this.#res.destroyed) return this;
    this.#headSent = true;
    this.#res.writeHead(this.#status, this.#reason, this.#headers).end();
    return this;
  }

  write(chunk: string): boolean {
    if (this.#ended || this.#res.destroyed) return false;
    if (!this.#headSent) {
      this.#headSent = true;
      this.#res.writeHead(this.#status, this.#reason, this.#headers);
    }
    return this.#res.write(chunk);
  }

  onAborted(handler: () => void): this {
    this.#res.once('close', () => {
      if (!this.#ended) handler();
    });
    return this;
  }

  onData(handler: (chunk: ArrayBuffer | Uint8Array, isLast: boolean) => void): this {
    const req = this.#req;
    if (!req.complete) {
      this.#paceFrom = performance.now();
      watchPace(this);
      this.#res.once('close', () => reading.delete(this));
    }
    req.on('data', (chunk: Buffer) => {
      this.#paceBytes += chunk.length;
      handler(chunk, false);
    });
    req.once('end', () => {
      reading.delete(this);
      handler(kEmpty, true);
    });
    return this;
  }

  /** A held request is not silent on its own: its wait is ours, not the client's (see `#onSilence`). */
  pause(): void {
    this.#paused = true;
    this.#req.pause();
  }

  resume(): void {
    this.#paused = false;
    // the time it was held is not the client's: its pace counts afresh
    this.#paceFrom = performance.now();
    this.#paceBytes = 0;
    this.#req.resume();
  }

  /** Cuts a body arriving slower than `minBodyBytesPerSecond` once it has had `bodyGraceMs`. */
  checkPace(now: number): void {
    if (this.#paused) return;
    const ms = now - this.#paceFrom;
    if (ms < kNodeLimits.bodyGraceMs) return;
    if (this.#paceBytes < (kNodeLimits.minBodyBytesPerSecond * ms) / 1000) {
      reading.delete(this);
      this.#req.socket?.destroy();
    }
  }

  cork(writes: () => void): this {
    writes();
    return this;
  }

  close(): this {
    this.#req.socket?.destroy();
    return this;
  }
}
