/**
 * Open dashboard pages, as the master sees them: N readers of `GET /dashboard/events` on the admin listener, in
 * the benchmark's process, each reading every byte and splitting the stream into events as a browser's
 * `EventSource` does (without drawing: a page's drawing runs in the browser, not on the master). What a page costs
 * the master is its stream; what it receives is counted per measured window (`take()`, like the virtual fleet's
 * `takeWindows()`).
 */
import http from 'node:http';

/** Characters kept of a line: enough for its field name and an event's name (the data itself is only counted). */
const kLineHead = 64;

/**
 * Counts one Server-Sent Events stream: every byte, and every event dispatched (a block of lines ended by a blank
 * line, holding at least one `data` line), by name, with its size (its lines, comments included, and the blank
 * line). A block without data (`retry:` alone) dispatches nothing, as in `EventSource`. Lines end with `\n` (what
 * the master writes). Pure; memory is bounded whatever the stream holds.
 */
export class SseTally {
  bytes = 0;
  /** Events by name: how many, and their bytes. */
  readonly events = new Map<string, { count: number; bytes: number }>();
  /** The size of the first event of each name. */
  readonly first = new Map<string, number>();
  readonly #onEvent: ((name: string, bytes: number) => void) | undefined;
  #line = '';
  #lineBytes = 0;
  #blockBytes = 0;
  #name: string | undefined;
  #data = false;

  constructor(onEvent?: (name: string, bytes: number) => void) {
    this.#onEvent = onEvent;
  }

  push(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    let start = 0;
    while (start <= chunk.length) {
      const newline = chunk.indexOf(10, start);
      const end = newline < 0 ? chunk.length : newline;
      if (this.#line.length < kLineHead && end > start) {
        const take = Math.min(end, start + kLineHead - this.#line.length);
        this.#line += Buffer.from(chunk.buffer, chunk.byteOffset + start, take - start).toString('latin1');
      }
      this.#lineBytes += end - start;
      if (newline < 0) return;
      this.#endLine();
      start = newline + 1;
    }
  }

  /** Events of `name` so far. */
  count(name: string): number {
    return this.events.get(name)?.count ?? 0;
  }

  #endLine(): void {
    const line = this.#line;
    const empty = this.#lineBytes === 0;
    this.#blockBytes += this.#lineBytes + 1;
    this.#line = '';
    this.#lineBytes = 0;
    if (empty) {
      this.#endBlock();
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
    if (field === 'event') this.#name = value;
    else if (field === 'data') this.#data = true;
  }

  #endBlock(): void {
    if (this.#data) {
      const name = this.#name || 'message';
      const bytes = this.#blockBytes;
      const seen = this.events.get(name);
      if (seen === undefined) {
        this.events.set(name, { count: 1, bytes });
        this.first.set(name, bytes);
      } else {
        seen.count++;
        seen.bytes += bytes;
      }
      this.#onEvent?.(name, bytes);
    }
    this.#blockBytes = 0;
    this.#name = undefined;
    this.#data = false;
  }
}

/** What the pages received over one window, summed over the pages. */
export interface PageWindow {
  seconds: number;
  pages: number;
  bytes: number;
  /** `update` events, and their bytes. */
  updates: number;
  updateBytes: number;
  /** The mean size of the `snapshot` each page got when it opened (before the window). */
  snapshotBytes: number;
  /** Streams the master ended while the benchmark read them (a reader it judged too slow), since they opened. */
  dropped: number;
}

interface Page {
  tally: SseTally;
  request: http.ClientRequest;
  /** The master ended the stream (we did not close it). */
  ended: boolean;
}

export class DashboardPages {
  readonly #pages: Page[] = [];
  #closed = false;
  #last = { at: performance.now(), bytes: 0, updates: 0, updateBytes: 0, dropped: 0 };

  private constructor() {}

  /**
   * Opens `count` pages on the admin listener at `port`; resolves once every page got its snapshot. Rejects (and
   * closes them) when a page is answered anything but 200, fails, or has no snapshot within `timeoutMs`.
   */
  static async open(port: number, count: number, timeoutMs: number): Promise<DashboardPages> {
    const handle = new DashboardPages();
    const opened = Array.from({ length: count }, (_, i) => handle.#openOne(port, `dashboard page ${i + 1}`));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`dashboard pages: no snapshot for every page within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([Promise.all(opened), deadline]);
    } catch (err) {
      handle.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    handle.take();
    return handle;
  }

  /** One page; resolves with its snapshot. */
  #openOne(port: number, label: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const tally = new SseTally((name) => name === 'snapshot' && resolve());
      // its own socket each, as separate browsers' pages
      const request = http.get(
        { host: '127.0.0.1', port, path: '/dashboard/events', agent: false },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            return reject(new Error(`${label}: GET /dashboard/events answered ${res.statusCode}`));
          }
          res.on('data', (chunk: Buffer) => tally.push(chunk));
          res.once('close', () => {
            if (!this.#closed) page.ended = true;
            reject(new Error(`${label}: the master ended the stream before its snapshot`));
          });
        },
      );
      request.once('error', (err) => reject(new Error(`${label}: ${err.message}`)));
      const page: Page = { tally, request, ended: false };
      this.#pages.push(page);
    });
  }

  get count(): number {
    return this.#pages.length;
  }

  /** What the pages received since the last take (or since they all had their snapshot). */
  take(): PageWindow {
    const now = performance.now();
    const total = { at: now, bytes: 0, updates: 0, updateBytes: 0, dropped: 0 };
    let snapshotBytes = 0;
    for (const { tally, ended } of this.#pages) {
      const updates = tally.events.get('update');
      total.bytes += tally.bytes;
      total.updates += updates?.count ?? 0;
      total.updateBytes += updates?.bytes ?? 0;
      total.dropped += ended ? 1 : 0;
      snapshotBytes += tally.first.get('snapshot') ?? 0;
    }
    const last = this.#last;
    this.#last = total;
    return {
      seconds: (now - last.at) / 1000,
      pages: this.#pages.length,
      bytes: total.bytes - last.bytes,
      updates: total.updates - last.updates,
      updateBytes: total.updateBytes - last.updateBytes,
      snapshotBytes: this.#pages.length === 0 ? 0 : snapshotBytes / this.#pages.length,
      // since they opened, so a drop before the window (in the warm-up) is not lost with the window's start
      dropped: total.dropped,
    };
  }

  /** Closes every page (idempotent). */
  close(): void {
    this.#closed = true;
    for (const page of this.#pages) page.request.destroy();
  }
}
