/**
 * Result senders: `senders` loops, each with one `PUT /slave/task/complete` in flight at a time on its own
 * keep-alive connection, sending the same prepared body over and over as the fleet's slaves in turn (the token
 * rotates). The requests carry **no `Task-Id` header**, as a DI-engine slave's do, so the master reads, decodes and
 * hands every body to its result handler before it finds the task unknown and answers 200 "Result ignored": the
 * whole result path except settling a task. They announce `Fleet-Extensions` like a fleetmaster slave, so a full
 * result stage answers 503 (code 902); that answer is counted and the result is sent again after
 * `data.retryAfterMs` (±50%), as fleetmaster's slave does.
 */

import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { kExtensionsHeader, kOurExtensions } from '../../src/protocol/extensions.ts';
import { type HistogramSummary, summariseHistogram } from '../harness/report.ts';
import { retryDelayMs } from '../harness/virtual-fleet.ts';
import type { ResultPayload } from './payloads.ts';

export interface ResultWindow {
  seconds: number;
  /** Results answered 200 (acknowledged by the master). */
  acknowledged: number;
  perSecond: number;
  /** Body bytes acknowledged per second, in MB/s (10^6). */
  megabytesPerSecond: number;
  latencyMs: HistogramSummary;
  /** 503 answers (result stage full); each was sent again. */
  pushedBack: number;
  /** Other non-200 answers. */
  refused: number;
  /** Connection errors and timeouts. */
  errors: number;
  statuses: Record<string, number>;
}

export interface SendersOptions {
  /** `http://127.0.0.1:<port>` of the master. */
  origin: string;
  tokens: readonly string[];
  payload: ResultPayload;
  senders: number;
  /** Per-request limit. @defaultValue 60 s */
  timeoutMs?: number;
}

class Window {
  readonly latency: RecordableHistogram = createHistogram({ lowest: 1, highest: 600_000_000, figures: 3 });
  readonly started = performance.now();
  acknowledged = 0;
  pushedBack = 0;
  refused = 0;
  errors = 0;
  readonly statuses: Record<string, number> = {};
}

export class ResultSenders {
  readonly #options: SendersOptions;
  readonly #pool: Pool;
  #loops: Promise<void>[] = [];
  #stopping = false;
  #turn = 0;
  #window: Window | undefined;

  constructor(options: SendersOptions) {
    if (options.tokens.length === 0) throw new Error('result senders need at least one slave token');
    this.#options = options;
    const timeout = options.timeoutMs ?? 60_000;
    this.#pool = new Pool(options.origin, {
      connections: options.senders,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
  }

  /** One result by hand: the master must answer 200 and say it ignored it (decoded, handled, no such task). */
  async probe(): Promise<void> {
    const { statusCode, text } = await this.#send();
    if (statusCode !== 200 || !text.includes('ignored')) {
      throw new Error(`the master answered a probe result with ${statusCode} ${text}`);
    }
  }

  start(): void {
    this.#stopping = false;
    this.#loops = Array.from({ length: this.#options.senders }, () => this.#loop());
  }

  beginWindow(): void {
    this.#window = new Window();
  }

  endWindow(): ResultWindow {
    const w = this.#window;
    if (!w) throw new Error('no result window open');
    this.#window = undefined;
    const seconds = (performance.now() - w.started) / 1000;
    return {
      seconds,
      acknowledged: w.acknowledged,
      perSecond: w.acknowledged / seconds,
      megabytesPerSecond: (w.acknowledged * this.#options.payload.body.length) / seconds / 1e6,
      latencyMs: summariseHistogram(w.latency, 1000),
      pushedBack: w.pushedBack,
      refused: w.refused,
      errors: w.errors,
      statuses: w.statuses,
    };
  }

  /** Lets every loop finish its request in flight (bounded by `limitMs`), then stops. */
  async stop(limitMs = 30_000): Promise<void> {
    this.#stopping = true;
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), limitMs);
    });
    const outcome = await Promise.race([Promise.all(this.#loops).then(() => 'done' as const), limit]);
    clearTimeout(timer);
    this.#loops = [];
    if (outcome === 'late') throw new Error(`result senders did not finish within ${limitMs} ms`);
  }

  /** Closes the connections (after `stop`); never rejects. */
  async close(): Promise<void> {
    this.#stopping = true;
    await this.#pool.destroy().catch(() => undefined);
  }

  async #send(): Promise<{ statusCode: number; text: string }> {
    const { tokens, payload } = this.#options;
    const token = tokens[this.#turn++ % tokens.length]!;
    const res = await this.#pool.request({
      method: 'PUT',
      path: '/slave/task/complete',
      headers: {
        channel: '0',
        token,
        'content-type': payload.contentType,
        [kExtensionsHeader]: kOurExtensions,
      },
      body: payload.body,
    });
    return { statusCode: res.statusCode, text: await res.body.text() };
  }

  async #loop(): Promise<void> {
    while (!this.#stopping) {
      const started = performance.now();
      let answer: { statusCode: number; text: string };
      try {
        answer = await this.#send();
      } catch {
        if (this.#window) this.#window.errors++;
        await sleep(10);
        continue;
      }
      const w = this.#window;
      if (answer.statusCode === 200) {
        if (w) {
          w.acknowledged++;
          w.latency.record(Math.max(1, Math.round((performance.now() - started) * 1000)));
        }
        continue;
      }
      if (w) w.statuses[answer.statusCode] = (w.statuses[answer.statusCode] ?? 0) + 1;
      if (answer.statusCode === 503) {
        if (w) w.pushedBack++;
        await sleep(retryDelayMs(answer.text));
        continue;
      }
      if (w) w.refused++;
      await sleep(10);
    }
  }
}
