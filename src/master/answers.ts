import type { HttpRequest } from '../http/engine.ts';
import { MasterErrorCode as C } from '../protocol/codes.ts';
import { type Answer, fail, ok } from '../protocol/envelope.ts';

/** Every answer of the master's front end, serialised once. Messages follow the reference where it has one. */
export const kAnswers = Object.freeze({
  shuttingDown: fail(401, C.SYSTEM_SHUTTING_DOWN, 'System has already been shutting down.'),
  channelNotGiven: fail(400, C.CHANNEL_NOT_GIVEN, 'Channel not found.'),
  channelInvalid: fail(403, C.CHANNEL_INVALID, 'Channel not match with this endpoint.'),
  slaveTokenNotGiven: fail(400, C.SLAVE_TOKEN_NOT_GIVEN, 'Slave token not found.'),
  slaveTokenInvalid: fail(403, C.SLAVE_TOKEN_INVALID, 'No matching slave token found in this endpoint.'),
  selfTokenNotGiven: fail(400, C.SELF_TOKEN_NOT_GIVEN, 'Master token not found.'),
  selfTokenInvalid: fail(403, C.SELF_TOKEN_INVALID, 'Master token not match with this endpoint.'),
  routeNotFound: fail(404, C.ROUTE_NOT_FOUND, 'No such route on this master.'),
  metricsOff: fail(404, C.ROUTE_NOT_FOUND, 'Metrics are off on this master (options.metrics).'),
  metricsFailed: fail(500, C.METRICS_FAILED, 'Metrics could not be collected.'),
  malformed: fail(400, C.REQUEST_MALFORMED, 'The request is not valid HTTP/1.1.'),
  // the admin listener's only: never echoes the Host it refused (it is the caller's text)
  hostNotAllowed: fail(
    403,
    C.HOST_NOT_ALLOWED,
    'Host not allowed on this admin listener: use localhost or its address, or add the name to adminAllowedHosts (--admin-allowed-hosts).',
  ),
  pong: ok('PONG!'),
  shutdown: ok('Shutdown request received, this server will be down later.'),
  heartbeat: ok('Received!'),
  resultReceived: ok('Result received!'),
  // Retry-After counts whole seconds; data.retryAfterMs is the finer hint fleetmaster's slave follows
  resultStageBusy: fail(503, C.RESULT_STAGE_BUSY, 'Result stage is full; retry later.', {
    retryAfterMs: 200,
  }),
  resultIgnored: ok(
    'Result ignored: no running task with this id on this slave (unknown, or already ended).',
  ),
});

export function bodyTooLarge(maxBodySize: number) {
  return fail(413, C.REQUEST_BODY_TOO_LARGE, `Request body larger than ${maxBodySize} bytes.`);
}

export function taskDataInvalid(message: string) {
  return fail(400, C.TASK_DATA_INVALID, message);
}

/**
 * The shutdown and self-token checks of every management route (`/ping`, `/shutdown`, `/status`, `/metrics`,
 * `/fleet/tasks`): the failing answer, or undefined. The token comes as the `Token` header (the protocol's) or
 * `Authorization: Bearer` (what scrapers send).
 */
export function selfRefusal(
  host: { readonly isShuttingDown: boolean; checkSelfToken(token: string): boolean },
  req: HttpRequest,
): Answer | undefined {
  if (host.isShuttingDown) return kAnswers.shuttingDown;
  let token = req.getHeader('token');
  if (token === '') {
    const authorization = req.getHeader('authorization');
    if (authorization.startsWith('Bearer ')) token = authorization.slice(7).trim();
  }
  if (token === '') return kAnswers.selfTokenNotGiven;
  if (!host.checkSelfToken(token)) return kAnswers.selfTokenInvalid;
  return undefined;
}
