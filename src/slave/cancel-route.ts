import type { HttpApp } from '../http/engine.ts';
import { readBody } from '../http/read-body.ts';
import { PendingReply, type ReplyTracker, sendNow } from '../http/reply.ts';
import { decodeBody, isObject } from '../protocol/codec.ts';
import { ok } from '../protocol/envelope.ts';
import { slaveBodyTooLarge, slaveDataInvalid } from './answers.ts';
import { type MasterCheckHost, masterRefusal } from './front-end.ts';

/** A cancel body is `{"task":{"id":"<uuid>"}}`: anything longer is not one. */
export const kMaxCancelBody = 4096;

export interface CancelHost extends MasterCheckHost {
  readonly replies: ReplyTracker;
  /** Aborts the task's signal; false when no such task runs (it ended already: that is fine). */
  cancelTask(id: string): boolean;
}

const kCancelled = ok('Task cancel received.');
const kNotRunning = ok('No such task runs here (it ended already).');
const kTooLarge = slaveBodyTooLarge(kMaxCancelBody);

/**
 * `POST /task/cancel` (fleetmaster's `cancel` extension, announced on `/connect`): the checks of the slave's
 * master routes, in docs/protocol.md's order, then the task's `AbortSignal` aborts. The answer is a success for a
 * task that already ended, since the master cannot know it did. The slave still reports the task's result when
 * its code returns (the master frees the slot then, and ignores the result).
 */
export function mountCancelRoute(app: HttpApp, host: CancelHost): void {
  app.post('/task/cancel', (res, req) => {
    const refused = masterRefusal(host, req, true);
    if (refused) return sendNow(res, refused);
    const contentLength = req.getHeader('content-length');
    const contentType = req.getHeader('content-type');
    const reply = new PendingReply(res, host.replies);
    readBody(res, contentLength, kMaxCancelBody, (read) => {
      if (!read.ok) return reply.send(kTooLarge, undefined, true);
      const decoded = decodeBody(read.body, contentType);
      const task = decoded.ok && isObject(decoded.value) ? decoded.value.task : undefined;
      const id = isObject(task) ? task.id : undefined;
      if (typeof id !== 'string' || id.length === 0)
        return reply.send(slaveDataInvalid('Task ID not found.'));
      reply.send(host.cancelTask(id) ? kCancelled : kNotRunning);
    });
  });
}
