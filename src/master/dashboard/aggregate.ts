import { kAgeScale, type Summary } from './frames.ts';
import type { FleetPass } from './slave-slots.ts';

/** The master's running totals at one moment (read once a second). */
export interface Reading {
  /** `performance.now()`. */
  at: number;
  tasksCompleted: number;
  tasksFailed: number;
  results: number;
  heartbeats: number;
  evictions: number;
  /** Tasks running now. */
  running: number;
  /** Result pool thread time so far (ms), its threads and results held; undefined when results run inline. */
  pool: { busyMs: number; threads: number; held: number } | undefined;
}

/** The smallest byte `b` such that at least `q` (0–1) of the fleet has an age byte ≤ `b`; 0 for no slave. */
export function percentileByte(histogram: ArrayLike<number>, total: number, q: number): number {
  if (total === 0) return 0;
  const want = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let b = 0; b < histogram.length; b++) {
    seen += histogram[b]!;
    if (seen >= want) return b;
  }
  return histogram.length - 1;
}

/** Counter growth per second between two readings (0 when no time passed, never negative). */
export function perSecond(before: number, after: number, ms: number): number {
  return ms > 0 ? Math.max(0, ((after - before) * 1000) / ms) : 0;
}

const round = (x: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/** One second of the fleet from two readings a second apart, the slaves' pass and the loop delay. */
export function summarize(
  previous: Reading,
  now: Reading,
  fleet: FleetPass,
  toleranceSeconds: number,
  extra: { queued: number | null; loop: { p99: number; max: number }; at: number },
): Summary {
  const ms = now.at - previous.at;
  const seconds = (byte: number) => round((byte / kAgeScale) * toleranceSeconds, 2);
  let pool: Summary['pool'] = null;
  if (now.pool) {
    const busy = now.pool.busyMs - (previous.pool?.busyMs ?? now.pool.busyMs);
    const span = ms * now.pool.threads;
    pool = {
      utilization: span > 0 ? round(Math.min(1, Math.max(0, busy / span)), 3) : 0,
      held: now.pool.held,
      threads: now.pool.threads,
    };
  }
  const { histogram, total } = fleet;
  return {
    at: extra.at,
    slaves: {
      total,
      connected: fleet.connected,
      pending: fleet.pending,
      fresh: fleet.fresh,
      late: fleet.late,
      silent: fleet.silent,
    },
    tasks: {
      running: now.running,
      queued: extra.queued,
      completed: now.tasksCompleted,
      failed: now.tasksFailed,
      completedPerSecond: round(perSecond(previous.tasksCompleted, now.tasksCompleted, ms), 1),
      failedPerSecond: round(perSecond(previous.tasksFailed, now.tasksFailed, ms), 1),
    },
    resultsPerSecond: round(perSecond(previous.results, now.results, ms), 1),
    heartbeatsPerSecond: round(perSecond(previous.heartbeats, now.heartbeats, ms), 1),
    evictions: now.evictions,
    age: {
      p50: seconds(percentileByte(histogram, total, 0.5)),
      p99: seconds(percentileByte(histogram, total, 0.99)),
      max: total === 0 ? 0 : seconds(percentileByte(histogram, total, 1)),
    },
    pool,
    loop: { p99: round(extra.loop.p99, 1), max: round(extra.loop.max, 1) },
  };
}

/** The charts' point for a summary: `[t in seconds, ...kHistoryColumns]`. */
export function historyPoint(s: Summary): number[] {
  return [
    Math.round(s.at / 1000),
    s.tasks.completedPerSecond,
    s.tasks.failedPerSecond,
    s.resultsPerSecond,
    s.heartbeatsPerSecond,
    s.age.p50,
    s.age.p99,
    s.age.max,
  ];
}
