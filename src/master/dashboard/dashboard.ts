/**
 * The live dashboard on the admin listener: `GET /dashboard` (the page), `/dashboard/assets/<file>` (its scripts
 * and styles, built ahead) and `/dashboard/events` (one Server-Sent Events stream per open page). Read-only: it
 * has GET routes only, and they read the master's registry and counters.
 *
 * One timer a second walks the registry once, folds the counters into a summary and a chart point (kept for 15
 * minutes, so a page opened later shows the past), and, while pages are open, broadcasts one update frame, built
 * once and written to every stream.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import type { HttpApp, HttpResponse } from '../../http/engine.ts';
import { EventStream, type EventStreamLimits, sseEvent } from '../../http/event-stream.ts';
import type { FleetCounters } from '../fleet/counters.ts';
import type { StageLoad } from '../results/stage.ts';
import type { MasterStats } from '../status.ts';
import { historyPoint, type Reading, summarize } from './aggregate.ts';
import { type Asset, type DashboardAssets, loadDashboardAssets } from './assets.ts';
import { type FleetEventInput, FleetEventLog } from './event-log.ts';
import type { HistoryPoint, MasterInfo, SnapshotFrame, Summary, UpdateFrame } from './frames.ts';
import { SlaveSlots, type SlotSource } from './slave-slots.ts';

/** What the dashboard reads of the master. */
export interface DashboardHost {
  readonly registry: { records(): IterableIterator<SlotSource> };
  readonly counters: FleetCounters;
  readonly options: { readonly heartbeatTolerance: number; readonly channel: number };
  readonly engine: string;
  readonly port: number;
  readonly results: { load(): StageLoad };
  stats(): MasterStats;
  /** Tasks waiting for a slave, where the master has a queue. */
  queuedTasks?(): number;
  warn(message: string, error: unknown): void;
}

export interface DashboardLimits extends EventStreamLimits {
  /** Event streams open at once (pages); one more is answered 503. */
  maxPages: number;
  tickMs: number;
  /** Chart points kept (one per tick). */
  historyPoints: number;
  /** Events the master keeps. */
  events: number;
  /** Events one update carries at most (the others are counted as skipped). */
  eventsPerUpdate: number;
  /** Events a new page gets. */
  eventsInSnapshot: number;
}

export const kDashboardLimits: Readonly<DashboardLimits> = Object.freeze({
  maxPages: 32,
  maxQueuedBytes: 1024 * 1024,
  maxBlockedMs: 30_000,
  retryMs: 3000,
  tickMs: 1000,
  historyPoints: 900,
  events: 500,
  eventsPerUpdate: 100,
  eventsInSnapshot: 300,
});

const kText = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };

export class Dashboard {
  readonly #host: DashboardHost;
  readonly #limits: DashboardLimits;
  readonly #events: FleetEventLog;
  readonly #slots = new SlaveSlots<SlotSource>();
  readonly #streams = new Set<EventStream>();
  readonly #history: HistoryPoint[] = [];
  #assets: DashboardAssets | { missing: string } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #delay: IntervalHistogram | undefined;
  #reading: Reading | undefined;
  #summary: Summary | undefined;
  #master: MasterInfo | undefined;
  /** The last event an update carried. */
  #eventsSent = 0;
  #closed = false;

  constructor(host: DashboardHost, limits: DashboardLimits = kDashboardLimits) {
    this.#host = host;
    this.#limits = limits;
    this.#events = new FleetEventLog(limits.events);
  }

  /** Pages open now. */
  get pages(): number {
    return this.#streams.size;
  }

  /** Records a fleet event for the events list (a new kind: one more `FleetEvent` member and one call). */
  record(event: FleetEventInput): void {
    this.#events.record(event);
  }

  connected(connection: { readonly name: string; readonly origin: string }): void {
    this.record({ kind: 'connect', slave: connection.name, address: connection.origin });
  }

  /** A slave deleted or disconnected (not one the master dropped on shutdown). */
  disconnected({ name, connection }: SlotSource): void {
    this.record({
      kind: 'disconnect',
      slave: name,
      address: connection.origin,
      tasksEnded: connection.runningTasks,
    });
  }

  evicted({ name, connection }: SlotSource, silentFor: number): void {
    const { origin: address, runningTasks: tasksLost } = connection;
    this.record({ kind: 'evict', slave: name, address, silentFor, tasksLost });
  }

  /** A task that ended without completing, with how it ended (`slave_lost`, `reported_failure`, …). */
  taskFailed(task: { readonly id: string; readonly error: Error | undefined }, code: string): void {
    this.record({ kind: 'task_failed', taskId: task.id, code, reason: task.error?.message });
  }

  /** A task goes back to the queue for another attempt (its slave was lost, refused it, or failed the request). */
  retried(
    task: { readonly id: string; readonly attempts: number; readonly slave: string | undefined },
    reason: string,
  ): void {
    this.record({ kind: 'retry', taskId: task.id, attempt: task.attempts, slave: task.slave, reason });
  }

  mount(app: HttpApp): void {
    app.get('/dashboard', (res) =>
      this.#serve(res, this.#assets && 'html' in this.#assets ? this.#assets.html : undefined),
    );
    app.get('/dashboard/assets/:file', (res, req) => {
      const assets = this.#assets;
      const asset = assets && 'files' in assets ? assets.files.get(req.getParameter(0)) : undefined;
      if (asset) return this.#serve(res, asset);
      text(res, '404 Not Found', 'No such dashboard asset.');
    });
    app.get('/dashboard/events', (res) => this.#open(res));
  }

  /** Reads the page's files and starts the timer (the admin listener is up). */
  start(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#assets = loadDashboardAssets();
    const h = this.#host;
    this.#master = {
      engine: h.engine,
      node: process.version,
      port: h.port,
      channel: h.options.channel,
      heartbeatTolerance: h.options.heartbeatTolerance,
      startedAt: Date.now(),
    };
    this.#delay = monitorEventLoopDelay({ resolution: 20 });
    this.#delay.enable();
    this.#reading = this.#read();
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.#limits.tickMs);
    this.#timer.unref();
  }

  /** Ends every stream and the timer. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#delay?.disable();
    for (const stream of [...this.#streams]) stream.close();
    this.#streams.clear();
  }

  #serve(res: HttpResponse, asset: Asset | undefined): void {
    if (asset === undefined) {
      const assets = this.#assets;
      text(res, '503 Service Unavailable', assets && 'missing' in assets ? assets.missing : 'Not started.');
      return;
    }
    res.writeStatus('200 OK');
    for (const name in asset.headers) res.writeHeader(name, asset.headers[name]!);
    res.end(asset.body);
  }

  #open(res: HttpResponse): void {
    if (this.#closed || this.#summary === undefined) {
      text(res, '503 Service Unavailable', 'The dashboard is not running.');
      return;
    }
    if (this.#streams.size >= this.#limits.maxPages) {
      text(
        res,
        '503 Service Unavailable',
        `Too many dashboard pages open (at most ${this.#limits.maxPages}).`,
      );
      return;
    }
    const stream = new EventStream(res, this.#limits, () => this.#streams.delete(stream));
    this.#streams.add(stream);
    stream.send(sseEvent('snapshot', JSON.stringify(this.#snapshot())));
  }

  /**
   * The fleet now. The pass only records what changed (the next update still carries it to every page: its slot
   * changes are states, so applying them again changes nothing).
   */
  #snapshot(): SnapshotFrame {
    const h = this.#host;
    const fleet = this.#slots.pass(
      h.registry.records(),
      performance.now(),
      h.options.heartbeatTolerance * 1000,
    );
    const { histogram: _, ...slaves } = fleet;
    return {
      master: this.#master!,
      capacity: this.#slots.capacity,
      slots: this.#slots.all(),
      ages: this.#slots.agesBase64(),
      inflight: this.#slots.inflightBase64(),
      summary: { ...this.#summary!, slaves },
      history: this.#history,
      events: this.#events.last(this.#limits.eventsInSnapshot),
    };
  }

  #read(): Reading {
    const stats = this.#host.stats();
    let pool: Reading['pool'];
    const load = this.#host.results.load();
    if (load.threads > 0) pool = { busyMs: load.busyMs, threads: load.threads, held: load.held };
    return {
      at: performance.now(),
      tasksCompleted: stats.tasksCompleted,
      tasksFailed: stats.tasksFailed,
      results: stats.resultsDelivered,
      heartbeats: stats.heartbeats,
      evictions: stats.evictions,
      pool,
      running: stats.runningTasks,
    };
  }

  #tick(): void {
    try {
      const host = this.#host;
      const previous = this.#reading!;
      const reading = this.#read();
      this.#reading = reading;
      const fleet = this.#slots.pass(
        host.registry.records(),
        reading.at,
        host.options.heartbeatTolerance * 1000,
      );
      const delay = this.#delay!;
      const loop =
        delay.count > 0 ? { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 } : { p99: 0, max: 0 };
      delay.reset();
      const summary = summarize(previous, reading, fleet, host.options.heartbeatTolerance, {
        queued: host.queuedTasks?.() ?? null,
        loop,
        at: Date.now(),
      });
      this.#summary = summary;
      const point = historyPoint(summary);
      this.#history.push(point);
      if (this.#history.length > this.#limits.historyPoints) this.#history.shift();
      const slots = this.#slots.takeChanges();
      const inflightChanged = this.#slots.takeInflightChanged();
      const { events, skipped } = this.#events.since(this.#eventsSent, this.#limits.eventsPerUpdate);
      this.#eventsSent = this.#events.lastSeq;
      if (this.#streams.size === 0) return;
      const update: UpdateFrame = {
        capacity: this.#slots.capacity,
        slots,
        ages: this.#slots.agesBase64(),
        ...(inflightChanged ? { inflight: this.#slots.inflightBase64() } : {}),
        summary,
        point,
        events,
        eventsSkipped: skipped,
      };
      const frame = sseEvent('update', JSON.stringify(update));
      for (const stream of this.#streams) stream.send(frame);
    } catch (err) {
      this.#host.warn('dashboard update failed', err);
    }
  }
}

function text(res: HttpResponse, status: string, body: string): void {
  res.writeStatus(status);
  for (const name in kText) res.writeHeader(name, kText[name as keyof typeof kText]);
  res.end(body);
}
