import type { HttpResponse } from 'uWebSockets.js';
import type { Answer } from '../protocol/envelope.ts';

const kJson = 'application/json';

/** Writes an answer inside the route's synchronous part (uWS corks that part by itself). */
export function sendNow(res: HttpResponse, answer: Answer, closeConnection = false): void {
  res.writeStatus(answer.status).writeHeader('content-type', kJson).end(answer.body, closeConnection);
}

/**
 * A response answered later (after a body or an await). It owns the abort flag so route code never touches
 * an aborted response, and corks every late write into one syscall.
 */
export class PendingReply {
  readonly #res: HttpResponse;
  #done = false;

  constructor(res: HttpResponse, onAbort?: () => void) {
    this.#res = res;
    res.onAborted(() => {
      this.#done = true;
      onAbort?.();
    });
  }

  get isOpen(): boolean {
    return !this.#done;
  }

  /** Answers once; later calls and calls after an abort do nothing. */
  send(answer: Answer, headers?: Record<string, string>, closeConnection = false): void {
    if (this.#done) return;
    this.#done = true;
    this.#res.cork(() => {
      this.#res.writeStatus(answer.status).writeHeader('content-type', kJson);
      if (headers) for (const key in headers) this.#res.writeHeader(key, headers[key]!);
      this.#res.end(answer.body, closeConnection);
    });
  }

  /** Drops the connection without an answer (used on shutdown for requests that can no longer finish). */
  close(): void {
    if (this.#done) return;
    this.#done = true;
    this.#res.close();
  }
}
