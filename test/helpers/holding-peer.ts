import net from 'node:net';

/**
 * A TCP server that reads HTTP requests and never answers them. It stands in for a master that hangs, so a
 * slave's heartbeat stays in flight for exactly as long as a test needs (a real master answers at once).
 * Requests are counted by their heads; bodies are not expected (a heartbeat has none).
 */
export class HoldingPeer {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #heads: string[] = [];
  #waiters: { count: number; resolve: (heads: string[]) => void }[] = [];

  private constructor(server: net.Server) {
    this.#server = server;
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      let pending = '';
      socket.on('data', (chunk) => {
        pending += chunk.toString('latin1');
        for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
          this.#heads.push(pending.slice(0, end));
          pending = pending.slice(end + 4);
        }
        this.#wake();
      });
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => undefined);
    });
  }

  static async start(): Promise<HoldingPeer> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new HoldingPeer(server);
  }

  /** `http://127.0.0.1:<port>`, to give as a master address. */
  get origin(): string {
    return `http://127.0.0.1:${(this.#server.address() as net.AddressInfo).port}`;
  }

  /** Resolves with the request heads once at least `count` requests have arrived. */
  received(count = 1): Promise<string[]> {
    return new Promise((resolve) => {
      this.#waiters.push({ count, resolve });
      this.#wake();
    });
  }

  /** Drops every connection: each request still in flight fails at its sender. */
  dropAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #wake(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (this.#heads.length < w.count) return true;
      w.resolve(this.#heads.slice());
      return false;
    });
  }
}
