// The pool thread's entry: tiny on purpose. Decode each result, run the user's handler, answer with verdicts.
// No top-level await: under tsx on Node 20 a worker can only load this file through require().
import { threadId, workerData } from 'node:worker_threads';
import {
  type BatchInput,
  type BatchOutput,
  type JobVerdict,
  jobOf,
  loadHandler,
  ownBinaryViews,
  packVerdicts,
  runJob,
  type ThreadData,
} from './handler.ts';

const { handler: handlerUrl, progress } = workerData as ThreadData;

export default async function runBatch(batch: BatchInput): Promise<BatchOutput> {
  const { slot } = batch;
  // which thread runs this batch, so the main thread's watchdog can end it if a handler hangs
  Atomics.store(progress, slot + 1, threadId);
  const handler = handlerUrl === undefined ? undefined : await loadHandler(handlerUrl);
  const verdicts: JobVerdict[] = [];
  for (let i = 0; i < batch.ends.length; i++) {
    // job i starts now: the time limit counts from here, not from the hand-off (a fresh thread may still be
    // loading the handler), and if the thread dies the main thread knows which job it was on
    Atomics.store(progress, slot, i + 1);
    const verdict = await runJob(jobOf(batch, i), handler);
    if (verdict.kind === 'result') verdict.value = ownBinaryViews(verdict.value);
    verdicts.push(verdict);
  }
  return packVerdicts(verdicts);
}
