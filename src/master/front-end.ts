import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { readBody } from '../http/read-body.ts';
import { PendingReply, type ReplyTracker, sendNow } from '../http/reply.ts';
import type { ChannelVerdict } from '../protocol/channel.ts';
import type { Answer } from '../protocol/envelope.ts';
import { bodyTooLarge, kAnswers, taskDataInvalid } from './answers.ts';
import type { SlaveConnection } from './connection.ts';
import type { SlaveRecord, SlaveRegistry } from './registry.ts';
import type { ResultStage, ResultVerdict } from './results/stage.ts';

/** What the routes need from the master. */
export interface FrontEndHost {
  readonly isShuttingDown: boolean;
  readonly registry: SlaveRegistry<SlaveConnection>;
  readonly results: ResultStage;
  readonly maxBodySize: number;
  /** Replies waiting for a body or a result: a graceful close lets them finish. */
  readonly replies: ReplyTracker;
  checkChannel(header: string): ChannelVerdict;
  checkSelfToken(header: string): boolean;
  /** `DELETE /shutdown` was accepted (the answer is already written). */
  shutdownRequested(): void;
  /** A result route failed in a way that must not reach the slave as a crash. */
  warn(message: string, error: unknown): void;
}

/**
 * The master's routes. Checks run in PROTOCOL.md's order and each failure answers from a precomputed envelope;
 * the heartbeat is answered synchronously (no abort handler, no cork: uWS corks the synchronous part itself).
 */
export function mountMasterRoutes(app: TemplatedApp, host: FrontEndHost): void {
  const tooLarge = bodyTooLarge(host.maxBodySize);

  /** Shutdown, channel and slave token checks; answers and returns undefined when one fails. */
  const checkSlave = (res: HttpResponse, req: HttpRequest): SlaveRecord<SlaveConnection> | undefined => {
    if (host.isShuttingDown) return void sendNow(res, kAnswers.shuttingDown);
    const channel = host.checkChannel(req.getHeader('channel'));
    if (channel !== 'ok') {
      return void sendNow(res, channel === 'missing' ? kAnswers.channelNotGiven : kAnswers.channelInvalid);
    }
    const token = req.getHeader('token');
    if (token === '') return void sendNow(res, kAnswers.slaveTokenNotGiven);
    const record = host.registry.byToken(token);
    if (record === undefined) return void sendNow(res, kAnswers.slaveTokenInvalid);
    return record;
  };

  /** Shutdown and self-token checks of the management routes: the failing answer, or undefined. */
  const refuseSelf = (req: HttpRequest): Answer | undefined => {
    if (host.isShuttingDown) return kAnswers.shuttingDown;
    const token = req.getHeader('token');
    if (token === '') return kAnswers.selfTokenNotGiven;
    if (!host.checkSelfToken(token)) return kAnswers.selfTokenInvalid;
    return undefined;
  };

  app.get('/slave/heartbeat', (res, req) => {
    const record = checkSlave(res, req);
    if (record === undefined) return;
    host.registry.touch(record, performance.now());
    sendNow(res, kAnswers.heartbeat);
  });

  const resultRoute = (outcome: 'complete' | 'fail') => (res: HttpResponse, req: HttpRequest) => {
    const record = checkSlave(res, req);
    if (record === undefined) return;
    // every header is read before the first callback: the request object dies with this function
    const contentLength = req.getHeader('content-length');
    const contentType = req.getHeader('content-type');
    const taskIdHint = req.getHeader('task-id');
    const reply = new PendingReply(res, host.replies);
    readBody(res, contentLength, host.maxBodySize, (outcomeOfRead) => {
      if (!outcomeOfRead.ok) {
        // the rest of the body is still on the wire: answer, then close the connection
        reply.send(tooLarge, undefined, true);
        return;
      }
      host.results
        .submit({ outcome, connection: record.connection, body: outcomeOfRead.body, contentType, taskIdHint })
        .then(
          (verdict) => reply.send(answerFor(verdict)),
          (err: unknown) => {
            host.warn('result stage failed', err);
            reply.send(taskDataInvalid('Result could not be processed.'));
          },
        );
    });
  };
  app.put('/slave/task/complete', resultRoute('complete'));
  app.put('/slave/task/fail', resultRoute('fail'));

  app.get('/ping', (res, req) => {
    sendNow(res, refuseSelf(req) ?? kAnswers.pong);
  });

  app.del('/shutdown', (res, req) => {
    const refused = refuseSelf(req);
    sendNow(res, refused ?? kAnswers.shutdown);
    if (refused) return;
    host.shutdownRequested();
  });

  app.any('/*', (res, req) => {
    // an unread body would be parsed as the next request: close the connection after answering
    const hasBody = req.getHeader('content-length') !== '' || req.getHeader('transfer-encoding') !== '';
    sendNow(res, kAnswers.routeNotFound, hasBody);
  });
}

function answerFor(verdict: ResultVerdict): Answer {
  switch (verdict.kind) {
    case 'delivered':
      return kAnswers.resultReceived;
    case 'ignored':
      return kAnswers.resultIgnored;
    case 'invalid':
      return taskDataInvalid(verdict.message);
  }
}
