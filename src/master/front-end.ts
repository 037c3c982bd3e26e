import type { HttpApp, HttpRequest, HttpResponse } from '../http/engine.ts';
import { readBody } from '../http/read-body.ts';
import { answerUnrouted, PendingReply, type ReplyTracker, sendNow } from '../http/reply.ts';
import type { ChannelVerdict } from '../protocol/channel.ts';
import type { Answer } from '../protocol/envelope.ts';
import { Extension, kExtensionsHeader, speaks } from '../protocol/extensions.ts';
import { type AdminHost, mountAdminRoutes } from './admin.ts';
import { bodyTooLarge, kAnswers, taskDataInvalid } from './answers.ts';
import type { SlaveConnection } from './connection.ts';
import type { FleetCounters } from './fleet/counters.ts';
import type { SlaveRecord, SlaveRegistry } from './fleet/registry.ts';
import type { ResultJob, ResultStage, ResultVerdict } from './results/stage.ts';

/** What the routes need from the master. */
export interface FrontEndHost extends AdminHost {
  readonly isShuttingDown: boolean;
  /** Heartbeats and error answers are counted here (plain integers, read at scrape time). */
  readonly counters: FleetCounters;
  readonly registry: SlaveRegistry<SlaveConnection>;
  readonly results: ResultStage;
  /** Hands a result to the stage (or acknowledges at once one that cannot reach a running task). */
  submitResult(job: ResultJob): Promise<ResultVerdict>;
  readonly maxBodySize: number;
  /** Replies waiting for a body or a result: a graceful close lets them finish. */
  readonly replies: ReplyTracker;
  checkChannel(header: string): ChannelVerdict;
  checkSelfToken(header: string): boolean;
  /** `DELETE /shutdown` was accepted (the answer is already written). */
  shutdownRequested(): void;
  /** A result upload was cut before its body was complete (the slave may send it again; nothing reached a task). */
  resultAborted(connection: SlaveConnection, taskIdHint: string): void;
  /** A result route failed in a way that must not reach the slave as a crash. */
  warn(message: string, error: unknown): void;
}

/**
 * The master's routes. Checks run in PROTOCOL.md's order and each failure answers from a precomputed envelope;
 * the heartbeat is answered synchronously (no abort handler, no cork: uWS corks the synchronous part itself).
 */
export function mountMasterRoutes(app: HttpApp, host: FrontEndHost): void {
  const tooLarge = bodyTooLarge(host.maxBodySize);
  const { counters } = host;

  /** Every error answer is counted by its code (the metrics' request errors). */
  const refuse = (res: HttpResponse, answer: Answer, close?: boolean, headers?: Record<string, string>) => {
    counters.error(answer.code);
    sendNow(res, answer, close, headers);
  };
  const reply = (pending: PendingReply, answer: Answer, close?: boolean) => {
    if (answer.code !== 0) counters.error(answer.code);
    pending.send(answer, undefined, close);
  };
  /** Hands a result to the stage and answers with its verdict (made once: not a closure per result). */
  const submitResult = (pending: PendingReply, job: ResultJob) => {
    host.submitResult(job).then(
      (verdict) => reply(pending, answerFor(verdict)),
      (err: unknown) => {
        host.warn('result stage failed', err);
        reply(pending, taskDataInvalid('Result could not be processed.'));
      },
    );
  };

  /** Shutdown, channel and slave token checks; answers and returns undefined when one fails. */
  const checkSlave = (res: HttpResponse, req: HttpRequest): SlaveRecord<SlaveConnection> | undefined => {
    if (host.isShuttingDown) return void refuse(res, kAnswers.shuttingDown);
    const channel = host.checkChannel(req.getHeader('channel'));
    if (channel !== 'ok') {
      return void refuse(res, channel === 'missing' ? kAnswers.channelNotGiven : kAnswers.channelInvalid);
    }
    const token = req.getHeader('token');
    if (token === '') return void refuse(res, kAnswers.slaveTokenNotGiven);
    const record = host.registry.byToken(token);
    if (record === undefined) return void refuse(res, kAnswers.slaveTokenInvalid);
    return record;
  };

  /**
   * Shutdown and self-token checks of the management routes: the failing answer (counted), or undefined. The
   * token comes as the `Token` header (the protocol's) or `Authorization: Bearer` (what scrapers send).
   */
  const refuseSelf = (req: HttpRequest): Answer | undefined => {
    const refused = selfRefusal(req);
    if (refused) counters.error(refused.code);
    return refused;
  };
  const selfRefusal = (req: HttpRequest): Answer | undefined => {
    if (host.isShuttingDown) return kAnswers.shuttingDown;
    let token = req.getHeader('token');
    if (token === '') {
      const authorization = req.getHeader('authorization');
      if (authorization.startsWith('Bearer ')) token = authorization.slice(7).trim();
    }
    if (token === '') return kAnswers.selfTokenNotGiven;
    if (!host.checkSelfToken(token)) return kAnswers.selfTokenInvalid;
    return undefined;
  };

  app.get('/slave/heartbeat', (res, req) => {
    const record = checkSlave(res, req);
    if (record === undefined) return;
    host.registry.touch(record, performance.now());
    counters.heartbeats++;
    sendNow(res, kAnswers.heartbeat);
  });

  const resultRoute = (outcome: 'complete' | 'fail') => (res: HttpResponse, req: HttpRequest) => {
    const record = checkSlave(res, req);
    if (record === undefined) return;
    // a result proves the slave alive as well as a heartbeat does: a busy slave is never evicted because the
    // master was too busy to read its heartbeats
    host.registry.touch(record, performance.now());
    // every header is read before the first callback: the request object dies with this function
    const contentLength = req.getHeader('content-length');
    const contentType = req.getHeader('content-type');
    const extensions = req.getHeader(kExtensionsHeader);
    // the header counts only from a slave that announced it (it is then checked against the body)
    const taskIdHint = speaks(extensions, Extension.TASK_ID) ? req.getHeader('task-id').toLowerCase() : '';
    const stage = host.results;
    if (stage.isFull && speaks(extensions, Extension.BACKPRESSURE)) {
      // a fleetmaster slave retries after Retry-After; its body is left unread, so the connection closes
      refuse(res, kAnswers.resultStageBusy, true, kRetryAfter);
      return;
    }
    let bodyRead = false;
    const pending = new PendingReply(res, host.replies, () => {
      if (!bodyRead) host.resultAborted(record.connection, taskIdHint);
    });
    // a DI-engine slave dies on any error answer to a result: hold it instead, reading nothing more from its
    // socket until the stage has room (the kernel's socket buffer holds the rest of its body)
    const hold = stage.isFull;
    if (hold) {
      res.pause();
      void stage.whenRoom().then(() => pending.isOpen && res.resume());
    }
    readBody(res, contentLength, host.maxBodySize, (read) => {
      bodyRead = true;
      if (!read.ok) {
        // the rest of the body is still on the wire: answer, then close the connection
        reply(pending, tooLarge, true);
        return;
      }
      const job: ResultJob = {
        outcome,
        connection: record.connection,
        body: read.body,
        contentType,
        taskIdHint,
      };
      if (stage.isFull) void stage.whenRoom().then(() => submitResult(pending, job));
      else submitResult(pending, job);
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

  mountAdminRoutes(app, host, refuseSelf);

  app.any('/*', (res, req) => {
    counters.error(kAnswers.routeNotFound.code);
    answerUnrouted(res, req, kAnswers.routeNotFound);
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
    case 'shutdown':
      return kAnswers.shuttingDown;
  }
}

const kRetryAfter = Object.freeze({ 'retry-after': '1' });
