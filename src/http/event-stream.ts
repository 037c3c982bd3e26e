/**
 * A Server-Sent Events answer (`text/event-stream`) on any engine, that never lets a slow or vanished reader hold
 * memory: what the socket cannot take waits in a bounded queue; past `maxQueuedBytes`, or after `maxBlockedMs`
 * of continuous push-back, the stream is dropped (the browser's `EventSource` reconnects by itself).
 *
 * What the engine keeps is bounded too: a part is handed to the engine only once it took everything before it
 * (a write returned true), so it holds at most one flush of the queue on top of the socket's own buffers.
 */
import type { HttpResponse } from './engine.ts';

/** One event in SSE's wire format. Every line of `data` becomes its own `data:` line, so any text round-trips. */
export function sseEvent(event: string, data: string, id?: string): string {
  if (/[\r\n]/.test(event) || (id !== undefined && /[\r\n\0]/.test(id))) {
    throw new TypeError('an SSE event name or id must be one line');
  }
  let frame = event === 'message' ? '' : `event: ${event}\n`;
  if (id !== undefined) frame += `id: ${id}\n`;
  for (const line of data.split(/\r\n|\r|\n/)) frame += `data: ${line}\n`;
  return `${frame}\n`;
}

/** A comment line: ignored by `EventSource`, used to make the engine flush what it kept. */
const kFlush = ':\n';

export interface EventStreamLimits {
  /** Bytes waiting in this stream's queue (not yet handed to the engine) before the stream is dropped. */
  maxQueuedBytes: number;
  /** Milliseconds the socket may push back without a break before the stream is dropped. */
  maxBlockedMs: number;
  /** Milliseconds the browser waits before reconnecting (SSE `retry:`). */
  retryMs: number;
}

export type EventStreamEnd = 'closed' | 'aborted' | 'overflow' | 'stalled';

const kHeaders: Record<string, string> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  // a reverse proxy (nginx) would otherwise buffer the stream
  'x-accel-buffering': 'no',
};

/** An open SSE answer. Create it inside the route's synchronous part (it writes the head there). */
export class EventStream {
  readonly #res: HttpResponse;
  readonly #limits: EventStreamLimits;
  readonly #onEnd: (why: EventStreamEnd) => void;
  #queue: string[] = [];
  #queuedBytes = 0;
  /** `performance.now()` when the socket started pushing back; 0 while it takes everything. */
  #blockedSince = 0;
  #ended = false;
  /** Bytes handed to the engine so far. */
  written = 0;

  constructor(res: HttpResponse, limits: EventStreamLimits, onEnd: (why: EventStreamEnd) => void) {
    this.#res = res;
    this.#limits = limits;
    this.#onEnd = onEnd;
    res.onAborted(() => this.#finish('aborted'));
    res.onWritable(() => this.#drain());
    res.writeStatus('200 OK');
    for (const name in kHeaders) res.writeHeader(name, kHeaders[name]!);
    this.#write(`retry: ${limits.retryMs}\n\n`);
  }

  get isOpen(): boolean {
    return !this.#ended;
  }

  /** Bytes waiting in the queue. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Sends one frame (made by `sseEvent`), or queues it while the socket pushes back; false once ended. */
  send(frame: string): boolean {
    if (this.#ended) return false;
    if (this.#blockedSince === 0) {
      this.#res.cork(() => this.#write(frame));
      return !this.#ended;
    }
    if (performance.now() - this.#blockedSince > this.#limits.maxBlockedMs) {
      this.#drop('stalled');
      return false;
    }
    this.#queue.push(frame);
    this.#queuedBytes += frame.length;
    if (this.#queuedBytes > this.#limits.maxQueuedBytes) {
      this.#drop('overflow');
      return false;
    }
    return true;
  }

  /** Ends the answer gracefully (the master is closing). */
  close(): void {
    if (this.#ended) return;
    this.#finish('closed');
    this.#res.cork(() => this.#res.end());
  }

  #write(chunk: string): void {
    this.written += chunk.length;
    if (!this.#res.write(chunk) && this.#blockedSince === 0) this.#blockedSince = performance.now();
  }

  /** The socket took what the engine kept: hand over the queue (a flush mark first, which drains the engine). */
  #drain(): boolean {
    if (this.#ended) return true;
    this.written += kFlush.length;
    if (!this.#res.write(kFlush)) return false;
    this.#blockedSince = 0;
    if (this.#queue.length === 0) return true;
    const chunk = this.#queue.join('');
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#write(chunk);
    return this.#blockedSince === 0;
  }

  #drop(why: EventStreamEnd): void {
    this.#finish(why);
    this.#res.close();
  }

  #finish(why: EventStreamEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#onEnd(why);
  }
}
