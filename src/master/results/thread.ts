// The pool thread's entry: tiny on purpose. Decode each result, run the user's handler, answer with verdicts.
// No top-level await: under tsx on Node 20 a worker can only load this file through require().
import { threadId, workerData } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { describeError } from '../../describe-error.ts';
import {
  type BatchInput,
  type BatchOutput,
  type CrossingVerdict,
  jobOf,
  packVerdicts,
  type ThreadData,
  toCrossing,
} from './batch.ts';
import { loadHandler, runJob } from './handler.ts';

const { handler: handlerUrl, progress } = workerData as ThreadData;

export default async function runBatch(batch: BatchInput): Promise<BatchOutput> {
  const { slot } = batch;
  // which thread runs this batch, so the main thread's watchdog can end it if a handler hangs
  Atomics.store(progress, slot + 1, threadId);
  const handler = handlerUrl === undefined ? undefined : await loadHandler(handlerUrl);
  const n = batch.ends.length;
  const verdicts: CrossingVerdict[] = [];
  for (let i = 0; i < n; i++) {
    // job i starts now: the time limit counts from here, not from the hand-off (a fresh thread may still be
    // loading the handler), and if the thread dies the main thread knows which job it was on
    Atomics.store(progress, slot, i + 1);
    verdicts.push(toCrossing(await runJob(jobOf(batch, i), handler)));
  }
  // every job is done: a thread that dies from here on was on none of them
  Atomics.store(progress, slot, n + 1);
  const { out, transferList } = packVerdicts(verdicts);
  return movable(out, transferList);
}

/**
 * Loads the handler, for `start()`: its failure reaches the main thread as an error that can always be cloned
 * (whatever the module threw).
 */
export async function load(): Promise<void> {
  if (handlerUrl === undefined) return;
  try {
    await loadHandler(handlerUrl);
  } catch (err) {
    // piscina posts what a task throws; what cannot be posted would kill the thread and lose the reason
    throw isCloneable(err) ? err : new Error(describeError(err));
  }
}

function isCloneable(value: unknown): boolean {
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}

/** The reply, with its value bytes moved to the main thread rather than copied. */
function movable(out: BatchOutput, transferList: ArrayBuffer[]): BatchOutput {
  return move({ [transferableSymbol]: transferList, [valueSymbol]: out }) as unknown as BatchOutput;
}
