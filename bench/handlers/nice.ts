/**
 * An experiment, off unless `--thread-nice` is given: lowers the scheduling priority of the pool thread that
 * loads a handler, so that when the machine's cores are all busy the master's main thread (heartbeats) wins
 * them. On Linux the nice value belongs to a thread, and `os.setPriority(n)` sets the calling thread's.
 * The inline baseline loads handlers on the main thread, which this never touches.
 */
import os from 'node:os';
import { isMainThread } from 'node:worker_threads';

/** The environment variable that carries `--thread-nice` to the pool threads. */
export const kThreadNiceEnv = 'FLEETMASTER_BENCH_THREAD_NICE';

export function applyThreadNice(): void {
  const nice = Number(process.env[kThreadNiceEnv] ?? 0);
  if (isMainThread || !Number.isInteger(nice) || nice <= 0) return;
  os.setPriority(Math.min(19, nice));
}
