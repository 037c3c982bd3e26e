import type { PeerAnswer } from '../client/peer-client.ts';
import { headerOf, PeerClient } from '../client/peer-client.ts';
import {
  FleetSecretError,
  SlaveConnectionRefusedError,
  slaveErrorFor,
  TaskEndCode,
  TaskEndedError,
} from '../errors.ts';
import type { Logger } from '../options.ts';
import { encodeBody, kJson, kMsgpack } from '../protocol/codec.ts';
import {
  announcedConcurrency,
  Extension,
  kExtensionsHeader,
  kOurExtensions,
  speaks,
} from '../protocol/extensions.ts';
import {
  bodyDigest,
  fleetProof,
  isFleetProof,
  isNonceShaped,
  kAuthHeader,
  kChallengeHeader,
  randomNonce,
} from '../protocol/fleet-secret.ts';
import { randomToken } from '../protocol/token.ts';
import { kEnd, type NewTaskOptions, Task, type TaskHost } from './task.ts';

/** What a connection needs from its master (implemented by `Master`; kept narrow on purpose), its hooks included. */
export interface ConnectionHost extends ConnectionHooks {
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
}

/** The arguments of each kind of hook: the reference's, in its order, then the connection (fleetmaster's addition). */
export interface HookArguments {
  connection: [connection: SlaveConnection];
  data: [data: unknown, connection: SlaveConnection];
  answer: [
    statusCode: number,
    success: boolean,
    code: number,
    message: string,
    data: unknown,
    connection: SlaveConnection,
  ];
  error: [error: Error, connection: SlaveConnection];
}

/**
 * The reference's connection and task hooks, each with the kind of arguments it is given, declared here once:
 * `MasterHooks` (the option), the `Master` method of each name (its default, which a subclass may override) and
 * the validation of `options.hooks` all follow from this table. A connection calls the host's method of that
 * name. Each hook may return a Promise.
 */
export const kConnectionHooks = {
  /** Returns the connection data sent with `POST /connect`; throwing cancels the connection. */
  beforeConnect: 'connection',
  /** Its return value is what `connection.connect()` resolves to. */
  afterConnect: 'answer',
  /** Called with the request's error; the default rethrows. A returned value becomes `connect()`'s value. */
  errorConnect: 'error',
  /** Returns the data sent with `DELETE /disconnect`. */
  beforeDisconnect: 'connection',
  /** Its return value is what `connection.disconnect()` resolves to. */
  afterDisconnect: 'answer',
  /** Called with the request's error; the default rethrows. A returned value becomes `disconnect()`'s value. */
  errorDisconnect: 'error',
  /** Returns the task data actually sent; the default sends `data ?? {}`. Throwing fails the start. */
  beforeNewTask: 'data',
  /** Its return value is kept as `task.startValue`. */
  afterNewTask: 'answer',
  /** Called when `/task/new` fails; the default rethrows (and `task.start()` rejects). */
  errorNewTask: 'error',
} as const satisfies Record<string, keyof HookArguments>;

export type ConnectionHooks = {
  [K in keyof typeof kConnectionHooks]: (...args: HookArguments[(typeof kConnectionHooks)[K]]) => unknown;
};

/** An `after…` hook's arguments: the answer's status and envelope, and the connection. */
function answered(answer: PeerAnswer, connection: SlaveConnection): HookArguments['answer'] {
  const { envelope } = answer;
  return [answer.statusCode, envelope.success, envelope.code, envelope.message, envelope.data, connection];
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
  #token: string;
  /** connect() was called before: the next one makes a new token. */
  #attempted = false;
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
    this.#token = token;
    this.#taskHost = {
      logger: host.logger,
      slaveName: name,
      beforeNewTask: (d) => host.beforeNewTask(d, this),
      postTask: (id, d, json) => this.#postTask(id, d, json),
      afterNewTask: (answer) => host.afterNewTask(...answered(answer, this)),
      errorNewTask: (error) => host.errorNewTask(error, this),
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
   * The one token of this connection (slave token here, master token on the slave). A `connect()` after an
   * earlier one (unless still connected) makes a new one: a token is never sent on two connects, so nothing of an
   * old session can pass for the new one, and a slave with a fleet secret refuses a token it has seen connect.
   */
  get token(): string {
    return this.#token;
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

  /**
   * `POST /connect` (twice with a fleet secret: the slave's refusal of the first carries the challenge the second
   * answers). Resolves with what `afterConnect` returns; rejects as `errorConnect` decides.
   */
  async connect(): Promise<unknown> {
    const data = await this.#host.beforeConnect(this);
    const address = await this.#host.addressFor(this);
    if (this.#attempted && !this.#connected) this.#renewToken();
    this.#attempted = true;
    this.#host.connecting(this);
    const body = encodeBody({ master: { address }, data: data ?? {} }, kJson);
    let answer: PeerAnswer;
    let nonce: string | undefined;
    try {
      ({ answer, nonce } = await this.#postConnect(body));
    } catch (err) {
      this.#host.connectFailed(this, toError(err));
      return this.#host.errorConnect(toError(err), this);
    }
    const secret = this.#host.fleetSecret;
    if (
      secret !== undefined &&
      (nonce === undefined ||
        !isFleetProof(secret, 'slave', nonce, this.token, bodyDigest(body), headerOf(answer, kAuthHeader)))
    ) {
      // it accepted us but cannot prove the fleet's secret: not one of ours. Undo its side, refuse ours.
      const error = new FleetSecretError(
        `slave ${this.name} at ${this.origin} did not prove the fleet secret`,
      );
      this.#host.connectFailed(this, error);
      await this.#send('DELETE', '/disconnect', encodeBody({ data: {} }, kJson)).catch(() => undefined);
      return this.#host.errorConnect(error, this);
    }
    this.#slaveExtensions = headerOf(answer, kExtensionsHeader);
    this.#connected = true;
    this.#host.connected(this);
    return this.#host.afterConnect(...answered(answer, this));
  }

  /** `DELETE /disconnect`. On success the slave leaves the registry and its running tasks fail. */
  async disconnect(): Promise<unknown> {
    const data = await this.#host.beforeDisconnect(this);
    let answer: PeerAnswer;
    try {
      answer = await this.#send('DELETE', '/disconnect', encodeBody({ data: data ?? {} }, kJson));
    } catch (err) {
      return this.#host.errorDisconnect(toError(err), this);
    }
    this.#host.disconnected(this, disconnectedReason(this.name));
    return this.#host.afterDisconnect(...answered(answer, this));
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
    void this.#dropClients('close');
  }

  async [kClose](): Promise<void> {
    await this.#dropClients('destroy');
  }

  /**
   * `POST /task/new`, the one request per task. A slave that announced fleetmaster's extensions is a server of
   * ours: its tasks go through the lean `h1` transport (a third of the master's CPU per task was undici's in
   * bench/fleet/), unless the `taskClient` option says undici. Any other slave (DI-engine's Flask) gets undici,
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
    this.#send('POST', '/task/cancel', encodeBody({ task: { id } }, kJson)).catch((err: unknown) => {
      this.#host.logger.debug(
        { slave: this.name, taskId: id, reason: err instanceof Error ? err.message : String(err) },
        'cancel could not be sent',
      );
    });
  }

  #headers(): Record<string, string> {
    return { channel: String(this.#host.channel), token: this.token, [kExtensionsHeader]: kOurExtensions };
  }

  /**
   * The `/connect` exchange. With a fleet secret, a slave that has one refuses the first request with a challenge
   * (a nonce of its own); the same body goes again with the proof over it and a nonce of ours, over which the
   * slave proves itself in its answer. Resolves with that nonce (undefined when no challenge came).
   */
  async #postConnect(body: string | Buffer): Promise<{ answer: PeerAnswer; nonce?: string }> {
    try {
      return { answer: await this.#send('POST', '/connect', body) };
    } catch (err) {
      const secret = this.#host.fleetSecret;
      const challenge = secret === undefined ? undefined : challengeOf(err);
      if (secret === undefined || challenge === undefined) throw err;
      const nonce = randomNonce();
      const headers = {
        [kAuthHeader]: fleetProof(secret, 'master', challenge, this.token, bodyDigest(body)),
        [kChallengeHeader]: nonce,
      };
      return { answer: await this.#send('POST', '/connect', body, headers), nonce };
    }
  }

  #send(
    method: 'POST' | 'DELETE',
    path: string,
    body: string | Buffer,
    headers?: Record<string, string>,
  ): Promise<PeerAnswer> {
    this.#client ??= this.#newClient('undici');
    return this.#client.request(method, path, { body, contentType: kJson, headers });
  }

  /** A new token; the clients made for the old one (their headers carry it) are closed. */
  #renewToken(): void {
    this.#token = randomToken();
    void this.#dropClients('close');
  }

  /** Forgets both clients (the next request makes new ones), letting their requests finish or not. */
  async #dropClients(how: 'close' | 'destroy'): Promise<void> {
    const clients = [this.#client, this.#taskClient];
    this.#client = undefined;
    this.#taskClient = undefined;
    await Promise.all(clients.map((client) => client?.[how]()));
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

/** The nonce a slave with a fleet secret sends in its refusal of a `/connect` without a proof. */
function challengeOf(err: unknown): string | undefined {
  if (!(err instanceof SlaveConnectionRefusedError)) return undefined;
  const challenge = (err.data as { fleetChallenge?: unknown } | null)?.fleetChallenge;
  return isNonceShaped(challenge) ? challenge : undefined;
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
