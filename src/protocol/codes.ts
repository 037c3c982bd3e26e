/**
 * The protocol's error codes, one table per end. Values 0–699 are DI-engine's own; 900+ are
 * fleetmaster's additions for cases the reference answers with a bare 500 (or not at all).
 * A DI-engine peer never receives a 9xx code from a route it uses correctly.
 */
export const MasterErrorCode = {
  SUCCESS: 0,
  SYSTEM_SHUTTING_DOWN: 101,
  CHANNEL_NOT_GIVEN: 201,
  CHANNEL_INVALID: 202,
  MASTER_TOKEN_NOT_GIVEN: 301,
  MASTER_TOKEN_INVALID: 302,
  SELF_TOKEN_NOT_GIVEN: 401,
  SELF_TOKEN_INVALID: 402,
  SLAVE_TOKEN_NOT_GIVEN: 501,
  SLAVE_TOKEN_INVALID: 502,
  TASK_DATA_INVALID: 601,
  /** fleetmaster: request body larger than `maxBodySize` (HTTP 413). */
  REQUEST_BODY_TOO_LARGE: 901,
  /** fleetmaster: the result stage is full; retry after `Retry-After` seconds (HTTP 503). */
  RESULT_STAGE_BUSY: 902,
  /** fleetmaster: no route for this method and path (HTTP 404). */
  ROUTE_NOT_FOUND: 903,
  /** fleetmaster: a `/fleet/tasks` request body or query is not what the route takes (HTTP 400). */
  REQUEST_DATA_INVALID: 904,
  /** fleetmaster: `GET /metrics` could not collect (HTTP 500). */
  METRICS_FAILED: 905,
  /** fleetmaster: the request is not valid HTTP/1.1 (HTTP 400; `node` engine; `uws` closes without an answer). */
  REQUEST_MALFORMED: 906,
  /** fleetmaster: `POST /fleet/tasks` met a full queue (`queueLimit`); retry after `Retry-After` (HTTP 503). */
  QUEUE_FULL: 908,
  /** fleetmaster: no task of that id was submitted over HTTP, or it is no longer kept (HTTP 404). */
  TASK_NOT_FOUND: 909,
  /**
   * fleetmaster: the admin listener refuses a request whose `Host` header names no allowed host
   * (`adminAllowedHosts`): a page whose name was rebound to this address must not read it (HTTP 403).
   */
  HOST_NOT_ALLOWED: 910,
} as const;
export type MasterErrorCode = (typeof MasterErrorCode)[keyof typeof MasterErrorCode];

export const SlaveErrorCode = {
  SUCCESS: 0,
  SYSTEM_SHUTTING_DOWN: 101,
  CHANNEL_NOT_FOUND: 201,
  CHANNEL_INVALID: 202,
  MASTER_TOKEN_NOT_FOUND: 301,
  MASTER_TOKEN_INVALID: 302,
  SELF_TOKEN_NOT_FOUND: 401,
  SELF_TOKEN_INVALID: 402,
  SLAVE_ALREADY_CONNECTED: 501,
  SLAVE_NOT_CONNECTED: 502,
  SLAVE_CONNECTION_REFUSED: 503,
  SLAVE_DISCONNECTION_REFUSED: 504,
  TASK_ALREADY_EXIST: 601,
  TASK_REFUSED: 602,
  /** fleetmaster: request body larger than `maxBodySize` (HTTP 413). */
  REQUEST_BODY_TOO_LARGE: 901,
  /** fleetmaster: no route for this method and path (HTTP 404). */
  ROUTE_NOT_FOUND: 903,
  /** fleetmaster: body is not JSON / MessagePack or lacks a required field (HTTP 400; the reference answers 500). */
  REQUEST_DATA_INVALID: 904,
  /** fleetmaster: the request is not valid HTTP/1.1 (HTTP 400; `node` engine; `uws` closes without an answer). */
  REQUEST_MALFORMED: 906,
  /** fleetmaster: too many request bodies are being read at once; retry later (HTTP 503). */
  UPLOADS_BUSY: 907,
} as const;
export type SlaveErrorCode = (typeof SlaveErrorCode)[keyof typeof SlaveErrorCode];

/** Reverse lookup: code number → enum key, for error class names and messages. */
export function codeName(table: Record<string, number>, code: number): string | undefined {
  for (const key in table) if (table[key] === code) return key;
  return undefined;
}
