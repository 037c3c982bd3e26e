import { PeerClient } from '../client/peer-client.ts';
import { encodeBody, kJson } from '../protocol/codec.ts';
import { masterErrorFor } from '../protocol/errors.ts';
import type { ResolvedSlaveOptions } from './options.ts';

/**
 * The slave's side of one connection: heartbeats on a drift-free schedule, and result reports, through one
 * keep-alive undici pool to the master. Any heartbeat failure (after retries) or refusal ends the link.
 */
export class MasterLink {
  readonly token: string;
  readonly address: string;
  readonly #client: PeerClient;
  readonly #spanMs: number;
  readonly #onLost: (link: MasterLink, error: Error) => void;
  #timer: NodeJS.Timeout | undefined;
  #next = 0;
  #closed = false;

  constructor(
    options: ResolvedSlaveOptions,
    token: string,
    address: string,
    onLost: (link: MasterLink, error: Error) => void,
  ) {
    this.token = token;
    this.address = address.replace(/\/$/, '');
    this.#spanMs = options.heartbeatSpan * 1000;
    this.#onLost = onLost;
    this.#client = new PeerClient({
      origin: this.address,
      headers: { channel: String(options.channel), token },
      retries: options.requestRetries,
      retryWaitingMs: options.requestRetryWaiting * 1000,
      timeoutMs: options.requestTimeout * 1000,
      errorFor: masterErrorFor,
      connections: 2,
      tls: options.masterTls,
    });
  }

  get isOpen(): boolean {
    return !this.#closed;
  }

  /** Starts heartbeating: the first beat goes out at once, the next ones every span from then. */
  start(): void {
    this.#next = performance.now();
    this.#beat();
  }

  /** `PUT /slave/task/{complete,fail}`; the `Task-Id` header lets a fleetmaster master route it unread. */
  async report(outcome: 'complete' | 'fail', taskId: string, result: unknown): Promise<void> {
    const body = encodeBody({ task: { id: taskId }, result: result ?? {} }, kJson);
    await this.#client.request('PUT', `/slave/task/${outcome}`, body, kJson, { 'task-id': taskId });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#client.close();
  }

  #beat = (): void => {
    if (this.#closed) return;
    this.#client.request('GET', '/slave/heartbeat').then(
      () => {
        if (this.#closed) return;
        this.#next += this.#spanMs;
        const now = performance.now();
        if (this.#next < now) this.#next = now; // fell behind (a stall): do not burst to catch up
        this.#timer = setTimeout(this.#beat, this.#next - now);
        this.#timer.unref();
      },
      (err: unknown) => {
        if (this.#closed) return;
        this.#onLost(this, err instanceof Error ? err : new Error(String(err)));
      },
    );
  };
}
