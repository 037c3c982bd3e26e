/**
 * Where a pool thread runs, set by the thread itself when it loads a handler (on Linux affinity and nice values
 * belong to a thread, and a thread starts with its creator's). `--pin` moves it to the pool's CPU
 * (bench/harness/pin.ts). `--thread-nice`, an experiment, lowers its scheduling priority so that when the
 * machine's cores are all busy the master's main thread (heartbeats) wins them. The inline baseline loads
 * handlers on the main thread, which this never touches.
 */
import os from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { applyThreadPin } from '../../harness/pin.ts';

/** The environment variable that carries `--thread-nice` to the pool threads. */
export const kThreadNiceEnv = 'FLEETMASTER_BENCH_THREAD_NICE';

export function placeThread(): void {
  applyThreadPin();
  const nice = Number(process.env[kThreadNiceEnv] ?? 0);
  if (isMainThread || !Number.isInteger(nice) || nice <= 0) return;
  os.setPriority(Math.min(19, nice));
}
