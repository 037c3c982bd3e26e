import net from 'node:net';
import tls from 'node:tls';
import {
  AnswerTimeoutError,
  H1ClosedError,
  H1ConnectionError,
  H1ConnectTimeoutError,
  H1ParseError,
} from '../errors.ts';
import { type H1Response, ResponseParser } from './h1-parser.ts';
import { type Swept, unwatch, watch } from './sweep.ts';
import { kDefaultMaxAnswerBytes } from './transport.ts';

export type { H1Response } from './h1-parser.ts';

export interface H1ClientOptions {
  host: string;
  port: number;
  /** TLS options; present for an `https` peer. */
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean } | undefined;
  /**
   * Milliseconds from `request()` to the whole answer (waiting in the queue, connecting and writing included): one
   * deadline per request, that bytes arriving do not extend, so a peer trickling its answer a byte at a time fails
   * at it as one that sends nothing does (`AnswerTimeoutError`).
   */
  timeoutMs: number;
  /** Milliseconds a connection may take to open. @defaultValue min(timeoutMs, 10 s) */
  connectTimeoutMs?: number;
  /** An idle connection is closed after this many milliseconds. @defaultValue 4000 */
  keepAliveMs?: number;
  /** Requests written before their answers arrived (HTTP/1.1 pipelining). @defaultValue 1 */
  pipelining?: number;
  /** Largest answer body accepted (`AnswerTooLargeError` past it). @defaultValue 1 MiB */
  maxAnswerBytes?: number;
}

interface Pending {
  method: string;
  path: string;
  headers: string;
  body: string | Uint8Array | undefined;
  /** `performance.now()` past which it fails. */
  deadline: number;
  resolve(response: H1Response): void;
  reject(error: Error): void;
}

/**
 * An HTTP/1.1 client over one keep-alive socket, for the master's hottest request (`POST /task/new`, one per
 * task). It does what undici's `Client` does for that exchange at a fraction of its cost per request: the
 * request goes out as one prebuilt string in one write; answers are read into one buffer shared by every
 * client (`net` `onread`) and parsed by `ResponseParser`; deadlines and idle closes are checked by one timer
 * for all clients (`sweep.ts`). Header names and values are the caller's, pre-formatted (`name: value\r\n`
 * lines), and are not validated here: callers build them from values they control.
 *
 * The answers in one read are judged together before any is handed out: bytes beyond the answers to the requests
 * written when the read arrived (an answer no request asked for, or anything else) fail them all and the
 * connection, so an unsolicited answer can never become the answer to a request written after it.
 */
export class H1Client implements Swept {
  readonly #options: Required<Omit<H1ClientOptions, 'tls'>> & Pick<H1ClientOptions, 'tls'>;
  readonly #hostHeader: string;
  /** Requests in order; the first `#written` are on the wire. */
  readonly #queue: Pending[] = [];
  #written = 0;
  #socket: net.Socket | undefined;
  #parser: ResponseParser | undefined;
  /** The current socket has connected (a failure before that fails every request, written or not). */
  #connected = false;
  /** `performance.now()` when the current socket was opened (the connect timeout counts from it). */
  #openedAt = 0;
  /** When the sweep first saw the socket idle, or 0 (the keep-alive close counts from it). */
  #idleSince = 0;
  /** The answers completed by the read being parsed, handed out once the whole read is. */
  readonly #answers: H1Response[] = [];
  #closed = false;
  #onDrained: (() => void) | undefined;

  constructor(options: H1ClientOptions) {
    this.#options = {
      connectTimeoutMs: Math.min(options.timeoutMs, 10_000),
      keepAliveMs: 4000,
      pipelining: 1,
      maxAnswerBytes: kDefaultMaxAnswerBytes,
      ...options,
    };
    const { host, port } = options;
    this.#hostHeader = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  /** Requests not answered yet (written or waiting). */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Sends one request. `headers` is zero or more `name: value\r\n` lines; `host` and `content-length` are added.
   * Resolves with any answer (whatever its status); rejects with `H1ConnectionError`, `H1ParseError`,
   * `AnswerTooLargeError`, `AnswerTimeoutError`, or the signal's reason.
   */
  request(
    method: string,
    path: string,
    headers: string,
    body?: string | Uint8Array,
    signal?: AbortSignal,
  ): Promise<H1Response> {
    if (this.#closed) return Promise.reject(new H1ClosedError('client closed'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    const deadline = performance.now() + this.#options.timeoutMs;
    return new Promise((resolve, reject) => {
      const pending: Pending = { method, path, headers, body, deadline, resolve, reject };
      this.#queue.push(pending);
      if (signal !== undefined) this.#abortOn(signal, pending);
      this.#pump();
    });
  }

  /** Lets requests in flight finish, then closes the connection. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    if (this.#queue.length === 0) {
      this.#retire();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const before = this.#onDrained;
      this.#onDrained = () => {
        before?.();
        resolve();
      };
    });
  }

  /** Closes the connection now; every request not answered rejects. */
  destroy(): void {
    this.#closed = true;
    this.#retire();
    this.#failAll(new H1ClosedError('client destroyed'));
  }

  /** Called by the sweep timer: fails requests past their deadline, a stalled connect, an idle connection. */
  sweep(now: number): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    const head = this.#queue[0];
    if (head === undefined) {
      if (this.#idleSince === 0) this.#idleSince = now;
      else if (now - this.#idleSince >= this.#options.keepAliveMs) this.#retire();
      return;
    }
    this.#idleSince = 0;
    if (now >= head.deadline) this.#expire(now);
    else if (socket.connecting && now - this.#openedAt >= this.#options.connectTimeoutMs) {
      this.#lost(socket, new H1ConnectTimeoutError('connect timed out'));
    }
  }

  /**
   * Fails the requests past their deadline: a prefix of the queue (one timeout for all, first in first out). A
   * written one takes its socket with it (HTTP/1.1 cannot skip an answer), and with it the others written there.
   */
  #expire(now: number): void {
    const queue = this.#queue;
    let expired = 0;
    while (expired < queue.length && now >= queue[expired]!.deadline) expired++;
    if (this.#written > 0) this.#retire();
    const failed = queue.splice(0, Math.max(expired, this.#written));
    this.#written = 0;
    const timeout = new AnswerTimeoutError(this.#options.timeoutMs);
    for (let i = 0; i < failed.length; i++) {
      failed[i]!.reject(
        i < expired ? timeout : new H1ConnectionError('an earlier request on this connection timed out'),
      );
    }
    if (queue.length > 0) this.#pump();
    else this.#drained();
  }

  /** An aborted request leaves the queue; one already written takes its socket with it (HTTP/1.1 cannot cancel). */
  #abortOn(signal: AbortSignal, pending: Pending): void {
    const onAbort = () => {
      const at = this.#queue.indexOf(pending);
      if (at < 0) return;
      if (at >= this.#written) {
        this.#queue.splice(at, 1);
        pending.reject(signal.reason);
        this.#drained();
        return;
      }
      this.#retire();
      const rest = this.#queue.splice(0, this.#written);
      this.#written = 0;
      for (const other of rest) {
        other.reject(
          other === pending
            ? signal.reason
            : new H1ConnectionError('a request on this connection was aborted'),
        );
      }
      if (this.#queue.length > 0) this.#pump();
      else this.#drained();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const settle = () => signal.removeEventListener('abort', onAbort);
    const { resolve, reject } = pending;
    pending.resolve = (response) => {
      settle();
      resolve(response);
    };
    pending.reject = (error) => {
      settle();
      reject(error);
    };
  }

  #pump(): void {
    const limit = this.#options.pipelining;
    if (this.#written >= limit || this.#written >= this.#queue.length) return;
    const socket = this.#socket ?? this.#open();
    while (this.#written < limit && this.#written < this.#queue.length) {
      write(socket, this.#hostHeader, this.#queue[this.#written++]!);
    }
  }

  #open(): net.Socket {
    const { host, port } = this.#options;
    const tlsOptions = this.#options.tls;
    let socket: net.Socket;
    if (tlsOptions !== undefined) {
      socket = tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ...tlsOptions });
      socket.setNoDelay(true);
      socket.on('data', (bytes: Buffer) => this.#read(socket, bytes));
    } else {
      socket = net.connect({
        host,
        port,
        noDelay: true,
        onread: {
          buffer: sharedReadBuffer,
          callback: (n: number, buffer: Uint8Array) => {
            this.#read(socket, buffer.subarray(0, n));
            return true;
          },
        },
      });
    }
    socket.once(tlsOptions === undefined ? 'connect' : 'secureConnect', () => {
      if (socket === this.#socket) this.#connected = true;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.#lost(socket, new H1ConnectionError(`connection failed: ${err.message}`, { cause: err }));
    });
    socket.on('end', () => this.#end(socket));
    socket.on('close', () => this.#lost(socket, undefined));
    this.#socket = socket;
    this.#connected = false;
    this.#parser = new ResponseParser((response) => this.#answered(response), {
      maxBodyBytes: this.#options.maxAnswerBytes,
    });
    this.#openedAt = performance.now();
    this.#idleSince = 0;
    watch(this);
    return socket;
  }

  #read(socket: net.Socket, bytes: Uint8Array): void {
    if (socket !== this.#socket) return;
    const parser = this.#parser!;
    try {
      parser.feed(bytes);
      if (this.#answers.length === this.#written && parser.isMidResponse) {
        throw new H1ParseError('bytes after the last answer, which no request asked for');
      }
    } catch (err) {
      this.#answers.length = 0;
      this.#lost(socket, err);
      return;
    }
    if (this.#answers.length > 0) this.#deliver();
  }

  /** The parser completed an answer: kept until the whole read is parsed. */
  #answered(response: H1Response): void {
    if (this.#answers.length === this.#written) {
      throw new H1ParseError(`an answer (${response.statusCode}) to no request`);
    }
    this.#answers.push(response);
  }

  /** Hands the answers of one read to their requests, in order. */
  #deliver(): void {
    const answers = this.#answers;
    const n = answers.length;
    for (let i = 0; i < n; i++) {
      const response = answers[i]!;
      const pending = this.#queue.shift()!;
      this.#written--;
      if (!response.keepAlive) {
        // the peer closes after this answer: requests already written on this socket are lost with it
        this.#retire();
        this.#failWritten(new H1ConnectionError('the peer closed the connection after an earlier answer'));
      }
      pending.resolve(response);
    }
    answers.length = 0;
    if (this.#queue.length > 0) this.#pump();
    else this.#drained();
  }

  #end(socket: net.Socket): void {
    if (socket !== this.#socket) return;
    try {
      this.#parser!.end();
    } catch (err) {
      this.#answers.length = 0;
      this.#lost(socket, err);
      return;
    }
    if (this.#answers.length > 0) {
      this.#deliver();
      if (socket !== this.#socket) return;
    }
    this.#lost(socket, undefined);
  }

  /**
   * The socket failed or closed: every request on it fails; requests not yet written go on a new socket. `error`
   * is the reason (a socket error already wrapped in an `H1ConnectionError`; the parser's own, as it is), or
   * undefined for a close.
   */
  #lost(socket: net.Socket, error: unknown): void {
    if (socket !== this.#socket) return;
    const neverConnected = !this.#connected;
    this.#retire();
    const cause =
      error instanceof Error
        ? error
        : new H1ConnectionError(
            error === undefined ? 'the peer closed the connection' : `connection failed: ${String(error)}`,
          );
    if (neverConnected) this.#failAll(cause);
    else this.#failWritten(cause);
    if (this.#queue.length > 0) this.#pump();
    else this.#drained();
  }

  /** Forgets the current socket (closing it); its late events are ignored. */
  #retire(): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    this.#socket = undefined;
    this.#parser = undefined;
    unwatch(this);
    socket.destroy();
  }

  #failWritten(error: Error): void {
    const written = this.#queue.splice(0, this.#written);
    this.#written = 0;
    for (const pending of written) pending.reject(error);
  }

  #failAll(error: Error): void {
    const all = this.#queue.splice(0);
    this.#written = 0;
    for (const pending of all) pending.reject(error);
    this.#drained();
  }

  #drained(): void {
    if (this.#queue.length > 0) return;
    if (this.#closed) this.#retire();
    const done = this.#onDrained;
    this.#onDrained = undefined;
    done?.();
  }
}

function write(socket: net.Socket, hostHeader: string, pending: Pending): void {
  const head = `${pending.method} ${pending.path} HTTP/1.1\r\nhost: ${hostHeader}\r\n${pending.headers}`;
  const body = pending.body;
  if (body === undefined) {
    socket.write(pending.method === 'GET' ? `${head}\r\n` : `${head}content-length: 0\r\n\r\n`);
  } else if (typeof body === 'string') {
    // one string, one write, one syscall
    socket.write(`${head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  } else {
    socket.cork();
    socket.write(`${head}content-length: ${body.byteLength}\r\n\r\n`, 'latin1');
    socket.write(body);
    socket.uncork();
  }
}

/** Every read of every plain-TCP client lands here; the parser copies what it keeps before the next read. */
const sharedReadBuffer = Buffer.allocUnsafeSlow(64 * 1024);
