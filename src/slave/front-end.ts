import type { HttpApp, HttpRequest, HttpResponse } from '../http/engine.ts';
import { readBody } from '../http/read-body.ts';
import { answerUnrouted, PendingReply, type ReplyTracker, sendNow } from '../http/reply.ts';
import type { ChannelVerdict } from '../protocol/channel.ts';
import { decodeBody, isMsgpack, isObject } from '../protocol/codec.ts';
import type { Answer } from '../protocol/envelope.ts';
import { kExtensionsHeader } from '../protocol/extensions.ts';
import { kAuthHeader } from '../protocol/fleet-secret.ts';
import { kSlaveAnswers, slaveBodyTooLarge, slaveDataInvalid } from './answers.ts';

/** What the slave's routes need from the slave. Each handler returns the answer to send. */
export interface SlaveFrontEndHost {
  readonly isShuttingDown: boolean;
  readonly maxBodySize: number;
  /** Replies waiting for a body or a hook: a close lets them finish. */
  readonly replies: ReplyTracker;
  checkChannel(header: string): ChannelVerdict;
  checkSelfToken(header: string): boolean;
  /** The connected master's token, or undefined while unconnected. */
  readonly masterToken: string | undefined;
  connect(
    token: string,
    body: Record<string, unknown>,
    masterExtensions: string,
    masterProof: string,
  ): Promise<Answer>;
  /** Headers for a `/connect` answer (extensions; the slave's fleet-secret proof for this token). */
  connectHeaders(token: string): Record<string, string>;
  disconnect(body: Record<string, unknown>): Promise<Answer>;
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

/** The slave's routes, with docs/protocol.md's checks in order. */
export function mountSlaveRoutes(app: HttpApp, host: SlaveFrontEndHost): void {
  const tooLarge = slaveBodyTooLarge(host.maxBodySize);
  const controlLimit = Math.min(kControlBodyBytes, host.maxBodySize);
  const controlTooLarge = slaveBodyTooLarge(controlLimit);
  /** Bodies being read now (counted so unfinished uploads cannot pile up). */
  let uploads = 0;

  const masterRoute = (route: MasterRoute) => (res: HttpResponse, req: HttpRequest) => {
    if (host.isShuttingDown) return sendNow(res, kSlaveAnswers.shuttingDown);
    const channel = host.checkChannel(req.getHeader('channel'));
    if (channel !== 'ok') {
      return sendNow(
        res,
        channel === 'missing' ? kSlaveAnswers.channelNotFound : kSlaveAnswers.channelInvalid,
      );
    }
    const token = req.getHeader('token');
    if (token === '') return sendNow(res, kSlaveAnswers.masterTokenNotFound);
    // /connect accepts any token while unconnected (the already-connected check comes after the body)
    if (route !== 'connect' && token !== host.masterToken)
      return sendNow(res, kSlaveAnswers.masterTokenInvalid);
    const contentLength = req.getHeader('content-length');
    const contentType = req.getHeader('content-type');
    const masterExtensions = req.getHeader(kExtensionsHeader);
    const masterProof = req.getHeader(kAuthHeader);
    const control = route !== 'newTask';
    if (control) {
      // checked before a byte of the body is read: its content is unauthenticated
      const hasBody =
        (contentLength !== '' && contentLength !== '0') || req.getHeader('transfer-encoding') !== '';
      if (isMsgpack(contentType)) return sendNow(res, kSlaveAnswers.controlNotJson, hasBody);
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
          ? host.connect(token, body, masterExtensions, masterProof)
          : route === 'disconnect'
            ? host.disconnect(body)
            : host.newTask(body);
      work.then(
        // the /connect answer tells a fleetmaster master what this slave speaks; a DI-engine master ignores it
        (answer) => reply.send(answer, route === 'connect' ? host.connectHeaders(token) : undefined),
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
