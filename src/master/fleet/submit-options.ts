import { kMaxSeconds } from '../../options.ts';
import type { NewTaskOptions } from '../task.ts';

export interface SubmitOptions extends NewTaskOptions {
  /**
   * Further attempts when the task's slave is lost (evicted, disconnected), refuses it, or cannot be reached: the
   * task goes back to the head of its priority in the queue, to another slave where one is free. @defaultValue 0
   */
  retries?: number;
  /** The task runs only on a slave carrying every one of these (`newConnection(…, { tags })`). @defaultValue none */
  tags?: readonly string[];
  /** Higher runs first; first in, first out within a priority. @defaultValue 0 */
  priority?: number;
  /** Aborting it cancels the task (`task.cancel(signal.reason)`). */
  signal?: AbortSignal;
}

export interface MapOptions extends SubmitOptions {
  /** Most tasks submitted and not yet yielded at once. @defaultValue 1000 */
  inFlight?: number;
}

export interface ResolvedSubmitOptions {
  readonly deadline: number | undefined;
  readonly retries: number;
  /** Sorted, without repeats. */
  readonly tags: readonly string[];
  readonly priority: number;
  readonly signal: AbortSignal | undefined;
}

export const kMaxRetries = 100;
export const kMaxTags = 32;
export const kMaxTagLength = 128;
export const kDefaultInFlight = 1000;

const kNoTags: readonly string[] = Object.freeze([]);
const kDefaults: ResolvedSubmitOptions = Object.freeze({
  deadline: undefined,
  retries: 0,
  tags: kNoTags,
  priority: 0,
  signal: undefined,
});

/**
 * Checks a submit's options; every message names the option. Tags must be known (some connection was given
 * them), or the task would wait for ever for a slave that cannot exist.
 */
export function resolveSubmitOptions(
  options: SubmitOptions | undefined,
  knownTags: ReadonlySet<string>,
): ResolvedSubmitOptions {
  if (options === undefined) return kDefaults;
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { deadline, retries = 0, priority = 0, signal } = options;
  if (deadline !== undefined && (typeof deadline !== 'number' || !(deadline > 0) || deadline > kMaxSeconds)) {
    throw new RangeError(`options.deadline must be a number of seconds > 0 (got ${String(deadline)})`);
  }
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0 || retries > kMaxRetries) {
    throw new RangeError(
      `options.retries must be an integer between 0 and ${kMaxRetries} (got ${String(retries)})`,
    );
  }
  if (typeof priority !== 'number' || !Number.isFinite(priority)) {
    throw new RangeError(`options.priority must be a finite number (got ${String(priority)})`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError('options.signal must be an AbortSignal');
  }
  const tags = options.tags === undefined ? kNoTags : checkTags('tags', options.tags);
  const unknown = tags.filter((tag) => !knownTags.has(tag));
  if (unknown.length > 0) {
    throw new RangeError(
      `options.tags must name tags some connection carries (newConnection(…, { tags })); unknown: ${unknown
        .map((t) => JSON.stringify(t))
        .join(', ')}`,
    );
  }
  return { deadline, retries, tags, priority, signal };
}

/** A list of tags (of a task or a connection): sorted, without repeats; each a short string without a newline. */
export function checkTags(name: string, value: unknown): readonly string[] {
  if (!Array.isArray(value)) throw new TypeError(`options.${name} must be an array of strings`);
  if (value.length > kMaxTags) {
    throw new RangeError(`options.${name} must hold at most ${kMaxTags} tags (got ${value.length})`);
  }
  for (const tag of value) {
    if (typeof tag !== 'string' || tag.length === 0 || tag.length > kMaxTagLength || tag.includes('\n')) {
      throw new TypeError(
        `options.${name} must hold non-empty strings of at most ${kMaxTagLength} characters without a newline (got ${JSON.stringify(tag)})`,
      );
    }
  }
  return value.length === 0 ? kNoTags : Object.freeze([...new Set(value as string[])].sort());
}

/**
 * The task's data as JSON (what a slave is sent), checked now so a task that cannot be sent is refused before
 * it is queued. `undefined` is sent as `{}`.
 */
export function encodeData(data: unknown): string | undefined {
  if (data === undefined) return undefined;
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (err) {
    throw new TypeError(
      `data must be serialisable as JSON (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  if (json === undefined) throw new TypeError(`data must be serialisable as JSON (got a ${typeof data})`);
  return json;
}

export function checkInFlight(value: unknown): number {
  if (value === undefined) return kDefaultInFlight;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 1_000_000) {
    throw new RangeError(`options.inFlight must be an integer between 1 and 1000000 (got ${String(value)})`);
  }
  return value;
}
