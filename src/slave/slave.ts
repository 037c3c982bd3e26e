import type { EngineName, HttpApp, HttpEngine } from '../http/engine.ts';
import { type ReplyTracker, whenDrained } from '../http/reply.ts';
import { selectEngine } from '../http/select-engine.ts';
import { SelfClient } from '../http/self.ts';
import { errorFields } from '../options.ts';
import { createChannelCheck } from '../protocol/channel.ts';
import { isObject } from '../protocol/codec.ts';
import { SlaveErrorCode } from '../protocol/codes.ts';
import { type Answer, fail } from '../protocol/envelope.ts';
import { kExtensionsHeader, slaveExtensions } from '../protocol/extensions.ts';
import { fleetProof, isFleetProof, kAuthHeader } from '../protocol/fleet-secret.ts';
import { createTokenCheck, randomToken } from '../protocol/token.ts';
import { isUuid } from '../protocol/uuid.ts';
import { SlaveRefusal, TaskFail } from './actions.ts';
import { kSlaveAnswers, slaveDataInvalid } from './answers.ts';
import { mountCancelRoute } from './cancel-route.ts';
import { mountSlaveRoutes, type SlaveFrontEndHost } from './front-end.ts';
import { type LinkCounters, MasterLink } from './master-link.ts';
import { type ResolvedSlaveOptions, resolveSlaveOptions, type SlaveOptions } from './options.ts';

interface RunningTask {
  id: string;
  data: unknown;
  /** Aborted when the master cancels the task (`POST /task/cancel`). */
  abort: AbortController;
}

/**
 * The slave end of the protocol: one master at a time, `concurrency` tasks at a time (1 by default, as
 * DI-engine's slave). Task code is `processTask(data, signal)`, overridden in a subclass or passed as an option;
 * it may be async, and `signal` aborts when a fleetmaster master cancels the task. Its return value is reported
 * as the completed result; `TaskFail` reports a failure with its result, and **any other throw also reports a
 * failure** (the reference only logs it and its master waits forever).
 */
export class Slave implements SlaveFrontEndHost {
  readonly options: ResolvedSlaveOptions;
  /** @internal */
  readonly replies: ReplyTracker = { open: 0 };
  readonly #selfToken = randomToken();
  readonly #checkSelf = createTokenCheck(this.#selfToken);
  readonly #channelCheck: (header: string) => 'ok' | 'missing' | 'invalid';
  readonly #engine: HttpEngine;
  #app: HttpApp | undefined;
  #port = -1;
  #link: MasterLink | undefined;
  readonly #tasks = new Map<string, RunningTask>();
  #shuttingDown = false;
  #closing: Promise<void> | undefined;
  readonly #self = new SelfClient();
  #tasksDone = 0;
  readonly #counters: LinkCounters = { pushedBack: 0 };

  constructor(options: SlaveOptions = {}) {
    this.options = resolveSlaveOptions(options);
    this.#engine = selectEngine(this.options.engine, this.options.logger);
    this.#channelCheck = createChannelCheck(this.options.channel);
  }

  /** The private token of the management routes (`GET /ping`, `DELETE /shutdown`); share it only with your own tools. */
  get selfToken(): string {
    return this.#selfToken;
  }

  get port(): number {
    return this.#port;
  }

  /** The HTTP engine serving this slave: `'uws'` (uWebSockets.js) or `'node'` (`node:http`). */
  get engine(): EngineName {
    return this.#engine.name;
  }

  get isConnected(): boolean {
    return this.#link !== undefined;
  }

  /** The connected master's address, if any. */
  get masterAddress(): string | undefined {
    return this.#link?.address;
  }

  get hasTask(): boolean {
    return this.#tasks.size > 0;
  }

  /** Tasks running now (at most `concurrency`). */
  get runningTasks(): number {
    return this.#tasks.size;
  }

  /** Tasks finished (reported or not) since start. */
  get tasksDone(): number {
    return this.#tasksDone;
  }

  /** Counters: tasks finished, and result reports the master pushed back (and that were sent again). */
  stats(): { tasksDone: number; resultsPushedBack: number } {
    return { tasksDone: this.#tasksDone, resultsPushedBack: this.#counters.pushedBack };
  }

  get isShuttingDown(): boolean {
    return this.#shuttingDown;
  }

  get maxBodySize(): number {
    return this.options.maxBodySize;
  }

  get masterToken(): string | undefined {
    return this.#link?.token;
  }

  async start(): Promise<this> {
    if (this.#app) throw new Error('Slave already started');
    if (this.#closing) throw new Error('Slave is closed; create a new one');
    const app = this.#engine.createApp({ tls: this.options.tls, malformed: kSlaveAnswers.malformed });
    mountSlaveRoutes(app, this);
    mountCancelRoute(app, this);
    this.#app = app;
    try {
      this.#port = await app.listen(this.options.host, this.options.port, 'Slave');
    } catch (err) {
      this.#app = undefined;
      await app.close();
      throw err;
    }
    this.options.logger.info(
      { host: this.options.host, port: this.#port, channel: this.options.channel, engine: this.engine },
      'slave listening',
    );
    return this;
  }

  /** Stops accepting, stops heartbeating and closes every socket. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown(true);
    return this.#closing;
  }

  /** Fast path: like `close()` without waiting for answers still owed. */
  destroy(): Promise<void> {
    this.#closing ??= this.#shutdown(false);
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async ping(): Promise<boolean> {
    if (!this.#app || this.#port < 0) return false;
    return this.#self.ping(this.options.host, this.#port, this.options.tls, this.#selfToken);
  }

  // ---- task code and hooks: override in a subclass or pass as options ----

  processTask(data: unknown, signal: AbortSignal): unknown {
    if (this.options.processTask) return this.options.processTask(data, signal);
    throw new Error('processTask is not implemented: pass options.processTask or override it in a subclass');
  }

  beforeConnection(data: unknown): unknown {
    return this.options.hooks.beforeConnection?.(data);
  }

  beforeDisconnection(data: unknown): unknown {
    return this.options.hooks.beforeDisconnection?.(data);
  }

  beforeTask(data: unknown): unknown {
    return this.options.hooks.beforeTask?.(data);
  }

  lostConnection(masterAddress: string, error: Error): unknown {
    const hook = this.options.hooks.lostConnection;
    if (hook) return hook(masterAddress, error);
    this.options.logger.warn({ master: masterAddress, reason: error.message }, 'lost connection to master');
    return undefined;
  }

  // ---- SlaveFrontEndHost (internal; called by routes) ----

  /** @internal */
  checkChannel(header: string) {
    return this.#channelCheck(header);
  }

  /** @internal */
  checkSelfToken(header: string): boolean {
    return this.#checkSelf(header);
  }

  /** @internal */
  async connect(
    token: string,
    body: Record<string, unknown>,
    masterExtensions: string,
    masterProof: string,
  ): Promise<Answer> {
    const secret = this.options.fleetSecret;
    if (secret !== undefined && !isFleetProof(secret, 'master', token, masterProof)) {
      return fail(403, SlaveErrorCode.SLAVE_CONNECTION_REFUSED, 'Connection refused!', {
        reason: 'this master did not prove the fleet secret',
      });
    }
    // A master that restarted connects again before this slave's next heartbeat shows the old link is dead:
    // ask the current master now, and stay with it only if it still answers for this slave.
    const current = this.#link;
    if (current && !(await current.probe())) {
      this.#lost(current, new Error('replaced: the master no longer knows this slave'));
    }
    if (this.#link) return kSlaveAnswers.alreadyConnected;
    const master = body.master;
    const address = isObject(master) ? master.address : undefined;
    if (typeof address !== 'string' || !/^https?:\/\//.test(address)) {
      return slaveDataInvalid('Master address not found (expected master.address as http://host:port).');
    }
    const refused = await this.#runHook(() => this.beforeConnection(body.data ?? {}));
    if (refused) return refused;
    if (this.#link || this.#shuttingDown) return kSlaveAnswers.alreadyConnected; // raced with another /connect
    const link = new MasterLink(this.options, token, address, masterExtensions, this.#counters, (l, err) =>
      this.#lost(l, err),
    );
    this.#link = link;
    this.options.logger.info({ master: address }, 'connected to master');
    // the answer goes out first; the master has already listed the token, so an early beat is welcome
    setImmediate(() => link.start());
    return kSlaveAnswers.connected;
  }

  /** @internal */
  connectHeaders(token: string): Record<string, string> {
    // the list says, besides fleetmaster's extensions, how many tasks this slave runs at once
    const headers: Record<string, string> = {
      [kExtensionsHeader]: slaveExtensions(this.options.concurrency),
    };
    const secret = this.options.fleetSecret;
    if (secret !== undefined) headers[kAuthHeader] = fleetProof(secret, 'slave', token);
    return headers;
  }

  /** @internal */
  async disconnect(body: Record<string, unknown>): Promise<Answer> {
    if (!this.#link) return kSlaveAnswers.notConnected;
    const refused = await this.#runHook(() => this.beforeDisconnection(body.data ?? {}));
    if (refused) return refused;
    const link = this.#link;
    this.#link = undefined;
    void link?.close();
    this.options.logger.info({ master: link?.address }, 'disconnected by master');
    return kSlaveAnswers.disconnected;
  }

  /** @internal */
  async newTask(body: Record<string, unknown>): Promise<Answer> {
    if (this.#tasks.size >= this.options.concurrency) return kSlaveAnswers.taskAlreadyExist;
    const task = body.task;
    const id = isObject(task) ? task.id : undefined;
    if (typeof id !== 'string' || id.length === 0) return slaveDataInvalid('Task ID not found.');
    // the reference parses it with UUID() (a 500 when it is not one); refusing here keeps the task from running
    // only to have its result refused by the master
    if (!isUuid(id)) return slaveDataInvalid('Task ID is not a UUID.');
    if (this.#tasks.has(id)) return kSlaveAnswers.taskAlreadyExist;
    const data = body.data ?? {};
    // claim the slot before the hook awaits, so a further /task/new meanwhile is refused
    const running: RunningTask = { id, data, abort: new AbortController() };
    this.#tasks.set(id, running);
    const refused = await this.#runHook(() => this.beforeTask(data));
    if (refused) {
      this.#tasks.delete(id);
      return refused;
    }
    const link = this.#link;
    if (!link) {
      this.#tasks.delete(id);
      return kSlaveAnswers.notConnected;
    }
    setImmediate(() => void this.#run(running, link));
    return kSlaveAnswers.taskReceived;
  }

  /** @internal The master cancelled a task: its signal aborts (its result is still reported). */
  cancelTask(id: string): boolean {
    const task = this.#tasks.get(id);
    if (task === undefined || task.abort.signal.aborted) return task !== undefined;
    task.abort.abort(new Error('cancelled by the master'));
    return true;
  }

  /** @internal */
  shutdownRequested(): void {
    setImmediate(() => void this.close());
  }

  /** @internal */
  warn(message: string, error: unknown): void {
    this.options.logger.warn(errorFields(error), message);
  }

  // ---- private ----

  /** Runs a hook; a refusal becomes its 403 answer, any other throw a 400 (never a crash, never a 500). */
  async #runHook(hook: () => unknown): Promise<Answer | undefined> {
    try {
      await hook();
      return undefined;
    } catch (err) {
      if (err instanceof SlaveRefusal) return fail(err.statusCode, err.code, err.message, err.data);
      this.options.logger.warn(errorFields(err), 'a slave hook threw');
      return slaveDataInvalid(err instanceof Error ? err.message : String(err));
    }
  }

  async #run(task: RunningTask, link: MasterLink): Promise<void> {
    let outcome: 'complete' | 'fail';
    let result: unknown;
    try {
      result = await this.processTask(task.data, task.abort.signal);
      outcome = 'complete';
    } catch (err) {
      outcome = 'fail';
      result =
        err instanceof TaskFail
          ? err.result
          : {
              error: err instanceof Error ? err.name : 'Error',
              message: err instanceof Error ? err.message : String(err),
            };
    }
    // free the slot before reporting, as the reference does: the master may send the next task at once
    this.#tasks.delete(task.id);
    this.#tasksDone++;
    if (!link.isOpen) {
      this.options.logger.warn(
        { taskId: task.id },
        'task finished after its master link closed; result not reported',
      );
      return;
    }
    try {
      await link.report(outcome, task.id, result);
    } catch (err) {
      this.options.logger.warn({ taskId: task.id, ...errorFields(err) }, 'result could not be reported');
    }
  }

  #lost(link: MasterLink, error: Error): void {
    if (this.#link !== link) return;
    this.#link = undefined;
    void link.close();
    try {
      const value = this.lostConnection(link.address, error);
      if (value instanceof Promise)
        value.catch((err: unknown) =>
          this.options.logger.warn(errorFields(err), 'lostConnection hook rejected'),
        );
    } catch (err) {
      this.options.logger.warn(errorFields(err), 'lostConnection hook threw');
    }
  }

  async #shutdown(graceful: boolean): Promise<void> {
    this.#shuttingDown = true;
    this.options.logger.info({ graceful, tasksDone: this.#tasksDone }, 'slave shutting down');
    this.#app?.stopListening();
    const link = this.#link;
    this.#link = undefined;
    await link?.close();
    if (graceful) {
      await whenDrained(this.replies, 5000);
      // uWS flushes corked writes made outside its callbacks on its next loop turn: let it, then close
      await new Promise((resolve) => setImmediate(resolve));
    }
    const app = this.#app;
    this.#app = undefined;
    await app?.close();
  }
}
