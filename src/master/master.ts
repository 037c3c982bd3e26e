import type { PeerAnswer } from '../client/peer-client.ts';
import { formatOrigin, isWildcard, localAddressTowards } from '../http/address.ts';
import type { EngineName, HttpApp, HttpEngine } from '../http/engine.ts';
import { type ReplyTracker, whenDrained } from '../http/reply.ts';
import { selectEngine } from '../http/select-engine.ts';
import { SelfClient } from '../http/self.ts';
import { errorFields } from '../options.ts';
import { createChannelCheck } from '../protocol/channel.ts';
import { createTokenCheck, randomToken } from '../protocol/token.ts';
import { mountAdminFallback, mountAdminRoutes } from './admin.ts';
import { kAnswers } from './answers.ts';
import { type ConnectionHost, kClose, kDrop, SlaveConnection } from './connection.ts';
import { FleetCounters, type RemovalReason, taskEndOf } from './fleet/counters.ts';
import { type SlaveRecord, SlaveRegistry } from './fleet/registry.ts';
import { startSweep } from './fleet/sweep.ts';
import { TaskTable } from './fleet/task-table.ts';
import { type FrontEndHost, mountMasterRoutes } from './front-end.ts';
import { MasterMetrics } from './metrics.ts';
import {
  type MasterHooks,
  type MasterOptions,
  type ResolvedMasterOptions,
  resolveMasterOptions,
} from './options.ts';
import { InlineResultStage } from './results/inline-stage.ts';
import { PoolResultStage } from './results/pool-stage.ts';
import type { ResultJob, ResultStage, ResultVerdict } from './results/stage.ts';
import { type FleetStatus, type MasterStats, slaveStatuses } from './status.ts';
import { type Task, TaskEndCode, TaskEndedError, TaskStatus } from './task.ts';

export interface NewConnectionOptions {
  /** Talk to the slave over TLS. @defaultValue false */
  https?: boolean;
  /**
   * Send task bodies as MessagePack when the slave announces it (a fleetmaster slave does; a DI-engine slave
   * keeps getting JSON). Typed arrays and Buffers then cross without base64. @defaultValue false
   */
  msgpack?: boolean;
}

/**
 * The master end of the protocol. Owns the front end (uWebSockets.js), the slave registry and the heartbeat
 * sweep on the main thread; results go through a result stage; requests to slaves go out through undici, but
 * `/task/new` to a fleetmaster slave goes through the lean `H1Client` (option `taskClient`).
 *
 * Hooks: override `beforeConnect`, `afterConnect`, … in a subclass, or pass them as `options.hooks`.
 */
export class Master implements ConnectionHost, FrontEndHost {
  readonly options: ResolvedMasterOptions;
  readonly registry = new SlaveRegistry<SlaveConnection>();
  #results: ResultStage | undefined;
  /** @internal */
  readonly replies: ReplyTracker = { open: 0 };
  /** Plain counters (heartbeats, error answers, removals, task ends); metrics and stats read them. */
  readonly counters = new FleetCounters();
  readonly #selfToken: string;
  readonly #checkSelf: (token: string) => boolean;
  readonly #metrics: MasterMetrics | undefined;
  readonly #engine: HttpEngine;
  #admin: { app: HttpApp; port: number } | undefined;
  #startedAt = 0;
  readonly #channelCheck: (header: string) => 'ok' | 'missing' | 'invalid';
  readonly #tasks: TaskTable;
  readonly #addressCache = new Map<string, Promise<string>>();
  #app: HttpApp | undefined;
  #stopSweep: (() => void) | undefined;
  #shuttingDown = false;
  #closing: Promise<void> | undefined;
  #port = -1;
  readonly #self = new SelfClient();

  constructor(options: MasterOptions = {}) {
    this.options = resolveMasterOptions(options);
    this.#engine = selectEngine(this.options.engine, this.options.logger);
    this.#selfToken = this.options.selfToken ?? randomToken();
    this.#checkSelf = createTokenCheck(this.#selfToken);
    this.#channelCheck = createChannelCheck(this.options.channel);
    this.#tasks = new TaskTable(this.options.logger);
    if (this.options.metrics || this.options.adminPort !== undefined) {
      const metrics = new MasterMetrics({
        info: { engine: this.engine, node: process.version },
        counters: this.counters,
        slaveCounts: () => this.#slaveCounts(),
        runningTasks: () => this.#tasks.size,
        resultCounters: () => this.#tasks.counters,
        stageLoad: () => this.#results?.load(),
      });
      this.#tasks.observeHandler = (ms) => metrics.handled(ms);
      this.#metrics = metrics;
    }
  }

  /** @internal The result stage (the pool, or inline when `resultThreads` is 0); exists once started. */
  get results(): ResultStage {
    if (!this.#results) throw new Error('Master not started');
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

  /** Listens (refusing a port another process holds) and starts the sweep. */
  async start(): Promise<this> {
    if (this.#app) throw new Error('Master already started');
    if (this.#closing) throw new Error('Master is closed; create a new one');
    const app = this.#engine.createApp({ tls: this.options.tls, malformed: kAnswers.malformed });
    mountMasterRoutes(app, this);
    this.#app = app;
    this.#results = this.#createStage();
    const { adminHost, adminPort } = this.options;
    let admin: HttpApp | undefined;
    try {
      this.#port = await app.listen(this.options.host, this.options.port, 'Master');
      if (adminPort !== undefined) {
        admin = this.#engine.createApp({ malformed: kAnswers.malformed });
        mountAdminRoutes(admin, this, () => undefined);
        mountAdminFallback(admin, this);
        this.#admin = { app: admin, port: await admin.listen(adminHost, adminPort, 'Master admin') };
      }
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
    this.#stopSweep = startSweep(
      this.registry,
      this.options.heartbeatCheckSpan * 1000,
      this.options.heartbeatTolerance * 1000,
      (record, now) => this.#evict(record, now),
    );
    return this;
  }

  /**
   * Graceful and idempotent: stops accepting, finishes results already acknowledged, ends every running task
   * with a "master shutting down" reason, and closes every connection and socket.
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
    if (this.registry.byName(name)?.state === 'connected') {
      throw new Error(`Connection ${JSON.stringify(name)} already exists`);
    }
    return new SlaveConnection(
      this,
      name,
      host,
      port,
      { https: options.https ?? false, msgpack: options.msgpack ?? false },
      randomToken(),
    );
  }

  /** True while a slave of that name is connected and heartbeating. */
  has(name: string): boolean {
    return this.registry.byName(name)?.state === 'connected';
  }

  /** The connected slave of that name; throws if there is none. */
  get(name: string): SlaveConnection {
    const record = this.registry.byName(name);
    if (record?.state !== 'connected') throw new Error(`Connection ${JSON.stringify(name)} not found`);
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
      if (record?.connection === connection) this.#drop(record, disconnectedReason(name), 'disconnected');
    }
  }

  stats(): MasterStats {
    const { size: slaves } = this.registry;
    const ended = this.counters.tasksEnded;
    let tasksFailed = 0;
    for (const [end, n] of ended) if (end !== 'completed') tasksFailed += n;
    return {
      slaves,
      runningTasks: this.#tasks.size,
      ...this.#tasks.counters,
      evictions: this.counters.removals.heartbeat_timeout,
      heartbeats: this.counters.heartbeats,
      resultsAborted: this.counters.resultsAborted,
      tasksCompleted: ended.get('completed') ?? 0,
      tasksFailed,
    };
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
    };
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
      if (verdict.kind === 'invalid') this.#tasks.counters.resultsInvalid++;
      return verdict;
    });
  }

  // ---- hooks: the reference's defaults; override in a subclass or pass options.hooks ----

  beforeConnect(connection: SlaveConnection): unknown {
    return this.options.hooks.beforeConnect?.(connection);
  }

  afterConnect(
    statusCode: number,
    success: boolean,
    code: number,
    message: string,
    data: unknown,
    connection: SlaveConnection,
  ): unknown {
    return this.options.hooks.afterConnect?.(statusCode, success, code, message, data, connection);
  }

  errorConnect(error: Error, connection: SlaveConnection): unknown {
    const hook = this.options.hooks.errorConnect;
    if (hook) return hook(error, connection);
    throw error;
  }

  beforeDisconnect(connection: SlaveConnection): unknown {
    return this.options.hooks.beforeDisconnect?.(connection);
  }

  afterDisconnect(
    statusCode: number,
    success: boolean,
    code: number,
    message: string,
    data: unknown,
    connection: SlaveConnection,
  ): unknown {
    return this.options.hooks.afterDisconnect?.(statusCode, success, code, message, data, connection);
  }

  errorDisconnect(error: Error, connection: SlaveConnection): unknown {
    const hook = this.options.hooks.errorDisconnect;
    if (hook) return hook(error, connection);
    throw error;
  }

  beforeNewTask(data: unknown, connection: SlaveConnection): unknown {
    const hook = this.options.hooks.beforeNewTask;
    return hook ? hook(data, connection) : (data ?? {});
  }

  afterNewTask(
    statusCode: number,
    success: boolean,
    code: number,
    message: string,
    data: unknown,
    connection: SlaveConnection,
  ): unknown {
    return this.options.hooks.afterNewTask?.(statusCode, success, code, message, data, connection);
  }

  errorNewTask(error: Error, connection: SlaveConnection): unknown {
    const hook = this.options.hooks.errorNewTask;
    if (hook) return hook(error, connection);
    throw error;
  }

  // ---- ConnectionHost (internal; called by connections) ----

  /** @internal */
  hook(
    name: 'beforeConnect' | 'beforeDisconnect' | 'beforeNewTask',
    connection: SlaveConnection,
    data?: unknown,
  ): unknown {
    if (name === 'beforeNewTask') return this.beforeNewTask(data, connection);
    return this[name](connection);
  }

  /** @internal */
  hookAfter(
    name: 'afterConnect' | 'afterDisconnect' | 'afterNewTask',
    connection: SlaveConnection,
    answer: PeerAnswer,
  ): unknown {
    const { envelope } = answer;
    return this[name](
      answer.statusCode,
      envelope.success,
      envelope.code,
      envelope.message,
      envelope.data,
      connection,
    );
  }

  /** @internal */
  async hookError(
    name: 'errorConnect' | 'errorDisconnect' | 'errorNewTask',
    connection: SlaveConnection,
    error: Error,
  ): Promise<unknown> {
    return this[name](error, connection);
  }

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
    if (this.#shuttingDown) throw new Error('Master is shutting down');
    const other = this.registry.byName(connection.name);
    if (other && other.connection !== connection && other.state === 'connected') {
      throw new Error(`Connection ${JSON.stringify(connection.name)} already exists`);
    }
    if (other && other.connection !== connection) this.registry.remove(other);
    this.registry.add(connection.name, connection.token, connection, 'pending', performance.now());
  }

  /** @internal */
  connectFailed(connection: SlaveConnection, error: Error): void {
    const record = this.registry.byToken(connection.token);
    if (record?.state === 'pending') this.registry.remove(record);
    this.logger.warn(
      { slave: connection.name, address: connection.origin, reason: error.message },
      'slave connect failed',
    );
  }

  /** @internal */
  connected(connection: SlaveConnection): void {
    this.registry.add(connection.name, connection.token, connection, 'connected', performance.now());
    this.logger.info(
      { slave: connection.name, address: connection.origin, msgpack: connection.usesMsgpack },
      'slave connected',
    );
  }

  /** @internal */
  disconnected(connection: SlaveConnection, reason: TaskEndedError): void {
    const record = this.registry.byToken(connection.token);
    if (record) this.#drop(record, reason, 'disconnected');
    else connection[kDrop](reason);
  }

  /** @internal */
  trackTask(task: Task): void {
    this.#tasks.track(task);
  }

  /** @internal */
  untrackTask(task: Task): void {
    this.#tasks.untrack(task);
    // a task leaves the table once, when it ends: count it here
    const { status, error } = task;
    const end = taskEndOf(task);
    this.counters.taskEnded(end);
    if (status !== TaskStatus.COMPLETED) {
      const fields = { taskId: task.id, end, reason: error?.message };
      if (end === 'reported_failure') this.logger.debug(fields, 'task failed (reported by its slave)');
      else this.logger.warn(fields, 'task failed');
    }
    if (this.#metrics && status !== TaskStatus.START_FAILED) {
      this.#metrics.taskEnded(
        status === TaskStatus.COMPLETED ? 'completed' : 'failed',
        (performance.now() - task.startedAt) / 1000,
      );
    }
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

  #createStage(): ResultStage {
    const o = this.options;
    if (o.resultThreads === 0) return new InlineResultStage(this.#tasks, o.resultHandler);
    return new PoolResultStage(this.#tasks, {
      handler: o.resultHandler,
      threads: o.resultThreads,
      maxQueue: o.resultQueueLimit,
      maxQueueBytes: o.resultQueueBytes,
      timeLimitMs: o.resultTimeLimit * 1000,
      maxBatch: o.resultBatch,
    });
  }

  #evict(record: SlaveRecord<SlaveConnection>, now: number): void {
    this.counters.removals.heartbeat_timeout++;
    const silentFor = ((now - record.lastHeartbeat) / 1000).toFixed(1);
    this.logger.warn(
      {
        slave: record.name,
        address: record.connection.origin,
        reason: 'heartbeat_timeout',
        silentFor: Number(silentFor),
        tolerance: this.options.heartbeatTolerance,
        tasksLost: record.connection.runningTasks,
      },
      'slave evicted',
    );
    record.connection[kDrop](
      new TaskEndedError(
        TaskEndCode.SLAVE_LOST,
        `slave lost: ${record.name} sent no heartbeat for ${silentFor} s (tolerance ${this.options.heartbeatTolerance} s)`,
      ),
    );
  }

  #drop(record: SlaveRecord<SlaveConnection>, reason: TaskEndedError, why: RemovalReason): void {
    this.registry.remove(record);
    this.counters.removals[why]++;
    if (why === 'disconnected') {
      this.logger.info(
        { slave: record.name, address: record.connection.origin, tasksEnded: record.connection.runningTasks },
        'slave disconnected',
      );
    }
    record.connection[kDrop](reason);
  }

  #slaveCounts(): { connected: number; pending: number } {
    let connected = 0;
    for (const record of this.registry.records()) if (record.state === 'connected') connected++;
    return { connected, pending: this.registry.size - connected };
  }

  async #shutdown(graceful: boolean): Promise<void> {
    this.#shuttingDown = true;
    this.logger.info(
      { graceful, slaves: this.registry.size, runningTasks: this.#tasks.size },
      'master shutting down',
    );
    this.#stopSweep?.();
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
    const connections = new Set<SlaveConnection>();
    for (const record of [...this.registry.records()]) {
      connections.add(record.connection);
      this.#drop(record, reason, 'shutdown');
    }
    // tasks started on connections that were no longer listed (e.g. reused after an eviction)
    this.#tasks.endAll(reason);
    for (const connection of connections) await connection[kClose]();
    const app = this.#app;
    this.#app = undefined;
    await app?.close();
    this.logger.info({ stats: this.stats() }, 'master closed');
  }
}

function disconnectedReason(name: string): TaskEndedError {
  return new TaskEndedError(TaskEndCode.SLAVE_DISCONNECTED, `slave ${name} was deleted before reporting`);
}

export type { MasterHooks };
