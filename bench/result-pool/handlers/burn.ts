/**
 * The heavy handler's work: a chain of SHA-256 digests over a fixed 4 KiB block, so every result costs the same
 * real CPU whatever its size. The work is a count of rounds, not a time: a contended thread takes longer, as
 * real work would. bench/result-pool/result-pool.ts calibrates the count once per run and passes it in `kRoundsEnv`.
 */
import { createHash } from 'node:crypto';
import { median } from '../../harness/report.ts';

/** The environment variable that carries the calibrated rounds to the handler (pool threads inherit it). */
export const kRoundsEnv = 'FLEETMASTER_BENCH_HANDLER_ROUNDS';

const kBlock = Buffer.alloc(4096, 0x5a);

/** `rounds` chained SHA-256 digests of the block, seeded with `seed`; returns the last one (hex). */
export function burn(rounds: number, seed: string): string {
  let digest: Buffer = Buffer.from(seed);
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).update(kBlock).digest();
  return digest.toString('hex');
}

/**
 * How many rounds take `targetMs` on this thread, uncontended: the median of several timed batches. Returns the
 * rounds and what one handler call then measured (median of `samples` calls).
 */
export function calibrate(targetMs: number, samples = 15): { rounds: number; measuredMs: number } {
  const time = (rounds: number, tag: string) => {
    const calls: number[] = [];
    for (let i = 0; i < samples; i++) {
      const started = performance.now();
      burn(rounds, `${tag}-${i}`);
      calls.push(performance.now() - started);
    }
    return median(calls);
  };
  let rounds = 100;
  let measuredMs = time(rounds, 'warm-up');
  // a first guess from a short probe is off (JIT, clock ramp): correct it on the real length a few times
  for (let i = 0; i < 4; i++) {
    rounds = Math.max(1, Math.round((rounds * targetMs) / measuredMs));
    measuredMs = time(rounds, `check-${i}`);
    if (Math.abs(measuredMs - targetMs) < 0.05 * targetMs) break;
  }
  return { rounds, measuredMs };
}
