import type { HttpApp, HttpRequest, HttpResponse } from '../http/engine.ts';
import { readBody } from '../http/read-body.ts';
import { answerUnrouted, PendingReply, type ReplyTracker, sendNow } from '../http/reply.ts';
import type { ChannelVerdict } from '../protocol/channel.ts';
import { decodeBody, isMsgpack, isObject } from '../protocol/codec.ts';
import type { Answer } from '../protocol/envelope.ts';
import { kExtensionsHeader } from '../protocol/extensions.ts';
import { kAuthHeader, kChallengeHeader } from '../protocol/fleet-secret.ts';
import { kSlaveAnswers, slaveBodyTooLarge, slaveDataInvalid } from './answers.ts';

/** A master's `/connect`, as the route read it. */
export interface ConnectRequest {
  readonly token: string;
  readonly body: Record<string, unknown>;
  /** The body's bytes as they arrived: the fleet-secret proofs cover them. */
  readonly raw: Uint8Array;
  /** The master's `Fleet-Extensions`, `Fleet-Auth` and `Fleet-Challenge` headers ('' when absent). */
  readonly extensions: string;
  readonly proof: string;
  readonly challenge: string;
}

/** The answer to `/connect`, with its headers (extensions; the slave's fleet-secret proof on a success only). */
export interface ConnectAnswer extends Answer {
  readonly headers: Readonly<Record<string, string>>;
}

/** What the slave's routes need from the slave. Each handler returns the answer to send. */
export interface SlaveFrontEndHost extends MasterCheckHost {
  readonly maxBodySize: number;
  /** Replies waiting for a body or a hook: a close lets them finish. */
  readonly replies: ReplyTracker;
  checkSelfToken(header: string): boolean;
  connect(request: ConnectRequest): Promise<ConnectAnswer>;
  disconnect(body: Record<string, unknown>): Promise<Answer>;
  /** With a fleet secret: the refusal a `/connect` earns from its headers alone (read before its body). */
  refuseConnect(token: string, proof: string, challenge: string): Answer | undefined;
  newTask(body: Record<string, unknown>): Promise<Answer>;
  shutdownRequested(): void;
  warn(message: string, error: unknown): void;
}

type MasterRoute = 'connect' | 'disconnect' | 'newTask';

/**
 * `/connect` and `/disconnect` carry a master address and a little connection data. Anyone who knows the channel
 * may send a `/connect`, so its body is read only up to this size (and only as JSON).
 */
export const kControlBodyBytes = 8 * 1024;
/** Request bodies read at once by one slave; past it a `/connect` or `/disconnect` is refused unread (503, 907). */
export const kMaxUploads = 64;

/** What the checks of a route the master calls read from the slave. */
export interface MasterCheckHost {
  readonly isShuttingDown: boolean;
  checkChannel(header: string): ChannelVerdict;
  /** True when `token` is the connected master's (a constant-time compare). */
  isMasterToken(token: string): boolean;
}

/**
 * The header checks of every route a master calls, in docs/protocol.md's order (shutting down, channel, token
 * given, then, where `tokenMustMatch`, the connected master's): the refusal, or undefined.
 */
export function masterRefusal(
  host: MasterCheckHost,
  req: HttpRequest,
  tokenMustMatch: boolean,
): Answer | undefined {
  if (host.isShuttingDown) return kSlaveAnswers.shuttingDown;
  const channel = host.checkChannel(req.getHeader('channel'));
  if (channel !== 'ok') {
    return channel === 'missing' ? kSlaveAnswers.channelNotFound : kSlaveAnswers.channelInvalid;
  }
  const token = req.getHeader('token');
  if (token === '') return kSlaveAnswers.masterTokenNotFound;
  if (tokenMustMatch && !host.isMasterToken(token)) return kSlaveAnswers.masterTokenInvalid;
  return undefined;
}

/** The slave's routes, with docs/protocol.md's checks in order. */
export function mountSlaveRoutes(app: HttpApp, host: SlaveFrontEndHost): void {
  const tooLarge = slaveBodyTooLarge(host.maxBodySize);
  const controlLimit = Math.min(kControlBodyBytes, host.maxBodySize);
  const controlTooLarge = slaveBodyTooLarge(controlLimit);
  /** Bodies being read now (counted so unfinished uploads cannot pile up). */
  let uploads = 0;

  const masterRoute = (route: MasterRoute) => (res: HttpResponse, req: HttpRequest) => {
    // /connect accepts any token while unconnected (the already-connected check comes after the body)
    const refused = masterRefusal(host, req, route !== 'connect');
    if (refused) return sendNow(res, refused);
    const token = req.getHeader('token');
    const contentLength = req.getHeader('content-length');
    const contentType = req.getHeader('content-type');
    const masterExtensions = req.getHeader(kExtensionsHeader);
    const masterProof = req.getHeader(kAuthHeader);
    const masterChallenge = req.getHeader(kChallengeHeader);
    const control = route !== 'newTask';
    if (control) {
      // checked before a byte of the body is read: its content is unauthenticated
      const hasBody =
        (contentLength !== '' && contentLength !== '0') || req.getHeader('transfer-encoding') !== '';
      if (isMsgpack(contentType)) return sendNow(res, kSlaveAnswers.controlNotJson, hasBody);
      if (route === 'connect') {
        // with a fleet secret, a master that has not proved it yet gets its challenge unread
        const refused = host.refuseConnect(token, masterProof, masterChallenge);
        if (refused) return sendNow(res, refused, hasBody);
      }
      if (uploads >= kMaxUploads) return sendNow(res, kSlaveAnswers.uploadsBusy, hasBody);
    }
    uploads++;
    let reading = true;
    const doneReading = () => {
      if (reading) uploads--;
      reading = false;
    };
    const reply = new PendingReply(res, host.replies, doneReading);
    readBody(res, contentLength, control ? controlLimit : host.maxBodySize, (read) => {
      doneReading();
      if (!read.ok) return reply.send(control ? controlTooLarge : tooLarge, undefined, true);
      const decoded = decodeBody(read.body, contentType);
      if (!decoded.ok) return reply.send(slaveDataInvalid(decoded.message));
      if (!isObject(decoded.value)) return reply.send(slaveDataInvalid('Body is not an object.'));
      const body = decoded.value;
      const work =
        route === 'connect'
          ? host.connect({
              token,
              body,
              raw: read.body,
              extensions: masterExtensions,
              proof: masterProof,
              challenge: masterChallenge,
            })
          : route === 'disconnect'
            ? host.disconnect(body)
            : host.newTask(body);
      work.then(
        // the /connect answer tells a fleetmaster master what this slave speaks; a DI-engine master ignores it
        (answer: Answer) =>
          reply.send(answer, route === 'connect' ? (answer as ConnectAnswer).headers : undefined),
        (err: unknown) => {
          host.warn(`slave route ${route} failed`, err);
          reply.send(slaveDataInvalid(err instanceof Error ? err.message : String(err)));
        },
      );
    });
  };

  app.post('/connect', masterRoute('connect'));
  app.del('/disconnect', masterRoute('disconnect'));
  app.post('/task/new', masterRoute('newTask'));

  /** Shutdown and self-token checks of the management routes: the failing answer, or undefined. */
  const refuseSelf = (req: HttpRequest): Answer | undefined => {
    if (host.isShuttingDown) return kSlaveAnswers.shuttingDown;
    const token = req.getHeader('token');
    if (token === '') return kSlaveAnswers.selfTokenNotFound;
    if (!host.checkSelfToken(token)) return kSlaveAnswers.selfTokenInvalid;
    return undefined;
  };

  app.get('/ping', (res, req) => {
    sendNow(res, refuseSelf(req) ?? kSlaveAnswers.pong);
  });

  app.del('/shutdown', (res, req) => {
    const refused = refuseSelf(req);
    sendNow(res, refused ?? kSlaveAnswers.shutdown);
    if (refused) return;
    host.shutdownRequested();
  });

  app.any('/*', (res, req) => answerUnrouted(res, req, kSlaveAnswers.routeNotFound));
}
