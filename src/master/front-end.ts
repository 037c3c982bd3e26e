import type { HttpApp, HttpRequest, HttpResponse } from '../http/engine.ts';
import { type BodyOutcome, declaredLength, readBody } from '../http/read-body.ts';
import { answerUnrouted, PendingReply, type ReplyTracker, sendNow } from '../http/reply.ts';
import type { ChannelVerdict } from '../protocol/channel.ts';
import type { Answer } from '../protocol/envelope.ts';
import { Extension, kExtensionsHeader, speaks } from '../protocol/extensions.ts';
import { type AdminHost, mountAdminRoutes } from './admin.ts';
import { bodyTooLarge, kAnswers, selfRefusal, taskDataInvalid } from './answers.ts';
import type { SlaveConnection } from './connection.ts';
import type { FleetCounters } from './fleet/counters.ts';
import type { SlaveRecord, SlaveRegistry } from './fleet/registry.ts';
import type { ResultBudget } from './results/budget.ts';
import type { ResultJob, ResultStage, ResultVerdict } from './results/stage.ts';

/** What the routes need from the master. */
export interface FrontEndHost extends AdminHost {
  readonly isShuttingDown: boolean;
  /** Heartbeats and error answers are counted here (plain integers, read at scrape time). */
  readonly counters: FleetCounters;
  readonly registry: SlaveRegistry<SlaveConnection>;
  readonly results: ResultStage;
  /** What result bodies may hold at once: uploads are admitted against it before they are read. */
  readonly budget: ResultBudget<SlaveConnection>;
  /**
   * Hands a result to the stage; settles once it has reached its task, or was found invalid or to be ignored (a
   * task no longer running): every body is decoded first, and the slave is answered only then (the ack point).
   */
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
 * The master's routes. Checks run in docs/protocol.md's order and each failure answers from a precomputed envelope;
 * the heartbeat is answered synchronously (no abort handler, no cork: uWS corks the synchronous part itself).
 */
export function mountMasterRoutes(app: HttpApp, host: FrontEndHost): void {
  const tooLarge = bodyTooLarge(host.maxBodySize);
  const { counters, budget } = host;

  /** Every error answer is counted by its code (the metrics' request errors). */
  const refuse = (res: HttpResponse, answer: Answer, close?: boolean, headers?: Record<string, string>) => {
    counters.error(answer.code);
    sendNow(res, answer, close, headers);
  };
  const reply = (
    pending: PendingReply,
    answer: Answer,
    close?: boolean,
    headers?: Record<string, string>,
  ) => {
    if (answer.code !== 0) counters.error(answer.code);
    pending.send(answer, headers, close);
  };
  /**
   * Hands a result to the stage and answers with its verdict; the `held` budget bytes go back then (made once:
   * not a closure per result).
   */
  const submitResult = (pending: PendingReply, job: ResultJob, held: number) => {
    host.submitResult(job).then(
      (verdict) => {
        budget.release(held);
        reply(pending, answerFor(verdict));
      },
      (err: unknown) => {
        budget.release(held);
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

  /** Shutdown and self-token checks of the management routes: the failing answer (counted), or undefined. */
  const refuseSelf = (req: HttpRequest): Answer | undefined => {
    const refused = selfRefusal(host, req);
    if (refused) counters.error(refused.code);
    return refused;
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
    const { connection } = record;
    const declared = declaredLength(contentLength);
    if (declared > host.maxBodySize) return refuse(res, tooLarge, true);
    // A body holds the budget from before its first byte is read until its result settles. A chunked one is
    // admitted empty and grows chunk by chunk; one slave's unfinished uploads never pass maxBodySize.
    const bytes = Math.max(0, declared);
    if (budget.overSlaveShare(connection, bytes))
      return refuse(res, kAnswers.resultStageBusy, true, kRetryAfter);
    let state: 'waiting' | 'reading' | 'read' = budget.tryAdmit(connection, bytes) ? 'reading' : 'waiting';
    // a fleetmaster slave sends again after Retry-After (its body is left unread, so the connection closes); a
    // DI-engine slave dies on any error answer to a result, so it is held instead (below). It never sends a
    // chunked body: one that does is told to come back too.
    if (state === 'waiting' && (speaks(extensions, Extension.BACKPRESSURE) || declared < 0)) {
      return refuse(res, kAnswers.resultStageBusy, true, kRetryAfter);
    }
    /** Budget bytes this result holds, once admitted. */
    let held = state === 'reading' ? bytes : 0;
    let body: BodyOutcome | undefined;
    const pending = new PendingReply(res, host.replies, () => {
      if (state === 'read') return; // in the stage: its verdict gives the budget back
      if (state === 'waiting') budget.abandon(connection, bytes);
      else giveBack();
      host.resultAborted(connection, taskIdHint);
    });
    const giveBack = () => {
      budget.uploaded(connection, held);
      budget.release(held);
    };
    const proceed = () => {
      if (state !== 'reading' || body === undefined) return;
      state = 'read';
      if (!body.ok) {
        giveBack();
        // the rest of the body is still on the wire: answer, then close the connection
        if (body.reason === 'too-large') return reply(pending, tooLarge, true);
        return reply(pending, kAnswers.resultStageBusy, true, kRetryAfter);
      }
      budget.uploaded(connection, held);
      submitResult(pending, { outcome, connection, body: body.body, contentType, taskIdHint }, held);
    };
    readBody(
      res,
      contentLength,
      host.maxBodySize,
      (read) => {
        body = read;
        proceed();
      },
      {
        // a held body allocates nothing: it keeps only what reached the master before the pause
        preallocate: state === 'reading',
        grow: (more) => {
          if (!budget.grow(connection, more)) return false;
          held += more;
          return true;
        },
      },
    );
    if (state === 'waiting') {
      // read nothing more from its socket until the budget has room (the kernel's buffer holds the rest)
      res.pause();
      void budget.admit(connection, bytes).then(() => {
        if (!pending.isOpen) {
          // it went away after its turn came
          budget.uploaded(connection, bytes);
          budget.release(bytes);
          return;
        }
        state = 'reading';
        held = bytes;
        res.resume();
        proceed();
      });
    }
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
