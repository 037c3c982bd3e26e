/**
 * The result-pool benchmark's result: its flags, what each phase and cell records, the verdict against issue 3's
 * target, its tables and headlines. Pure.
 */
import { int, listOf, num, type OptionsOf, oneOf, subsetOf, toggle, value } from '../harness/args.ts';
import type { Result } from '../harness/bench.ts';
import { type ProfileSummary, profileTables } from '../harness/profile.ts';
import {
  environmentLine,
  fixed,
  type HistogramSummary,
  higher,
  lower,
  ms,
  percent,
  table,
  thousands,
} from '../harness/report.ts';
import type { WindowSummary } from '../harness/virtual-fleet.ts';
import { formatSize, kResultFormats, parseSize, type ResultFormat } from './payloads.ts';
import type { ResultWindow } from './senders.ts';

/** Issue 3: under result saturation, the pool's heartbeat p99 stays within this factor of its idle p99. */
export const kTargetFactor = 2;

export const kParts = ['heartbeat', 'throughput'] as const;
export type Part = (typeof kParts)[number];

const kMinSize = 128;
const kMaxSize = 32 * 1024 * 1024;

/** A result size: `1k`, `64k`, `1m`, or bytes. */
function size(raw: string | undefined, name: string): number {
  let bytes: number;
  try {
    bytes = parseSize(raw ?? '');
  } catch {
    throw new RangeError(`--${name}: not a size: ${JSON.stringify(raw)} (try 1k, 64k, 1m)`);
  }
  if (bytes < kMinSize || bytes > kMaxSize) {
    throw new RangeError(`--${name}: sizes must be in [${kMinSize} B, 32 MB], got ${raw}`);
  }
  return bytes;
}

export const kFlags = {
  duration: value(5, num(0.2, 600), 'S', 'seconds per measured phase and per throughput cell'),
  warmup: value(1, num(0, 600), 'S', 'unrecorded seconds before each loaded phase and cell'),
  slaves: value(1000, int(1, 10_000), 'N', 'slaves connected and heartbeating'),
  heartbeatSpan: value(3, num(0.05, 60), 'S', 'seconds between two heartbeats of a slave'),
  tolerance: value(5, num(0.2, 3600), 'S', "the master's heartbeatTolerance; also the heartbeat timeout"),
  lateMs: value(100, num(1, 600_000), 'MS', 'a heartbeat answered later than this is late'),
  senders: value(32, int(1, 1024), 'N', 'result requests in flight'),
  threads: value<readonly number[]>(
    [1],
    listOf(int(1, 64)),
    'LIST',
    'pool sizes to measure; inline always runs',
  ),
  handlerMs: value(3, num(0.05, 1000), 'MS', 'CPU per result of the heavy handler, calibrated here'),
  pin: toggle('master main thread + heartbeat fleet on CPU 0, pool threads + result senders on CPU 1'),
  threadNice: value(0, int(0, 19), 'N', 'experiment: pool threads lower their own priority to nice N'),
  sizes: value<readonly number[]>(
    [1024, 64 * 1024, 1024 * 1024],
    listOf(size),
    'LIST',
    'throughput result sizes',
    '1k,64k,1m',
  ),
  formats: value(kResultFormats, subsetOf(kResultFormats), 'LIST', 'throughput formats'),
  loadSize: value(1024, size, 'SIZE', "result size in the heartbeat part's loaded phase", '1k'),
  loadFormat: value<ResultFormat>('json', oneOf(kResultFormats), 'F', 'its format'),
  parts: value<readonly Part[]>(kParts, subsetOf(kParts), 'LIST', 'which parts to run'),
  profile: toggle("CPU-profile the master's main thread over each loaded phase and throughput cell"),
  cpuProf: toggle('run each master under node --cpu-prof: every thread, whole life'),
};
export type ResultPoolOptions = OptionsOf<typeof kFlags>;

export function checkOptions(o: ResultPoolOptions): void {
  if (o.heartbeatSpan >= o.tolerance) {
    throw new RangeError(
      `--heartbeat-span (${o.heartbeatSpan}) must be below --tolerance (${o.tolerance}), or every slave is evicted`,
    );
  }
}

export interface Mode {
  name: `pool-${number}` | 'inline';
  /** The master's `resultThreads` (0 = inline). */
  threads: number;
}

/** The modes a run measures, in order: each pool size, then the inline baseline. */
export function modesOf(threads: readonly number[]): Mode[] {
  return [...threads.map((t): Mode => ({ name: `pool-${t}`, threads: t })), { name: 'inline', threads: 0 }];
}

export const modeLabel = (mode: Mode) =>
  mode.threads === 0
    ? 'inline (main thread)'
    : `pool, ${mode.threads} thread${mode.threads === 1 ? '' : 's'}`;

/** Seconds of load a run plans (without start-ups), for the progress line and the bound. */
export function plannedSeconds(o: ResultPoolOptions): number {
  const modes = o.threads.length + 1;
  const heartbeat = o.parts.includes('heartbeat') ? modes * (2 * o.warmup + 2 * o.duration) : 0;
  const cells = o.sizes.length * o.formats.length;
  const throughput = o.parts.includes('throughput') ? modes * cells * (o.warmup + o.duration) : 0;
  return heartbeat + throughput;
}

/** Heartbeats within one window, as the fleet process saw them (bench/README.md says what each figure means). */
export function heartbeatPhase(w: WindowSummary, lateMs: number, loopDelayMs: HistogramSummary) {
  const answered = w.ok + w.refused;
  return {
    seconds: w.seconds,
    /** Heartbeats answered (any status); those answered later than `lateMs`. */
    answered,
    perSecond: answered / w.seconds,
    latencyMs: w.beatMs,
    lateMs,
    late: w.late,
    refused: w.refused,
    errors: w.errors,
    missed: w.refused + w.errors,
    skipped: w.skipped,
    statuses: w.statuses,
    /** How late the fleet process sent each heartbeat against its schedule: its own lag, not the master's. */
    sendLagMs: w.lagMs,
    /** The fleet process's event-loop delay: when high, its latencies include its own stalls. */
    loopDelayMs,
  };
}
export type HeartbeatPhase = ReturnType<typeof heartbeatPhase>;

export interface Phase {
  heartbeats: HeartbeatPhase;
  /** Absent in the idle phase. */
  results: ResultWindow | undefined;
  master: {
    /** Its main thread's event-loop delay beyond a 5 ms timer tick (monitorEventLoopDelay). */
    loopDelayMs: HistogramSummary;
    /** CPU time (user + system, every thread) ÷ wall time; 1 = one core busy. */
    cpu: number;
    /** CPU milliseconds per acknowledged result (all threads); NaN without results. */
    cpuMsPerResult: number;
    evictions: number;
    resultsInvalid: number;
    resultsFailed: number;
    /** Pool only: batches handed to the threads in the window, and results per batch (NaN inline). */
    batches: number;
    resultsPerBatch: number;
  };
  /** This (load) process's CPU ÷ wall time: the result senders; and the fleet process's. */
  senderCpu: number;
  fleetCpu: number;
}

export interface HeartbeatRun {
  mode: Mode;
  idle: Phase;
  loaded: Phase;
  /** Loaded heartbeat p99 ÷ idle heartbeat p99. */
  ratio: number;
  /** The pool's target (ratio ≤ kTargetFactor and no eviction); undefined for the inline baseline. */
  targetMet: boolean | undefined;
  /** What the master resolved (threads, batch, queue limit, tolerance). */
  masterNotes: Record<string, number | string>;
}

export interface ThroughputCell {
  mode: Mode;
  size: number;
  format: ResultFormat;
  bodyBytes: number;
  values: number;
  phase: Phase;
}

export interface ResultPoolFigures {
  /** The heavy handler: calibrated rounds and what one call took here, uncontended. */
  handler: { rounds: number; targetMs: number; measuredMs: number };
  /** The load-phase result as sent. */
  loadPayload: { bodyBytes: number; values: number };
  heartbeat: HeartbeatRun[];
  throughput: ThroughputCell[];
  /** True when every pool mode met the target and nothing failed. */
  ok: boolean;
  problems: string[];
  /** With `--profile` (main thread, per window) or `--cpu-prof` (every thread, whole life): where the time went. */
  profiles: { label: string; file: string; summary: ProfileSummary }[];
}
export type ResultPoolResult = Result<ResultPoolOptions, ResultPoolFigures>;

/** A pool mode meets issue 3's target when loaded p99 ≤ 2 × idle p99 and no slave was evicted. */
export function judge(mode: Mode, idle: Phase, loaded: Phase): Pick<HeartbeatRun, 'ratio' | 'targetMet'> {
  const ratio = loaded.heartbeats.latencyMs.p99 / idle.heartbeats.latencyMs.p99;
  if (mode.threads === 0) return { ratio, targetMet: undefined };
  const evictions = idle.master.evictions + loaded.master.evictions;
  return { ratio, targetMet: ratio <= kTargetFactor && evictions === 0 };
}

/** Everything that makes a figure doubtful or a run failed, one line each. */
export function findProblems(
  heartbeat: readonly HeartbeatRun[],
  throughput: readonly ThroughputCell[],
  handlerMs: number,
): string[] {
  const problems: string[] = [];
  const check = (where: string, phase: Phase) => {
    const { heartbeats: h, results: r, master: m } = phase;
    if (h.missed > 0)
      problems.push(`${where}: ${h.missed} heartbeats missed (${h.errors} errors, ${h.refused} refused)`);
    if (m.evictions > 0) problems.push(`${where}: ${m.evictions} slaves evicted`);
    if (h.sendLagMs.p99 > h.lateMs) {
      problems.push(
        `${where}: the fleet process itself sent heartbeats late (send lag p99 ${fixed(h.sendLagMs.p99, 1)} ms): its latencies include its own stalls`,
      );
    }
    if (r && r.errors + r.refused > 0) {
      problems.push(
        `${where}: ${r.errors} result errors, ${r.refused} results refused ${JSON.stringify(r.statuses)}`,
      );
    }
    if (r && r.acknowledged === 0) problems.push(`${where}: no result acknowledged`);
    if (m.resultsInvalid + m.resultsFailed > 0) {
      problems.push(
        `${where}: the master counted ${m.resultsInvalid} invalid and ${m.resultsFailed} failed results`,
      );
    }
  };
  for (const run of heartbeat) {
    const label = modeLabel(run.mode);
    check(`${label}, idle`, run.idle);
    check(`${label}, loaded`, run.loaded);
    // every result must have cost at least most of the handler's work, or the handler did not run
    const perResult = run.loaded.master.cpuMsPerResult;
    if (Number.isFinite(perResult) && perResult < 0.7 * handlerMs) {
      problems.push(
        `${label}: the master spent ${fixed(perResult, 2)} ms CPU per result, under the handler's ${fixed(handlerMs, 1)} ms: did the heavy handler run?`,
      );
    }
    if (run.targetMet === false) {
      problems.push(
        `${label}: target NOT met (loaded p99 ÷ idle p99 = ${fixed(run.ratio, 2)}, evictions ${run.idle.master.evictions + run.loaded.master.evictions})`,
      );
    }
  }
  for (const cell of throughput)
    check(`${modeLabel(cell.mode)}, ${formatSize(cell.size)} ${cell.format}`, cell.phase);
  return problems;
}

function notes(o: ResultPoolOptions, result: ResultPoolResult, profiled: boolean): string {
  return (
    (o.threadNice > 0 ? ` **Experiment: pool threads run at nice ${o.threadNice}.**` : '') +
    (o.pin
      ? ' **Pinned: master main thread + heartbeat fleet on CPU 0, pool threads + result senders on CPU 1.**'
      : '') +
    ` ${environmentLine(result)}` +
    (profiled ? ' **Master profiled: its figures are depressed by the profiler.**' : '')
  );
}

export function formatHeartbeatTable(result: ResultPoolResult): string[] {
  const o = result.options;
  const runs = result.heartbeat;
  const rows = runs.flatMap((run) =>
    (['idle', 'loaded'] as const).map((name) => ({ run, name, ...run[name] })),
  );
  const lines = [
    '### Result pool: heartbeats while a heavy handler saturates the result stage',
    '',
    `${o.slaves} slaves, each heartbeating every ${o.heartbeatSpan} s on its own connection (master heartbeatTolerance ` +
      `${o.tolerance} s); heavy handler ${result.handler.rounds} rounds of SHA-256 over 4 KiB ≈ ` +
      `${fixed(result.handler.measuredMs, 2)} ms uncontended (target ${o.handlerMs} ms); loaded = ${o.senders} result ` +
      `senders in flight, ${formatSize(o.loadSize)} ${o.loadFormat} results (${result.loadPayload.bodyBytes} B body, ` +
      `${result.loadPayload.values} values), no Task-Id; ${o.duration} s per phase after ${o.warmup} s warm-up; ` +
      `late = answered after ${o.lateMs} ms; missed = error, timeout or refusal.` +
      notes(o, result, o.profile),
    '',
    ...table<(typeof rows)[number]>(
      [
        ['mode', 'l', ({ run }) => modeLabel(run.mode)],
        ['phase', 'l', ({ name }) => name],
        ['heartbeats/s', 'r', ({ heartbeats: h }) => thousands(h.perSecond)],
        ['p50 ms', 'r', ({ heartbeats: h }) => ms(h.latencyMs.p50)],
        ['p99 ms', 'r', ({ heartbeats: h }) => ms(h.latencyMs.p99)],
        ['max ms', 'r', ({ heartbeats: h }) => ms(h.latencyMs.max)],
        ['late', 'r', ({ heartbeats: h }) => h.late],
        ['missed', 'r', ({ heartbeats: h }) => h.missed],
        ['evictions', 'r', ({ master: m }) => m.evictions],
        ['results/s', 'r', ({ results: r }) => (r ? thousands(r.perSecond) : '–')],
        ['result p99 ms', 'r', ({ results: r }) => (r ? ms(r.latencyMs.p99) : '–')],
        ['503s', 'r', ({ results: r }) => (r ? r.pushedBack : '–')],
        ['master loop delay p99 ms', 'r', ({ master: m }) => ms(m.loopDelayMs.p99)],
        ['fleet loop delay p99 ms', 'r', ({ heartbeats: h }) => ms(h.loopDelayMs.p99)],
        ['master CPU', 'r', ({ master: m }) => percent(m.cpu)],
        ['master CPU ms/result', 'r', ({ master: m }) => ms(m.cpuMsPerResult)],
        ['p99 ÷ idle p99', 'r', ({ run, name }) => (name === 'loaded' ? `**${fixed(run.ratio, 2)}**` : '')],
      ],
      rows,
    ),
    '',
  ];
  const inline = runs.find((r) => r.mode.threads === 0);
  for (const run of runs) {
    if (run.targetMet === undefined) continue;
    const evictions = run.idle.master.evictions + run.loaded.master.evictions;
    const removed = inline && inline.loaded.heartbeats.latencyMs.p99 / run.loaded.heartbeats.latencyMs.p99;
    lines.push(
      `- ${modeLabel(run.mode)}: loaded p99 ÷ idle p99 = **${fixed(run.ratio, 2)}** (target ≤ ${kTargetFactor}), ` +
        `${evictions} evictions (target 0): **${run.targetMet ? 'met' : 'NOT met'}**.` +
        (removed === undefined
          ? ''
          : ` Inline loaded p99 ÷ this loaded p99 = **${fixed(removed, 1)}** (the delay the pool removes).`),
    );
  }
  if (inline) {
    const { heartbeats: h } = inline.loaded;
    lines.push(
      `- inline baseline: loaded p99 ÷ idle p99 = **${fixed(inline.ratio, 1)}**, ${h.late} late, ${h.missed} missed, ` +
        `${inline.idle.master.evictions + inline.loaded.master.evictions} evictions.`,
    );
  }
  return lines;
}

export function formatThroughputTable(result: ResultPoolResult): string[] {
  const o = result.options;
  if (result.throughput.length === 0) return [];
  // grouped by size and format, in the order of the flags; each beside the inline mode's results
  const rows = o.sizes.flatMap((size) =>
    o.formats.flatMap((format) => {
      const cells = result.throughput.filter((c) => c.size === size && c.format === format);
      const inline = cells.find((c) => c.mode.threads === 0)?.phase.results;
      return cells.map((cell) => ({ cell, inline, ...cell.phase }));
    }),
  );
  return [
    '### Result pool: results per second, trivial handler (returns the result)',
    '',
    `${o.senders} result senders in flight; the same ${o.slaves} slaves heartbeat meanwhile; ${o.duration} s per cell ` +
      `after ${o.warmup} s warm-up. Sizes are body bytes on the wire; \`values\` = float32 numbers in ` +
      '`result.values` (MessagePack: a Float32Array; JSON: an array of JSON numbers).' +
      notes(o, result, o.profile || o.cpuProf),
    '',
    ...table<(typeof rows)[number]>(
      [
        ['result', 'l', ({ cell }) => formatSize(cell.size)],
        ['format', 'l', ({ cell }) => cell.format],
        ['body B', 'r', ({ cell }) => thousands(cell.bodyBytes)],
        ['values', 'r', ({ cell }) => thousands(cell.values)],
        ['mode', 'l', ({ cell }) => modeLabel(cell.mode)],
        ['results/s', 'r', ({ results: r }) => (r ? thousands(r.perSecond) : '–')],
        ['MB/s', 'r', ({ results: r }) => (r ? fixed(r.megabytesPerSecond, 1) : '–')],
        [
          '÷ inline',
          'r',
          ({ results: r, inline }) =>
            inline && r && r !== inline ? fixed(r.perSecond / inline.perSecond, 2) : '–',
        ],
        ['result p50 ms', 'r', ({ results: r }) => (r ? ms(r.latencyMs.p50) : '–')],
        ['result p99 ms', 'r', ({ results: r }) => (r ? ms(r.latencyMs.p99) : '–')],
        ['results/batch', 'r', ({ master: m }) => fixed(m.resultsPerBatch, 1)],
        ['heartbeat p99 ms', 'r', ({ heartbeats: h }) => ms(h.latencyMs.p99)],
        ['hb late / missed', 'r', ({ heartbeats: h }) => `${h.late} / ${h.missed}`],
        ['master CPU', 'r', ({ master: m }) => percent(m.cpu)],
        ['sender CPU', 'r', ({ senderCpu }) => percent(senderCpu)],
      ],
      rows,
    ),
  ];
}

export function formatMarkdown(result: ResultPoolResult): string {
  const lines: string[] = [];
  if (result.heartbeat.length > 0) lines.push(...formatHeartbeatTable(result), '');
  const throughput = formatThroughputTable(result);
  if (throughput.length > 0) lines.push(...throughput, '');
  for (const problem of result.problems) lines.push(`- problem: ${problem}`);
  for (const { label, file, summary: p } of result.profiles) {
    const places = p.places.slice(0, 6).map((l) => `${l.name} ${percent(l.share)}`);
    lines.push(
      '',
      `Master CPU profile, ${label} (\`${file}\`): ${fixed(p.busyMs, 0)} ms busy, ${fixed(p.idleMs, 0)} ms idle; ` +
        `by place: ${places.join(', ')}.`,
      '',
      ...profileTables(p, false),
    );
  }
  return lines.join('\n') + '\n';
}

export function headlines(r: ResultPoolResult) {
  const pinned = r.options.pin ? ', pinned' : '';
  const label = (mode: Mode) => `${mode.threads === 0 ? 'inline' : `pool ${mode.threads}`}${pinned}`;
  return [
    ...r.heartbeat.map((run) => lower(`${label(run.mode)}: heartbeat p99 loaded ÷ idle`, run.ratio, '×')),
    ...r.throughput.map((cell) =>
      higher(
        `${label(cell.mode)}: results/s, ${cell.size} B ${cell.format}`,
        cell.phase.results?.perSecond ?? Number.NaN,
        'results/s',
      ),
    ),
  ];
}
