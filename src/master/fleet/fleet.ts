import { ConnectionExistsError, TaskEndCode, TaskEndedError } from '../../errors.ts';
import type { Logger } from '../../options.ts';
import { kMaxConcurrency } from '../../protocol/extensions.ts';
import { kDrop, type SlaveConnection } from '../connection.ts';
import { type Task, TaskStatus } from '../task.ts';
import { FleetCounters, type MasterStats, type RemovalReason, taskEndOf } from './counters.ts';
import { mapTasks } from './map.ts';
import type { PlacementPolicy } from './placement.ts';
import type { QueueFactory } from './queue.ts';
import { type SlaveRecord, SlaveRegistry } from './registry.ts';
import { FleetScheduler, type Job } from './scheduler.ts';
import { checkTags, type MapOptions, type SubmitOptions } from './submit-options.ts';
import { startSweep } from './sweep.ts';
import { TaskTable } from './task-table.ts';

export interface FleetOptions {
  readonly logger: Logger;
  readonly heartbeatTolerance: number;
  readonly queueLimit: number;
  readonly placement: PlacementPolicy;
  /** The scheduler's queue (default: in memory). */
  readonly queue?: QueueFactory<Job<SlaveConnection>> | undefined;
}

/**
 * The fleet's bookkeeping, in one place: the slave registry and its sweep, the running tasks by attempt id, the
 * scheduler (queue, slots, placement), the known tags and the counters. It takes slaves in and out (connect,
 * disconnect, eviction, shutdown) in one way, so a slave that leaves is out of the scheduler before its tasks
 * end, and counts every task once when it settles. `Master` keeps the lifecycle, the public API and the hooks.
 */
/** What the fleet tells an observer (the dashboard) as it happens. */
export interface FleetEvents {
  connected(connection: SlaveConnection): void;
  disconnected(record: SlaveRecord<SlaveConnection>): void;
  evicted(record: SlaveRecord<SlaveConnection>, silentFor: number): void;
  taskFailed(task: Task, end: string): void;
  retried(task: Task, reason: string): void;
}

export class Fleet {
  readonly registry = new SlaveRegistry<SlaveConnection>();
  /** Plain counters (heartbeats, error answers, removals, task ends, results); metrics and stats read them. */
  readonly counters = new FleetCounters();
  /** Running attempts by their id on the wire: where a decoded result finds its task. */
  readonly tasks: TaskTable;
  readonly scheduler: FleetScheduler<SlaveConnection>;
  /** Told what happens to the fleet as it happens (the dashboard's event log), when set. */
  events: FleetEvents | undefined;
  /** Called with each task that settled after it started (the master's duration histogram). */
  observeTask: ((outcome: 'completed' | 'failed' | 'cancelled', seconds: number) => void) | undefined;
  readonly #options: FleetOptions;
  readonly #logger: Logger;
  /** Every tag given to a connection: a submitted task may ask only for these. */
  readonly #knownTags = new Set<string>();
  #closed = false;

  constructor(options: FleetOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.tasks = new TaskTable(options.logger, this.counters);
    this.scheduler = new FleetScheduler<SlaveConnection>(
      {
        logger: options.logger,
        counters: this.counters,
        knownTags: this.#knownTags,
        taskEnded: (task) => this.taskEnded(task),
        taskRetried: (task, error) => this.events?.retried(task, error.message),
      },
      { queueLimit: options.queueLimit, placement: options.placement, queue: options.queue },
    );
  }

  /** Checks a new connection's `capacity` and `tags`; its tags become known. */
  connectionOptions(options: { capacity?: number; tags?: readonly string[] }): {
    capacity: number | undefined;
    tags: readonly string[];
  } {
    const { capacity } = options;
    if (
      capacity !== undefined &&
      (!Number.isInteger(capacity) || capacity < 1 || capacity > kMaxConcurrency)
    ) {
      throw new RangeError(
        `options.capacity must be an integer between 1 and ${kMaxConcurrency} (got ${String(capacity)})`,
      );
    }
    const tags = options.tags === undefined ? [] : checkTags('tags', options.tags);
    for (const tag of tags) this.#knownTags.add(tag);
    return { capacity, tags };
  }

  submit(data: unknown, options?: SubmitOptions): Task {
    return this.scheduler.submit(data, options);
  }

  map<D>(
    items: Iterable<D> | AsyncIterable<D>,
    options?: MapOptions,
  ): AsyncGenerator<Task<D>, void, undefined> {
    const scheduler = this.scheduler;
    return mapTasks(
      {
        submit: (data, o) => scheduler.submit(data, o),
        whenRoom: () => scheduler.whenRoom(),
        get queueFull() {
          return scheduler.queueFull;
        },
        get isClosed() {
          return scheduler.isClosed;
        },
      },
      items,
      options,
    );
  }

  /** The one fleet timer: slaves silent past the tolerance are evicted. Returns its stop function. */
  startSweep(spanMs: number, toleranceMs: number): () => void {
    return startSweep(this.registry, spanMs, toleranceMs, (record, now) => this.#evict(record, now));
  }

  // ---- slaves in and out ----

  /** Lists the token before `POST /connect`, so a heartbeat that beats the answer is not refused. */
  connecting(connection: SlaveConnection): void {
    const other = this.registry.byName(connection.name);
    if (other && other.connection !== connection && other.state === 'connected') {
      throw new ConnectionExistsError(connection.name);
    }
    if (other && other.connection !== connection) this.registry.remove(other);
    this.registry.add(connection.name, connection.token, connection, 'pending', performance.now());
  }

  connectFailed(connection: SlaveConnection, error: Error): void {
    const record = this.registry.byToken(connection.token);
    if (record?.state === 'pending') this.registry.remove(record);
    this.#logger.warn(
      { slave: connection.name, address: connection.origin, reason: error.message },
      'slave connect failed',
    );
  }

  connected(connection: SlaveConnection): void {
    this.registry.add(connection.name, connection.token, connection, 'connected', performance.now());
    const { capacity } = connection;
    this.#logger.info(
      { slave: connection.name, address: connection.origin, msgpack: connection.usesMsgpack, capacity },
      'slave connected',
    );
    this.events?.connected(connection);
    // last: its free slots take waiting tasks at once
    if (!this.#closed) this.scheduler.addSlave(connection, capacity, connection.tags);
  }

  disconnected(connection: SlaveConnection, reason: TaskEndedError): void {
    const record = this.registry.byToken(connection.token);
    if (record) this.drop(record, reason, 'disconnected');
    else this.#gone(connection, reason);
  }

  /** The slave leaves the registry for `why`; its tasks end with `reason` (or go back to the queue). */
  drop(record: SlaveRecord<SlaveConnection>, reason: TaskEndedError, why: RemovalReason): void {
    this.registry.remove(record);
    this.counters.removals[why]++;
    if (why === 'disconnected') {
      this.#logger.info(
        { slave: record.name, address: record.connection.origin, tasksEnded: record.connection.runningTasks },
        'slave disconnected',
      );
      this.events?.disconnected(record);
    }
    this.#gone(record.connection, reason);
  }

  /**
   * The master closes: no task is sent any more, every queued one fails with `reason` (the scheduler's part,
   * done first so no slot freed meanwhile takes one).
   */
  close(reason: TaskEndedError): void {
    this.#closed = true;
    this.scheduler.close(reason);
  }

  /** Every slave leaves and every task still running ends with `reason`; returns the connections to close. */
  dropAll(reason: TaskEndedError): Set<SlaveConnection> {
    const connections = new Set<SlaveConnection>();
    for (const record of [...this.registry.records()]) {
      connections.add(record.connection);
      this.drop(record, reason, 'shutdown');
    }
    // tasks started on connections that were no longer listed (e.g. reused after an eviction)
    this.tasks.endAll(reason);
    return connections;
  }

  // ---- tasks (the connections call these) ----

  taskCreated(): void {
    this.counters.tasksCreated++;
  }

  trackTask(task: Task, connection: SlaveConnection): void {
    this.tasks.track(task);
    this.scheduler.changed(connection, false);
  }

  untrackTask(task: Task, connection: SlaveConnection): void {
    this.tasks.untrack(task);
    this.scheduler.changed(connection, true);
  }

  /** A task settled, once, however: count it here. */
  taskEnded(task: Task): void {
    const { status, error } = task;
    const end = taskEndOf(task);
    this.counters.taskEnded(end);
    if (status !== TaskStatus.COMPLETED) {
      const fields = { taskId: task.id, end, reason: error?.message };
      if (end === 'reported_failure') this.#logger.debug(fields, 'task failed (reported by its slave)');
      else if (end === 'cancelled' || end === 'queue_full') this.#logger.debug(fields, `task ${end}`);
      else this.#logger.warn(fields, 'task failed');
      if (end !== 'cancelled') this.events?.taskFailed(task, end);
    }
    // a task that never started has no duration
    if (this.observeTask && status !== TaskStatus.START_FAILED && task.startedAt > 0) {
      const outcome =
        status === TaskStatus.COMPLETED
          ? 'completed'
          : status === TaskStatus.CANCELLED
            ? 'cancelled'
            : 'failed';
      this.observeTask(outcome, (performance.now() - task.startedAt) / 1000);
    }
  }

  // ---- numbers ----

  stats(): MasterStats {
    const ended = this.counters.tasksEnded;
    let tasksFailed = 0;
    for (const [end, n] of ended) if (end !== 'completed' && end !== 'cancelled') tasksFailed += n;
    const load = this.scheduler.load();
    return {
      slaves: this.registry.size,
      runningTasks: this.tasks.size,
      ...this.counters.results(),
      evictions: this.counters.removals.heartbeat_timeout,
      heartbeats: this.counters.heartbeats,
      resultsAborted: this.counters.resultsAborted,
      tasksCreated: this.counters.tasksCreated,
      tasksCompleted: ended.get('completed') ?? 0,
      tasksFailed,
      tasksCancelled: ended.get('cancelled') ?? 0,
      tasksQueued: load.queued,
      taskRetries: this.counters.taskRetries,
      slots: load.slots,
      freeSlots: load.freeSlots,
    };
  }

  slaveCounts(): { connected: number; pending: number } {
    let connected = 0;
    for (const record of this.registry.records()) if (record.state === 'connected') connected++;
    return { connected, pending: this.registry.size - connected };
  }

  // ---- private ----

  #evict(record: SlaveRecord<SlaveConnection>, now: number): void {
    this.counters.removals.heartbeat_timeout++;
    const tolerance = this.#options.heartbeatTolerance;
    const silentFor = ((now - record.lastHeartbeat) / 1000).toFixed(1);
    this.#logger.warn(
      {
        slave: record.name,
        address: record.connection.origin,
        reason: 'heartbeat_timeout',
        silentFor: Number(silentFor),
        tolerance,
        tasksLost: record.connection.runningTasks,
      },
      'slave evicted',
    );
    this.events?.evicted(record, Number(silentFor));
    this.#gone(
      record.connection,
      new TaskEndedError(
        TaskEndCode.SLAVE_LOST,
        `slave lost: ${record.name} sent no heartbeat for ${silentFor} s (tolerance ${tolerance} s)`,
      ),
    );
  }

  /** The slave left: out of the scheduler first (so none of its tasks is sent back to it), then its tasks end. */
  #gone(connection: SlaveConnection, reason: TaskEndedError): void {
    this.scheduler.removeSlave(connection);
    connection[kDrop](reason);
  }
}
