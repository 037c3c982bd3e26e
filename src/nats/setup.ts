// The fleet's streams and consumers, made by whoever comes first (a master or a FleetClient) and shared after.
// Everything here works on nats-server 2.9: one filter subject per consumer, no metadata, no per-message TTL.
import type { Consumer } from '@nats-io/jetstream';
import type { NatsLink } from './connect.ts';
import type { ResolvedJetStreamOptions } from './options.ts';
import type { FleetNames } from './schema.ts';

const kNanos = 1_000_000_000;
/** How long JetStream remembers a `Nats-Msg-Id` to drop a second publish of the same task or result. */
const kDuplicateWindowSeconds = 120;

/** True for the JetStream API's "already exists" answers (two processes creating the same thing at once). */
function alreadyExists(err: unknown): boolean {
  return /already in use|already exists/i.test((err as Error).message ?? '');
}

async function ensureStream(link: NatsLink, config: Parameters<NatsLink['jsm']['streams']['add']>[0]) {
  const name = config.name!;
  try {
    await link.jsm.streams.info(name);
    return;
  } catch (err) {
    if (!/not found/i.test((err as Error).message ?? '')) throw err;
  }
  try {
    await link.jsm.streams.add(config);
  } catch (err) {
    if (!alreadyExists(err)) throw err;
  }
}

/**
 * The tasks stream (work-queue retention: a task leaves it when a master acknowledges it), the results stream
 * (kept `resultTtl` seconds, deduplicated by `Nats-Msg-Id` for two minutes), both on file storage. A stream that
 * exists is used as it is: the first process to create it set its limits.
 */
export async function ensureStreams(
  link: NatsLink,
  names: FleetNames,
  options: ResolvedJetStreamOptions,
): Promise<void> {
  const { RetentionPolicy, StorageType, DiscardPolicy } = link.jetstream;
  await ensureStream(link, {
    name: names.tasksStream,
    subjects: [`${names.fleet}.tasks.>`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: kDuplicateWindowSeconds * kNanos,
  });
  await ensureStream(link, {
    name: names.resultsStream,
    subjects: [`${names.fleet}.results.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: Math.round(options.resultTtl * kNanos),
    duplicate_window: Math.round(Math.min(kDuplicateWindowSeconds, options.resultTtl) * kNanos),
  });
}

/** Largest advisory the dead stream stores; JetStream's are a few hundred bytes. */
export const kMaxAdvisoryBytes = 4096;
/** Advisories the dead stream keeps at most (the oldest dropped first): a bound, far above a real backlog. */
const kDeadMaxMessages = 100_000;

/**
 * The dead stream: JetStream's max-deliveries advisories of the tasks stream. Advisories are core NATS messages,
 * gone if no master listens at that moment: a stream keeps them. Made apart from the other two because it can
 * fail where they cannot (another stream on `$JS.EVENT.ADVISORY.>` overlaps it; an account may not read
 * advisories): its callers carry on without dead letters and say so.
 */
export async function ensureDeadStream(
  link: NatsLink,
  names: FleetNames,
  options: ResolvedJetStreamOptions,
): Promise<void> {
  const { RetentionPolicy, StorageType, DiscardPolicy } = link.jetstream;
  await ensureStream(link, {
    name: names.deadStream,
    subjects: [names.deadSubjects],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: Math.round(options.resultTtl * kNanos),
    // bounded by count and size; no max_bytes, which nats-server reserves at creation (and refuses on a server
    // or account with less JetStream storage than that)
    max_msg_size: kMaxAdvisoryBytes,
    max_msgs: kDeadMaxMessages,
  });
}

/** How long a master may take over one advisory before JetStream gives it to another. */
const kDeadAckWaitSeconds = 30;

/**
 * The durable pull consumer of the dead stream, shared by every master. No delivery limit: an advisory is
 * retried (each ack wait) until a master has failed its task, since giving up would leave a submitter waiting.
 */
export async function deadConsumer(link: NatsLink, names: FleetNames): Promise<Consumer> {
  try {
    await link.jsm.consumers.info(names.deadStream, names.deadConsumer);
  } catch (err) {
    if (!/not found/i.test((err as Error).message ?? '')) throw err;
    try {
      await link.jsm.consumers.add(names.deadStream, {
        durable_name: names.deadConsumer,
        ack_policy: link.jetstream.AckPolicy.Explicit,
        deliver_policy: link.jetstream.DeliverPolicy.All,
        ack_wait: kDeadAckWaitSeconds * kNanos,
      });
    } catch (err) {
      if (!alreadyExists(err)) throw err;
    }
  }
  return link.js.consumers.get(names.deadStream, names.deadConsumer);
}

/**
 * The durable pull consumer of one lane, shared by every master (a work-queue stream allows one consumer per
 * subject): explicit acks, `ackWait` before a silent master's tasks go to another, at most `maxAckPending`
 * tasks out at once, `maxDeliver` deliveries of one task.
 */
export async function laneConsumer(
  link: NatsLink,
  names: FleetNames,
  lane: string,
  options: ResolvedJetStreamOptions,
): Promise<Consumer> {
  const name = names.consumerName(lane);
  try {
    await link.jsm.consumers.info(names.tasksStream, name);
  } catch (err) {
    if (!/not found/i.test((err as Error).message ?? '')) throw err;
    try {
      await link.jsm.consumers.add(names.tasksStream, {
        durable_name: name,
        filter_subject: names.taskSubject(lane),
        ack_policy: link.jetstream.AckPolicy.Explicit,
        deliver_policy: link.jetstream.DeliverPolicy.All,
        ack_wait: Math.round(options.ackWait * kNanos),
        max_ack_pending: options.maxAckPending,
        max_deliver: options.maxDeliver,
      });
    } catch (err) {
      if (!alreadyExists(err)) throw err;
    }
  }
  return link.js.consumers.get(names.tasksStream, name);
}
