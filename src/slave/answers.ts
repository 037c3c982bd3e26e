import { SlaveErrorCode as C } from '../protocol/codes.ts';
import { fail, ok } from '../protocol/envelope.ts';

/** Every fixed answer of the slave's routes, serialised once. Messages follow the reference. */
export const kSlaveAnswers = Object.freeze({
  shuttingDown: fail(401, C.SYSTEM_SHUTTING_DOWN, 'System has already been shutting down.'),
  channelNotFound: fail(400, C.CHANNEL_NOT_FOUND, 'Channel not found.'),
  channelInvalid: fail(403, C.CHANNEL_INVALID, 'Channel not match with this endpoint.'),
  masterTokenNotFound: fail(400, C.MASTER_TOKEN_NOT_FOUND, 'Master token not found.'),
  masterTokenInvalid: fail(403, C.MASTER_TOKEN_INVALID, 'Master not match with this endpoint.'),
  selfTokenNotFound: fail(400, C.SELF_TOKEN_NOT_FOUND, 'Slave token not found.'),
  selfTokenInvalid: fail(403, C.SELF_TOKEN_INVALID, 'Slave token not match with this endpoint.'),
  alreadyConnected: fail(400, C.SLAVE_ALREADY_CONNECTED, 'This slave already connected.'),
  notConnected: fail(400, C.SLAVE_NOT_CONNECTED, 'This slave not connected yet.'),
  taskAlreadyExist: fail(400, C.TASK_ALREADY_EXIST, 'Already has a task.'),
  routeNotFound: fail(404, C.ROUTE_NOT_FOUND, 'No such route on this slave.'),
  malformed: fail(400, C.REQUEST_MALFORMED, 'The request is not valid HTTP/1.1.'),
  uploadsBusy: fail(503, C.UPLOADS_BUSY, 'Too many request bodies are being read; retry later.'),
  controlNotJson: fail(400, C.REQUEST_DATA_INVALID, 'A /connect or /disconnect body must be JSON.'),
  connected: ok('Connect success.'),
  disconnected: ok('Disconnect success.'),
  taskReceived: ok('Task received!'),
  pong: ok('PONG!'),
  shutdown: ok('Shutdown request received, this server will be down later.'),
});

export function slaveBodyTooLarge(maxBodySize: number) {
  return fail(413, C.REQUEST_BODY_TOO_LARGE, `Request body larger than ${maxBodySize} bytes.`);
}

export function slaveDataInvalid(message: string) {
  return fail(400, C.REQUEST_DATA_INVALID, message);
}
