/**
 * The NATS benchmark's result: its flags, what each phase measured (tasks, every process's CPU seconds, the
 * nats-server's message and byte counters), the figures per task derived from them, problems, tables and
 * headlines. Pure.
 */
import { int, num, type OptionsOf, subsetOf, value } from '../harness/args.ts';
import type { Result } from '../harness/bench.ts';
import {
  environmentLine,
  fixed,
  type Headline,
  higher,
  lower,
  percent,
  table,
  thousands,
} from '../harness/report.ts';

/** The phases, in run order: the in-memory baseline first. */
export const kPhases = ['memory', 'nats', 'nats2'] as const;
export type PhaseKey = (typeof kPhases)[number];

export const kPhaseLabels: Readonly<Record<PhaseKey, string>> = {
  memory: 'memory, 1 master',
  nats: 'nats, 1 master',
  nats2: 'nats × 2 masters',
};

/** Masters a phase runs (the slaves are shared out evenly between them). */
export const mastersOf = (phase: PhaseKey) => (phase === 'nats2' ? 2 : 1);
/** True when the phase needs a nats-server. */
export const usesNats = (phase: PhaseKey) => phase !== 'memory';

export const kFlags = {
  slaves: value(1000, int(2, 100_000), 'N', 'virtual slaves per phase (shared out between its masters)'),
  duration: value(10, num(0.5, 3600), 'S', 'measured seconds per phase'),
  warmup: value(3, num(0, 600), 'S', 'unmeasured seconds of load before each measured window'),
  inFlight: value(4000, int(1, 1_000_000), 'N', 'tasks outstanding (master.map, or FleetClient.map)'),
  phases: value<readonly PhaseKey[]>(kPhases, subsetOf(kPhases), 'LIST', 'which phases run'),
  resultBytes: value(64, int(0, 1024 * 1024), 'B', "padding of each virtual slave's result"),
  ports: value(4, int(1, 64), 'N', 'ports the virtual slaves share'),
  connectConcurrency: value(64, int(1, 10_000), 'N', 'connects in flight at once, per master'),
  natsServer: value(
    'nats-server',
    (raw, name) => {
      if (!raw) throw new RangeError(`--${name} needs the nats-server binary`);
      return raw;
    },
    'BIN',
    'the nats-server binary (2.9 or later, JetStream)',
  ),
};
export type NatsOptions = OptionsOf<typeof kFlags>;

export function checkOptions(o: NatsOptions): void {
  if (o.phases.includes('nats2') && o.slaves % 2 !== 0) {
    throw new RangeError(`--slaves (${o.slaves}) must be even for the nats2 phase: half go to each master`);
  }
}

/** CPU seconds (user + system, every thread) in a `/proc/<pid>/stat` line; `ticks` is USER_HZ. */
export function procCpuSeconds(stat: string, ticks = 100): number {
  // the command name (field 2) is in parentheses and may hold spaces: count from after its closing one
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  if (!Number.isFinite(user) || !Number.isFinite(system)) throw new Error(`not a /proc stat line: ${stat}`);
  return (user + system) / ticks;
}

/** The nats-server's counters (its `/varz`), or their change over a window. */
export interface NatsCounters {
  inMsgs: number;
  outMsgs: number;
  inBytes: number;
  outBytes: number;
}

export function countersOf(varz: Record<string, unknown>): NatsCounters {
  const n = (key: string) => {
    const v = varz[key];
    if (typeof v !== 'number') throw new Error(`/varz has no number ${key}`);
    return v;
  };
  return { inMsgs: n('in_msgs'), outMsgs: n('out_msgs'), inBytes: n('in_bytes'), outBytes: n('out_bytes') };
}

export const countersSince = (before: NatsCounters, after: NatsCounters): NatsCounters => ({
  inMsgs: after.inMsgs - before.inMsgs,
  outMsgs: after.outMsgs - before.outMsgs,
  inBytes: after.inBytes - before.inBytes,
  outBytes: after.outBytes - before.outBytes,
});

/** CPU seconds of each process over the measured window. */
export interface ProcessCpu {
  /** One per master, in order. */
  masters: number[];
  /** The FleetClient child (nats phases). */
  submitter?: number;
  natsServer?: number;
  /** This process: the virtual slaves (and the benchmark's own bookkeeping). */
  bench: number;
}

/** What `run` measured in one phase. */
export interface PhaseMeasure {
  phase: PhaseKey;
  /** Slaves connected, over every master of the phase, and connects that failed. */
  connected: number;
  connectFailed: number;
  firstError: string | undefined;
  /** The measured window's wall time. */
  seconds: number;
  /**
   * Tasks completed in the window: by the submitter's count (results received) in a nats phase, by the master's
   * `tasksCompleted` in the memory phase.
   */
  tasks: number;
  /** The submitter's handles that did not complete, in the window (nats phases). */
  failed: number;
  /** Each master's `tasksCompleted` in the window (how the work was shared). */
  masterTasks: number[];
  /** Warnings the masters logged in the window (a task failed, a result not published…). */
  masterWarnings: number;
  /** The latest of them. */
  lastWarning: string | undefined;
  cpu: ProcessCpu;
  /** The nats-server's message and byte counters over the window (nats phases). */
  nats?: NatsCounters;
}

const perTaskUs = (seconds: number | undefined, tasks: number) =>
  seconds === undefined || tasks <= 0 ? Number.NaN : (seconds / tasks) * 1e6;

export function phaseFigures(m: PhaseMeasure, memoryTasksPerSec: number) {
  const { cpu, tasks, seconds } = m;
  const all =
    cpu.masters.reduce((a, b) => a + b, 0) + (cpu.submitter ?? 0) + (cpu.natsServer ?? 0) + cpu.bench;
  const tasksPerSec = tasks / seconds;
  return {
    ...m,
    tasksPerSec,
    /** tasks/s ÷ the memory phase's tasks/s in the same run (NaN when it did not run). */
    ratio: tasksPerSec / memoryTasksPerSec,
    /** CPU µs per task of each process, and of all of them. */
    usPerTask: {
      masters: cpu.masters.map((s) => perTaskUs(s, tasks)),
      submitter: perTaskUs(cpu.submitter, tasks),
      natsServer: perTaskUs(cpu.natsServer, tasks),
      bench: perTaskUs(cpu.bench, tasks),
      all: perTaskUs(all, tasks),
    },
    /** CPU time ÷ wall time of each process (1 = one core busy). */
    busy: {
      masters: cpu.masters.map((s) => s / seconds),
      submitter: cpu.submitter === undefined ? Number.NaN : cpu.submitter / seconds,
      natsServer: cpu.natsServer === undefined ? Number.NaN : cpu.natsServer / seconds,
      bench: cpu.bench / seconds,
      all: all / seconds,
    },
    /** The server's messages in + out, and bytes in + out, per task. */
    natsMsgsPerTask: m.nats && tasks > 0 ? (m.nats.inMsgs + m.nats.outMsgs) / tasks : Number.NaN,
    natsBytesPerTask: m.nats && tasks > 0 ? (m.nats.inBytes + m.nats.outBytes) / tasks : Number.NaN,
  };
}
export type PhaseFigures = ReturnType<typeof phaseFigures>;

export function assemble(options: NatsOptions, measures: PhaseMeasure[], natsVersion: string | undefined) {
  const memory = measures.find((m) => m.phase === 'memory');
  const memoryTasksPerSec = memory ? memory.tasks / memory.seconds : Number.NaN;
  const phases = measures.map((m) => phaseFigures(m, memoryTasksPerSec));
  const problems = phases.flatMap((p) =>
    [
      p.connected < options.slaves &&
        `${kPhaseLabels[p.phase]}: ${options.slaves - p.connected} slaves not connected (first error: ${p.firstError})`,
      p.tasks === 0 && `${kPhaseLabels[p.phase]}: no task completed in the window`,
      p.failed > 0 && `${kPhaseLabels[p.phase]}: ${p.failed} tasks did not complete`,
    ].filter((x): x is string => typeof x === 'string'),
  );
  // shown, not a problem: a master that recovers by itself (a pull restarted after missed heartbeats on a busy
  // machine) costs throughput, which the figures already show
  const notes = phases
    .filter((p) => p.masterWarnings > 0)
    .map(
      (p) =>
        `${kPhaseLabels[p.phase]}: the masters logged ${p.masterWarnings} warnings (the last: ${p.lastWarning})`,
    );
  return { natsVersion, phases, ok: problems.length === 0, problems, notes };
}

export type NatsResult = Result<NatsOptions, ReturnType<typeof assemble>>;

const us = (n: number) => fixed(n, 0);
/** One figure per master; two are shown as their sum and each. */
const masters = (values: number[], f: (n: number) => string) =>
  values.length === 1
    ? f(values[0]!)
    : `${f(values.reduce((a, b) => a + b, 0))} (${values.map(f).join(' + ')})`;

export function formatMarkdown(result: NatsResult): string {
  const { options: o, phases } = result;
  const lines = [
    `### NATS JetStream against the in-memory queue: ${thousands(o.slaves)} virtual slaves, in-flight ${thousands(o.inFlight)}`,
    '',
    `Each phase: ${o.warmup} s of load, then ${o.duration} s measured; results of ${o.resultBytes} bytes, ` +
      `tasks that take no time; ${result.natsVersion ? `nats-server ${result.natsVersion} (R1, file storage)` : 'no nats-server'}; ` +
      environmentLine(result),
    '',
    ...table<PhaseFigures>(
      [
        ['phase', 'l', (p) => kPhaseLabels[p.phase]],
        ['tasks/s', 'r', (p) => thousands(p.tasksPerSec)],
        ['÷ memory', 'r', (p) => fixed(p.ratio, 3)],
        ['master µs CPU/task', 'r', (p) => masters(p.usPerTask.masters, us)],
        ['submitter µs/task', 'r', (p) => us(p.usPerTask.submitter)],
        ['nats-server µs/task', 'r', (p) => us(p.usPerTask.natsServer)],
        ['virtual slaves µs/task', 'r', (p) => us(p.usPerTask.bench)],
        ['all µs/task', 'r', (p) => us(p.usPerTask.all)],
        ['NATS msgs/task', 'r', (p) => fixed(p.natsMsgsPerTask, 1)],
        ['NATS bytes/task', 'r', (p) => thousands(p.natsBytesPerTask)],
      ],
      phases,
    ),
    '',
    'CPU time ÷ wall time of each process over the window (100% = one core; the machine has ' +
      `${result.environment.cpus}):`,
    '',
    ...table<PhaseFigures>(
      [
        ['phase', 'l', (p) => kPhaseLabels[p.phase]],
        ['master', 'r', (p) => masters(p.busy.masters, percent)],
        ['submitter', 'r', (p) => percent(p.busy.submitter)],
        ['nats-server', 'r', (p) => percent(p.busy.natsServer)],
        ['virtual slaves', 'r', (p) => percent(p.busy.bench)],
        ['all', 'r', (p) => percent(p.busy.all)],
        ['tasks per master', 'l', (p) => p.masterTasks.map(thousands).join(' / ')],
        ['warnings', 'r', (p) => thousands(p.masterWarnings)],
      ],
      phases,
    ),
    ...(result.notes.length + result.problems.length > 0 ? [''] : []),
    ...result.notes.map((n) => `- note: ${n}`),
    ...result.problems.map((p) => `- problem: ${p}`),
  ];
  return `${lines.join('\n')}\n`;
}

export function headlines(r: NatsResult): Headline[] {
  const out: Headline[] = [];
  for (const p of r.phases) {
    const label = kPhaseLabels[p.phase];
    out.push(higher(`tasks/s, ${label}`, p.tasksPerSec, 'tasks/s'));
    if (p.phase !== 'memory') out.push(higher(`÷ memory, ${label}`, p.ratio, '×'));
    out.push(
      lower(
        `master µs CPU/task, ${label}`,
        p.usPerTask.masters.reduce((a, b) => a + b, 0),
        'µs',
      ),
    );
    if (p.phase !== 'memory') {
      out.push(lower(`nats-server µs CPU/task, ${label}`, p.usPerTask.natsServer, 'µs'));
      out.push(lower(`NATS msgs/task, ${label}`, p.natsMsgsPerTask));
    }
  }
  return out;
}
