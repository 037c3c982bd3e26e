// Tasks JetStream gave up on: delivered `maxDeliver` times, never acknowledged (every master holding one died, or
// gave it back while closing). JetStream stops delivering such a task and says so only in an advisory; without
// this, its submitter would wait for ever. The fleet's dead stream keeps those advisories (setup.ts), and every
// master pulls from its one shared consumer. An advisory younger than the grace period (two of the lane's ack
// waits and a second, counted from when the dead stream stored it) is put back until then: a master that was
// only stalled past its ack wait may still report the task. The master that takes it after that publishes the
// task's failed result (`MAX_DELIVERIES`) unless a result is stored by then, deletes the task from the tasks
// stream, then acknowledges the advisory. A master stalled longer than that loses the race: its result arrives
// second and is dropped as a duplicate (within the results stream's duplicate window).
import type { Consumer, JsMsg } from '@nats-io/jetstream';
import { errorFields, type Logger } from '../options.ts';
import type { NatsLink } from './connect.ts';
import type { ResolvedJetStreamOptions } from './options.ts';
import {
  type FleetNames,
  kSchemaVersion,
  parseTaskMessage,
  ResultErrorCode,
  type ResultMessage,
} from './schema.ts';
import { deadConsumer, ensureDeadStream, kMaxAdvisoryBytes } from './setup.ts';

/** What a dead letter needs of the queue: its results path. */
export interface DeadLetterHooks {
  /** True when a result for this task is on the results stream already. */
  alreadyDone(client: string, id: string): Promise<boolean>;
  /** Publishes until JetStream stores it; false when JetStream already had it (a duplicate). */
  publishResult(result: ResultMessage): Promise<boolean>;
}

export interface DeadLetterStats {
  /** Tasks this master failed with `MAX_DELIVERIES`. */
  deadLettered: number;
}

/** The advisory's fields this reads (`io.nats.jetstream.advisory.v1.max_deliver`). */
interface MaxDeliverAdvisory {
  stream: string;
  /** The lane's consumer, when the advisory names one. */
  consumer: string | undefined;
  stream_seq: number;
  deliveries: number;
}

const kBatch = 100;
const kFetchExpiresMs = 2000;
/** After a failure (NATS away, the dead stream deleted or refused), the pause doubles from this up to `kErrorMaxMs`. */
const kErrorMs = 1000;
const kErrorMaxMs = 30_000;
/** The margin beyond two ack waits before a dead task is failed. */
const kGraceMarginMs = 1000;

export function parseAdvisory(bytes: Uint8Array, tasksStream: string): MaxDeliverAdvisory | undefined {
  if (bytes.length > kMaxAdvisoryBytes) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
  } catch {
    return undefined;
  }
  const a = value as Partial<MaxDeliverAdvisory> | null;
  if (typeof a !== 'object' || a === null || a.stream !== tasksStream) return undefined;
  if (!Number.isSafeInteger(a.stream_seq) || (a.stream_seq as number) < 1) return undefined;
  const deliveries = Number.isSafeInteger(a.deliveries) ? (a.deliveries as number) : 0;
  const consumer = typeof a.consumer === 'string' && a.consumer.length <= 256 ? a.consumer : undefined;
  return { stream: a.stream, consumer, stream_seq: a.stream_seq as number, deliveries };
}

export class DeadLetters {
  readonly #names: FleetNames;
  readonly #options: ResolvedJetStreamOptions;
  readonly #masterId: string;
  readonly #logger: Logger;
  readonly #hooks: DeadLetterHooks;
  readonly #stats: DeadLetterStats = { deadLettered: 0 };
  #closed = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #batch: { stop(): void } | undefined;

  constructor(
    hooks: DeadLetterHooks,
    o: { names: FleetNames; options: ResolvedJetStreamOptions; masterId: string; logger: Logger },
  ) {
    this.#hooks = hooks;
    this.#names = o.names;
    this.#options = o.options;
    this.#masterId = o.masterId;
    this.#logger = o.logger;
  }

  stats(): DeadLetterStats {
    return { ...this.#stats };
  }

  start(link: NatsLink): void {
    this.#loop ??= this.#pull(link);
  }

  /** Stops pulling; waits for the advisory in hand (its fetch ends within `kFetchExpiresMs`). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    this.#batch?.stop();
    await this.#loop;
  }

  async #pull(link: NatsLink): Promise<void> {
    let consumer: Consumer | undefined;
    let errorMs = kErrorMs;
    while (!this.#closed && !link.nc.isClosed()) {
      try {
        if (!link.connected()) {
          await this.#pause(kErrorMs);
          continue;
        }
        if (consumer === undefined) {
          // again after every failure: the stream or its consumer may have been deleted meanwhile
          await ensureDeadStream(link, this.#names, this.#options);
          consumer = await deadConsumer(link, this.#names);
        }
        const batch = await consumer.fetch({ max_messages: kBatch, expires: kFetchExpiresMs });
        this.#batch = batch;
        for await (const msg of batch) {
          if (this.#closed) {
            msg.nak();
            continue;
          }
          await this.#handle(link, msg);
        }
        errorMs = kErrorMs;
      } catch (err) {
        if (this.#closed) break;
        this.#logger.warn(
          { retryInMs: errorMs, ...errorFields(err) },
          'dead letters: pulling advisories from JetStream failed (a task JetStream gives up on waits until this works)',
        );
        consumer = undefined;
        await this.#pause(errorMs);
        errorMs = Math.min(errorMs * 2, kErrorMaxMs);
      }
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms).unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  /** One advisory: the task's failed result (unless it has one), the task deleted, the advisory acknowledged. */
  async #handle(link: NatsLink, msg: JsMsg): Promise<void> {
    const advisory = parseAdvisory(msg.data, this.#names.tasksStream);
    if (advisory === undefined) {
      this.#logger.warn(
        { subject: msg.subject, bytes: msg.data.length },
        'not a max-deliveries advisory: dropped',
      );
      msg.term();
      return;
    }
    const seq = advisory.stream_seq;
    try {
      // a master stalled past its ack wait on the last delivery may still report the task: whoever takes the
      // advisory before the grace period is over (first, or again after a master closed or died holding it)
      // puts it back until then
      const ageMs = Date.now() - msg.info.timestampNanos / 1e6;
      const graceMs = await this.#graceMs(link, advisory);
      if (ageMs < graceMs) {
        msg.nak(Math.ceil(graceMs - ageMs));
        return;
      }
      const stored = await link.jsm.streams.getMessage(this.#names.tasksStream, { seq });
      // gone already: another master handled it, or the task was acknowledged after all
      if (stored !== null) await this.#fail(link, seq, stored.subject, stored.data, advisory.deliveries);
      msg.ack();
    } catch (err) {
      // left unacknowledged: JetStream gives the advisory to a master again after its ack wait
      this.#logger.warn({ seq, ...errorFields(err) }, 'a dead task could not be failed yet');
    }
  }

  /** Two of the lane's ack waits (this master's when the lane's consumer cannot be read) and a margin. */
  async #graceMs(link: NatsLink, advisory: MaxDeliverAdvisory): Promise<number> {
    let ackWaitMs = this.#options.ackWait * 1000;
    if (advisory.consumer !== undefined) {
      try {
        const info = await link.jsm.consumers.info(this.#names.tasksStream, advisory.consumer);
        ackWaitMs = Math.max(ackWaitMs, (info.config.ack_wait ?? 0) / 1e6);
      } catch {
        // gone, or not a consumer name: this master's ack wait
      }
    }
    return 2 * ackWaitMs + kGraceMarginMs;
  }

  async #fail(
    link: NatsLink,
    seq: number,
    subject: string,
    data: Uint8Array,
    deliveries: number,
  ): Promise<void> {
    const lane = subject.slice(`${this.#names.fleet}.tasks.`.length);
    const parsed = parseTaskMessage(data, lane, this.#options.maxTaskBytes);
    // a task that is not valid now was not valid when delivered either (terminated then): only one naming its
    // task gets a result
    const { id, client } = parsed as { id?: string; client?: string };
    if (id !== undefined && client !== undefined && !(await this.#hooks.alreadyDone(client, id))) {
      const message =
        `delivered ${deliveries} times (the lane's maxDeliver) and never reported: each master holding it died, ` +
        'stalled past its ack wait, or gave it back';
      const stored = await this.#hooks.publishResult({
        v: kSchemaVersion,
        id,
        client,
        status: 'failed',
        result: { error: ResultErrorCode.MAX_DELIVERIES, message },
        error: { code: ResultErrorCode.MAX_DELIVERIES, message },
        master: this.#masterId,
        slave: null,
        attempts: 0,
        delivery: deliveries,
      });
      if (stored) {
        this.#stats.deadLettered++;
        this.#logger.warn(
          { taskId: id, client, seq, deliveries },
          'a task was never reported: failed (MAX_DELIVERIES)',
        );
      }
    }
    await link.jsm.streams.deleteMessage(this.#names.tasksStream, seq).catch((err: unknown) => {
      // deleted meanwhile by another master: nothing left to do
      if (!/no message found|not found/i.test((err as Error).message ?? '')) throw err;
    });
  }
}
