import type { Consumer, JsMsg } from '@nats-io/jetstream';
import { AlreadyStartedError } from '../errors.ts';
import { MemoryQueue } from '../master/fleet/memory-queue.ts';
import type { QueueContext, QueueEntry, TaskQueue } from '../master/fleet/queue.ts';
import { errorFields, type Logger } from '../options.ts';
import type { NatsLink } from './connect.ts';
import { DeadLetters } from './dead-letters.ts';
import type { ResolvedJetStreamOptions } from './options.ts';
import {
  encodeResult,
  type FleetNames,
  isRejected,
  kSchemaVersion,
  type ParsedTask,
  parseTaskMessage,
  type RejectedTask,
  ResultErrorCode,
  type ResultMessage,
} from './schema.ts';
import { laneConsumer } from './setup.ts';

/** How a task taken from JetStream ended on this master, as its result message says it. */
export type TaskOutcome = Pick<ResultMessage, 'status' | 'result' | 'error' | 'slave' | 'attempts'>;

/** A task's outcome once it ended; `give-back` returns it to the stream for another master (shutting down). */
export type OutcomeOf = TaskOutcome | 'give-back' | 'running';

/**
 * How the queue reaches the scheduler. A pulled task is submitted to this master like any other (`admit`); the
 * scheduler then either places it on a free slot at once or pushes its entry here, and the queue knows that
 * entry by its key (`keyOf`: the task), so later `shift`/`ack` of it are a pulled task's.
 */
export interface JetStreamQueueHooks<E, K> {
  /** Submits a pulled task to this master; returns its key, or a string saying why it cannot run here. */
  admit(task: ParsedTask, delivery: number): K | string;
  keyOf(entry: E): K;
  outcome(key: K): OutcomeOf;
  /** The scheduler's lane key of a tag set (the queue's lanes are the scheduler's). */
  laneKey(tags: readonly string[]): string;
}

/** What went through the queue: the books of exactly-once delivery. */
export interface JetStreamQueueStats {
  /** Task messages received from JetStream (every delivery). */
  pulled: number;
  /** Of those, deliveries after the first (a master died holding the task, or gave it back). */
  redelivered: number;
  /** Redeliveries whose result was already published: acknowledged without running again. */
  duplicatesSuppressed: number;
  /** Results published (and then the task acknowledged). */
  resultsPublished: number;
  /** Results JetStream dropped as duplicates of one already published (its `Nats-Msg-Id`). */
  resultsDuplicate: number;
  /** Messages that were not tasks (bad JSON, another schema version, too large, bad fields): terminated. */
  terminated: number;
  /** Tasks given back (not acknowledged) for another master: this master was closing. */
  givenBack: number;
  /** Pulled tasks held now (waiting here or running). */
  held: number;
  /** Tasks JetStream stopped delivering after `maxDeliver` deliveries, failed here with `MAX_DELIVERIES`. */
  deadLettered: number;
}

interface Held {
  /** Its entry while it waits here (undefined when the scheduler placed it at once). */
  entry: unknown;
  readonly msg: JsMsg;
  readonly task: ParsedTask;
  readonly delivery: number;
  readonly lane: LanePull;
  taken: boolean;
}

interface LanePull {
  readonly token: string;
  readonly key: string;
  consumer: Consumer | undefined;
  /** Pulled tasks of the lane waiting here (not taken yet). */
  waiting: number;
  /** Asked for in the open fetches and not received yet. */
  pending: number;
  /** Fetches open. */
  fetches: number;
  /** After a failed pull, none before this (`performance.now()`). */
  quietUntil: number;
  running: boolean;
}

/** Pause of a lane's pull loop when it has nothing to ask for, or after an error. */
const kIdleMs = 100;
const kErrorMs = 1000;
/** A fetch stays open at most this long: slots freed meanwhile are asked for by the next one. */
const kFetchExpiresMs = 2000;
/** Most tasks asked for in one fetch. */
const kMaxBatch = 1000;
/**
 * Fetches open at once per lane: enough to keep asking while slots free one by one, few enough that 20 masters
 * stay far below a consumer's 512 waiting pull requests (JetStream's default `max_waiting`).
 */
const kMaxFetches = 8;
/** How often the stream is asked which lanes (tag sets) have tasks waiting. */
const kScanMs = 1000;
/** How long `close()` waits for results still being published. */
const kCloseWaitMs = 10_000;

/**
 * The task queue on JetStream: the fleet's tasks wait in a work-queue stream shared by every master, and this
 * master pulls from it only as many as its slaves have free slots (per lane), so a task never waits in a
 * master that cannot run it now. Pulled tasks wait here in the scheduler's order (priority, then arrival)
 * until a slot takes them; while held, one timer sends in-progress acknowledgements for all of them, so a
 * long task is not redelivered. A task's message is acknowledged only after its result is published on the
 * results stream; a master that dies leaves its tasks unacknowledged, and JetStream gives them to another
 * master after `ackWait`. A redelivered task whose result is already published is acknowledged without
 * running again, and the results stream drops a second result with the same `Nats-Msg-Id`, so the submitter
 * sees each outcome once. Entries pushed by this master's own `submit` stay local (in memory, bounded by the
 * limit), as with the in-memory queue.
 */
export class JetStreamQueue<E extends QueueEntry, K = unknown> implements TaskQueue<E> {
  readonly #context: QueueContext;
  readonly #hooks: JetStreamQueueHooks<E, K>;
  readonly #names: FleetNames;
  readonly #options: ResolvedJetStreamOptions;
  readonly #masterId: string;
  readonly #logger: Logger;
  readonly #local = new MemoryQueue<E>({ limit: Number.POSITIVE_INFINITY });
  /** Entries pushed here and waiting: they count against the limit. */
  readonly #pushed = new Set<E>();
  readonly #held = new Map<K, Held>();
  /** The pulled task being submitted now: an entry pushed meanwhile is its. */
  #admitting: Held | undefined;
  readonly #lanes = new Map<string, LanePull>();
  readonly #publishing = new Set<Promise<void>>();
  readonly #stats: Omit<JetStreamQueueStats, 'held' | 'deadLettered'> = {
    pulled: 0,
    redelivered: 0,
    duplicatesSuppressed: 0,
    resultsPublished: 0,
    resultsDuplicate: 0,
    terminated: 0,
    givenBack: 0,
  };
  #link: NatsLink | undefined;
  #deadLetters: DeadLetters | undefined;
  #working: NodeJS.Timeout | undefined;
  #scan: NodeJS.Timeout | undefined;
  #closed = false;
  #paused = false;
  /** Pull loops waiting for slots: woken when slots may have freed. */
  readonly #idlers = new Set<() => void>();

  constructor(
    context: QueueContext,
    hooks: JetStreamQueueHooks<E, K>,
    options: { names: FleetNames; options: ResolvedJetStreamOptions; masterId: string; logger: Logger },
  ) {
    this.#context = context;
    this.#hooks = hooks;
    this.#names = options.names;
    this.#options = options.options;
    this.#masterId = options.masterId;
    this.#logger = options.logger;
  }

  // ---- TaskQueue ----

  get size(): number {
    return this.#local.size;
  }

  push(entry: E): boolean {
    const admitting = this.#admitting;
    if (admitting !== undefined) {
      // the pulled task being admitted: waits here, outside the limit (free slots bounded what was pulled)
      this.#admitting = undefined;
      admitting.entry = entry;
      admitting.lane.waiting++;
      this.#local.push(entry);
      return true;
    }
    if (this.#pushed.size >= this.#context.limit) return false;
    if (!this.#local.push(entry)) return false;
    this.#pushed.add(entry);
    return true;
  }

  unshift(entry: E): void {
    const held = this.#held.get(this.#hooks.keyOf(entry));
    if (held?.taken) {
      held.taken = false;
      held.lane.waiting++;
    }
    this.#local.unshift(entry);
  }

  peek(lane: string): E | undefined {
    return this.#local.peek(lane);
  }

  shift(lane: string): E | undefined {
    const entry = this.#local.shift(lane);
    if (entry === undefined) return undefined;
    if (!this.#pushed.delete(entry)) {
      const held = this.#held.get(this.#hooks.keyOf(entry));
      if (held !== undefined && !held.taken) {
        held.taken = true;
        held.lane.waiting--;
      }
    }
    return entry;
  }

  remove(entry: E): boolean {
    if (!this.#local.remove(entry)) return false;
    if (this.#pushed.delete(entry)) return true;
    const key = this.#hooks.keyOf(entry);
    const held = this.#held.get(key);
    if (held !== undefined) {
      // a pulled task that will not run here goes back to the stream for another master
      this.#held.delete(key);
      held.lane.waiting--;
      this.#giveBack(held);
    }
    return true;
  }

  ack(entry: E): void {
    this.#settled(this.#hooks.keyOf(entry));
  }

  // ---- the JetStream side ----

  /** The books so far. */
  stats(): JetStreamQueueStats {
    return {
      ...this.#stats,
      held: this.#held.size,
      deadLettered: this.#deadLetters?.stats().deadLettered ?? 0,
    };
  }

  /** Starts pulling the untagged lane (and lanes found on the stream) over a connected link. */
  start(link: NatsLink): void {
    if (this.#link !== undefined) throw new AlreadyStartedError('JetStreamQueue already started');
    this.#link = link;
    this.#lane('_', this.#hooks.laneKey([]));
    // in-progress acknowledgements for every held task, three times per ack wait, from one timer
    const every = Math.max(100, (this.#options.ackWait * 1000) / 3);
    this.#working = setInterval(() => this.#keepAlive(), every);
    this.#working.unref();
    const scan = () => void this.#scanLanes().catch(() => undefined);
    this.#scan = setInterval(scan, kScanMs);
    this.#scan.unref();
    scan();
    this.#deadLetters = new DeadLetters(
      {
        alreadyDone: (client, id) => this.#alreadyDone(client, id),
        publishResult: (result) => this.#publishResult(result),
      },
      { names: this.#names, options: this.#options, masterId: this.#masterId, logger: this.#logger },
    );
    this.#deadLetters.start(link);
  }

  /** Stops asking for tasks (the master is closing); what it holds stays held until `close()`. */
  pause(): void {
    this.#paused = true;
  }

  /** Slots changed (a slave came or went): lanes with room ask for more at once. */
  kick(): void {
    this.#wakeIdlers();
  }

  /**
   * Stops pulling; every pulled task not acknowledged yet (waiting here, or taken and never reported) goes back
   * to the stream at once for another master; waits (bounded) for results still being published.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#working);
    clearInterval(this.#scan);
    const deadLetters = this.#deadLetters?.close();
    this.#wakeIdlers();
    for (const [key, held] of this.#held) {
      this.#held.delete(key);
      if (!held.taken && held.entry !== undefined) this.#local.remove(held.entry as E);
      this.#giveBack(held);
    }
    // bounded: with NATS away a publish retries until the connection is closed, which the caller does next
    const pending: Promise<unknown>[] = [...this.#publishing];
    if (deadLetters !== undefined) pending.push(deadLetters);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(pending),
      new Promise((resolve) => {
        timer = setTimeout(resolve, kCloseWaitMs);
      }),
    ]);
    clearTimeout(timer);
  }

  #lane(token: string, key: string): LanePull {
    let lane = this.#lanes.get(token);
    if (lane === undefined) {
      lane = {
        token,
        key,
        consumer: undefined,
        waiting: 0,
        pending: 0,
        fetches: 0,
        quietUntil: 0,
        running: false,
      };
      this.#lanes.set(token, lane);
      void this.#pull(lane);
    }
    return lane;
  }

  /** Free slots of the lane not already spoken for by tasks waiting here or asked for. */
  #want(lane: LanePull): number {
    const free = this.#context.freeSlots(lane.key) - lane.waiting - lane.pending;
    return Math.min(free, kMaxBatch);
  }

  /**
   * The lane's pull loop: asks for as many tasks as there are free slots not yet spoken for, in fetches that
   * overlap (a slot freed while one fetch is open is asked for by another at once), at most `kMaxFetches` open.
   */
  async #pull(lane: LanePull): Promise<void> {
    lane.running = true;
    while (!this.#closed) {
      const link = this.#link!;
      // a connection closed for good (not one reconnecting) will bring nothing more
      if (link.nc.isClosed()) break;
      const ready = link.connected() && !this.#paused && performance.now() >= lane.quietUntil;
      const want = ready && lane.fetches < kMaxFetches ? this.#want(lane) : 0;
      if (want <= 0) {
        await this.#idle(kIdleMs);
        continue;
      }
      try {
        lane.consumer ??= await laneConsumer(link, this.#names, lane.token, this.#options);
      } catch (err) {
        this.#pullFailed(lane, err);
        continue;
      }
      lane.pending += want;
      lane.fetches++;
      void this.#fetch(lane, lane.consumer, want).finally(() => {
        lane.fetches--;
        this.#wakeIdlers();
      });
    }
    lane.running = false;
  }

  async #fetch(lane: LanePull, consumer: Consumer, want: number): Promise<void> {
    let got = 0;
    try {
      const batch = await consumer.fetch({ max_messages: want, expires: kFetchExpiresMs });
      for await (const msg of batch) {
        if (got < want) {
          got++;
          lane.pending--;
        }
        if (this.#closed) {
          msg.nak();
          continue;
        }
        this.#receive(lane, msg);
      }
    } catch (err) {
      if (!this.#closed) this.#pullFailed(lane, err);
    } finally {
      lane.pending -= want - got;
    }
  }

  #pullFailed(lane: LanePull, err: unknown): void {
    this.#logger.warn({ lane: lane.token, ...errorFields(err) }, 'pulling tasks from JetStream failed');
    lane.consumer = undefined;
    lane.quietUntil = performance.now() + kErrorMs;
  }

  /** Waits `ms`, or less when slots change (`kick`, an acknowledgement, `close`). */
  #idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#idlers.delete(done);
        resolve();
      };
      // unref'd: an idle queue never keeps the process alive (its NATS connection does, while open)
      const timer = setTimeout(done, ms).unref();
      this.#idlers.add(done);
    });
  }

  #wakeIdlers(): void {
    for (const done of [...this.#idlers]) done();
  }

  #receive(lane: LanePull, msg: JsMsg): void {
    this.#stats.pulled++;
    const delivery = msg.info.deliveryCount;
    if (delivery > 1) this.#stats.redelivered++;
    const parsed = parseTaskMessage(msg.data, lane.token, this.#options.maxTaskBytes);
    if (isRejected(parsed)) {
      this.#reject(msg, parsed, delivery);
      return;
    }
    if (delivery > 1) {
      // a master may have published this task's result and died before acknowledging it
      lane.waiting++;
      this.#track(
        this.#alreadyDone(parsed.client, parsed.id).then(
          (done) => {
            lane.waiting--;
            if (done) {
              this.#stats.duplicatesSuppressed++;
              msg.ack();
              this.#wakeIdlers();
            } else this.#admit(lane, msg, parsed, delivery);
          },
          () => {
            lane.waiting--;
            this.#admit(lane, msg, parsed, delivery);
          },
        ),
      );
      return;
    }
    this.#admit(lane, msg, parsed, delivery);
  }

  #admit(lane: LanePull, msg: JsMsg, task: ParsedTask, delivery: number): void {
    if (this.#closed) {
      msg.nak();
      return;
    }
    const held: Held = { entry: undefined, msg, task, delivery, lane, taken: false };
    this.#admitting = held;
    let key: K | string;
    try {
      key = this.#hooks.admit(task, delivery);
    } catch (err) {
      key = (err as Error).message;
    } finally {
      this.#admitting = undefined;
    }
    if (typeof key === 'string') {
      this.#reject(msg, { reason: key, id: task.id, client: task.client }, delivery);
      return;
    }
    // not pushed: the scheduler placed it on a free slot at once
    if (held.entry === undefined) held.taken = true;
    this.#held.set(key, held);
    // it may have ended already (refused by a closing master)
    if (this.#hooks.outcome(key) !== 'running') this.#settled(key);
  }

  /** A pulled task ended: its result is published, then its message acknowledged (or it goes back). */
  #settled(key: K): void {
    const held = this.#held.get(key);
    if (held === undefined) return;
    const outcome = this.#hooks.outcome(key);
    if (outcome === 'running') return;
    this.#held.delete(key);
    if (!held.taken) {
      held.lane.waiting--;
      if (held.entry !== undefined) this.#local.remove(held.entry as E);
    }
    if (outcome === 'give-back') this.#giveBack(held);
    else this.#track(this.#finish(held, outcome));
    this.#wakeIdlers();
  }

  async #alreadyDone(client: string, id: string): Promise<boolean> {
    const subject = this.#names.resultSubject(client, id);
    const stored = await this.#link!.jsm.streams.getMessage(this.#names.resultsStream, {
      last_by_subj: subject,
    });
    return stored !== null;
  }

  /** Not a task: terminated (never redelivered) with a logged reason, and a failed result when it named one. */
  #reject(msg: JsMsg, rejected: RejectedTask, delivery: number): void {
    this.#stats.terminated++;
    this.#logger.warn(
      { subject: msg.subject, seq: msg.seq, bytes: msg.data.length, reason: rejected.reason },
      'message on the task subject is not a valid task: terminated',
    );
    const { id, client } = rejected;
    if (id === undefined || client === undefined) {
      msg.term();
      return;
    }
    const result: ResultMessage = {
      v: kSchemaVersion,
      id,
      client,
      status: 'failed',
      result: { error: ResultErrorCode.INVALID_TASK, message: rejected.reason },
      error: { code: ResultErrorCode.INVALID_TASK, message: rejected.reason },
      master: this.#masterId,
      slave: null,
      attempts: 0,
      delivery,
    };
    this.#track(this.#publishResult(result).then(() => msg.term()));
  }

  async #finish(held: Held, outcome: TaskOutcome): Promise<void> {
    const { task, delivery, msg } = held;
    await this.#publishResult({
      v: kSchemaVersion,
      id: task.id,
      client: task.client,
      ...outcome,
      master: this.#masterId,
      delivery,
    });
    // acknowledged only once the outcome is stored: a crash before this line redelivers the task, and the
    // next master finds the result and does not run it again
    msg.ack();
  }

  /**
   * Publishes until JetStream stores it (through disconnections); gives up only once the connection is closed.
   * False when JetStream had it already (a duplicate of a result another master stored first).
   */
  async #publishResult(result: ResultMessage): Promise<boolean> {
    const link = this.#link!;
    const subject = this.#names.resultSubject(result.client, result.id);
    const msgID = `${result.client}.${result.id}`;
    const body = this.#encode(result, link.nc.info?.max_payload ?? 1024 * 1024);
    for (let wait = 100; ; wait = Math.min(wait * 2, 5000)) {
      try {
        const ack = await link.js.publish(subject, body, { msgID, timeout: 5000 });
        if (ack.duplicate) this.#stats.resultsDuplicate++;
        else this.#stats.resultsPublished++;
        return !ack.duplicate;
      } catch (err) {
        if (link.nc.isClosed()) throw err;
        this.#logger.warn({ taskId: result.id, ...errorFields(err) }, 'publishing a result failed; retrying');
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /**
   * The result as JSON; one that cannot be (not JSON, or larger than NATS carries) becomes a failure that says
   * so, so the task still ends once instead of being redelivered for ever.
   */
  #encode(result: ResultMessage, maxPayload: number): Uint8Array {
    let reason: { code: string; message: string };
    try {
      const body = encodeResult(result);
      // room for the headers (Nats-Msg-Id) under the server's max_payload
      if (body.length <= maxPayload - 1024) return body;
      reason = {
        code: ResultErrorCode.RESULT_TOO_LARGE,
        message: `the result is ${body.length} bytes as JSON; NATS carries at most ${maxPayload}`,
      };
    } catch (err) {
      reason = {
        code: ResultErrorCode.RESULT_NOT_JSON,
        message: `the result is not JSON: ${(err as Error).message}`,
      };
    }
    this.#logger.warn({ taskId: result.id, reason: reason.message }, 'a result cannot be published as it is');
    return encodeResult({
      ...result,
      status: 'failed',
      result: { error: reason.code, message: reason.message },
      error: reason,
    });
  }

  #giveBack(held: Held): void {
    this.#stats.givenBack++;
    try {
      held.msg.nak();
    } catch {
      // the connection is closed: JetStream redelivers after the ack wait all the same
    }
  }

  #keepAlive(): void {
    if (!this.#link?.connected()) return;
    for (const held of this.#held.values()) held.msg.working();
  }

  /** Lanes with tasks waiting on the stream, other than the ones pulled already: pulled from now on. */
  async #scanLanes(): Promise<void> {
    const link = this.#link;
    if (link === undefined || this.#closed || !link.connected()) return;
    const prefix = `${this.#names.fleet}.tasks.`;
    const info = await link.jsm.streams.info(this.#names.tasksStream, { subjects_filter: `${prefix}>` });
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const token = subject.slice(prefix.length);
      if (this.#lanes.has(token) || token.includes('.')) continue;
      const sample = await link.jsm.streams.getMessage(this.#names.tasksStream, { last_by_subj: subject });
      if (sample === null) continue;
      const parsed = parseTaskMessage(sample.data, token, this.#options.maxTaskBytes);
      // a lane is known by its tags; a bad message there is terminated when the lane is pulled
      if (isRejected(parsed)) continue;
      this.#lane(token, this.#hooks.laneKey(parsed.tags));
    }
  }

  #track(work: Promise<void>): void {
    const tracked = work.catch((err: unknown) => {
      this.#logger.warn(errorFields(err), 'a task message was left unacknowledged (redelivered later)');
    });
    this.#publishing.add(tracked);
    void tracked.finally(() => this.#publishing.delete(tracked));
  }
}
