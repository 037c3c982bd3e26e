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
} as const;

/** What fleetmaster speaks, in one header value. */
export const kOurExtensions = [Extension.TASK_ID, Extension.MSGPACK, Extension.BACKPRESSURE].join(', ');

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
