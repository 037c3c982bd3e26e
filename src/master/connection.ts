import type { PeerAnswer } from '../client/peer-client.ts';
import { headerOf, PeerClient } from '../client/peer-client.ts';
import type { Logger } from '../options.ts';
import { encodeBody, kJson, kMsgpack } from '../protocol/codec.ts';
import { slaveErrorFor } from '../protocol/errors.ts';
import {
  announcedConcurrency,
  Extension,
  kExtensionsHeader,
  kOurExtensions,
  speaks,
} from '../protocol/extensions.ts';
import { fleetProof, isFleetProof, kAuthHeader } from '../protocol/fleet-secret.ts';
import { kEnd, type NewTaskOptions, Task, TaskEndCode, TaskEndedError, type TaskHost } from './task.ts';

/** What a connection needs from its master (implemented by `Master`; kept narrow on purpose). */
export interface ConnectionHost {
  readonly logger: Logger;
  readonly channel: number;
  readonly requestRetries: number;
  readonly requestRetryWaiting: number;
  readonly requestTimeout: number;
  readonly taskClient: 'lean' | 'undici';
  readonly fleetSecret: string | undefined;
  readonly slaveTls: { ca?: string | Buffer; rejectUnauthorized?: boolean } | undefined;
  addressFor(connection: SlaveConnection): Promise<string>;
  /** Lists the token before `POST /connect`, so a heartbeat that beats the answer is not refused. */
  connecting(connection: SlaveConnection): void;
  connectFailed(connection: SlaveConnection, error: Error): void;
  connected(connection: SlaveConnection): void;
  disconnected(connection: SlaveConnection, reason: TaskEndedError): void;
  /** A task was made on this connection (`newTask`). */
  taskCreated(): void;
  /** A task's attempt is on this connection's slave now (its slot is taken). */
  trackTask(task: Task, connection: SlaveConnection): void;
  /** That attempt is over: the slave reported, the start failed, or the slave is gone (the slot is free). */
  untrackTask(task: Task, connection: SlaveConnection): void;
  /** A task settled (once per task, whatever the way). */
  taskEnded(task: Task): void;
  /** Hooks return their value, or a Promise of it (the reference's hooks are synchronous; ours may not be). */
  hook(name: 'beforeConnect' | 'beforeDisconnect', connection: SlaveConnection): unknown;
  hook(name: 'beforeNewTask', connection: SlaveConnection, data: unknown): unknown;
  hookAfter(
    name: 'afterConnect' | 'afterDisconnect' | 'afterNewTask',
    connection: SlaveConnection,
    answer: PeerAnswer,
  ): unknown;
  hookError(
    name: 'errorConnect' | 'errorDisconnect' | 'errorNewTask',
    connection: SlaveConnection,
    error: Error,
  ): Promise<unknown>;
}

export interface ConnectionOptions {
  https: boolean;
  msgpack: boolean;
  /** Task slots for the scheduler; undefined: what the slave announced, else 1. */
  capacity: number | undefined;
  tags: readonly string[];
}

export const kDrop = Symbol('fleetmaster.connection.drop');
export const kOwns = Symbol('fleetmaster.connection.owns');
export const kClose = Symbol('fleetmaster.connection.close');
export const kOnlyTask = Symbol('fleetmaster.connection.onlyTask');

/**
 * The master's link to one slave. Requests go out through a keep-alive undici client (and an `H1Client` for the
 * tasks of a fleetmaster slave), created on first use and closed when the slave leaves, so a fleet of idle,
 * evicted connections holds no sockets.
 */
export class SlaveConnection {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly https: boolean;
  /** Tags the scheduler matches against a submitted task's `tags`. */
  readonly tags: readonly string[];
  /** The one token of this connection (slave token here, master token on the slave). */
  readonly token: string;
  readonly #host: ConnectionHost;
  readonly #tasks = new Set<Task>();
  /** What every task of this connection calls back into: built once, not per task (measured hot). */
  readonly #taskHost: TaskHost;
  #client: PeerClient | undefined;
  /** `/task/new` goes through this one when the slave is fleetmaster's (see `#postTask`). */
  #taskClient: PeerClient | undefined;
  #connected = false;
  readonly #wantMsgpack: boolean;
  readonly #capacity: number | undefined;
  /** The slave's `Fleet-Extensions` answer to `/connect` ('' for a DI-engine slave). */
  #slaveExtensions = '';

  constructor(
    host: ConnectionHost,
    name: string,
    slaveHost: string,
    port: number,
    options: ConnectionOptions,
    token: string,
  ) {
    this.#host = host;
    this.name = name;
    this.host = slaveHost;
    this.port = port;
    this.https = options.https;
    this.#wantMsgpack = options.msgpack;
    this.#capacity = options.capacity;
    this.tags = options.tags;
    this.token = token;
    this.#taskHost = {
      logger: host.logger,
      slaveName: name,
      beforeNewTask: (d) => host.hook('beforeNewTask', this, d),
      postTask: (id, d, json) => this.#postTask(id, d, json),
      afterNewTask: (answer) => host.hookAfter('afterNewTask', this, answer),
      errorNewTask: (error) => host.hookError('errorNewTask', this, error),
      track: (task) => {
        this.#tasks.add(task);
        host.trackTask(task, this);
      },
      untrack: (task) => {
        this.#tasks.delete(task);
        host.untrackTask(task, this);
      },
      ended: (task) => host.taskEnded(task),
      cancel: (id) => this.#cancel(id),
    };
  }

  /**
   * Task slots: the `capacity` given to `newConnection`, else the `concurrency` the slave announced (a fleetmaster
   * slave), else 1 (a DI-engine slave runs one task at a time and refuses a second).
   */
  get capacity(): number {
    return this.#capacity ?? announcedConcurrency(this.#slaveExtensions) ?? 1;
  }

  /** @internal What a task's attempt on this connection calls back into. */
  get taskHost(): TaskHost {
    return this.#taskHost;
  }

  /** True when task bodies go out as MessagePack: asked for, and the slave announced it. */
  get usesMsgpack(): boolean {
    return this.#wantMsgpack && speaks(this.#slaveExtensions, Extension.MSGPACK);
  }

  get isConnected(): boolean {
    return this.#connected;
  }

  /** Tasks started on this connection that have not ended. */
  get runningTasks(): number {
    return this.#tasks.size;
  }

  get origin(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `${this.https ? 'https' : 'http'}://${host}:${this.port}`;
  }

  /** `POST /connect`. Resolves with what `afterConnect` returns; rejects as `errorConnect` decides. */
  async connect(): Promise<unknown> {
    const data = await this.#host.hook('beforeConnect', this);
    const address = await this.#host.addressFor(this);
    this.#host.connecting(this);
    let answer: PeerAnswer;
    try {
      answer = await this.#request('POST', '/connect', { master: { address }, data: data ?? {} });
    } catch (err) {
      this.#host.connectFailed(this, toError(err));
      return this.#host.hookError('errorConnect', this, toError(err));
    }
    const secret = this.#host.fleetSecret;
    if (secret !== undefined && !isFleetProof(secret, 'slave', this.token, headerOf(answer, kAuthHeader))) {
      // it accepted us but cannot prove the fleet's secret: not one of ours. Undo its side, refuse ours.
      const error = new FleetSecretError(
        `slave ${this.name} at ${this.origin} did not prove the fleet secret`,
      );
      this.#host.connectFailed(this, error);
      await this.#request('DELETE', '/disconnect', { data: {} }).catch(() => undefined);
      return this.#host.hookError('errorConnect', this, error);
    }
    this.#slaveExtensions = headerOf(answer, kExtensionsHeader);
    this.#connected = true;
    this.#host.connected(this);
    return this.#host.hookAfter('afterConnect', this, answer);
  }

  /** `DELETE /disconnect`. On success the slave leaves the registry and its running tasks fail. */
  async disconnect(): Promise<unknown> {
    const data = await this.#host.hook('beforeDisconnect', this);
    let answer: PeerAnswer;
    try {
      answer = await this.#request('DELETE', '/disconnect', { data: data ?? {} });
    } catch (err) {
      return this.#host.hookError('errorDisconnect', this, toError(err));
    }
    this.#host.disconnected(this, disconnectedReason(this.name));
    return this.#host.hookAfter('afterDisconnect', this, answer);
  }

  /** A new, not yet started task. */
  // biome-ignore lint/suspicious/noExplicitAny: task data and results are the user's types
  newTask<D = any, R = any>(data: D, options?: NewTaskOptions): Task<D, R> {
    const task = new Task<D, R>(this.#taskHost, data, options);
    this.#host.taskCreated();
    return task;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#connected) await this.disconnect();
  }

  [kOwns](task: Task): boolean {
    return this.#tasks.has(task);
  }

  /** The running task when there is exactly one (always so for a DI-engine slave). */
  [kOnlyTask](): Task | undefined {
    if (this.#tasks.size !== 1) return undefined;
    for (const task of this.#tasks) return task;
    return undefined;
  }

  /** The slave left (disconnect, eviction, shutdown): not connected, every running task ends with `reason`. */
  [kDrop](reason: TaskEndedError): void {
    this.#connected = false;
    for (const task of [...this.#tasks]) task[kEnd](reason);
    this.#tasks.clear();
    const client = this.#client;
    const taskClient = this.#taskClient;
    this.#client = undefined;
    this.#taskClient = undefined;
    void client?.close();
    void taskClient?.close();
  }

  async [kClose](): Promise<void> {
    const client = this.#client;
    const taskClient = this.#taskClient;
    this.#client = undefined;
    this.#taskClient = undefined;
    await Promise.all([client?.destroy(), taskClient?.destroy()]);
  }

  /**
   * `POST /task/new`, the one request per task. A slave that announced fleetmaster's extensions is a uWS server
   * of ours: its tasks go through the lean `h1` transport (a third of the master's CPU per task was undici's in
   * bench/fleet.ts), unless the `taskClient` option says undici. Any other slave (DI-engine's Flask) gets undici,
   * as every other request does.
   */
  #postTask(id: string, data: unknown, json: string | undefined): Promise<PeerAnswer> {
    const format = this.usesMsgpack ? kMsgpack : kJson;
    // a task id is a UUID: the JSON body is spliced together rather than stringified from a wrapper object
    const body =
      format === kJson
        ? `{"task":{"id":${JSON.stringify(id)}},"data":${json ?? JSON.stringify(data ?? {}) ?? '{}'}}`
        : encodeBody({ task: { id }, data: data ?? {} }, format);
    if (this.#slaveExtensions === '' || this.#host.taskClient === 'undici') {
      this.#client ??= this.#newClient('undici');
      return this.#client.request('POST', '/task/new', { body, contentType: format });
    }
    this.#taskClient ??= this.#newClient('h1');
    return this.#taskClient.request('POST', '/task/new', { body, contentType: format });
  }

  /**
   * `POST /task/cancel` to a slave that announced `cancel`: it aborts that task's signal, and still reports when
   * its task code returns (the slot is free only then). Nothing is sent to any other slave; a failure is only
   * logged, since the task has settled already.
   */
  #cancel(id: string): void {
    if (!this.#connected || !speaks(this.#slaveExtensions, Extension.CANCEL)) return;
    this.#request('POST', '/task/cancel', { task: { id } }).catch((err: unknown) => {
      this.#host.logger.debug(
        { slave: this.name, taskId: id, reason: err instanceof Error ? err.message : String(err) },
        'cancel could not be sent',
      );
    });
  }

  #headers(): Record<string, string> {
    const headers: Record<string, string> = {
      channel: String(this.#host.channel),
      token: this.token,
      [kExtensionsHeader]: kOurExtensions,
    };
    const secret = this.#host.fleetSecret;
    if (secret !== undefined) headers[kAuthHeader] = fleetProof(secret, 'master', this.token);
    return headers;
  }

  #request(method: 'POST' | 'DELETE', path: string, body: unknown): Promise<PeerAnswer> {
    this.#client ??= this.#newClient('undici');
    return this.#client.request(method, path, { body: encodeBody(body, kJson), contentType: kJson });
  }

  #newClient(transport: 'undici' | 'h1'): PeerClient {
    return new PeerClient({
      origin: this.origin,
      headers: this.#headers(),
      retries: this.#host.requestRetries,
      retryWaitingMs: this.#host.requestRetryWaiting * 1000,
      timeoutMs: this.#host.requestTimeout * 1000,
      errorFor: slaveErrorFor,
      tls: this.#host.slaveTls,
      transport,
    });
  }
}

/** A slave that answered `/connect` without proving the fleet secret (`code: 'FLEET_SECRET_MISMATCH'`). */
export class FleetSecretError extends Error {
  readonly code = 'FLEET_SECRET_MISMATCH';
  constructor(message: string) {
    super(message);
    this.name = 'FleetSecretError';
  }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** The one reason given to the tasks of a slave that was disconnected (or deleted) before it reported. */
export function disconnectedReason(name: string): TaskEndedError {
  return new TaskEndedError(
    TaskEndCode.SLAVE_DISCONNECTED,
    `slave ${name} was disconnected before reporting`,
  );
}
