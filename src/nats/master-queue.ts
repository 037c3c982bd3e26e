// A master's side of a fleet shared through JetStream: its task queue pulls from the fleet's stream, its record
// sits in the masters' bucket. The master holds one of these when given `queue`; without it none is made.
import { hostname } from 'node:os';
import { NotStartedError } from '../errors.ts';
import type { QueueContext, QueueEntry } from '../master/fleet/queue.ts';
import type { Logger } from '../options.ts';
import { connectNats, type NatsLink } from './connect.ts';
import { JetStreamQueue, type JetStreamQueueStats, type OutcomeOf } from './jetstream-queue.ts';
import { MasterDirectory, type MasterListing } from './masters.ts';
import { printableUrl, type ResolvedJetStreamOptions } from './options.ts';
import { fleetNames, type ParsedTask, ResultErrorCode } from './schema.ts';
import { ensureStreams } from './setup.ts';

/** What the queue reads of a task the master ran (the master's `Task`). */
export interface RanTask {
  readonly isEnded: boolean;
  readonly status: number;
  readonly result: unknown;
  readonly error: Error | undefined;
  readonly slave: string | undefined;
  readonly attempts: number;
}

/** What the master gives its JetStream side. */
export interface QueueHost<E> {
  readonly logger: Logger;
  /** Submits a pulled task to this master (its `submit`). */
  submit(data: unknown, options: Pick<ParsedTask, 'priority' | 'tags' | 'retries' | 'deadline'>): RanTask;
  /** The task of a scheduler entry. */
  taskOf(entry: E): RanTask;
  /** The scheduler's lane key of a tag set. */
  laneKey(tags: readonly string[]): string;
  /** Where slaves report, and the fleet's slots now (for this master's record). */
  record(): { address: string; slaves: number; freeSlots: number };
  /** The status value of a completed task (`TaskStatus.COMPLETED`). */
  readonly completed: number;
}

/** The task ended because this master is closing: another master should run it. */
const kGiveBack = new Set(['MASTER_SHUTTING_DOWN']);

export function outcomeOf(task: RanTask, completed: number): OutcomeOf {
  if (!task.isEnded) return 'running';
  const code = (task.error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && kGiveBack.has(code)) return 'give-back';
  const base = { result: task.result ?? null, slave: task.slave ?? null, attempts: task.attempts };
  if (task.status === completed) return { status: 'completed', error: null, ...base };
  return {
    status: 'failed',
    error: {
      code: typeof code === 'string' ? code : task.error ? 'START_FAILED' : ResultErrorCode.REPORTED_FAILURE,
      message: task.error?.message ?? 'the slave reported a failure',
    },
    ...base,
  };
}

/** A master's id in the fleet: host, pid and a random part (a KV key). */
export function masterId(): string {
  const host = hostname()
    .replace(/[^A-Za-z0-9_-]/g, '-')
    .slice(0, 40);
  return `${host}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Made at construction (the scheduler needs its queue then); `start()` connects, makes the streams, starts
 * pulling and beating. An unreachable NATS fails `start()` with `QueueUnreachableError` naming the URL.
 */
export class MasterQueue<E extends QueueEntry> {
  readonly id = masterId();
  readonly options: ResolvedJetStreamOptions;
  readonly #host: QueueHost<E>;
  #queue: JetStreamQueue<E, RanTask> | undefined;
  #link: NatsLink | undefined;
  #directory: MasterDirectory | undefined;
  readonly #startedAt = Date.now();

  constructor(host: QueueHost<E>, options: ResolvedJetStreamOptions) {
    this.#host = host;
    this.options = options;
  }

  /** The scheduler's queue factory. */
  readonly factory = (context: QueueContext): JetStreamQueue<E, RanTask> => {
    const host = this.#host;
    const queue = new JetStreamQueue<E, RanTask>(
      context,
      {
        admit: (task) =>
          host.submit(task.data, {
            priority: task.priority,
            tags: task.tags,
            retries: task.retries,
            deadline: task.deadline,
          }),
        keyOf: (entry) => host.taskOf(entry),
        outcome: (task) => outcomeOf(task, host.completed),
        laneKey: (tags) => host.laneKey(tags),
      },
      {
        names: fleetNames(this.options.fleet),
        options: this.options,
        masterId: this.id,
        logger: host.logger,
      },
    );
    this.#queue = queue;
    return queue;
  };

  async start(): Promise<void> {
    const queue = this.#queue;
    if (queue === undefined) throw new NotStartedError('MasterQueue.start before its queue was made');
    const o = this.options;
    const names = fleetNames(o.fleet);
    const link = await connectNats({
      servers: o.servers,
      name: `fleetmaster-master-${this.id}`,
      timeoutMs: o.connectTimeout * 1000,
      logger: this.#host.logger,
      onState: (up) => {
        if (up) queue.kick();
      },
    });
    try {
      await ensureStreams(link, names, o);
      const directory = new MasterDirectory(link, names.mastersBucket, o.beat, this.#host.logger, () => ({
        id: this.id,
        ...this.#host.record(),
        held: queue.stats().held,
        startedAt: this.#startedAt,
      }));
      await directory.start();
      this.#directory = directory;
      queue.start(link);
      this.#link = link;
    } catch (err) {
      await link.nc.close();
      throw err;
    }
    this.#host.logger.info(
      { id: this.id, servers: o.servers.map(printableUrl), fleet: o.fleet, ackWait: o.ackWait },
      'pulling tasks from NATS JetStream',
    );
  }

  /** Stops pulling (the master is closing); `close()` gives back what is still held. */
  pause(): void {
    this.#queue?.pause();
  }

  /** Slots changed: pull at once. */
  kick(): void {
    this.#queue?.kick();
  }

  stats(): JetStreamQueueStats | undefined {
    return this.#queue?.stats();
  }

  masters(): MasterListing[] {
    return this.#directory?.list() ?? [];
  }

  /** Gives back what it holds, removes its record, and closes the connection. */
  async close(): Promise<void> {
    await this.#queue?.close();
    await this.#directory?.close();
    await this.#link?.nc.drain().catch(() => undefined);
  }
}
