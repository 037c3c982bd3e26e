import { TaskEndCode, TaskEndedError } from '../../errors.ts';
import type { Logger } from '../../options.ts';
import { kDispatch, kReject, kSubmitted, Task, type TaskHost } from '../task.ts';
import type { FleetCounters } from './counters.ts';
import { MemoryQueue } from './memory-queue.ts';
import type { PlacementPolicy } from './placement.ts';
import type { QueueEntry, QueueFactory, TaskQueue } from './queue.ts';
import { type Lane, type Slot, SlotIndex } from './slots.ts';
import {
  encodeData,
  type ResolvedSubmitOptions,
  resolveSubmitOptions,
  type SubmitOptions,
} from './submit-options.ts';

/** What the scheduler needs of a connection. */
export interface FleetSlave {
  readonly name: string;
  /** Tasks on the slave now (started and not reported, cancelled ones included). */
  readonly runningTasks: number;
  readonly taskHost: TaskHost;
}

export interface SchedulerHost {
  readonly logger: Logger;
  readonly counters: FleetCounters;
  /** Tags some connection was given: a task may only ask for these. */
  readonly knownTags: ReadonlySet<string>;
  /** A task settled (counted once by the master). */
  taskEnded(task: Task): void;
  /** A task goes back to the queue for another attempt, after `error`. */
  taskRetried?(task: Task, error: Error): void;
}

export interface SchedulerOptions {
  queueLimit: number;
  placement: PlacementPolicy;
  /** The queue (default: in memory). */
  queue?: QueueFactory<Job<FleetSlave>>;
}

/** A submitted task, as the queue holds it. */
export interface Job<C> extends QueueEntry {
  readonly task: Task;
  readonly priority: number;
  readonly lane: string;
  readonly tags: readonly string[];
  /** Submit order: breaks ties between lanes (within a lane, the queue keeps the order). */
  readonly seq: number;
  readonly retries: number;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** The slave of the last attempt (a re-dispatch prefers another). */
  slave: C | undefined;
}

/** Counts the scheduler's state for `stats()` and the metrics. */
export interface SchedulerLoad {
  queued: number;
  /** Submitted tasks on slaves now. */
  dispatched: number;
  slaves: number;
  slots: number;
  freeSlots: number;
}

/**
 * Submit to the fleet: tasks wait in a queue (by tag set, priority, then first in first out) and go to a free
 * slot chosen by the placement policy through the free-slot index. A slot is taken when a task's attempt starts
 * and free again when its slave reports on it or is gone; so a slave never holds more attempts than it has slots
 * (a DI-engine slave: one), and a cancelled task keeps its slot until its slave reports. When a slot frees, the
 * best waiting task its slave can serve goes there at once; when a task arrives, it goes to the best free slave
 * of its lane at once. So no task waits while a slave that fits it has a free slot, and nothing scans the fleet.
 */
export class FleetScheduler<C extends FleetSlave = FleetSlave> {
  readonly #host: SchedulerHost;
  readonly #slots: SlotIndex<C>;
  readonly #queue: TaskQueue<Job<C>>;
  readonly #limit: number;
  readonly #bySlave = new Map<C, Slot<C>>();
  readonly #jobs = new Map<Task, Job<C>>();
  /** Slaves whose free slots must be filled; drained by the one `#fill` loop running (re-entrant calls add). */
  readonly #dirty = new Set<Slot<C>>();
  #filling = false;
  #roomWaiters: (() => void)[] = [];
  #seq = 0;
  #closed: TaskEndedError | undefined;

  /** What submitted tasks call back into (one object for all of them). */
  readonly #taskHost = {
    logger: undefined as unknown as Logger,
    retry: (task: Task, error: Error) => this.#retry(task, error),
    dequeue: (task: Task) => this.#dequeue(task),
    ended: (task: Task) => this.#ended(task),
  };

  constructor(host: SchedulerHost, options: SchedulerOptions) {
    this.#host = host;
    this.#taskHost.logger = host.logger;
    this.#limit = options.queueLimit;
    this.#slots = new SlotIndex<C>(options.placement);
    const context = {
      limit: options.queueLimit,
      // a pulling queue asks about lanes no local task built yet (tagged tasks it found on the stream)
      freeSlots: (lane: string) => this.#slots.lane(lane === '' ? [] : lane.split('\n')).freeSlots,
      wake: (lane: string) => this.#wake(lane),
    };
    this.#queue = (options.queue as QueueFactory<Job<C>> | undefined)?.(context) ?? new MemoryQueue(context);
  }

  load(): SchedulerLoad {
    return {
      queued: this.#queue.size,
      dispatched: this.#jobs.size - this.#queue.size,
      slaves: this.#slots.size,
      slots: this.#slots.capacity,
      freeSlots: this.#slots.freeSlots,
    };
  }

  get queueFull(): boolean {
    return this.#queue.size >= this.#limit;
  }

  get isClosed(): boolean {
    return this.#closed !== undefined;
  }

  /**
   * A task for the fleet, returned at once: sent to a free slot now, or queued. Bad options or data throw
   * (nothing is queued); a full queue or a closed master give a task that already FAILED.
   */
  submit(data: unknown, options?: SubmitOptions): Task {
    const o: ResolvedSubmitOptions = resolveSubmitOptions(options, this.#host.knownTags);
    const json = encodeData(data);
    const task = new Task(undefined, data, { deadline: o.deadline });
    this.#host.counters.tasksCreated++;
    task[kSubmitted](this.#taskHost, json);
    if (this.#closed) {
      task[kReject](this.#closed);
      return task;
    }
    const lane = this.#slots.lane(o.tags);
    const job: Job<C> = {
      task,
      priority: o.priority,
      lane: lane.key,
      tags: o.tags,
      seq: ++this.#seq,
      retries: o.retries,
      signal: o.signal,
      onAbort: undefined,
      slave: undefined,
    };
    this.#jobs.set(task, job);
    if (o.signal !== undefined) {
      if (o.signal.aborted) {
        task.cancel(o.signal.reason);
        return task;
      }
      const signal = o.signal;
      job.onAbort = () => task.cancel(signal.reason);
      signal.addEventListener('abort', job.onAbort, { once: true });
    }
    const slot = lane.waiting === 0 ? this.#slots.pick(lane) : undefined;
    if (slot !== undefined) this.#dispatch(job, slot);
    else if (this.#queue.push(job)) lane.waiting++;
    else {
      task[kReject](
        new TaskEndedError(
          TaskEndCode.QUEUE_FULL,
          `queue full: ${this.#limit} tasks wait already (queueLimit)`,
        ),
      );
    }
    return task;
  }

  /** Resolves once the queue has room for one more task (at once if it has). */
  whenRoom(): Promise<void> {
    if (!this.queueFull || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  // ---- slaves ----

  /** A slave connected: its slots are filled from the queue at once. */
  addSlave(connection: C, capacity: number, tags: readonly string[]): void {
    if (this.#bySlave.has(connection)) return;
    const slot = this.#slots.add(connection, connection.name, capacity, tags, performance.now());
    this.#bySlave.set(connection, slot);
    this.#slots.setInFlight(slot, connection.runningTasks, slot.idleSince);
    this.#fill(slot);
  }

  /** The slave left (before its tasks are ended, so none is sent back to it). */
  removeSlave(connection: C): void {
    const slot = this.#bySlave.get(connection);
    if (slot === undefined) return;
    this.#bySlave.delete(connection);
    this.#slots.remove(slot);
  }

  /** The slave's tasks in flight changed; `freed`: one ended, so a slot may be free for a waiting task. */
  changed(connection: C, freed: boolean): void {
    const slot = this.#bySlave.get(connection);
    if (slot === undefined) return;
    this.#slots.setInFlight(slot, connection.runningTasks, performance.now());
    if (freed && slot.inFlight < slot.capacity) this.#fill(slot);
  }

  /** No more tasks: every waiting one fails with `reason`, and later submits too. Running tasks are left alone. */
  close(reason: TaskEndedError): void {
    if (this.#closed) return;
    this.#closed = reason;
    for (const lane of [...this.#slots.lanes()]) {
      for (let job = this.#queue.shift(lane.key); job !== undefined; job = this.#queue.shift(lane.key)) {
        lane.waiting--;
        job.task[kReject](reason);
      }
    }
    this.#room();
  }

  // ---- private ----

  #dispatch(job: Job<C>, slot: Slot<C>): void {
    job.slave = slot.connection;
    // the attempt takes its slot synchronously (the connection tracks it), so the index is right at once
    void job.task[kDispatch](slot.connection.taskHost);
  }

  /** Fills the free slots of `slot`'s slave (and of every slave marked meanwhile) with the best waiting tasks. */
  #fill(slot: Slot<C>): void {
    this.#dirty.add(slot);
    if (this.#filling) return;
    this.#filling = true;
    let took = false;
    try {
      for (const s of this.#dirty) {
        this.#dirty.delete(s);
        while (s.inFlight < s.capacity && this.#bySlave.get(s.connection) === s) {
          const lane = this.#bestLane(s);
          if (lane === undefined) break;
          const job = this.#queue.shift(lane.key)!;
          lane.waiting--;
          took = true;
          this.#dispatch(job, s);
        }
      }
    } finally {
      this.#filling = false;
    }
    if (took) this.#room();
  }

  /** The lane whose first waiting task `slot`'s slave should take: highest priority, then oldest. */
  #bestLane(slot: Slot<C>): Lane<C> | undefined {
    let best: Lane<C> | undefined;
    let bestJob: Job<C> | undefined;
    for (const lane of this.#slots.lanesOf(slot)) {
      if (lane.waiting === 0) continue;
      const job = this.#queue.peek(lane.key);
      if (job === undefined) continue;
      if (
        bestJob === undefined ||
        job.priority > bestJob.priority ||
        (job.priority === bestJob.priority && job.seq < bestJob.seq)
      ) {
        best = lane;
        bestJob = job;
      }
    }
    return best;
  }

  /** Entries arrived in a lane: its best free slave takes what it can. */
  #wake(key: string, avoid?: C): void {
    const lane = this.#slots.laneOf(key);
    if (lane === undefined) return;
    const slot = this.#slots.pick(lane, avoid);
    if (slot !== undefined) this.#fill(slot);
  }

  #retry(task: Task, error: Error): boolean {
    const job = this.#jobs.get(task);
    if (job === undefined || this.#closed || task.attempts > job.retries) return false;
    this.#host.counters.taskRetries++;
    this.#host.logger.info(
      { taskId: task.id, attempt: task.attempts, slave: task.slave, reason: error.message },
      'task goes back to the queue for another attempt',
    );
    this.#host.taskRetried?.(task, error);
    const lane = this.#slots.lane(job.tags);
    this.#queue.unshift(job);
    lane.waiting++;
    this.#wake(lane.key, job.slave);
    return true;
  }

  #dequeue(task: Task): void {
    const job = this.#jobs.get(task);
    if (job === undefined || !this.#queue.remove(job)) return;
    const lane = this.#slots.laneOf(job.lane);
    if (lane) lane.waiting--;
    this.#room();
  }

  #ended(task: Task): void {
    const job = this.#jobs.get(task);
    if (job !== undefined) {
      this.#jobs.delete(task);
      if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort);
      if (job.slave !== undefined) this.#queue.ack(job);
    }
    this.#host.taskEnded(task);
  }

  #room(): void {
    if (this.#roomWaiters.length === 0 || (this.queueFull && !this.#closed)) return;
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
