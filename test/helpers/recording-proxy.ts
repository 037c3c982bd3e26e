import net from 'node:net';
import { parseAnswers, type RawAnswer, type RawRequest } from './raw-http.ts';

/** One request as it crossed the wire: head and body exactly as sent (Content-Length framed). */
export interface RecordedRequest extends Required<Pick<RawRequest, 'method' | 'path'>> {
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * A TCP proxy in front of one port that records both directions, as a network observer sees them: what a
 * captured request looked like, and what was answered. Requests and answers are parsed per connection, in order.
 */
export class RecordingProxy {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #exchanges: { sent: Buffer[]; answered: Buffer[] }[] = [];

  private constructor(server: net.Server) {
    this.#server = server;
  }

  static async start(targetPort: number): Promise<RecordingProxy> {
    const server = net.createServer();
    const proxy = new RecordingProxy(server);
    server.on('connection', (client) => proxy.#relay(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Every request sent through the proxy, connection by connection. */
  requests(): RecordedRequest[] {
    return this.#exchanges.flatMap(({ sent }) => parseRequests(Buffer.concat(sent)));
  }

  /** Every answer that came back, connection by connection (in the order of `requests()`). */
  answers(): RawAnswer[] {
    return this.#exchanges.flatMap(({ answered }) => parseAnswers(Buffer.concat(answered)).answers);
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #relay(client: net.Socket, targetPort: number): void {
    const exchange = { sent: [] as Buffer[], answered: [] as Buffer[] };
    this.#exchanges.push(exchange);
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('data', (chunk: Buffer) => {
      exchange.sent.push(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      exchange.answered.push(chunk);
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }
}

/** Parses Content-Length framed requests (what undici sends for a string or Buffer body). */
function parseRequests(data: Buffer): RecordedRequest[] {
  const requests: RecordedRequest[] = [];
  let offset = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', offset, 'latin1');
    if (end < 0) break;
    const [line = '', ...lines] = data.subarray(offset, end).toString('latin1').split('\r\n');
    const [method = '', path = ''] = line.split(' ');
    const headers: Record<string, string> = {};
    for (const header of lines) {
      const i = header.indexOf(':');
      headers[header.slice(0, i).trim().toLowerCase()] = header.slice(i + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (data.length < end + 4 + length) break;
    requests.push({ method, path, headers, body: Buffer.from(data.subarray(end + 4, end + 4 + length)) });
    offset = end + 4 + length;
  }
  return requests;
}
