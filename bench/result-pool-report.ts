/**
 * The result-pool benchmark's numbers: what each phase and cell records, the verdict against issue 3's target,
 * and the markdown tables. Pure except `writeResults`.
 */
import type { Histogram } from 'node:perf_hooks';
import type { ProfileSummary } from './cpu-profile.ts';
import { thousands } from './front-end-report.ts';
import { writeResultFiles } from './result-files.ts';
import { formatSize, type ResultFormat } from './result-payloads.ts';
import type { ResultWindow } from './result-senders.ts';

/** Issue 3: under result saturation, the pool's heartbeat p99 stays within this factor of its idle p99. */
export const kTargetFactor = 2;

/** The tick of every `monitorEventLoopDelay` here, in milliseconds. */
export const kLoopResolutionMs = 5;

export interface HistogramSummary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/**
 * Percentiles of a node:perf_hooks histogram, divided into milliseconds (1000 for µs, 1e6 for ns), less
 * `offsetMs` (floored at 0): `monitorEventLoopDelay` records the time between its timer's ticks, so its
 * resolution is subtracted to leave the delay.
 */
export function summariseHistogram(h: Histogram, perMs: number, offsetMs = 0): HistogramSummary {
  // a histogram never written to has no percentiles (node answers 0 and a huge min)
  const count = 'count' in h ? (h as { count: number }).count : Number.NaN;
  if (count === 0) {
    return {
      count: 0,
      p50: Number.NaN,
      p99: Number.NaN,
      p999: Number.NaN,
      max: Number.NaN,
      mean: Number.NaN,
    };
  }
  const at = (value: number) => Math.max(0, value / perMs - offsetMs);
  return {
    count,
    p50: at(h.percentile(50)),
    p99: at(h.percentile(99)),
    p999: at(h.percentile(99.9)),
    max: at(h.max),
    mean: at(h.mean),
  };
}

/** Heartbeats answered within one window, as the fleet process saw them. */
export interface HeartbeatPhase {
  seconds: number;
  /** Heartbeats answered (any status). */
  answered: number;
  perSecond: number;
  /** Send → answer, of answered heartbeats. */
  latencyMs: HistogramSummary;
  /** The threshold for `late`. */
  lateMs: number;
  /** Answered later than `lateMs`. */
  late: number;
  /** Answered with a status other than 200 (403: the slave's token is gone, i.e. it was evicted). */
  refused: number;
  /** No answer: connection error or timeout (the master's heartbeat tolerance). */
  errors: number;
  /** `refused + errors`. */
  missed: number;
  /** Beats a slave could not send because its previous one took longer than a span. */
  skipped: number;
  statuses: Record<string, number>;
  /** How late the fleet process sent each heartbeat against its schedule: its own lag, not the master's. */
  sendLagMs: HistogramSummary;
  /** The fleet process's event-loop delay: when high, its latencies include its own stalls. */
  loopDelayMs: HistogramSummary;
}

/** What the master process said about one window. */
export interface MasterWindow {
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
}

export interface Phase {
  heartbeats: HeartbeatPhase;
  /** Absent in the idle phase. */
  results: ResultWindow | undefined;
  master: MasterWindow;
  /** This (load) process's CPU ÷ wall time: the result senders. */
  senderCpu: number;
  /** The fleet process's CPU ÷ wall time. */
  fleetCpu: number;
}

export type ModeName = `pool-${number}` | 'inline';

export interface Mode {
  name: ModeName;
  /** The master's `resultThreads` (0 = inline). */
  threads: number;
}

export function modeLabel(mode: Mode): string {
  return mode.threads === 0
    ? 'inline (main thread)'
    : `pool, ${mode.threads} thread${mode.threads === 1 ? '' : 's'}`;
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

/** The options a result records (see `ResultPoolOptions` in result-pool.ts). */
export interface RecordedOptions {
  duration: number;
  warmup: number;
  slaves: number;
  heartbeatSpan: number;
  tolerance: number;
  lateMs: number;
  senders: number;
  threads: readonly number[];
  handlerMs: number;
  threadNice: number;
  pin: boolean;
  sizes: readonly number[];
  formats: readonly ResultFormat[];
  loadSize: number;
  loadFormat: ResultFormat;
  parts: readonly ('heartbeat' | 'throughput')[];
  profile: boolean;
  cpuProf: boolean;
}

export interface ResultPoolResult {
  bench: 'result-pool';
  startedAt: string;
  finishedAt: string;
  environment: {
    node: string;
    platform: string;
    cpus: number;
    cpuModel: string;
    /** 1-minute load average before and after: other work on the machine shows up here. */
    loadAverage: [number, number];
  };
  options: RecordedOptions;
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
    const h = phase.heartbeats;
    if (h.missed > 0)
      problems.push(`${where}: ${h.missed} heartbeats missed (${h.errors} errors, ${h.refused} refused)`);
    if (phase.master.evictions > 0) problems.push(`${where}: ${phase.master.evictions} slaves evicted`);
    if (h.sendLagMs.p99 > h.lateMs) {
      problems.push(
        `${where}: the fleet process itself sent heartbeats late (send lag p99 ${fixed(h.sendLagMs.p99, 1)} ms): its latencies include its own stalls`,
      );
    }
    const r = phase.results;
    if (r && r.errors + r.refused > 0) {
      problems.push(
        `${where}: ${r.errors} result errors, ${r.refused} results refused ${JSON.stringify(r.statuses)}`,
      );
    }
    if (r && r.acknowledged === 0) problems.push(`${where}: no result acknowledged`);
    if (phase.master.resultsInvalid + phase.master.resultsFailed > 0) {
      problems.push(
        `${where}: the master counted ${phase.master.resultsInvalid} invalid and ${phase.master.resultsFailed} failed results`,
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
  for (const cell of throughput) {
    check(`${modeLabel(cell.mode)}, ${formatSize(cell.size)} ${cell.format}`, cell.phase);
  }
  return problems;
}

export const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const percent = (n: number) => (Number.isFinite(n) ? `${Math.round(n * 100)}%` : '–');
const ms = (n: number) =>
  !Number.isFinite(n) ? '–' : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);

function environmentLine(result: ResultPoolResult): string {
  const e = result.environment;
  return (
    `node ${e.node}, ${e.cpus} × ${e.cpuModel}; load average ${fixed(e.loadAverage[0], 2)} → ` +
    `${fixed(e.loadAverage[1], 2)}; ${result.startedAt}.`
  );
}

export function formatHeartbeatTable(result: ResultPoolResult): string[] {
  const o = result.options;
  const lines = [
    '### Result pool: heartbeats while a heavy handler saturates the result stage',
    '',
    `${o.slaves} slaves, each heartbeating every ${o.heartbeatSpan} s on its own connection (master heartbeatTolerance ` +
      `${o.tolerance} s); heavy handler ${result.handler.rounds} rounds of SHA-256 over 4 KiB ≈ ` +
      `${fixed(result.handler.measuredMs, 2)} ms uncontended (target ${o.handlerMs} ms); loaded = ${o.senders} result ` +
      `senders in flight, ${formatSize(o.loadSize)} ${o.loadFormat} results (${result.loadPayload.bodyBytes} B body, ` +
      `${result.loadPayload.values} values), no Task-Id; ${o.duration} s per phase after ${o.warmup} s warm-up; ` +
      `late = answered after ${o.lateMs} ms; missed = error, timeout or refusal.` +
      (o.threadNice > 0 ? ` **Experiment: pool threads run at nice ${o.threadNice}.**` : '') +
      (o.pin
        ? ' **Pinned: master main thread + heartbeat fleet on CPU 0, pool threads + result senders on CPU 1.**'
        : '') +
      ` ${environmentLine(result)}` +
      (o.profile
        ? ' **Master profiled during the loaded phases: its figures are depressed by the profiler.**'
        : ''),
    '',
    '| mode | phase | heartbeats/s | p50 ms | p99 ms | max ms | late | missed | evictions | results/s | result p99 ms | 503s | master loop delay p99 ms | fleet loop delay p99 ms | master CPU | master CPU ms/result | p99 ÷ idle p99 |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const run of result.heartbeat) {
    for (const name of ['idle', 'loaded'] as const) {
      const p = run[name];
      const h = p.heartbeats;
      const r = p.results;
      lines.push(
        `| ${modeLabel(run.mode)} | ${name} | ${thousands(h.perSecond)} | ${ms(h.latencyMs.p50)} | ${ms(h.latencyMs.p99)} | ` +
          `${ms(h.latencyMs.max)} | ${h.late} | ${h.missed} | ${p.master.evictions} | ` +
          `${r ? thousands(r.perSecond) : '–'} | ${r ? ms(r.latencyMs.p99) : '–'} | ${r ? r.pushedBack : '–'} | ` +
          `${ms(p.master.loopDelayMs.p99)} | ${ms(h.loopDelayMs.p99)} | ${percent(p.master.cpu)} | ` +
          `${ms(p.master.cpuMsPerResult)} | ` +
          `${name === 'loaded' ? `**${fixed(run.ratio, 2)}**` : ''} |`,
      );
    }
  }
  lines.push('');
  const inline = result.heartbeat.find((r) => r.mode.threads === 0);
  for (const run of result.heartbeat) {
    if (run.targetMet === undefined) continue;
    const evictions = run.idle.master.evictions + run.loaded.master.evictions;
    lines.push(
      `- ${modeLabel(run.mode)}: loaded p99 ÷ idle p99 = **${fixed(run.ratio, 2)}** (target ≤ ${kTargetFactor}), ` +
        `${evictions} evictions (target 0): **${run.targetMet ? 'met' : 'NOT met'}**.` +
        (inline
          ? ` Inline loaded p99 ÷ this loaded p99 = **${fixed(inline.loaded.heartbeats.latencyMs.p99 / run.loaded.heartbeats.latencyMs.p99, 1)}** (the delay the pool removes).`
          : ''),
    );
  }
  if (inline) {
    lines.push(
      `- inline baseline: loaded p99 ÷ idle p99 = **${fixed(inline.ratio, 1)}**, ${inline.loaded.heartbeats.late} late, ` +
        `${inline.loaded.heartbeats.missed} missed, ${inline.idle.master.evictions + inline.loaded.master.evictions} evictions.`,
    );
  }
  return lines;
}

export function formatThroughputTable(result: ResultPoolResult): string[] {
  const o = result.options;
  if (result.throughput.length === 0) return [];
  const lines = [
    '### Result pool: results per second, trivial handler (returns the result)',
    '',
    `${o.senders} result senders in flight; the same ${o.slaves} slaves heartbeat meanwhile; ${o.duration} s per cell ` +
      `after ${o.warmup} s warm-up. Sizes are body bytes on the wire; \`values\` = float32 numbers in ` +
      '`result.values` (MessagePack: a Float32Array; JSON: an array of JSON numbers).' +
      (o.threadNice > 0 ? ` **Experiment: pool threads run at nice ${o.threadNice}.**` : '') +
      (o.pin
        ? ' **Pinned: master main thread + heartbeat fleet on CPU 0, pool threads + result senders on CPU 1.**'
        : '') +
      ` ${environmentLine(result)}` +
      (o.profile || o.cpuProf ? ' **Master profiled: its figures are depressed by the profiler.**' : ''),
    '',
    '| result | format | body B | values | mode | results/s | MB/s | ÷ inline | result p50 ms | result p99 ms | results/batch | heartbeat p99 ms | hb late / missed | master CPU | sender CPU |',
    '|---|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const size of o.sizes) {
    for (const format of o.formats) {
      const cells = result.throughput.filter((c) => c.size === size && c.format === format);
      const inline = cells.find((c) => c.mode.threads === 0);
      for (const cell of cells) {
        const r = cell.phase.results;
        const h = cell.phase.heartbeats;
        const ratio =
          inline && cell !== inline && r && inline.phase.results
            ? fixed(r.perSecond / inline.phase.results.perSecond, 2)
            : '–';
        lines.push(
          `| ${formatSize(size)} | ${format} | ${thousands(cell.bodyBytes)} | ${thousands(cell.values)} | ${modeLabel(cell.mode)} | ` +
            `${r ? thousands(r.perSecond) : '–'} | ${r ? fixed(r.megabytesPerSecond, 1) : '–'} | ${ratio} | ` +
            `${r ? ms(r.latencyMs.p50) : '–'} | ${r ? ms(r.latencyMs.p99) : '–'} | ` +
            `${fixed(cell.phase.master.resultsPerBatch, 1)} | ${ms(h.latencyMs.p99)} | ` +
            `${h.late} / ${h.missed} | ${percent(cell.phase.master.cpu)} | ${percent(cell.phase.senderCpu)} |`,
        );
      }
    }
  }
  return lines;
}

export function formatMarkdown(result: ResultPoolResult): string {
  const lines: string[] = [];
  if (result.heartbeat.length > 0) lines.push(...formatHeartbeatTable(result), '');
  const throughput = formatThroughputTable(result);
  if (throughput.length > 0) lines.push(...throughput, '');
  for (const problem of result.problems) lines.push(`- problem: ${problem}`);
  for (const profile of result.profiles) {
    const p = profile.summary;
    const places = p.places
      .slice(0, 6)
      .map((l) => `${l.name} ${percent(l.share)}`)
      .join(', ');
    lines.push(
      '',
      `Master CPU profile, ${profile.label} (\`${profile.file}\`): ${fixed(p.busyMs, 0)} ms busy, ` +
        `${fixed(p.idleMs, 0)} ms idle; by place: ${places}.`,
      '',
      '| function | self ms | share of busy |',
      '|---|--:|--:|',
      ...p.functions.map((l) => `| \`${l.name}\` | ${fixed(l.selfMs, 0)} | ${percent(l.share)} |`),
    );
  }
  return lines.join('\n') + '\n';
}

/** Writes `result-pool-<timestamp>.json` and `.md` into `dir`; returns their paths. */
export function writeResults(result: ResultPoolResult, dir: string): Promise<string[]> {
  return writeResultFiles(dir, 'result-pool', result.startedAt, result, formatMarkdown(result));
}
