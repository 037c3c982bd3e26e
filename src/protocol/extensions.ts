/**
 * fleetmaster's protocol extensions, announced in a `Fleet-Extensions` header (a comma-separated list) so a
 * DI-engine peer, which never sends it, never receives one:
 * - the master announces on `POST /connect`; the slave answers `/connect` with its own list;
 * - the slave sends its list on every request to the master (heartbeats and results).
 */
export const kExtensionsHeader = 'fleet-extensions';

export const Extension = {
  /** Result requests carry a `Task-Id` header. */
  TASK_ID: 'task-id',
  /** Task and result bodies may be MessagePack (`Content-Type: application/msgpack`). */
  MSGPACK: 'msgpack',
  /** A full result stage may answer 503 (code 902) with `Retry-After`; the slave retries. */
  BACKPRESSURE: 'backpressure',
  /** The master may send `POST /task/cancel`; the slave aborts that task's `AbortSignal`. */
  CANCEL: 'cancel',
} as const;

/** What fleetmaster speaks, in one header value. */
export const kOurExtensions = [
  Extension.TASK_ID,
  Extension.MSGPACK,
  Extension.BACKPRESSURE,
  Extension.CANCEL,
].join(', ');

/** The most task slots a slave may announce (a larger announcement counts as this many). */
export const kMaxConcurrency = 1024;

/** A slave's `/connect` answer: fleetmaster's list plus `concurrency=N`, the tasks it runs at once. */
export function slaveExtensions(concurrency: number): string {
  return `${kOurExtensions}, concurrency=${concurrency}`;
}

/**
 * The task slots a slave announced (`concurrency=N` in its list), bounded by `kMaxConcurrency`; undefined when it
 * announced none or an unusable value (then it counts as 1, like a DI-engine slave).
 */
export function announcedConcurrency(header: string): number | undefined {
  const match = /(?:^|,)\s*concurrency=(\d{1,9})\s*(?:,|$)/.exec(header);
  if (match === null) return undefined;
  const n = Number(match[1]);
  return n >= 1 ? Math.min(n, kMaxConcurrency) : undefined;
}

/** True when a `Fleet-Extensions` header value lists `name`. */
export function speaks(header: string, name: string): boolean {
  if (header === '') return false;
  // a fleet sends one value over and over (twice per result): split it once
  if (header !== lastHeader) {
    lastHeader = header;
    lastNames = header.split(',').map((part) => part.trim());
  }
  return lastNames.includes(name);
}

let lastHeader = '';
let lastNames: string[] = [];
