import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { JetStreamQueueStats } from '../nats/jetstream-queue.ts';
import type { MasterListing } from '../nats/masters.ts';
import { MasterErrorCode } from '../protocol/codes.ts';
import type { FleetCounters } from './fleet/counters.ts';
import type { SchedulerLoad } from './fleet/scheduler.ts';
import type { StageLoad } from './results/stage.ts';

/** What the collectors read at scrape time: the master's own counters and state, never a copy kept up to date. */
export interface MetricsSource {
  /** Labels of `fleetmaster_info` (always 1). */
  readonly info: { engine: string; node: string };
  readonly counters: FleetCounters;
  slaveCounts(): { connected: number; pending: number };
  runningTasks(): number;
  fleetLoad(): SchedulerLoad;
  stageLoad(): StageLoad | undefined;
  /** With `queue` (NATS JetStream): this master's books of the shared queue, and the masters it knows. */
  natsQueue?: () => { stats: JetStreamQueueStats; masters: readonly MasterListing[] } | undefined;
}

/** `fleetmaster_nats_messages_total{event}`: each event and the books' field it counts. */
const kNatsEvents = [
  ['pulled', 'pulled'],
  ['redelivered', 'redelivered'],
  ['duplicate_suppressed', 'duplicatesSuppressed'],
  ['result_published', 'resultsPublished'],
  ['result_duplicate', 'resultsDuplicate'],
  ['terminated', 'terminated'],
  ['given_back', 'givenBack'],
  ['dead_lettered', 'deadLettered'],
] as const satisfies readonly (readonly [string, keyof JetStreamQueueStats])[];

/** The codes the master's front end answers with (the reference's unused ones left out). */
const kErrorCodes = Object.values(MasterErrorCode).filter(
  (c) =>
    c !== MasterErrorCode.SUCCESS &&
    c !== MasterErrorCode.MASTER_TOKEN_NOT_GIVEN &&
    c !== MasterErrorCode.MASTER_TOKEN_INVALID,
);

const kLatencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const kHandlerBuckets = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30];

/**
 * The master's Prometheus metrics (prom-client), in a registry of its own. Counters and gauges are collected
 * from the master's plain counters when scraped, so the heartbeat path pays nothing for them; only the two
 * histograms are observed as things happen (once per ended task, once per handled result).
 */
export class MasterMetrics {
  /** This master's series, and the process's (shared by every master of the process). */
  readonly registry: Registry;
  readonly #taskDuration: Histogram<'outcome'>;
  readonly #handlerDuration: Histogram;

  constructor(source: MetricsSource) {
    const own = new Registry();
    const registers = [own];
    new Gauge({
      name: 'fleetmaster_info',
      help: 'This master: its HTTP engine (uws, node) and Node version. Always 1.',
      labelNames: ['engine', 'node'],
      registers,
    }).set(source.info, 1);
    new Gauge({
      name: 'fleetmaster_slaves',
      help: 'Slaves in the registry, by state (pending: POST /connect in flight).',
      labelNames: ['state'],
      registers,
      collect() {
        const { connected, pending } = source.slaveCounts();
        this.set({ state: 'connected' }, connected);
        this.set({ state: 'pending' }, pending);
      },
    });
    counter('fleetmaster_heartbeats_total', 'Heartbeats accepted.', [], registers, (c) =>
      c.inc(source.counters.heartbeats),
    );
    counter(
      'fleetmaster_evictions_total',
      'Slaves removed from the registry, by reason (heartbeat_timeout: silent past the tolerance).',
      ['reason'],
      registers,
      (c) => {
        for (const [reason, n] of Object.entries(source.counters.removals)) c.inc({ reason }, n);
      },
    );
    new Gauge({
      name: 'fleetmaster_tasks_running',
      help: 'Tasks started and not ended.',
      registers,
      collect() {
        this.set(source.runningTasks());
      },
    });
    new Gauge({
      name: 'fleetmaster_tasks',
      help: 'Submitted tasks now, by state (queued: waiting for a slot; dispatched: on a slave).',
      labelNames: ['state'],
      registers,
      collect() {
        const load = source.fleetLoad();
        this.set({ state: 'queued' }, load.queued);
        this.set({ state: 'dispatched' }, load.dispatched);
      },
    });
    new Gauge({
      name: 'fleetmaster_queue_depth',
      help: 'Submitted tasks waiting for a free slot (bounded by queueLimit).',
      registers,
      collect() {
        this.set(source.fleetLoad().queued);
      },
    });
    new Gauge({
      name: 'fleetmaster_slots',
      help: 'Task slots of the connected slaves, by state (free, busy).',
      labelNames: ['state'],
      registers,
      collect() {
        const load = source.fleetLoad();
        this.set({ state: 'free' }, load.freeSlots);
        this.set({ state: 'busy' }, load.slots - load.freeSlots);
      },
    });
    counter('fleetmaster_tasks_created_total', 'Tasks made (newTask, submit).', [], registers, (c) =>
      c.inc(source.counters.tasksCreated),
    );
    counter(
      'fleetmaster_task_retries_total',
      'Attempts put back in the queue for another try (slave lost, task refused, slave unreachable).',
      [],
      registers,
      (c) => c.inc(source.counters.taskRetries),
    );
    counter(
      'fleetmaster_tasks_total',
      'Tasks ended, by status (completed, failed, start_failed, cancelled) and reason.',
      ['status', 'reason'],
      registers,
      (c) => {
        for (const [end, n] of source.counters.tasksEnded) c.inc(taskLabels(end), n);
      },
    );
    counter(
      'fleetmaster_results_total',
      'Result requests by verdict (delivered; ignored: unknown or ended task; invalid body; failed: handler; aborted: upload cut).',
      ['verdict'],
      registers,
      (c) => {
        const r = source.counters;
        c.inc({ verdict: 'delivered' }, r.resultsDelivered);
        c.inc({ verdict: 'ignored' }, r.resultsIgnored);
        c.inc({ verdict: 'invalid' }, r.resultsInvalid);
        c.inc({ verdict: 'failed' }, r.resultsFailed);
        c.inc({ verdict: 'aborted' }, source.counters.resultsAborted);
      },
    );
    counter(
      'fleetmaster_request_errors_total',
      "Error answers of the master's front end, by protocol code.",
      ['code'],
      registers,
      (c) => {
        // every code is listed from the start, so a dashboard's rate() sees the first error
        for (const code of kErrorCodes) c.inc({ code: String(code) }, source.counters.errors.get(code) ?? 0);
      },
    );
    this.#taskDuration = new Histogram({
      name: 'fleetmaster_task_duration_seconds',
      help: 'From the first start of a task to its end, by outcome (completed, failed, cancelled).',
      labelNames: ['outcome'],
      buckets: kLatencyBuckets,
      registers,
    });
    this.#handlerDuration = new Histogram({
      name: 'fleetmaster_result_handler_duration_seconds',
      help: 'Time per result where it ran (pool thread, or main thread inline): decoding plus the handler.',
      buckets: kHandlerBuckets,
      registers,
    });
    const pool = (name: string, help: string, read: (load: StageLoad) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const load = source.stageLoad();
          if (load) this.set(read(load));
        },
      });
    pool('fleetmaster_result_pool_queue_depth', 'Results waiting for a pool thread.', (l) => l.queued);
    pool('fleetmaster_result_pool_held', 'Results held by the stage (queued or on a thread).', (l) => l.held);
    pool('fleetmaster_result_pool_threads', 'Threads of the result pool.', (l) => l.threads);
    pool('fleetmaster_result_pool_busy_threads', 'Pool threads running a batch now.', (l) => l.busyThreads);
    let last = { at: performance.now(), busyMs: 0 };
    pool(
      'fleetmaster_result_pool_utilization',
      'Share of pool thread time spent on results since the previous scrape (0 to 1).',
      (l) => {
        const now = performance.now();
        const previous = last;
        last = { at: now, busyMs: l.busyMs };
        const span = (now - previous.at) * l.threads;
        return span > 0 ? Math.min(1, (l.busyMs - previous.busyMs) / span) : 0;
      },
    );
    counter(
      'fleetmaster_result_pool_busy_seconds_total',
      'Pool thread time spent on results (rate / threads = utilisation).',
      [],
      registers,
      (c) => c.inc((source.stageLoad()?.busyMs ?? 0) / 1000),
    );
    const nats = source.natsQueue;
    if (nats !== undefined) {
      counter(
        'fleetmaster_nats_messages_total',
        "This master's side of the shared JetStream queue, by event (pulled: every delivery; redelivered: a " +
          'delivery after the first; duplicate_suppressed: a redelivery already done, not run again; ' +
          'result_published, result_duplicate; terminated: not a task; given_back: on closing; dead_lettered: ' +
          'failed with MAX_DELIVERIES).',
        ['event'],
        registers,
        (c) => {
          const stats = nats()?.stats;
          if (stats) for (const [event, field] of kNatsEvents) c.inc({ event }, stats[field]);
        },
      );
      new Gauge({
        name: 'fleetmaster_nats_tasks_held',
        help: 'Tasks pulled from JetStream and not yet acknowledged (waiting here or running).',
        registers,
        collect() {
          const stats = nats()?.stats;
          if (stats) this.set(stats.held);
        },
      });
      new Gauge({
        name: 'fleetmaster_nats_masters',
        help: "Masters in the fleet's bucket, this one included, by whether their record is fresh (live).",
        labelNames: ['live'],
        registers,
        collect() {
          const masters = nats()?.masters ?? [];
          const live = masters.filter((m) => m.live).length;
          this.set({ live: 'true' }, live);
          this.set({ live: 'false' }, masters.length - live);
        },
      });
    }
    this.registry = Registry.merge([processRegistry(), own]);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  taskEnded(outcome: 'completed' | 'failed' | 'cancelled', seconds: number): void {
    this.#taskDuration.observe({ outcome }, seconds);
  }

  handled(ms: number): void {
    this.#handlerDuration.observe(ms / 1000);
  }

  /** The exposition text. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

let processMetrics: Registry | undefined;

/**
 * prom-client's process metrics (CPU, memory, event-loop lag, GC), collected once per process: their collectors
 * (a GC observer, an event-loop histogram) live as long as the process, so each master must not start its own.
 */
function processRegistry(): Registry {
  if (processMetrics === undefined) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

/** A counter whose value is read from elsewhere when scraped. */
function counter<L extends string>(
  name: string,
  help: string,
  labelNames: L[],
  registers: Registry[],
  read: (c: Counter<L>) => void,
): Counter<L> {
  return new Counter<L>({
    name,
    help,
    labelNames,
    registers,
    collect() {
      this.reset();
      read(this);
    },
  });
}

function taskLabels(end: string): { status: string; reason: string } {
  if (end === 'completed') return { status: 'completed', reason: 'reported' };
  if (end === 'start_failed') return { status: 'start_failed', reason: 'start_failed' };
  if (end === 'reported_failure') return { status: 'failed', reason: 'reported' };
  if (end === 'cancelled') return { status: 'cancelled', reason: 'cancelled' };
  return { status: 'failed', reason: end };
}
