import type { Answer } from '../protocol/envelope.ts';
import type { HttpRequest, HttpResponse } from './engine.ts';

const kJson = 'application/json';
const kOk = '200 OK';

/** Writes an answer inside the route's synchronous part (uWS corks that part by itself). */
export function sendNow(
  res: HttpResponse,
  answer: Answer,
  closeConnection = false,
  headers?: Record<string, string>,
): void {
  // uWS answers 200 OK unless told otherwise: one native call fewer on the heartbeat, the hottest route
  if (answer.status !== kOk) res.writeStatus(answer.status);
  res.writeHeader('content-type', kJson);
  if (headers) for (const key in headers) res.writeHeader(key, headers[key]!);
  res.end(answer.body, closeConnection);
}

/**
 * The answer for a request no route took. A HEAD answer carries no body (and no Content-Length: this uWS build
 * aborts the process on `endWithoutBody(length)`). An unread body would be parsed as the next request, so then
 * the connection closes.
 */
export function answerUnrouted(res: HttpResponse, req: HttpRequest, answer: Answer): void {
  const length = req.getHeader('content-length');
  const hasBody = (length !== '' && length !== '0') || req.getHeader('transfer-encoding') !== '';
  if (req.getMethod() === 'head') {
    res.writeStatus(answer.status).writeHeader('content-type', kJson);
    res.endWithoutBody();
    return;
  }
  sendNow(res, answer, hasBody);
}

/**
 * A response answered later (after a body or an await). It owns the abort flag so route code never touches
 * an aborted response, and corks every late write into one syscall.
 */
export class PendingReply {
  readonly #res: HttpResponse;
  readonly #tracker: ReplyTracker | undefined;
  #done = false;

  /** `onAborted`: the client went away before the answer (called once, never after `send`). */
  constructor(res: HttpResponse, tracker?: ReplyTracker, onAborted?: () => void) {
    this.#res = res;
    this.#tracker = tracker;
    if (tracker) tracker.open++;
    res.onAborted(() => {
      if (this.#done) return;
      this.#settle();
      onAborted?.();
    });
  }

  get isOpen(): boolean {
    return !this.#done;
  }

  /** Answers once; later calls and calls after an abort do nothing. */
  send(answer: Answer, headers?: Record<string, string>, closeConnection = false): void {
    if (this.#done) return;
    this.#settle();
    this.#res.cork(() => {
      this.#res.writeStatus(answer.status).writeHeader('content-type', kJson);
      if (headers) for (const key in headers) this.#res.writeHeader(key, headers[key]!);
      this.#res.end(answer.body, closeConnection);
    });
  }

  /** Answers once with a body that is not an envelope (e.g. Prometheus text). */
  sendText(body: string, contentType: string): void {
    if (this.#done) return;
    this.#settle();
    this.#res.cork(() => {
      this.#res.writeHeader('content-type', contentType);
      this.#res.end(body);
    });
  }

  /** Drops the connection without an answer (used on shutdown for requests that can no longer finish). */
  close(): void {
    if (this.#done) return;
    this.#settle();
    this.#res.close();
  }

  #settle(): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#tracker && --this.#tracker.open === 0) this.#tracker.drained?.();
  }
}

/** Counts replies not yet answered, so a graceful close can wait for the last ones to be written. */
export interface ReplyTracker {
  open: number;
  drained?: (() => void) | undefined;
}

/** Resolves once every tracked reply is answered or aborted, or after `limitMs`. */
export function whenDrained(tracker: ReplyTracker, limitMs: number): Promise<void> {
  if (tracker.open === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, limitMs);
    function done() {
      clearTimeout(timer);
      tracker.drained = undefined;
      resolve();
    }
    tracker.drained = done;
  });
}
