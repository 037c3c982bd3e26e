import type { HttpApp, HttpRequest, HttpResponse } from '../../http/engine.ts';
import { readBody } from '../../http/read-body.ts';
import { PendingReply, type ReplyTracker, sendNow } from '../../http/reply.ts';
import type { Answer } from '../../protocol/envelope.ts';
import { bodyTooLarge, kAnswers } from '../answers.ts';
import type { FleetHttpTasks, FleetReply } from './http-tasks.ts';

/** What the routes need from the master. */
export interface FleetRoutesHost {
  readonly isShuttingDown: boolean;
  readonly maxBodySize: number;
  readonly replies: ReplyTracker;
  readonly fleetTasks: FleetHttpTasks;
  checkSelfToken(header: string): boolean;
  /** Counts an error answer by its protocol code. */
  answeredError(code: number): void;
}

/**
 * The thin HTTP part of the fleet's HTTP routes (any engine) (the logic is in http-tasks.ts): reads what the
 * request says before anything else (the request object dies with the callback), checks the self token as `/status`
 * does (the `Token` header, else `Authorization: Bearer`), and writes the answer, counting error answers.
 */
export function mountFleetRoutes(app: HttpApp, host: FleetRoutesHost): void {
  const tooLarge = bodyTooLarge(host.maxBodySize);
  const send = (res: HttpResponse, reply: FleetReply) => {
    if (reply.answer.code !== 0) host.answeredError(reply.answer.code);
    sendNow(res, reply.answer, false, reply.headers as Record<string, string> | undefined);
  };
  const refused = (res: HttpResponse, req: HttpRequest): boolean => {
    const answer = selfRefusal(host, req);
    if (answer === undefined) return false;
    host.answeredError(answer.code);
    sendNow(res, answer);
    return true;
  };

  app.post('/fleet/tasks', (res, req) => {
    if (refused(res, req)) return;
    const contentLength = req.getHeader('content-length');
    const contentType = req.getHeader('content-type');
    const pending = new PendingReply(res, host.replies);
    readBody(res, contentLength, host.maxBodySize, (read) => {
      if (!read.ok) {
        host.answeredError(tooLarge.code);
        pending.send(tooLarge, undefined, true);
        return;
      }
      const reply = host.fleetTasks.submit(read.body, contentType);
      if (reply.answer.code !== 0) host.answeredError(reply.answer.code);
      pending.send(reply.answer, reply.headers as Record<string, string> | undefined);
    });
  });

  app.get('/fleet/tasks/:id', (res, req) => {
    if (refused(res, req)) return;
    const reply = host.fleetTasks.read(req.getParameter(0) ?? '', req.getQuery() ?? '');
    if ('answer' in reply) return send(res, reply);
    const pending = new PendingReply(res, host.replies, () => reply.cancel());
    void reply.later.then((later) =>
      pending.send(later.answer, later.headers as Record<string, string> | undefined),
    );
  });

  app.del('/fleet/tasks/:id', (res, req) => {
    if (refused(res, req)) return;
    send(res, host.fleetTasks.cancel(req.getParameter(0) ?? ''));
  });
}

/** The self-token check of the management routes (as front-end.ts's, which this file must not import from). */
function selfRefusal(host: FleetRoutesHost, req: HttpRequest): Answer | undefined {
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
