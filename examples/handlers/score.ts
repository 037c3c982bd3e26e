// A result handler: runs on a pool thread for every result, never on the master's main thread.
// Whatever it returns becomes the task's `result` on the main thread (and what onComplete/onFail receive).
import { createHash } from 'node:crypto';

export default function score({
  taskId,
  outcome,
  slave,
  result,
}: {
  taskId: string;
  outcome: 'complete' | 'fail';
  slave: string;
  result: unknown;
}) {
  // the CPU-heavy part: here a digest of the trajectory; in real life reward shaping, validation, compression
  const digest = createHash('sha256').update(JSON.stringify(result)).digest('hex');
  return { taskId, outcome, slave, digest, result };
}
