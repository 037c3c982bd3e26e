// The messages on the task and result subjects: a versioned JSON schema any NATS client can speak
// (docs/queue-schema.md is its public description; a change here is a change there). Pure: no NATS import.
import { createHash } from 'node:crypto';

/** The `v` field of every message; a reader terminates (task) or ignores (result) any other value. */
export const kSchemaVersion = 1;

/** Task ids and client names: subject tokens, so no dots, spaces or wildcards. */
const kToken = /^[A-Za-z0-9_-]{1,128}$/;
export const kMaxTags = 32;
export const kMaxTagLength = 128;
export const kMaxRetries = 100;
/** The longest deadline, in seconds (a Node timer's limit). */
export const kMaxDeadline = Math.floor((2 ** 31 - 1) / 1000);

/** Where one fleet's messages live on NATS; `fleet` separates several fleets on one server. */
export interface FleetNames {
  readonly fleet: string;
  /** Work-queue stream of tasks: subjects `<fleet>.tasks.<lane>`. */
  readonly tasksStream: string;
  /** Results, kept for a time: subjects `<fleet>.results.<client>.<id>`. */
  readonly resultsStream: string;
  /** Key-value bucket of the masters' records. */
  readonly mastersBucket: string;
  /**
   * Work-queue stream keeping JetStream's advisories of tasks delivered `maxDeliver` times without an
   * acknowledgement (subjects `deadSubjects`), until a master fails each task with `MAX_DELIVERIES`.
   */
  readonly deadStream: string;
  readonly deadSubjects: string;
  /** The durable pull consumer every master shares on the dead stream. */
  readonly deadConsumer: string;
  taskSubject(lane: string): string;
  /** The durable pull consumer every master shares for one lane. */
  consumerName(lane: string): string;
  resultSubject(client: string, id: string): string;
  /** Every result of one client. */
  resultFilter(client: string): string;
}

const kFleet = /^[A-Za-z0-9_-]{1,32}$/;

export function isFleetName(value: unknown): value is string {
  return typeof value === 'string' && kFleet.test(value);
}

export function isToken(value: unknown): value is string {
  return typeof value === 'string' && kToken.test(value);
}

export function fleetNames(fleet: string): FleetNames {
  if (!isFleetName(fleet)) {
    throw new RangeError(`fleet must be 1 to 32 letters, digits, '_' or '-' (got ${JSON.stringify(fleet)})`);
  }
  return Object.freeze({
    fleet,
    tasksStream: `${fleet}_tasks`,
    resultsStream: `${fleet}_results`,
    mastersBucket: `${fleet}_masters`,
    deadStream: `${fleet}_dead`,
    deadSubjects: `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${fleet}_tasks.*`,
    deadConsumer: `${fleet}_dead`,
    taskSubject: (lane: string) => `${fleet}.tasks.${lane}`,
    consumerName: (lane: string) => `${fleet}_lane_${lane}`,
    resultSubject: (client: string, id: string) => `${fleet}.results.${client}.${id}`,
    resultFilter: (client: string) => `${fleet}.results.${client}.>`,
  });
}

/**
 * The subject token of a tag set: `_` without tags, else `t` and the first 16 hex digits of the SHA-256 of the
 * tags sorted, without repeats, joined by newlines. One durable consumer per token, so a master pulls only
 * tasks its slaves can run.
 */
export function laneToken(tags: readonly string[]): string {
  if (tags.length === 0) return '_';
  const key = [...new Set(tags)].sort().join('\n');
  return `t${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
}

/** A task as published on `<fleet>.tasks.<lane>`. */
export interface TaskMessage {
  v: typeof kSchemaVersion;
  /** Unique within the client; with `client`, the key of the result and of deduplication. */
  id: string;
  /** The submitter's name: results go to `<fleet>.results.<client>.<id>`. */
  client: string;
  /** The task's data, sent to a slave as is. */
  data: unknown;
  priority?: number;
  tags?: string[];
  retries?: number;
  deadline?: number;
}

export type TaskOptions = Required<Pick<TaskMessage, 'priority' | 'tags' | 'retries'>> &
  Pick<TaskMessage, 'deadline'>;

/** A task read from the stream, checked. */
export interface ParsedTask extends TaskOptions {
  readonly id: string;
  readonly client: string;
  readonly data: unknown;
  readonly lane: string;
}

/** Why a message on the task subject is not a task; `id`/`client` when it named them (a result can tell). */
export interface RejectedTask {
  readonly reason: string;
  readonly id?: string;
  readonly client?: string;
}

/** Checks the options of a task (a submit's, or a message's); the message names the field. */
export function checkTaskOptions(
  input: { priority?: unknown; tags?: unknown; retries?: unknown; deadline?: unknown },
  prefix = 'options.',
): TaskOptions | string {
  const { priority = 0, tags = [], retries = 0, deadline } = input;
  if (typeof priority !== 'number' || !Number.isFinite(priority)) {
    return `${prefix}priority must be a finite number (got ${String(priority)})`;
  }
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0 || retries > kMaxRetries) {
    return `${prefix}retries must be an integer between 0 and ${kMaxRetries} (got ${String(retries)})`;
  }
  if (
    deadline !== undefined &&
    (typeof deadline !== 'number' || !(deadline > 0) || deadline > kMaxDeadline)
  ) {
    return `${prefix}deadline must be a number of seconds > 0 (got ${String(deadline)})`;
  }
  if (!Array.isArray(tags) || tags.length > kMaxTags) {
    return `${prefix}tags must be an array of at most ${kMaxTags} strings`;
  }
  for (const tag of tags) {
    if (typeof tag !== 'string' || tag.length === 0 || tag.length > kMaxTagLength || tag.includes('\n')) {
      return `${prefix}tags must hold non-empty strings of at most ${kMaxTagLength} characters without a newline`;
    }
  }
  const sorted = [...new Set(tags as string[])].sort();
  return deadline === undefined
    ? { priority, tags: sorted, retries }
    : { priority, tags: sorted, retries, deadline: deadline as number };
}

/**
 * Reads a message from the task subject. Anything that is not a version-1 task of this lane (bad JSON, another
 * version, a missing field, a bad option, too large) is a `RejectedTask`: the caller terminates it.
 */
export function parseTaskMessage(
  bytes: Uint8Array,
  subjectLane: string,
  maxBytes: number,
): ParsedTask | RejectedTask {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
  } catch {
    return { reason: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { reason: 'not a JSON object' };
  }
  const m = value as Record<string, unknown>;
  const named = {
    ...(isToken(m.id) ? { id: m.id } : {}),
    ...(isToken(m.client) ? { client: m.client } : {}),
  };
  // a message over the limit is read all the same (NATS's max_payload bounds it) to name its task in the result
  if (bytes.length > maxBytes)
    return { reason: `message of ${bytes.length} bytes (limit ${maxBytes})`, ...named };
  if (m.v !== kSchemaVersion) {
    return {
      reason: `schema version ${JSON.stringify(m.v)} (this master reads ${kSchemaVersion})`,
      ...named,
    };
  }
  if (!isToken(m.id)) return { reason: 'id must be 1 to 128 letters, digits, _ or -', ...named };
  if (!isToken(m.client)) return { reason: 'client must be 1 to 128 letters, digits, _ or -', ...named };
  if (!('data' in m)) return { reason: 'data is missing', ...named };
  const options = checkTaskOptions(m, '');
  if (typeof options === 'string') return { reason: options, ...named };
  const lane = laneToken(options.tags);
  if (lane !== subjectLane) {
    return { reason: `published on lane ${subjectLane} but its tags make lane ${lane}`, ...named };
  }
  return { id: m.id, client: m.client, data: m.data, lane, ...options };
}

export function isRejected(task: ParsedTask | RejectedTask): task is RejectedTask {
  return 'reason' in task;
}

export function encodeTask(task: TaskMessage): Uint8Array {
  return Buffer.from(JSON.stringify(task));
}

/** A task's outcome as published on `<fleet>.results.<client>.<id>`. */
export interface ResultMessage {
  v: typeof kSchemaVersion;
  id: string;
  client: string;
  status: 'completed' | 'failed';
  /** The slave's result (completed, or its failure payload), or `{ error, message }` when it was ended. */
  result: unknown;
  /** Null when completed; the reason of a failure otherwise. */
  error: { code: string; message: string } | null;
  /** The master that ran it (its id in the masters' bucket). */
  master: string;
  /** The slave of the last attempt; null when none ran it. */
  slave: string | null;
  /** Attempts on slaves, on that master. */
  attempts: number;
  /** How many times JetStream delivered the task to a master (above 1: a master died holding it, or gave it back). */
  delivery: number;
}

/** Failure codes a result carries beyond the master's own task end codes. */
export const ResultErrorCode = {
  /** The slave reported the failure (`TaskFail`); `result` is its payload. */
  REPORTED_FAILURE: 'REPORTED_FAILURE',
  /** The message was not a valid task (the reason is in `message`); nothing ran. */
  INVALID_TASK: 'INVALID_TASK',
  /** The slave's result could not be written as JSON. */
  RESULT_NOT_JSON: 'RESULT_NOT_JSON',
  /** The slave's result, as JSON, is larger than NATS carries (the server's max_payload). */
  RESULT_TOO_LARGE: 'RESULT_TOO_LARGE',
  /**
   * JetStream delivered the task `maxDeliver` times and no master ever reported an outcome (each one holding it
   * died, or gave it back while closing): it is not delivered again.
   */
  MAX_DELIVERIES: 'MAX_DELIVERIES',
} as const;

export function encodeResult(result: ResultMessage): Uint8Array {
  return Buffer.from(JSON.stringify(result));
}

/** Reads a result; undefined for anything that is not a version-1 result (the reader ignores and counts it). */
export function parseResultMessage(bytes: Uint8Array): ResultMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const m = value as Record<string, unknown>;
  if (m.v !== kSchemaVersion || !isToken(m.id) || !isToken(m.client)) return undefined;
  if (m.status !== 'completed' && m.status !== 'failed') return undefined;
  const error = m.error as ResultMessage['error'] | undefined;
  if (
    error !== null &&
    (typeof error !== 'object' || typeof error.code !== 'string' || typeof error.message !== 'string')
  ) {
    return undefined;
  }
  return value as ResultMessage;
}
