import { randomUUID } from 'node:crypto';
import type { ConsumerMessages } from '@nats-io/jetstream';
import { FleetClientClosedError, FleetSubmitError, FleetTaskFailedError } from '../errors.ts';
import { errorFields, type Logger, type LoggerLike, toLogger } from '../options.ts';
import { connectNats, type NatsLink } from './connect.ts';
import { type JetStreamOptions, type ResolvedJetStreamOptions, resolveJetStreamOptions } from './options.ts';
import {
  checkTaskOptions,
  encodeTask,
  type FleetNames,
  fleetNames,
  isToken,
  kSchemaVersion,
  laneToken,
  parseResultMessage,
  type ResultMessage,
} from './schema.ts';
import { ensureDeadStream, ensureStreams } from './setup.ts';

/** How long one pull for results stays open (the library's idle heartbeat is half of it). */
const kPullExpiresMs = 4000;

export interface FleetClientOptions extends JetStreamOptions {
  /**
   * This submitter's name: its results arrive on `<fleet>.results.<client>.<id>`. Give the same name again after
   * a restart to collect results of tasks submitted before (`client.handle(id)`). @defaultValue random
   */
  client?: string;
  logger?: LoggerLike;
}

export interface FleetSubmitOptions {
  /** The task's id, unique within this client (letters, digits, _ and -). @defaultValue random */
  id?: string;
  /** Higher runs first among the tasks a master holds. @defaultValue 0 */
  priority?: number;
  /** The task runs only on a slave carrying every one of these. @defaultValue none */
  tags?: readonly string[];
  /** Further attempts on the master when its slave is lost. @defaultValue 0 */
  retries?: number;
  /** Seconds the task may take on its slave. @defaultValue none */
  deadline?: number;
}

export interface FleetMapOptions extends Omit<FleetSubmitOptions, 'id'> {
  /** Most tasks submitted and not yet yielded at once. @defaultValue 1000 */
  inFlight?: number;
}

export type FleetTaskStatus = 'pending' | 'completed' | 'failed';

/** A task submitted through a `FleetClient`; settles once, with the first outcome published for its id. */
// biome-ignore lint/suspicious/noExplicitAny: the result is the user's type
export class FleetTaskHandle<R = any> {
  readonly id: string;
  #status: FleetTaskStatus = 'pending';
  #outcome: ResultMessage | undefined;
  #error: Error | undefined;
  readonly #settled: Promise<this>;
  #resolve!: (handle: this) => void;

  /** @internal */
  constructor(id: string) {
    this.id = id;
    this.#settled = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  get status(): FleetTaskStatus {
    return this.#status;
  }

  /** The result message as published (which master and slave ran it, attempts, deliveries). */
  get outcome(): ResultMessage | undefined {
    return this.#outcome;
  }

  /** Why it failed, once it has. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Settles when the task has an outcome (or failed to be submitted, or the client closed); never rejects. */
  settled(): Promise<this> {
    return this.#settled;
  }

  /** The slave's result; rejects with `FleetTaskFailedError`, `FleetSubmitError` or `FleetClientClosedError`. */
  async result(): Promise<R> {
    await this.#settled;
    if (this.#status === 'completed') return this.#outcome!.result as R;
    throw this.#error;
  }

  /** @internal First outcome wins; false for any later one. */
  settle(outcome: ResultMessage): boolean {
    if (this.#status !== 'pending') return false;
    this.#outcome = outcome;
    this.#status = outcome.status === 'completed' ? 'completed' : 'failed';
    if (outcome.status !== 'completed') this.#error = new FleetTaskFailedError(outcome);
    this.#resolve(this);
    return true;
  }

  /** @internal */
  fail(error: Error): boolean {
    if (this.#status !== 'pending') return false;
    this.#status = 'failed';
    this.#error = error;
    this.#resolve(this);
    return true;
  }
}

export interface FleetClientStats {
  submitted: number;
  /** Outcomes delivered to a handle (each task once). */
  settled: number;
  /** Outcomes seen again for a task already settled (dropped). */
  duplicates: number;
  /** Messages on this client's result subjects that were not version-1 results (ignored). */
  malformed: number;
  pending: number;
}

/**
 * Submits to a fleet shared through NATS JetStream from any process: no master needed here. Tasks go to the
 * fleet's work-queue stream, any master with a free slave slot runs them, and their outcomes come back on the
 * results stream, kept `resultTtl` seconds so a submitter that reconnects still collects them. Each handle
 * settles once, whatever redeliveries happened behind it.
 */
export class FleetClient {
  readonly client: string;
  readonly #link: NatsLink;
  readonly #names: FleetNames;
  readonly #options: ResolvedJetStreamOptions;
  readonly #logger: Logger;
  readonly #pending = new Map<string, FleetTaskHandle>();
  readonly #stats = { submitted: 0, settled: 0, duplicates: 0, malformed: 0 };
  /** Ids settled lately, to tell a duplicate from a result nobody waits for (bounded). */
  readonly #recent = new Set<string>();
  #messages: ConsumerMessages | undefined;
  /** The results stream's next sequence this client has not read. */
  #nextSeq = 1;
  #closed = false;

  private constructor(
    link: NatsLink,
    names: FleetNames,
    options: ResolvedJetStreamOptions,
    client: string,
    logger: Logger,
  ) {
    this.#link = link;
    this.#names = names;
    this.#options = options;
    this.client = client;
    this.#logger = logger;
  }

  /** Connects (a clear `QueueUnreachableError` naming the URL when NATS cannot be reached) and listens for results. */
  static async connect(options: FleetClientOptions): Promise<FleetClient> {
    const resolved = resolveJetStreamOptions(options, 'options.');
    const client = options.client ?? randomUUID();
    if (!isToken(client)) {
      throw new RangeError(
        `options.client must be 1 to 128 letters, digits, _ or - (got ${JSON.stringify(client)})`,
      );
    }
    const logger = toLogger(options.logger);
    const names = fleetNames(resolved.fleet);
    let self: FleetClient | undefined;
    const link = await connectNats({
      servers: resolved.servers,
      name: `fleetmaster-client-${client}`,
      timeoutMs: resolved.connectTimeout * 1000,
      logger,
      onState: (up) => {
        if (up && self) self.#relisten();
      },
    });
    try {
      await ensureStreams(link, names, resolved);
      // made here too so an advisory emitted before any master runs is kept; masters retry it, so a client that
      // cannot make it (an overlapping stream, no permission) carries on
      await ensureDeadStream(link, names, resolved).catch((err: unknown) =>
        logger.warn(errorFields(err), 'dead letters: the dead stream could not be made; masters retry it'),
      );
      self = new FleetClient(link, names, resolved, client, logger);
      self.#nextSeq = (await link.jsm.streams.info(names.resultsStream)).state.last_seq + 1;
      await self.#listen();
      return self;
    } catch (err) {
      await link.nc.close();
      throw err;
    }
  }

  /**
   * Publishes a task and returns its handle at once. Bad options or data throw (`TypeError`/`RangeError`
   * naming the option); a publish NATS refuses fails the handle with `FleetSubmitError`.
   */
  submit<R = unknown>(data: unknown, options: FleetSubmitOptions = {}): FleetTaskHandle<R> {
    if (this.#closed) throw new FleetSubmitError('the FleetClient is closed');
    const { id = randomUUID(), ...rest } = options;
    if (!isToken(id))
      throw new RangeError(`options.id must be 1 to 128 letters, digits, _ or - (got ${JSON.stringify(id)})`);
    if (this.#pending.has(id))
      throw new RangeError(`options.id ${JSON.stringify(id)} is already waiting for its result`);
    const checked = checkTaskOptions(rest);
    if (typeof checked === 'string') throw new RangeError(checked);
    if (data === undefined) throw new TypeError('data must be serialisable as JSON (got undefined)');
    let body: Uint8Array;
    try {
      body = encodeTask({ v: kSchemaVersion, id, client: this.client, data, ...checked });
    } catch (err) {
      throw new TypeError(`data must be serialisable as JSON (${(err as Error).message})`);
    }
    if (body.length > this.#options.maxTaskBytes) {
      throw new RangeError(
        `the task is ${body.length} bytes as JSON; the limit is ${this.#options.maxTaskBytes} (maxTaskBytes)`,
      );
    }
    const handle = this.#watch<R>(id);
    this.#stats.submitted++;
    this.#link.js
      .publish(this.#names.taskSubject(laneToken(checked.tags)), body, { msgID: `${this.client}.${id}` })
      .catch((err: unknown) => {
        this.#pending.delete(id);
        handle.fail(
          new FleetSubmitError(`task ${id} was not published: ${(err as Error).message}`, { cause: err }),
        );
      });
    return handle;
  }

  /**
   * The handle of a task submitted earlier under this client name (by this process or one before it): settles
   * with its result if the results stream still holds it, or when it arrives.
   */
  handle<R = unknown>(id: string): FleetTaskHandle<R> {
    if (!isToken(id))
      throw new RangeError(`id must be 1 to 128 letters, digits, _ or - (got ${JSON.stringify(id)})`);
    const waiting = this.#pending.get(id);
    if (waiting) return waiting as FleetTaskHandle<R>;
    const handle = this.#watch<R>(id);
    // listening first, then looking: a result published in between arrives through the consumer
    this.#link.jsm.streams
      .getMessage(this.#names.resultsStream, { last_by_subj: this.#names.resultSubject(this.client, id) })
      .then((stored) => {
        if (stored !== null) this.#deliver(stored.data);
      })
      .catch((err: unknown) =>
        this.#logger.warn({ taskId: id, ...errorFields(err) }, 'looking up a stored result failed'),
      );
    return handle;
  }

  /**
   * Submits lazily with at most `inFlight` tasks outstanding and yields each handle as it settles, in
   * completion order (failed ones too: read `handle.status` or await `handle.result()`).
   */
  async *map<T>(
    items: Iterable<T> | AsyncIterable<T>,
    options: FleetMapOptions = {},
  ): AsyncGenerator<FleetTaskHandle> {
    const { inFlight = 1000, ...submitOptions } = options;
    if (typeof inFlight !== 'number' || !Number.isInteger(inFlight) || inFlight < 1 || inFlight > 1_000_000) {
      throw new RangeError(
        `options.inFlight must be an integer between 1 and 1000000 (got ${String(inFlight)})`,
      );
    }
    const settled: FleetTaskHandle[] = [];
    let wake: (() => void) | undefined;
    let outstanding = 0;
    const iterator = (
      Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]()
    ) as Iterator<T> | AsyncIterator<T>;
    let exhausted = false;
    try {
      for (;;) {
        while (!exhausted && outstanding < inFlight) {
          const next = await iterator.next();
          if (next.done) {
            exhausted = true;
            break;
          }
          const handle = this.submit(next.value, submitOptions);
          outstanding++;
          void handle.settled().then((h) => {
            settled.push(h);
            wake?.();
          });
        }
        if (settled.length === 0) {
          if (exhausted && outstanding === 0) return;
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
        while (settled.length > 0) {
          outstanding--;
          yield settled.shift()!;
        }
      }
    } finally {
      if (!exhausted) await iterator.return?.();
    }
  }

  stats(): FleetClientStats {
    return { ...this.#stats, pending: this.#pending.size };
  }

  /** Stops listening and closes the connection; handles still waiting fail with `FleetClientClosedError`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#messages?.close().catch(() => undefined);
    for (const [id, handle] of this.#pending) handle.fail(new FleetClientClosedError(id));
    this.#pending.clear();
    await this.#link.nc.drain().catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #watch<R>(id: string): FleetTaskHandle<R> {
    const handle = new FleetTaskHandle<R>(id);
    this.#pending.set(id, handle);
    return handle;
  }

  /**
   * An ordered consumer on this client's result subjects, from the results published since it connected
   * (earlier ones are read by `handle(id)`). After the connection comes back it is made again from the next
   * sequence it has not seen, at once (the library's own recovery waits for missed heartbeats).
   */
  async #listen(): Promise<void> {
    const { DeliverPolicy } = this.#link.jetstream;
    const consumer = await this.#link.js.consumers.get(this.#names.resultsStream, {
      filter_subjects: this.#names.resultFilter(this.client),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.#nextSeq,
    });
    const messages = await consumer.consume({ expires: kPullExpiresMs });
    this.#messages = messages;
    void (async () => {
      for await (const msg of messages) {
        this.#nextSeq = msg.seq + 1;
        this.#deliver(msg.data);
      }
    })().catch((err: unknown) => {
      if (!this.#closed) this.#logger.warn(errorFields(err), 'reading results stopped; starting again');
    });
  }

  #relisten(): void {
    if (this.#closed) return;
    const old = this.#messages;
    this.#messages = undefined;
    old?.stop();
    const attempt = (wait: number) => {
      if (this.#closed || this.#messages !== undefined) return;
      this.#listen().catch((err: unknown) => {
        this.#logger.warn(errorFields(err), 'listening for results again failed; retrying');
        setTimeout(() => attempt(Math.min(wait * 2, 5000)), wait).unref();
      });
    };
    attempt(250);
  }

  #deliver(bytes: Uint8Array): void {
    const outcome = parseResultMessage(bytes);
    if (outcome === undefined || outcome.client !== this.client) {
      this.#stats.malformed++;
      return;
    }
    const handle = this.#pending.get(outcome.id);
    if (handle === undefined || !handle.settle(outcome)) {
      if (this.#recent.has(outcome.id)) this.#stats.duplicates++;
      return;
    }
    this.#pending.delete(outcome.id);
    this.#stats.settled++;
    this.#recent.add(outcome.id);
    if (this.#recent.size > 100_000) this.#recent.delete(this.#recent.values().next().value!);
  }
}
