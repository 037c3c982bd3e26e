/**
 * The fleet benchmark's numbers: result types, the targets, a CPU profile cut to the measured window, and the
 * markdown report. Pure except `writeResults`.
 */
import path from 'node:path';
import type { CpuProfile, ProfileSummary } from './cpu-profile.ts';
import { thousands } from './front-end-report.ts';
import { writeResultFiles } from './result-files.ts';

/** The options a result records (see `FleetOptions` in fleet.ts for their meaning). */
export interface FleetRecordedOptions {
  slaves: number;
  duration: number;
  warmup: number;
  heartbeatSpan: number;
  heartbeatJitter: number;
  heartbeatTolerance: number;
  heartbeatCheckSpan: number;
  resultBytes: number;
  workUs: number;
  sleepMs: number;
  resultThreads: number | undefined;
  /** The master's `taskClient` for `/task/new`. */
  taskClient: 'lean' | 'undici';
  connectConcurrency: number;
  ports: number;
  simConnections: number;
  baselineDuration: number;
  msgpack: boolean;
  profile: boolean;
}

export type HeartbeatPhaseKind = 'null' | 'idle' | 'loaded';

export const kPhaseLabels: Readonly<Record<HeartbeatPhaseKind, string>> = {
  null: 'null master (raw uWS, heartbeats only)',
  idle: 'master, heartbeats only',
  loaded: 'master, under task load',
};

/** Heartbeats of the whole fleet over one window, as the virtual slaves saw them. */
export interface HeartbeatPhase {
  kind: HeartbeatPhaseKind;
  seconds: number;
  beats: number;
  beatsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Answers other than 200 (the master did not know the slave). */
  refused: number;
  errors: number;
  /** The answering process's CPU time ÷ wall time (1 = one core). */
  serverCpu: number;
  /** Its CPU per heartbeat, µs; not given under load (the CPU then pays for tasks too). */
  serverCpuUsPerBeat: number;
  /** The master's main-thread event-loop delay over the window, p99 and max, ms (NaN for the null master). */
  serverLoopDelayP99Ms: number;
  serverLoopDelayMaxMs: number;
  /** The simulator's CPU time ÷ wall time. */
  simCpu: number;
}

export interface TargetCheck {
  name: string;
  value: number;
  met: boolean;
  /** Why the run's shape differs from the target's, when it does. */
  note: string;
}

export interface FleetResult {
  bench: 'fleet';
  startedAt: string;
  finishedAt: string;
  environment: {
    node: string;
    platform: string;
    cpus: number;
    cpuModel: string;
    /** 1-minute load average before and after. */
    loadAverage: [number, number];
  };
  options: FleetRecordedOptions;
  master: { resultThreads: number };
  connect: {
    slaves: number;
    connected: number;
    failed: number;
    seconds: number;
    perSec: number;
    firstError: string | undefined;
    rssBeforeMiB: number;
    rssAfterMiB: number;
    /** (master RSS after connecting − before) ÷ connected slaves, after two full GCs each time. */
    rssPerSlaveKiB: number;
    heapPerSlaveKiB: number;
  };
  load: {
    seconds: number;
    tasks: number;
    tasksPerSec: number;
    failed: number;
    startFailed: number;
    unfinished: number;
    loopsLost: number;
    /** Task latency, `start()` → `join()`, measured in the master. */
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    meanMs: number;
    masterCpu: number;
    masterElu: number;
    masterLoopDelayP99Ms: number;
    masterLoopDelayMaxMs: number;
    masterRssMiB: number;
    simCpu: number;
    simElu: number;
    simLoopDelayP99Ms: number;
    /** A result report's round trip, as the virtual slave saw it. */
    reportP50Ms: number;
    reportP99Ms: number;
    resultsPushedBack: number;
    resultsRefused: number;
    resultErrors: number;
    tasksRefused: number;
    /** The measured window in the master child's `process.hrtime` (µs): its CPU profile is cut to it. */
    windowUs: [number, number];
  };
  heartbeats: HeartbeatPhase[];
  /** Master (heartbeats only) ÷ null master, same fleet, same run. */
  ratios: { p50: number; p99: number; cpuPerBeat: number } | undefined;
  /** `falseEvictions`: see `countFalseEvictions`. Every slave heartbeats on time here, so any eviction is false. */
  evictions: { master: number; heartbeatsRefused: number; falseEvictions: number };
  masterStats: Record<string, number>;
  targets: TargetCheck[];
  ok: boolean;
  problems: string[];
  profile:
    | {
        file: string;
        /** Whether the summary is cut to the measured window (else: the child's whole life). */
        windowed: boolean;
        summary: ProfileSummary;
        /**
         * The other threads (result pool, tsx's loader): CPU in the window, without `waitingMs`, the time a pool
         * thread sat blocked in piscina's `Atomics.wait` loop (the profiler counts it as busy).
         */
        threads: { file: string; busyMs: number; waitingMs: number; top: string }[];
      }
    | undefined;
}

export const kTargets = Object.freeze({
  tasksPerSec: 15_000,
  tasksPerSecSlaves: 1_000,
  heartbeatP99Ms: 20,
  heartbeatSlaves: 10_000,
  heartbeatSpan: 1,
});

/** The issue's targets, reported (never asserted) with a note when the run's shape is not the target's. */
export function checkTargets(
  options: Pick<FleetRecordedOptions, 'slaves' | 'heartbeatSpan'>,
  tasksPerSec: number,
  idleP99Ms: number,
  loadedP99Ms: number,
  falseEvictions: number,
): TargetCheck[] {
  const fleetNote =
    options.slaves === kTargets.heartbeatSlaves && options.heartbeatSpan <= kTargets.heartbeatSpan
      ? ''
      : `this run: ${thousands(options.slaves)} slaves, span ${options.heartbeatSpan} s; the target's: ` +
        `${thousands(kTargets.heartbeatSlaves)} slaves, span ${kTargets.heartbeatSpan} s`;
  const hb = (name: string, value: number): TargetCheck => ({
    name,
    value,
    met: value < kTargets.heartbeatP99Ms,
    note: fleetNote,
  });
  return [
    {
      name: `tasks/s ≥ ${thousands(kTargets.tasksPerSec)} with ${thousands(kTargets.tasksPerSecSlaves)} slaves`,
      value: tasksPerSec,
      met: tasksPerSec >= kTargets.tasksPerSec,
      note:
        options.slaves === kTargets.tasksPerSecSlaves ? '' : `this run: ${thousands(options.slaves)} slaves`,
    },
    { name: 'false evictions = 0', value: falseEvictions, met: falseEvictions === 0, note: '' },
    hb(`heartbeat p99 < ${kTargets.heartbeatP99Ms} ms, heartbeats only`, idleP99Ms),
    hb(`heartbeat p99 < ${kTargets.heartbeatP99Ms} ms, under task load`, loadedP99Ms),
  ];
}

/**
 * Slaves the master dropped while they were heartbeating on time. An evicted slave's next heartbeat is refused
 * (and a virtual slave stops at its first refusal), so the master's evictions and the simulator's refusals count
 * the same slaves twice: the larger of the two counts each slave once, and still catches a refusal without an
 * eviction (a token the master lost some other way). Pure.
 */
export function countFalseEvictions(evictions: number, heartbeatsRefused: number): number {
  return Math.max(evictions, heartbeatsRefused);
}

/**
 * Keeps only the samples taken in [fromUs, toUs] (the profile's clock is `process.hrtime` in µs), so a
 * profile of the child's whole life shows the measured window alone. Pure.
 */
export function trimCpuProfile(profile: CpuProfile, fromUs: number, toUs: number): CpuProfile {
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const keptSamples: number[] = [];
  const keptDeltas: number[] = [];
  let t = profile.startTime;
  let previous: number | undefined;
  for (let i = 0; i < samples.length; i++) {
    t += deltas[i] ?? 0;
    if (t < fromUs || t > toUs) continue;
    keptSamples.push(samples[i]!);
    keptDeltas.push(previous === undefined ? 0 : t - previous);
    previous = t;
  }
  const counts = new Map<number, number>();
  for (const id of keptSamples) counts.set(id, (counts.get(id) ?? 0) + 1);
  return {
    nodes: profile.nodes.map((node) => ({ ...node, hitCount: counts.get(node.id) ?? 0 })),
    startTime: Math.max(profile.startTime, fromUs),
    endTime: Math.min(profile.endTime, toUs),
    samples: keptSamples,
    timeDeltas: keptDeltas,
  };
}

/** Which thread wrote a `--cpu-prof` file: `CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile`; 0 is main. */
export function profileThreadOf(file: string): number {
  const parts = path.basename(file).split('.');
  return parts.length >= 7 ? Number(parts[parts.length - 3]) : Number.NaN;
}

const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const percent = (n: number) => (Number.isFinite(n) ? `${Math.round(n * 100)}%` : '–');

export function formatMarkdown(result: FleetResult): string {
  const o = result.options;
  const c = result.connect;
  const l = result.load;
  const env = result.environment;
  const work = o.sleepMs > 0 ? `sleep ${o.sleepMs} ms` : o.workUs > 0 ? `busy ${o.workUs} µs` : 'no work';
  const lines = [
    `### Fleet: ${thousands(o.slaves)} virtual slaves against one master`,
    '',
    `${o.duration} s measured after ${o.warmup} s warm-up; heartbeat every ${o.heartbeatSpan} s ` +
      `(±${Math.round(o.heartbeatJitter * 100)}%), tolerance ${o.heartbeatTolerance} s, sweep every ` +
      `${o.heartbeatCheckSpan} s; tasks: ${work}, result ${o.resultBytes} B ${o.msgpack ? 'MessagePack' : 'JSON'}; ` +
      `master resultThreads ${result.master.resultThreads}${o.resultThreads === undefined ? ' (its default)' : ''}, ` +
      `taskClient ${o.taskClient ?? 'lean'}${o.taskClient === 'undici' ? '' : ' (its default)'}; ` +
      `simulator: ${o.ports} ports, ${thousands(Math.min(o.simConnections, o.slaves))} sockets per kind; node ${env.node}, ${env.cpus} × ` +
      `${env.cpuModel}; load average ${fixed(env.loadAverage[0], 2)} → ${fixed(env.loadAverage[1], 2)}; ` +
      `${result.startedAt}.` +
      (o.profile ? ' **Master profiled: its figures are depressed by the profiler.**' : ''),
    '',
    '| tasks/s | task p50 ms | task p99 ms | task max ms | failed | master CPU | master loop busy | master loop delay p99 / max ms | simulator CPU | simulator loop busy | report p99 ms | pushed back |',
    '|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    `| ${thousands(l.tasksPerSec)} | ${fixed(l.p50Ms, 2)} | ${fixed(l.p99Ms, 2)} | ${fixed(l.maxMs, 1)} | ` +
      `${l.failed + l.startFailed} | ${percent(l.masterCpu)} | ${percent(l.masterElu)} | ` +
      `${fixed(l.masterLoopDelayP99Ms, 1)} / ${fixed(l.masterLoopDelayMaxMs, 0)} | ${percent(l.simCpu)} | ` +
      `${percent(l.simElu)} | ` +
      `${fixed(l.reportP99Ms, 2)} | ${thousands(l.resultsPushedBack)} |`,
    '',
    '| heartbeats | beats/s | p50 ms | p99 ms | max ms | refused | errors | server CPU | server µs CPU/beat | server loop delay p99 / max ms | simulator CPU | p50 ÷ null | p99 ÷ null | CPU/beat ÷ null |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  const nullPhase = result.heartbeats.find((h) => h.kind === 'null');
  for (const h of result.heartbeats) {
    const ratio = (pick: (p: HeartbeatPhase) => number) =>
      nullPhase && h.kind !== 'null' ? fixed(pick(h) / pick(nullPhase), 2) : '–';
    lines.push(
      `| ${kPhaseLabels[h.kind]} | ${thousands(h.beatsPerSec)} | ${fixed(h.p50Ms, 2)} | ${fixed(h.p99Ms, 2)} | ` +
        `${fixed(h.maxMs, 1)} | ${h.refused} | ${h.errors} | ${percent(h.serverCpu)} | ` +
        `${fixed(h.serverCpuUsPerBeat, 1)} | ${fixed(h.serverLoopDelayP99Ms, 1)} / ${fixed(h.serverLoopDelayMaxMs, 0)} | ` +
        `${percent(h.simCpu)} | ` +
        `${ratio((p) => p.p50Ms)} | ` +
        `${ratio((p) => p.p99Ms)} | ${h.kind === 'loaded' ? '–' : ratio((p) => p.serverCpuUsPerBeat)} |`,
    );
  }
  lines.push(
    '',
    '| connected | failed | connect s | connects/s | master RSS before → after MiB | RSS per slave KiB | heap per slave KiB | master RSS under load MiB | evictions | heartbeats refused |',
    '|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    `| ${thousands(c.connected)} | ${c.failed} | ${fixed(c.seconds, 1)} | ${thousands(c.perSec)} | ` +
      `${fixed(c.rssBeforeMiB, 0)} → ${fixed(c.rssAfterMiB, 0)} | ${fixed(c.rssPerSlaveKiB, 1)} | ` +
      `${fixed(c.heapPerSlaveKiB, 1)} | ${fixed(l.masterRssMiB, 0)} | ${result.evictions.master} | ` +
      `${result.evictions.heartbeatsRefused} |`,
    '',
  );
  for (const t of result.targets) {
    const value = t.name.startsWith('tasks/s') ? thousands(t.value) : fixed(t.value, t.value % 1 ? 2 : 0);
    lines.push(
      `- target ${t.name}: **${value}** (${t.met ? 'met' : 'NOT met'}${t.note ? `; ${t.note}` : ''})`,
    );
  }
  for (const problem of result.problems) lines.push(`- problem: ${problem}`);
  if (result.profile) {
    const p = result.profile.summary;
    lines.push(
      '',
      `Master main-thread CPU profile (\`${result.profile.file}\`, ` +
        `${result.profile.windowed ? 'measured window only' : 'whole child'}): ${fixed(p.busyMs, 0)} ms busy, ` +
        `${fixed(p.idleMs, 0)} ms idle. Other threads (result pool, loader), CPU in the window without ` +
        `Atomics.wait: ` +
        (result.profile.threads.length === 0
          ? 'no thread profiles'
          : result.profile.threads
              .map((t) => `${fixed(t.busyMs, 0)} ms${t.top ? ` (top: \`${t.top}\`)` : ''}`)
              .join('; ')) +
        '.',
      '',
      '| place | self ms | share of busy |',
      '|---|--:|--:|',
      ...p.places.map((line) => `| ${line.name} | ${fixed(line.selfMs, 0)} | ${percent(line.share)} |`),
      '',
      '| function | self ms | share of busy |',
      '|---|--:|--:|',
      ...p.functions.map(
        (line) => `| \`${line.name}\` | ${fixed(line.selfMs, 0)} | ${percent(line.share)} |`,
      ),
    );
  }
  return lines.join('\n') + '\n';
}

/** Writes `fleet-<timestamp>.json` and `.md` into `dir`; returns their paths. */
export function writeResults(result: FleetResult, dir: string): Promise<string[]> {
  return writeResultFiles(dir, 'fleet', result.startedAt, result, formatMarkdown(result));
}
