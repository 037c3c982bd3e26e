// The envelope every benchmark result carries (bench/harness/bench.ts: `Result`), fixed for the benchmarks' report
// tests: started 2026-01-01T00:00:00Z, on a 2-CPU linux machine under Node 20.
import type { Result } from '../../bench/harness/bench.ts';

export function benchEnvelope<O>(
  bench: string,
  options: O,
  { loadAverage = [1.5, 2], seconds = 60 }: { loadAverage?: [number, number]; seconds?: number } = {},
): Result<O, object> {
  const startedAt = '2026-01-01T00:00:00.000Z';
  return {
    bench,
    startedAt,
    finishedAt: new Date(Date.parse(startedAt) + seconds * 1000).toISOString(),
    environment: { node: 'v20', platform: 'linux', cpus: 2, cpuModel: 'cpu', loadAverage },
    options,
  };
}
