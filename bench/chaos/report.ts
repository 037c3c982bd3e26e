/**
 * The chaos benchmark's result: its flags, its figures (the master's books, the load's own count of lost and
 * twice-delivered tasks, retries, evictions, late results), its problems, table and headlines. Pure.
 */
import { checkTolerance, int, num, type OptionsOf, value } from '../harness/args.ts';
import type { Result } from '../harness/bench.ts';
import type { ConnectOutcome } from '../harness/master-child.ts';
import { environmentLine, fixed, higher, lower, table, thousands } from '../harness/report.ts';
import type { SimCounters } from '../harness/virtual-fleet.ts';
import type { ChaosBooks } from './chaos-load.ts';

export const kFlags = {
  slaves: value(1000, int(2, 100_000), 'N', 'virtual slaves'),
  duration: value(40, num(1, 3600), 'S', 'seconds of load while slaves are killed'),
  killEvery: value(10, num(0.5, 3600), 'S', 'seconds between two kills'),
  killPercent: value(
    1,
    num(0.01, 50),
    'P',
    'percent of the slaves killed (and as many connected) each time, at least one',
  ),
  sleepMs: value(100, int(0, 600_000), 'MS', "each task's work on its slave"),
  retries: value(3, int(0, 100), 'N', 'the retries option of every submitted task'),
  heartbeatSpan: value(1, num(0.2, 600), 'S', 'seconds between two heartbeats of a slave'),
  heartbeatJitter: value(0.1, num(0, 0.5), 'F', 'each span varies by up to ±F of itself'),
  heartbeatTolerance: value(
    3,
    num(0.2, 3600),
    'S',
    'master heartbeatTolerance: a killed slave is evicted after it',
  ),
  heartbeatCheckSpan: value(0.5, num(0.1, 3600), 'S', 'master heartbeatCheckSpan'),
  drain: value(60, num(1, 3600), 'S', 'most seconds to wait for the tasks still out once the load stops'),
  connectConcurrency: value(64, int(1, 10_000), 'N', 'connects in flight at once'),
  ports: value(4, int(1, 64), 'N', 'ports the virtual slaves share'),
  simConnections: value(1000, int(1, 10_000), 'N', 'simulator sockets per kind to the master'),
};
export type ChaosOptions = OptionsOf<typeof kFlags>;

/**
 * The master's request options in this benchmark: a killed slave cuts every request off at once, so waiting
 * seconds on it only delays the task's next attempt elsewhere.
 */
export const kMasterRequests = Object.freeze({
  requestRetries: 1,
  requestRetryWaiting: 0.2,
  requestTimeout: 5,
});

export function checkOptions(o: ChaosOptions): void {
  checkTolerance(o);
  if (o.killEvery > o.duration) {
    throw new RangeError(
      `--kill-every (${o.killEvery} s) must not exceed --duration (${o.duration} s), or nothing is killed`,
    );
  }
}

/** Slaves killed (and replaced) each time: `percent` of the fleet, at least one, never all. */
export function killCount(slaves: number, percent: number): number {
  return Math.min(slaves - 1, Math.max(1, Math.round((slaves * percent) / 100)));
}

/** Seconds from the load's start at which slaves are killed: every `every` s up to and including `duration`. */
export function killTimes(duration: number, every: number): number[] {
  const times: number[] = [];
  // whole milliseconds, so 0.9 / 0.3 gives 0.3, 0.6, 0.9 despite floating point
  for (let i = 1; Math.round(i * every * 1000) <= Math.round(duration * 1000); i++) {
    times.push(Math.round(i * every * 1000) / 1000);
  }
  return times;
}

export interface KillRound {
  /** Seconds since the load started. */
  atSeconds: number;
  killed: number;
  /** New slaves connected in their place, and connects that failed. */
  replaced: number;
  failed: number;
}

export interface Parts {
  options: ChaosOptions;
  connect: Omit<ConnectOutcome, 'tokens'>;
  rounds: KillRound[];
  /** The load's seconds, from its start to its stop (the drain excluded). */
  loadSeconds: number;
  load: ChaosBooks;
  /** `master.stats()` once every task settled. */
  stats: Record<string, number>;
  counters: SimCounters;
}

export function assemble({ options: o, connect, rounds, loadSeconds, load, stats, counters }: Parts) {
  const n = (key: string) => stats[key] ?? 0;
  const books = {
    created: n('tasksCreated'),
    completed: n('tasksCompleted'),
    failed: n('tasksFailed'),
    cancelled: n('tasksCancelled'),
  };
  const imbalance = books.created - (books.completed + books.failed + books.cancelled);
  const killed = rounds.reduce((sum, r) => sum + r.killed, 0);
  const replaceFailed = rounds.reduce((sum, r) => sum + r.failed, 0);
  const problems = [
    connect.connected < o.slaves &&
      `${o.slaves - connect.connected} slaves not connected (first error: ${connect.firstError})`,
    replaceFailed > 0 && `${replaceFailed} replacement slaves not connected`,
    load.lost > 0 &&
      `${load.lost} tasks lost: never settled, ${fixed(load.drainSeconds, 0)} s after the load stopped`,
    load.deliveredTwice > 0 && `${load.deliveredTwice} tasks delivered twice (their callbacks ran twice)`,
    imbalance !== 0 &&
      `the books do not balance: created ${books.created} ≠ completed ${books.completed} + failed ${books.failed} + cancelled ${books.cancelled}`,
    load.made !== books.created &&
      `the load submitted ${load.made} tasks, the master counted ${books.created}`,
    counters.beatsRefused > 0 &&
      `${counters.beatsRefused} heartbeats of live slaves refused (false evictions; killed slaves do not beat)`,
  ].filter((p): p is string => typeof p === 'string');
  return {
    connect,
    rounds,
    killed,
    books: { ...books, imbalance },
    load,
    loadSeconds,
    completedPerSec: (load.outcomes.completed ?? 0) / loadSeconds,
    master: {
      retries: n('taskRetries'),
      evictions: n('evictions'),
      lateResultsIgnored: n('resultsIgnored'),
      resultsDelivered: n('resultsDelivered'),
    },
    sim: {
      resultsSent: counters.resultsSent,
      resultsRefused: counters.resultsRefused,
      resultErrors: counters.resultErrors,
      tasksRefused: counters.tasksRefused,
      beatsRefused: counters.beatsRefused,
      firstProblems: counters.firstProblems,
    },
    ok: problems.length === 0,
    problems,
  };
}

export type ChaosResult = Result<ChaosOptions, ReturnType<typeof assemble>>;

export function formatMarkdown(result: ChaosResult): string {
  const { options: o, books: b, load: l, master: m } = result;
  const each = killCount(o.slaves, o.killPercent);
  const outcomes = Object.entries(l.outcomes)
    .sort(([, x], [, y]) => y - x)
    .map(([what, count]) => `${what} ${thousands(count)}`);
  const lines = [
    `### Chaos: ${thousands(o.slaves)} virtual slaves, ${thousands(each)} killed and replaced every ${o.killEvery} s`,
    '',
    `${o.duration} s of load, ${thousands(o.slaves)} closed loops of \`master.submit(data, { retries: ${o.retries} })\` → ` +
      `\`join()\`; tasks of ${o.sleepMs} ms; heartbeat every ${o.heartbeatSpan} s, tolerance ${o.heartbeatTolerance} s, ` +
      `sweep every ${o.heartbeatCheckSpan} s; ${result.rounds.length} kills, ${thousands(result.killed)} slaves killed ` +
      `(no more heartbeats, no result for what they held, every request cut off); ${environmentLine(result)}`,
    '',
    ...table(
      [
        ['created', 'r', () => thousands(b.created)],
        ['completed', 'r', () => thousands(b.completed)],
        ['failed', 'r', () => thousands(b.failed)],
        ['cancelled', 'r', () => thousands(b.cancelled)],
        ['books', 'l', () => (b.imbalance === 0 ? 'balanced' : `**off by ${b.imbalance}**`)],
        ['lost (never settled)', 'r', () => thousands(l.lost)],
        ['delivered twice', 'r', () => thousands(l.deliveredTwice)],
        ['retries', 'r', () => thousands(m.retries)],
        ['completed after a retry', 'r', () => thousands(l.completedAfterRetry)],
        ['evictions', 'r', () => thousands(m.evictions)],
        ['late results ignored', 'r', () => thousands(m.lateResultsIgnored)],
      ],
      [result],
    ),
    '',
    `- books: created ${thousands(b.created)} = completed ${thousands(b.completed)} + failed ${thousands(b.failed)} + ` +
      `cancelled ${thousands(b.cancelled)}: **${b.imbalance === 0 ? 'balanced' : 'NOT balanced'}**`,
    `- by outcome (the load's count, of ${thousands(l.made)} submitted): ${outcomes.join(', ') || 'none'}; ` +
      `all settled ${fixed(l.drainSeconds, 1)} s after the load stopped`,
    `- completed tasks/s under chaos: ${thousands(result.completedPerSec)}; evictions ${thousands(m.evictions)} for ` +
      `${thousands(result.killed)} killed`,
    `- virtual slaves: results answered 200 ${thousands(result.sim.resultsSent)}, refused ${result.sim.resultsRefused}, ` +
      `lost to connection errors ${result.sim.resultErrors}; tasks refused ${result.sim.tasksRefused}; heartbeats ` +
      `of live slaves refused ${result.sim.beatsRefused}`,
    ...result.sim.firstProblems.map((p) => `- simulator saw: ${p}`),
    ...result.problems.map((p) => `- problem: ${p}`),
  ];
  return `${lines.join('\n')}\n`;
}

export function headlines(r: ChaosResult) {
  return [
    lower('tasks lost', r.load.lost),
    lower('tasks delivered twice', r.load.deliveredTwice),
    lower('books off by', Math.abs(r.books.imbalance)),
    lower('tasks failed', r.books.failed),
    higher('completed tasks/s under chaos', r.completedPerSec, 'tasks/s'),
  ];
}
