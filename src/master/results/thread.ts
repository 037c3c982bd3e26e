// The pool thread's entry: tiny on purpose. Decode each result, run the user's handler, answer with verdicts.
// No top-level await: under tsx on Node 20 a worker can only load this file through require().
import { workerData } from 'node:worker_threads';
import { type BatchInput, collectTransferables, type JobVerdict, loadHandler, runJob } from './handler.ts';

const handlerUrl = (workerData as { handler?: string } | undefined)?.handler;

export default async function runBatch({
  jobs,
  port,
  progress,
  slot,
}: BatchInput): Promise<JobVerdict[] | number> {
  const handler = handlerUrl === undefined ? undefined : await loadHandler(handlerUrl);
  const verdicts: JobVerdict[] = [];
  for (let i = 0; i < jobs.length; i++) {
    // tells the main thread's watchdog that job i starts now: the time limit counts from here, not from
    // the hand-off (a fresh thread may still be loading the handler)
    Atomics.store(progress, slot, i + 1);
    const verdict = await runJob(jobs[i]!, handler);
    const transfer: ArrayBuffer[] = [];
    // views into the body become buffers of their own, so the answer never clones the whole body
    if (verdict.kind === 'result') verdict.value = collectTransferables(verdict.value, transfer);
    // several jobs: post each verdict at once, so a later job that hangs or crashes the thread loses none
    if (port) port.postMessage([i, verdict], transfer);
    else verdicts.push(verdict);
  }
  port?.close();
  return port ? jobs.length : verdicts;
}
