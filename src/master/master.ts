import { hostname } from 'node:os';
import {
  AlreadyStartedError,
  ClosedError,
  ConnectionExistsError,
  ConnectionNotFoundError,
  NotStartedError,
  TaskEndCode,
  TaskEndedError,
} from '../errors.ts';
import { formatOrigin, isWildcard, localAddressTowards } from '../http/address.ts';
import type { EngineName, HttpApp, HttpEngine } from '../http/engine.ts';
import { type ReplyTracker, whenDrained } from '../http/reply.ts';
import { selectEngine } from '../http/select-engine.ts';
import { SelfClient } from '../http/self.ts';
import { MasterQueue, type QueueHost } from '../nats/master-queue.ts';
import { errorFields } from '../options.ts';
import { createChannelCheck } from '../protocol/channel.ts';
import { createTokenCheck, randomToken } from '../protocol/token.ts';
import { guardAdminApp, mountAdminFallback, mountAdminRoutes } from './admin.ts';
import { kAnswers } from './answers.ts';
import {
  type ConnectionHooks,
  type ConnectionHost,
  disconnectedReason,
  type HookArguments,
  kClose,
  SlaveConnection,
} from './connection.ts';
import { Dashboard } from './dashboard/dashboard.ts';
import type { FleetCounters } from './fleet/counters.ts';
import { Fleet } from './fleet/fleet.ts';
import { mountFleetRoutes } from './fleet/http-routes.ts';
import { FleetHttpTasks } from './fleet/http-tasks.ts';
import type { SlaveRegistry } from './fleet/registry.ts';
import type { Job } from './fleet/scheduler.ts';
import { laneKey } from './fleet/slots.ts';
import type { MapOptions, SubmitOptions } from './fleet/submit-options.ts';
import { type FrontEndHost, mountMasterRoutes } from './front-end.ts';
import { MasterMetrics } from './metrics.ts';
import {
  type MasterHooks,
  type MasterOptions,
  type ResolvedMasterOptions,
  resolveMasterOptions,
} from './options.ts';
import { ResultBudget } from './results/budget.ts';
import { InlineResultStage } from './results/inline-stage.ts';
import { PoolResultStage } from './results/pool-stage.ts';
import type { ResultJob, ResultStage, ResultVerdict } from './results/stage.ts';
import { type FleetStatus, type MasterStats, slaveStatuses } from './status.ts';
import { type Task, TaskStatus } from './task.ts';

export interface NewConnectionOptions {
  /** Talk to the slave over TLS. @defaultValue false */
  https?: boolean;
  /**
   * Tasks the scheduler runs on this slave at once. @defaultValue the `concurrency` a fleetmaster slave
   * announces, else 1 (a DI-engine slave runs one task and refuses a second)
   */
  capacity?: number;
  /** Tags of this slave: a submitted task with `tags` runs only on a slave carrying all of them. */
  tags?: readonly string[];
  /**
   * Send task bodies as MessagePack when the slave announces it (a fleetmaster slave does; a DI-engine slave
   * keeps getting JSON). Typed arrays and Buffers then cross without base64. @defaultValue false
   */
  msgpack?: boolean;
}

/**
 * The master end of the protocol. Owns the front end (on the HTTP engine, `engine`) and the fleet's bookkeeping
 * (`Fleet`: registry, heartbeat sweep, scheduler) on the main thread; results go through a result stage; requests
 * to slaves go out through undici, but `/task/new` to a fleetmaster slave goes through the lean `H1Client` (option
 * `taskClient`).
 *
 * Hooks (`kConnectionHooks`): override `beforeConnect`, `afterConnect`, … in a subclass, or pass them as
 * `options.hooks`.
 */
export class Master implements ConnectionHost, FrontEndHost {
  readonly options: ResolvedMasterOptions;
  /** The fleet's bookkeeping: registry, sweep, running tasks, scheduler, counters. */
  readonly #fleet: Fleet;
  readonly registry: SlaveRegistry<SlaveConnection>;
  #results: ResultStage | undefined;
  /** @internal */
  readonly replies: ReplyTracker = { open: 0 };
  /** @internal What result bodies may hold at once, from before their upload is read until they settle. */
  readonly budget: ResultBudget<SlaveConnection>;
  /** Plain counters (heartbeats, error answers, removals, task ends); metrics and stats read them. */
  readonly counters: FleetCounters;
  readonly #selfToken: string;
  readonly #checkSelf: (token: string) => boolean;
  readonly #metrics: MasterMetrics | undefined;
  readonly #engine: HttpEngine;
  #admin: { app: HttpApp; port: number } | undefined;
  #startedAt = 0;
  readonly #channelCheck: (header: string) => 'ok' | 'missing' | 'invalid';
  /** @internal Tasks submitted over HTTP (`/fleet/tasks`), kept readable for a while once settled. */
  readonly fleetTasks: FleetHttpTasks;
  readonly #addressCache = new Map<string, Promise<string>>();
  #app: HttpApp | undefined;
  #stopSweep: (() => void) | undefined;
  #shuttingDown = false;
  #closing: Promise<void> | undefined;
  #port = -1;
  readonly #self = new SelfClient();
  /** The admin listener's live page and its log of fleet events (with `adminPort` only). */
  readonly #dashboard: Dashboard | undefined;
  /** The fleet shared through NATS JetStream (option `queue`). */
  readonly #queue: MasterQueue<Job<SlaveConnection>> | undefined;

  constructor(options: MasterOptions = {}) {
    this.options = resolveMasterOptions(options);
    this.#engine = selectEngine(this.options.engine, this.options.logger);
    this.budget = new ResultBudget({
      maxCount: this.options.resultQueueLimit,
      maxBytes: this.options.resultQueueBytes,
      perSlaveBytes: this.options.maxBodySize,
    });
    this.#selfToken = this.options.selfToken ?? randomToken();
    this.#checkSelf = createTokenCheck(this.#selfToken);
    this.#channelCheck = createChannelCheck(this.options.channel);
    // with `queue`, the scheduler's queue pulls from JetStream (nothing of NATS is loaded before start())
    const queue =
      this.options.queue === undefined
        ? undefined
        : new MasterQueue<Job<SlaveConnection>>(this.#queueHost(), this.options.queue);
    this.#queue = queue;
    const fleet = new Fleet({ ...this.options, queue: queue?.factory });
    this.#fleet = fleet;
    this.registry = fleet.registry;
    this.counters = fleet.counters;
    this.fleetTasks = new FleetHttpTasks(this, {
      retention: this.options.fleetTaskRetention,
      kept: this.options.fleetTasksKept,
    });
    this.#dashboard = this.options.adminPort === undefined ? undefined : new Dashboard(this);
    fleet.events = this.#dashboard;
    if (this.options.metrics || this.options.adminPort !== undefined) {
      const metrics = new MasterMetrics({
        info: { engine: this.engine, node: process.version },
        counters: this.counters,
        slaveCounts: () => fleet.slaveCounts(),
        runningTasks: () => fleet.tasks.size,
        fleetLoad: () => fleet.scheduler.load(),
        stageLoad: () => this.#results?.load(),
        ...(queue === undefined
          ? {}
          : {
              natsQueue: () => {
                const stats = queue.stats();
                return stats && { stats, masters: queue.masters() };
              },
            }),
      });
      fleet.tasks.observeHandler = (ms) => metrics.handled(ms);
      fleet.observeTask = (outcome, seconds) => metrics.taskEnded(outcome, seconds);
      this.#metrics = metrics;
    }
  }

  /** @internal The result stage (the pool, or inline when `resultThreads` is 0); exists once started. */
  get results(): ResultStage {
    if (!this.#results) throw new NotStartedError('Master not started');
    return this.#results;
  }

  // ---- lifecycle ----

  /**
   * The private token of the management routes (`GET /ping`, `DELETE /shutdown`, `GET /status`, `GET /metrics`);
   * share it only with your own tools.
   */
  get selfToken(): string {
    return this.#selfToken;
  }

  /** The admin listener's bound port after `start()` when `adminPort` is set, else -1. */
  get adminPort(): number {
    return this.#admin?.port ?? -1;
  }

  /** The HTTP engine serving this master: `'uws'` (uWebSockets.js) or `'node'` (`node:http`). */
  get engine(): EngineName {
    return this.#engine.name;
  }

  /** The bound port after `start()` (useful with `port: 0`), else -1. */
  get port(): number {
    return this.#port;
  }

  get isShuttingDown(): boolean {
    return this.#shuttingDown;
  }

  get maxBodySize(): number {
    return this.options.maxBodySize;
  }

  get logger() {
    return this.options.logger;
  }

  get channel(): number {
    return this.options.channel;
  }

  get requestRetries(): number {
    return this.options.requestRetries;
  }

  get requestRetryWaiting(): number {
    return this.options.requestRetryWaiting;
  }

  get requestTimeout(): number {
    return this.options.requestTimeout;
  }

  get taskClient(): 'lean' | 'undici' {
    return this.options.taskClient;
  }

  /** @internal */
  get fleetSecret(): string | undefined {
    return this.options.fleetSecret;
  }

  /** @internal */
  get slaveTls() {
    return this.options.slaveTls;
  }

  /**
   * Loads the result handler (rejecting with `ResultHandlerLoadError` when it cannot), listens (refusing a port
   * another process holds) and starts the sweep.
   */
  async start(): Promise<this> {
    if (this.#app) throw new AlreadyStartedError('Master already started');
    if (this.#closing) throw new ClosedError('Master is closed; create a new one');
    const app = this.#engine.createApp({ tls: this.options.tls, malformed: kAnswers.malformed });
    mountMasterRoutes(app, this);
    // uWS matches a route of fixed segments before the front end's catch-all, whatever the order they were added
    mountFleetRoutes(app, this);
    this.#app = app;
    this.#results = this.#createStage();
    const { adminHost, adminPort } = this.options;
    let admin: HttpApp | undefined;
    try {
      // a handler module that cannot load fails start(), before any slave can be told to report here
      await this.#results.ready();
      this.#port = await app.listen(this.options.host, this.options.port, 'Master');
      if (adminPort !== undefined) {
        admin = this.#engine.createApp({ malformed: kAnswers.malformed });
        const routes = guardAdminApp(admin, this, this.options);
        mountAdminRoutes(routes, this, () => undefined);
        this.#dashboard?.mount(routes);
        mountAdminFallback(routes, this);
        this.#admin = { app: admin, port: await admin.listen(adminHost, adminPort, 'Master admin') };
      }
      // last: tasks come from JetStream only once the front end can take their slaves' results
      await this.#queue?.start();
    } catch (err) {
      this.#app = undefined;
      this.#admin = undefined;
      this.#port = -1;
      await Promise.all([app.close(), admin?.close()]);
      await this.#results.destroy();
      this.#results = undefined;
      throw err;
    }
    this.#startedAt = performance.now();
    this.#dashboard?.start();
    this.logger.info(
      {
        host: this.options.host,
        port: this.#port,
        channel: this.options.channel,
        adminPort: this.adminPort,
        engine: this.engine,
      },
      'master listening',
    );
    this.#stopSweep = this.#fleet.startSweep(
      this.options.heartbeatCheckSpan * 1000,
      this.options.heartbeatTolerance * 1000,
    );
    return this;
  }

  /**
   * Graceful and idempotent: stops accepting, finishes the results already received (and answers their slaves),
   * ends every running task with a "master shutting down" reason, and closes every connection and socket.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown(true);
    return this.#closing;
  }

  /** Fast path: like `close()` but without waiting for the result stage or open requests. */
  destroy(): Promise<void> {
    this.#closing ??= this.#shutdown(false);
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Pings its own front end with the self token: true while it serves. */
  async ping(): Promise<boolean> {
    if (!this.#app || this.#port < 0) return false;
    return this.#self.ping(this.options.host, this.#port, this.options.tls, this.#selfToken);
  }

  // ---- connections ----

  /** A connection to a slave (not yet connected: call `connect()`). */
  newConnection(
    name: string,
    host: string,
    port = 7236,
    options: NewConnectionOptions = {},
  ): SlaveConnection {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('name must be a non-empty string');
    if (typeof host !== 'string' || host.length === 0) throw new TypeError('host must be a non-empty string');
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`port must be an integer between 1 and 65535 (got ${String(port)})`);
    }
    if (this.registry.byName(name)?.state === 'connected') throw new ConnectionExistsError(name);
    const { capacity, tags } = this.#fleet.connectionOptions(options);
    return new SlaveConnection(
      this,
      name,
      host,
      port,
      { https: options.https ?? false, msgpack: options.msgpack ?? false, capacity, tags },
      randomToken(),
    );
  }

  // ---- the fleet: submit, map ----

  /**
   * A task for the fleet, returned at once and queued: the scheduler sends it to a slave with a free slot
   * (chosen by `placement`), again to another one when its slave is lost (`retries`). Bad options or data that
   * cannot be sent throw a `TypeError`/`RangeError` naming the option, and nothing is queued. On a full queue
   * (`queueLimit`) the task has already FAILED with `QUEUE_FULL`; after `close()`, with `MASTER_SHUTTING_DOWN`.
   */
  // biome-ignore lint/suspicious/noExplicitAny: task data and results are the user's types
  submit<D = any, R = any>(data: D, options?: SubmitOptions): Task<D, R> {
    return this.#fleet.submit(data, options) as Task<D, R>;
  }

  /**
   * Submits each item lazily, at most `options.inFlight` tasks outstanding and never into a full queue, and
   * yields each task as it settles, in completion order. Leaving the loop early cancels the tasks not yet
   * yielded. `options` are `submit`'s, for every task.
   */
  // biome-ignore lint/suspicious/noExplicitAny: task data and results are the user's types
  map<D = any>(
    items: Iterable<D> | AsyncIterable<D>,
    options?: MapOptions,
  ): AsyncGenerator<Task<D>, void, undefined> {
    return this.#fleet.map(items, options);
  }

  /** True while a slave of that name is connected and heartbeating. */
  has(name: string): boolean {
    return this.registry.byName(name)?.state === 'connected';
  }

  /** The connected slave of that name; throws if there is none. */
  get(name: string): SlaveConnection {
    const record = this.registry.byName(name);
    if (record?.state !== 'connected') throw new ConnectionNotFoundError(name);
    return record.connection;
  }

  /** Names of the connected slaves. */
  names(): string[] {
    const names: string[] = [];
    for (const r of this.registry.records()) if (r.state === 'connected') names.push(r.name);
    return names;
  }

  /**
   * Disconnects the slave and removes it. It leaves the registry even if the slave cannot be told (the promise
   * then rejects with the request's error), so a dead slave can always be deleted.
   */
  async delete(name: string): Promise<void> {
    const connection = this.get(name);
    try {
      await connection.disconnect();
    } finally {
      const record = this.registry.byName(name);
      if (record?.connection === connection)
        this.#fleet.drop(record, disconnectedReason(name), 'disconnected');
    }
  }

  stats(): MasterStats {
    return this.#fleet.stats();
  }

  /** The fleet now: every slave's address, last heartbeat age and tasks in flight (what `GET /status` shows). */
  status(): FleetStatus {
    const now = performance.now();
    const { host, channel } = this.options;
    return {
      master: {
        host,
        port: this.#port,
        channel,
        uptime: this.#startedAt === 0 ? 0 : Math.round(now - this.#startedAt) / 1000,
        shuttingDown: this.#shuttingDown,
        engine: this.engine,
        node: process.version,
      },
      stats: this.stats(),
      slaves: slaveStatuses(this.registry, now),
      ...(this.#queue === undefined
        ? {}
        : {
            queue: {
              id: this.#queue.id,
              fleet: this.#queue.options.fleet,
              stats: this.#queue.stats()!,
              masters: this.#queue.masters(),
            },
          }),
    };
  }

  /** @internal Tasks waiting for a slave (the dashboard's "queued"). */
  queuedTasks(): number {
    return this.#fleet.scheduler.load().queued;
  }

  /** The Prometheus exposition text, or undefined when metrics are off (`metrics`, `adminPort`). */
  metrics(): Promise<string> | undefined {
    return this.#metrics?.text();
  }

  /** @internal */
  get metricsContentType(): string {
    return this.#metrics?.contentType ?? 'text/plain';
  }

  /** @internal */
  submitResult(job: ResultJob): Promise<ResultVerdict> {
    // every body is decoded (on a thread) before it is answered, so a bad body is always 400/601, even for a
    // task that no longer runs
    return this.results.submit(job).then((verdict) => {
      if (verdict.kind === 'invalid') this.counters.resultsInvalid++;
      return verdict;
    });
  }

  // ---- hooks (kConnectionHooks): options.hooks, else the reference's defaults; a subclass may override them ----

  beforeConnect(...args: HookArgs<'beforeConnect'>): unknown {
    return this.options.hooks.beforeConnect?.(...args);
  }

  afterConnect(...args: HookArgs<'afterConnect'>): unknown {
    return this.options.hooks.afterConnect?.(...args);
  }

  errorConnect(...args: HookArgs<'errorConnect'>): unknown {
    return orRethrow(this.options.hooks.errorConnect, args);
  }

  beforeDisconnect(...args: HookArgs<'beforeDisconnect'>): unknown {
    return this.options.hooks.beforeDisconnect?.(...args);
  }

  afterDisconnect(...args: HookArgs<'afterDisconnect'>): unknown {
    return this.options.hooks.afterDisconnect?.(...args);
  }

  errorDisconnect(...args: HookArgs<'errorDisconnect'>): unknown {
    return orRethrow(this.options.hooks.errorDisconnect, args);
  }

  beforeNewTask(...args: HookArgs<'beforeNewTask'>): unknown {
    const hook = this.options.hooks.beforeNewTask;
    return hook ? hook(...args) : (args[0] ?? {});
  }

  afterNewTask(...args: HookArgs<'afterNewTask'>): unknown {
    return this.options.hooks.afterNewTask?.(...args);
  }

  errorNewTask(...args: HookArgs<'errorNewTask'>): unknown {
    return orRethrow(this.options.hooks.errorNewTask, args);
  }

  // ---- ConnectionHost (internal; called by connections) ----

  /** @internal */
  addressFor(connection: SlaveConnection): Promise<string> {
    const { myAddress, host, tls } = this.options;
    if (myAddress) return Promise.resolve(myAddress);
    const scheme = tls ? 'https' : 'http';
    if (!isWildcard(host)) return Promise.resolve(formatOrigin(scheme, host, this.#port));
    let address = this.#addressCache.get(connection.host);
    if (address === undefined) {
      address = localAddressTowards(connection.host, connection.port).then((local) =>
        formatOrigin(scheme, local, this.#port),
      );
      address.catch(() => this.#addressCache.delete(connection.host));
      this.#addressCache.set(connection.host, address);
    }
    return address;
  }

  /** @internal */
  connecting(connection: SlaveConnection): void {
    if (this.#shuttingDown) throw new ClosedError('Master is shutting down');
    this.#fleet.connecting(connection);
  }

  /** @internal */
  connectFailed(connection: SlaveConnection, error: Error): void {
    this.#fleet.connectFailed(connection, error);
  }

  /** @internal */
  connected(connection: SlaveConnection): void {
    this.#fleet.connected(connection);
  }

  /** @internal */
  disconnected(connection: SlaveConnection, reason: TaskEndedError): void {
    this.#fleet.disconnected(connection, reason);
  }

  /** @internal */
  taskCreated(): void {
    this.#fleet.taskCreated();
  }

  /** @internal */
  trackTask(task: Task, connection: SlaveConnection): void {
    this.#fleet.trackTask(task, connection);
  }

  /** @internal */
  untrackTask(task: Task, connection: SlaveConnection): void {
    this.#fleet.untrackTask(task, connection);
  }

  /** @internal */
  taskEnded(task: Task): void {
    this.#fleet.taskEnded(task);
  }

  // ---- FrontEndHost (internal; called by routes) ----

  /** @internal */
  checkChannel(header: string) {
    return this.#channelCheck(header);
  }

  /** @internal */
  checkSelfToken(header: string): boolean {
    return this.#checkSelf(header);
  }

  /** @internal */
  shutdownRequested(): void {
    setImmediate(() => void this.close());
  }

  /** @internal */
  resultAborted(connection: SlaveConnection, taskIdHint: string): void {
    this.counters.resultsAborted++;
    // a slow link (uWS cuts uploads slower than ~16 KB/s at its idle timeout) loses the result unless the slave
    // sends it again: a task without a deadline would then wait for ever, so say it
    this.logger.warn(
      { slave: connection.name, taskId: taskIdHint || undefined, tasksInFlight: connection.runningTasks },
      'a result upload was cut before its body was complete',
    );
  }

  /** @internal */
  warn(message: string, error: unknown): void {
    this.options.logger.warn(errorFields(error), message);
  }

  /** @internal */
  answeredError(code: number): void {
    this.counters.error(code);
  }

  // ---- private ----

  /** What the JetStream queue gets of this master: pulled tasks are submitted here like any other. */
  #queueHost(): QueueHost<Job<SlaveConnection>> {
    return {
      logger: this.options.logger,
      submit: (data, o) =>
        this.#fleet.submit(data, {
          priority: o.priority,
          tags: o.tags,
          retries: o.retries,
          deadline: o.deadline,
        }),
      taskOf: (job) => job.task,
      laneKey,
      record: () => {
        const { myAddress, host, tls } = this.options;
        const shown = isWildcard(host) ? hostname() : host;
        return {
          address: myAddress ?? formatOrigin(tls ? 'https' : 'http', shown, this.#port),
          slaves: this.registry.size,
          freeSlots: this.#fleet.scheduler.load().freeSlots,
        };
      },
      completed: TaskStatus.COMPLETED,
    };
  }

  #createStage(): ResultStage {
    const o = this.options;
    if (o.resultThreads === 0) return new InlineResultStage(this.#fleet.tasks, o.resultHandler);
    return new PoolResultStage(this.#fleet.tasks, {
      handler: o.resultHandler,
      threads: o.resultThreads,
      timeLimitMs: o.resultTimeLimit * 1000,
      maxBatch: o.resultBatch,
    });
  }

  async #shutdown(graceful: boolean): Promise<void> {
    this.#shuttingDown = true;
    this.logger.info(
      {
        graceful,
        slaves: this.registry.size,
        runningTasks: this.#fleet.tasks.size,
        queuedTasks: this.#fleet.scheduler.load().queued,
      },
      'master shutting down',
    );
    // no more tasks from JetStream; those held go back at the end (after the running ones settle)
    this.#queue?.pause();
    // first, so no slot freed while results finish takes a queued task: every queued task fails now
    this.#fleet.close(new TaskEndedError(TaskEndCode.MASTER_SHUTTING_DOWN, 'master shutting down'));
    this.fleetTasks.close();
    this.#stopSweep?.();
    this.#dashboard?.close();
    this.#app?.stopListening();
    const admin = this.#admin;
    this.#admin = undefined;
    await admin?.app.close();
    if (!graceful) await this.#results?.destroy();
    else {
      // results already read are finished by the stage, then their answers are written before sockets close
      await this.#results?.close();
      await whenDrained(this.replies, 5000);
      // uWS flushes corked writes made outside its callbacks on its next loop turn: let it, then close
      await new Promise((resolve) => setImmediate(resolve));
    }
    const reason = new TaskEndedError(TaskEndCode.MASTER_SHUTTING_DOWN, 'master shutting down');
    const connections = this.#fleet.dropAll(reason);
    for (const connection of connections) await connection[kClose]();
    // results of tasks that ended are published; the rest goes back to the stream for another master
    await this.#queue?.close();
    const app = this.#app;
    this.#app = undefined;
    await app?.close();
    this.logger.info({ stats: this.stats() }, 'master closed');
  }
}

type HookArgs<K extends keyof ConnectionHooks> = Parameters<ConnectionHooks[K]>;

/** An `error…` hook's default: the error goes on to the caller. */
function orRethrow(hook: ConnectionHooks['errorConnect'] | undefined, args: HookArguments['error']): unknown {
  if (hook) return hook(...args);
  throw args[0];
}

export type { MasterHooks };
