import net from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The envelope, when the body is JSON. */
  json: { success: boolean; code: number; message: string; data: unknown } | undefined;
}

export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Set Content-Length from the body (default true when a body is given). */
  contentLength?: boolean;
}

/** Serialises a request exactly as given: no header is added that the caller did not ask for (but Host). */
export function serialise(req: RawRequest): Buffer {
  const lines = [`${req.method} ${req.path} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const [k, v] of Object.entries(req.headers ?? {})) lines.push(`${k}: ${v}`);
  const body = req.body === undefined ? Buffer.alloc(0) : Buffer.from(req.body);
  if (req.body !== undefined && req.contentLength !== false) lines.push(`Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), body]);
}

/** Parses every complete HTTP/1.1 answer in `data` (Content-Length framed, as uWS answers). */
export function parseAnswers(data: Buffer): { answers: RawAnswer[]; rest: Buffer } {
  const answers: RawAnswer[] = [];
  let offset = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', offset, 'latin1');
    if (end < 0) break;
    const head = data.subarray(offset, end).toString('latin1').split('\r\n');
    const status = Number(head[0]?.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (data.length < end + 4 + length) break;
    const body = data.subarray(end + 4, end + 4 + length).toString('utf8');
    let json: RawAnswer['json'];
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    answers.push({ status, headers, body, json });
    offset = end + 4 + length;
  }
  return { answers, rest: data.subarray(offset) };
}

/**
 * Sends raw bytes on one fresh socket and collects `expected` answers (several requests may be pipelined).
 * Resolves early with what arrived if the server closes the connection.
 */
export function rawExchange(
  port: number,
  bytes: Buffer,
  expected = 1,
  timeoutMs = 5000,
): Promise<RawAnswer[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`timed out waiting for ${expected} answer(s); got ${parseAnswers(data).answers.length}`),
      );
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parseAnswers(data).answers);
    };
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (parseAnswers(data).answers.length >= expected) finish();
    });
    socket.on('close', finish);
    socket.on('error', () => undefined);
    socket.write(bytes);
  });
}

/** One request, one answer. */
export async function raw(port: number, req: RawRequest): Promise<RawAnswer> {
  const [answer] = await rawExchange(port, serialise(req), 1);
  if (!answer) throw new Error(`no answer to ${req.method} ${req.path}`);
  return answer;
}

/**
 * One keep-alive socket, kept open across requests: for pipelining in steps, and for talking to a server
 * that has stopped accepting new connections (its listen socket closes first on shutdown).
 */
export class RawConnection {
  readonly #socket: net.Socket;
  #data = Buffer.alloc(0);
  #consumed = 0;
  #closed = false;
  #waiters: { count: number; resolve: (answers: RawAnswer[]) => void }[] = [];

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on('data', (chunk) => {
      this.#data = Buffer.concat([this.#data, chunk]);
      this.#wake();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** Writes bytes (or a request) without waiting for anything. */
  write(bytes: Buffer | RawRequest): void {
    this.#socket.write(Buffer.isBuffer(bytes) ? bytes : serialise(bytes));
  }

  /** The next `count` answers not yet taken; fewer if the server closes the connection first. */
  next(count = 1): Promise<RawAnswer[]> {
    return new Promise((resolve) => {
      this.#waiters.push({ count, resolve });
      this.#wake();
    });
  }

  /** Writes, then waits for the next `count` answers. */
  async send(bytes: Buffer | RawRequest, count = 1): Promise<RawAnswer[]> {
    this.write(bytes);
    return this.next(count);
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #wake(): void {
    const answers = parseAnswers(this.#data).answers;
    while (this.#waiters.length > 0) {
      const waiter = this.#waiters[0]!;
      const available = answers.length - this.#consumed;
      if (available < waiter.count && !this.#closed) return;
      const taken = answers.slice(this.#consumed, this.#consumed + waiter.count);
      this.#consumed += taken.length;
      this.#waiters.shift();
      waiter.resolve(taken);
    }
  }
}
