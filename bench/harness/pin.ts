/**
 * CPU pinning for benchmarks (`taskset`, Linux): whole processes, or the calling thread alone. On Linux each
 * thread has its own affinity, and a thread starts with its creator's.
 */
import { spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import os from 'node:os';
import { isMainThread } from 'node:worker_threads';

/** True when this machine can run `--pin`: `taskset` answers and there are at least 2 CPUs. */
export function canPin(): boolean {
  return (
    os.availableParallelism() >= 2 &&
    spawnSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }).status === 0
  );
}

/** Pins every thread of `pid` to `cpus` (e.g. `'0'`, `'0-2'`); false when taskset is missing or refused. */
export function pinProcess(pid: number, cpus: string): boolean {
  return spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' }).status === 0;
}

/** Pins the calling thread alone (its id read from /proc/thread-self). */
export function pinThisThread(cpus: string): boolean {
  let tid: string | undefined;
  try {
    tid = readlinkSync('/proc/thread-self').split('/').pop();
  } catch {
    return false;
  }
  if (!tid) return false;
  return spawnSync('taskset', ['-p', '-c', cpus, tid], { stdio: 'ignore' }).status === 0;
}

/** The environment variable that asks pool threads (the bench handlers) to pin themselves. */
export const kThreadCpuEnv = 'FLEETMASTER_BENCH_THREAD_CPU';

/** Called by the bench handlers when a pool thread loads them: pins it as `--pin` asked. */
export function applyThreadPin(): void {
  const cpus = process.env[kThreadCpuEnv];
  if (isMainThread || !cpus) return;
  pinThisThread(cpus);
}
