/**
 * The fleet benchmark's result: its flags, its figures (assembled from what the master child, the simulator and
 * the null master measured), the issue's targets, its tables and headlines. Pure.
 */
import type { EngineName } from '../../src/http/engine.ts';
import { kDashboardLimits } from '../../src/master/dashboard/dashboard.ts';
import { int, listOf, num, type OptionsOf, oneOf, subsetOf, toggle, value } from '../harness/args.ts';
import type { Result } from '../harness/bench.ts';
import type { ConnectOutcome, MasterReady } from '../harness/master-child.ts';
import { type ProfileSummary, profileTables } from '../harness/profile.ts';
import { environmentLine, fixed, higher, lower, percent, table, thousands } from '../harness/report.ts';
import { availableEngines } from '../harness/servers.ts';
import type { SimCounters, WindowSummary } from '../harness/virtual-fleet.ts';
import { kVias, type LoadRow, pagesLabel, rowHeadlines, rowsTable, type Via } from './rows.ts';
import type { LoadOutcome } from './task-load.ts';

export const kFlags = {
  slaves: value(1000, int(1, 100_000), 'N', 'virtual slaves'),
  duration: value(20, num(0.5, 3600), 'S', 'measured seconds of task load'),
  warmup: value(2, num(0, 600), 'S', 'unmeasured seconds of task load first'),
  heartbeatSpan: value(1, num(0.2, 600), 'S', 'seconds between two heartbeats of a slave'),
  heartbeatJitter: value(0.1, num(0, 0.5), 'F', 'each span varies by up to ±F of itself'),
  heartbeatTolerance: value(5, num(0.2, 3600), 'S', 'master heartbeatTolerance'),
  heartbeatCheckSpan: value(1, num(0.1, 3600), 'S', 'master heartbeatCheckSpan'),
  resultBytes: value(64, int(0, 64 * 1024 * 1024), 'B', 'padding in each result payload'),
  workUs: value(0, int(0, 1_000_000), 'US', "busy-loop per task, in the simulator's one thread"),
  sleepMs: value(0, int(0, 600_000), 'MS', 'sleep per task instead, tasks overlap'),
  resultThreads: value<number | undefined>(
    undefined,
    int(0, 256),
    'N',
    'master resultThreads (0 = inline)',
    "the master's",
  ),
  taskClient: value<'lean' | 'undici'>(
    'lean',
    oneOf(['lean', 'undici']),
    'C',
    'master taskClient for /task/new',
  ),
  connectConcurrency: value(64, int(1, 10_000), 'N', 'connects in flight at once'),
  ports: value(4, int(1, 64), 'N', 'ports the virtual slaves share'),
  simConnections: value(
    1000,
    int(1, 10_000),
    'N',
    'simulator sockets per kind to the master; slave i uses i mod N',
  ),
  baselineDuration: value(
    5,
    num(0, 600),
    'S',
    'heartbeats only, against the idle master, then the null master',
  ),
  engine: value<readonly EngineName[]>(
    availableEngines().slice(0, 1),
    subsetOf(['uws', 'node'] as const),
    'LIST',
    "the master's HTTP engine; with two (uws,node) the second runs the same load after the first and gets a row beside it",
    'uws, or node where uws does not load',
  ),
  via: value<readonly Via[]>(
    ['connection'],
    listOf(oneOf(kVias)),
    'LIST',
    'how tasks reach the slaves: connection (newTask().start() → join()) or submit (master.submit() → join()); ' +
      'with both, each loads the same master in turn, in the order given, and gets a row',
  ),
  dashboardClients: value<readonly number[]>(
    [],
    listOf(int(0, kDashboardLimits.maxPages)),
    'LIST',
    'dashboard pages open during the load (e.g. 0,1,5): the master gets an admin listener; each count loads the ' +
      'same master in turn, in the order given, and gets a row: tasks/s and heartbeat p99 ÷ the 0-page row, bytes/s per page',
    'none: no admin listener',
  ),
  rounds: value<number>(
    1,
    int(1, 20),
    'N',
    'run the --dashboard-clients list N times over, every other round reversed (0,1,5, 5,1,0, 0,1,5, …): each page row ÷ the 0-page row of its own round, ' +
      'the targets on the medians over the rounds',
  ),
  msgpack: toggle('task and result bodies as MessagePack'),
  profile: toggle('CPU-profile the master child (node --cpu-prof) and summarise its load window'),
};
export type FleetOptions = OptionsOf<typeof kFlags>;

export type HeartbeatPhaseKind = 'null' | 'idle' | 'loaded';

export const kPhaseLabels: Readonly<Record<HeartbeatPhaseKind, string>> = {
  null: 'null master (raw server of the engine, heartbeats only)',
  idle: 'master, heartbeats only',
  loaded: 'master, under task load',
};

/**
 * Heartbeats of the whole fleet over one window, as the virtual slaves saw them, with the answering process's
 * CPU (÷ wall time; per beat only without task load) and main-thread event-loop delay.
 */
export function beatPhase(
  kind: HeartbeatPhaseKind,
  w: WindowSummary,
  server: { cpuMs: number; loopDelayP99Ms: number; loopDelayMaxMs: number },
  simMs: number,
) {
  const wallMs = w.seconds * 1000;
  return {
    kind,
    seconds: w.seconds,
    beats: w.ok,
    beatsPerSec: w.ok / w.seconds,
    p50Ms: w.beatMs.p50,
    p99Ms: w.beatMs.p99,
    maxMs: w.beatMs.max,
    refused: w.refused,
    errors: w.errors,
    serverCpu: server.cpuMs / wallMs,
    serverCpuUsPerBeat: kind === 'loaded' || w.ok === 0 ? Number.NaN : (server.cpuMs * 1000) / w.ok,
    serverLoopDelayP99Ms: server.loopDelayP99Ms,
    serverLoopDelayMaxMs: server.loopDelayMaxMs,
    simCpu: simMs / wallMs,
  };
}
export type HeartbeatPhase = ReturnType<typeof beatPhase>;

export interface TargetCheck {
  name: string;
  value: number;
  met: boolean;
  /** Why the run's shape differs from the target's, when it does. */
  note: string;
}

export const kTargets = Object.freeze({
  tasksPerSec: 15_000,
  tasksPerSecSlaves: 1_000,
  heartbeatP99Ms: 20,
  heartbeatSlaves: 10_000,
  heartbeatSpan: 1,
});

/**
 * The issue's targets, reported (never asserted) with a note when the run's shape is not the target's; one the run
 * did not measure is left out.
 */
export function checkTargets(
  options: Pick<FleetOptions, 'slaves' | 'heartbeatSpan'>,
  tasksPerSec: number,
  idleP99Ms: number,
  loadedP99Ms: number,
  falseEvictions: number,
): TargetCheck[] {
  const t = kTargets;
  const fleetNote =
    options.slaves === t.heartbeatSlaves && options.heartbeatSpan <= t.heartbeatSpan
      ? ''
      : `this run: ${thousands(options.slaves)} slaves, span ${options.heartbeatSpan} s; the target's: ` +
        `${thousands(t.heartbeatSlaves)} slaves, span ${t.heartbeatSpan} s`;
  const hb = (name: string, value: number) => ({
    name,
    value,
    met: value < t.heartbeatP99Ms,
    note: fleetNote,
  });
  return [
    {
      name: `tasks/s ≥ ${thousands(t.tasksPerSec)} with ${thousands(t.tasksPerSecSlaves)} slaves`,
      value: tasksPerSec,
      met: tasksPerSec >= t.tasksPerSec,
      note: options.slaves === t.tasksPerSecSlaves ? '' : `this run: ${thousands(options.slaves)} slaves`,
    },
    { name: 'false evictions = 0', value: falseEvictions, met: falseEvictions === 0, note: '' },
    hb(`heartbeat p99 < ${t.heartbeatP99Ms} ms, heartbeats only`, idleP99Ms),
    hb(`heartbeat p99 < ${t.heartbeatP99Ms} ms, under task load`, loadedP99Ms),
    // a figure this run did not measure (no heartbeats-only window with --baseline-duration 0) is no verdict
  ].filter((check) => !Number.isNaN(check.value));
}

/**
 * Slaves the master dropped while they were heartbeating on time. An evicted slave's next heartbeat is refused
 * (and a virtual slave stops at its first refusal), so the master's evictions and the simulator's refusals count
 * the same slaves twice: the larger of the two counts each slave once, and still catches a refusal without an
 * eviction (a token the master lost some other way).
 */
export function countFalseEvictions(evictions: number, heartbeatsRefused: number): number {
  return Math.max(evictions, heartbeatsRefused);
}

/** What the simulator measured over the load window; `figures` are named as the result's `load` names them. */
export interface SimLoad {
  window: WindowSummary;
  simMs: number;
  figures: Record<'simCpu' | 'simElu' | 'simLoopDelayP99Ms' | 'reportP50Ms' | 'reportP99Ms', number> &
    Pick<SimCounters, 'resultsPushedBack' | 'resultsRefused' | 'resultErrors' | 'tasksRefused'>;
}

export interface Parts {
  options: FleetOptions;
  master: MasterReady;
  connect: Omit<ConnectOutcome, 'tokens'>;
  memoryBefore: NodeJS.MemoryUsage;
  memoryAfter: NodeJS.MemoryUsage;
  heartbeats: HeartbeatPhase[];
  outcome: LoadOutcome;
  sim: SimLoad;
  stats: Record<string, number>;
  /** The simulator's counters since it started (the null master answers every token: refusals are the master's). */
  counters: SimCounters;
}

/**
 * A later load's own counts, for `assemble`: the master's evictions since `before` (its stats count from its
 * start; the rest are passed as they are).
 */
export function statsSince(after: Record<string, number>, before: Record<string, number>) {
  return { ...after, evictions: (after.evictions ?? 0) - (before.evictions ?? 0) };
}

/** The simulator's counts since `before` (a snapshot of the same counters), and the problems first seen since. */
export function countersSince(after: SimCounters, before: SimCounters): SimCounters {
  const delta = { ...after, firstProblems: after.firstProblems.slice(before.firstProblems.length) };
  for (const key of Object.keys(after) as (keyof SimCounters)[]) {
    if (key !== 'firstProblems') delta[key] = after[key] - before[key];
  }
  return delta;
}

export function assemble({ options, outcome: out, sim, connect, counters, ...parts }: Parts) {
  const serverCpuMs = out.masterCpu * out.seconds * 1000;
  const server = {
    cpuMs: serverCpuMs,
    loopDelayP99Ms: out.masterLoopDelayP99Ms,
    loopDelayMaxMs: out.masterLoopDelayMaxMs,
  };
  const loaded = beatPhase('loaded', sim.window, server, sim.simMs);
  const heartbeats = [...parts.heartbeats, loaded];
  const nullPhase = heartbeats.find((h) => h.kind === 'null');
  const idle = heartbeats.find((h) => h.kind === 'idle');
  const ratio = (pick: (h: HeartbeatPhase) => number) => pick(idle!) / pick(nullPhase!);
  const ratios =
    nullPhase && idle
      ? {
          p50: ratio((h) => h.p50Ms),
          p99: ratio((h) => h.p99Ms),
          cpuPerBeat: ratio((h) => h.serverCpuUsPerBeat),
        }
      : undefined;
  const evictions = parts.stats.evictions ?? 0;
  const falseEvictions = countFalseEvictions(evictions, counters.beatsRefused);
  const tasksPerSec = out.tasks / out.seconds;
  const f = sim.figures;
  const problems = [
    connect.connected < options.slaves &&
      `${options.slaves - connect.connected} slaves not connected (${connect.failed} failed; first: ${connect.firstError})`,
    falseEvictions > 0 && `${evictions} evictions, ${counters.beatsRefused} heartbeats refused`,
    out.failed + out.startFailed > 0 && `${out.failed} tasks failed, ${out.startFailed} failed to start`,
    out.unfinished > 0 && `${out.unfinished} tasks still running after the drain`,
    f.resultsRefused + f.resultErrors > 0 &&
      `${f.resultsRefused} results refused, ${f.resultErrors} lost to connection errors`,
    ...counters.firstProblems.map((line) => `simulator saw: ${line}`),
  ].filter((p): p is string => typeof p === 'string');
  const connected = Math.max(1, connect.connected);
  const { rss: rssBefore, heapUsed: heapBefore } = parts.memoryBefore;
  const { rss: rssAfter, heapUsed: heapAfter } = parts.memoryAfter;
  return {
    master: { resultThreads: Number(parts.master.notes.resultThreads) },
    connect: {
      slaves: options.slaves,
      ...connect,
      perSec: connect.connected / connect.seconds,
      rssBeforeMiB: rssBefore / kMiB,
      rssAfterMiB: rssAfter / kMiB,
      /** (master RSS after connecting − before) ÷ connected slaves, after two full GCs each time. */
      rssPerSlaveKiB: (rssAfter - rssBefore) / 1024 / connected,
      heapPerSlaveKiB: (heapAfter - heapBefore) / 1024 / connected,
    },
    load: { ...out, tasksPerSec, ...f },
    heartbeats,
    /** Master (heartbeats only) ÷ null master, same fleet, same run. */
    ratios,
    evictions: { master: evictions, heartbeatsRefused: counters.beatsRefused, falseEvictions },
    masterStats: parts.stats,
    targets: checkTargets(options, tasksPerSec, idle?.p99Ms ?? Number.NaN, loaded.p99Ms, falseEvictions),
    ok: problems.length === 0,
    problems,
    profile: undefined as FleetProfile | undefined,
    /** One row per load measured (`--engine` × `--via`), one after the other; the first is this result's. */
    loads: [] as LoadRow[],
  };
}

const kMiB = 1024 * 1024;
/** An event-loop delay's p99 and max, as one cell. */
const delays = (p99: number, max: number) => `${fixed(p99, 1)} / ${fixed(max, 0)}`;

export interface FleetProfile {
  file: string;
  /** Whether the summary is cut to the measured window (else: the child's whole life). */
  windowed: boolean;
  summary: ProfileSummary;
  /** The other threads (result pool, tsx's loader): CPU in the window, without time blocked in `Atomics.wait`. */
  threads: { file: string; busyMs: number; waitingMs: number; top: string }[];
}

export type FleetResult = Result<FleetOptions, ReturnType<typeof assemble>>;

export function formatMarkdown(result: FleetResult): string {
  const { options: o, connect: c, load: l } = result;
  const work = o.sleepMs > 0 ? `sleep ${o.sleepMs} ms` : o.workUs > 0 ? `busy ${o.workUs} µs` : 'no work';
  const lines = [
    `### Fleet: ${thousands(o.slaves)} virtual slaves against one master (${o.engine.join(', ')} engine` +
      `${o.engine.length > 1 ? 's' : ''}; tasks via ${o.via.join(', ')}` +
      // results written before --dashboard-clients have no such option
      `${(o.dashboardClients ?? []).length > 0 ? `; dashboard: ${o.dashboardClients.map(pagesLabel).join(', ')}${(o.rounds ?? 1) > 1 ? `, ${o.rounds} rounds` : ''}` : ''})`,
    '',
    `${o.duration} s measured after ${o.warmup} s warm-up; heartbeat every ${o.heartbeatSpan} s ` +
      `(±${Math.round(o.heartbeatJitter * 100)}%), tolerance ${o.heartbeatTolerance} s, sweep every ` +
      `${o.heartbeatCheckSpan} s; tasks: ${work}, result ${o.resultBytes} B ${o.msgpack ? 'MessagePack' : 'JSON'}; ` +
      `master resultThreads ${result.master.resultThreads}${o.resultThreads === undefined ? ' (its default)' : ''}, ` +
      `taskClient ${o.taskClient}${o.taskClient === 'undici' ? '' : ' (its default)'}; ` +
      `simulator: ${o.ports} ports, ${thousands(Math.min(o.simConnections, o.slaves))} sockets per kind; ` +
      environmentLine(result) +
      (o.profile ? ' **Master profiled: its figures are depressed by the profiler.**' : ''),
    '',
    ...table(
      [
        ['tasks/s', 'r', () => thousands(l.tasksPerSec)],
        ['task p50 ms', 'r', () => fixed(l.p50Ms, 2)],
        ['task p99 ms', 'r', () => fixed(l.p99Ms, 2)],
        ['task max ms', 'r', () => fixed(l.maxMs, 1)],
        ['failed', 'r', () => l.failed + l.startFailed],
        ['master CPU', 'r', () => percent(l.masterCpu)],
        ['master loop busy', 'r', () => percent(l.masterElu)],
        ['master loop delay p99 / max ms', 'r', () => delays(l.masterLoopDelayP99Ms, l.masterLoopDelayMaxMs)],
        ['simulator CPU', 'r', () => percent(l.simCpu)],
        ['simulator loop busy', 'r', () => percent(l.simElu)],
        ['report p99 ms', 'r', () => fixed(l.reportP99Ms, 2)],
        ['pushed back', 'r', () => thousands(l.resultsPushedBack)],
      ],
      [result],
    ),
    '',
  ];
  // results written before --via have no load rows
  lines.push(...rowsTable(result.loads ?? []));
  const nullPhase = result.heartbeats.find((h) => h.kind === 'null');
  const ratio = (pick: (p: HeartbeatPhase) => number) => (h: HeartbeatPhase) =>
    nullPhase && h.kind !== 'null' ? fixed(pick(h) / pick(nullPhase), 2) : '–';
  lines.push(
    ...table<HeartbeatPhase>(
      [
        ['heartbeats', 'l', (h) => kPhaseLabels[h.kind]],
        ['beats/s', 'r', (h) => thousands(h.beatsPerSec)],
        ['p50 ms', 'r', (h) => fixed(h.p50Ms, 2)],
        ['p99 ms', 'r', (h) => fixed(h.p99Ms, 2)],
        ['max ms', 'r', (h) => fixed(h.maxMs, 1)],
        ['refused', 'r', (h) => h.refused],
        ['errors', 'r', (h) => h.errors],
        ['server CPU', 'r', (h) => percent(h.serverCpu)],
        ['server µs CPU/beat', 'r', (h) => fixed(h.serverCpuUsPerBeat, 1)],
        [
          'server loop delay p99 / max ms',
          'r',
          (h) => delays(h.serverLoopDelayP99Ms, h.serverLoopDelayMaxMs),
        ],
        ['simulator CPU', 'r', (h) => percent(h.simCpu)],
        ['p50 ÷ null', 'r', ratio((p) => p.p50Ms)],
        ['p99 ÷ null', 'r', ratio((p) => p.p99Ms)],
        ['CPU/beat ÷ null', 'r', (h) => (h.kind === 'loaded' ? '–' : ratio((p) => p.serverCpuUsPerBeat)(h))],
      ],
      result.heartbeats,
    ),
    '',
    ...table(
      [
        ['connected', 'r', () => thousands(c.connected)],
        ['failed', 'r', () => c.failed],
        ['connect s', 'r', () => fixed(c.seconds, 1)],
        ['connects/s', 'r', () => thousands(c.perSec)],
        [
          'master RSS before → after MiB',
          'r',
          () => `${fixed(c.rssBeforeMiB, 0)} → ${fixed(c.rssAfterMiB, 0)}`,
        ],
        ['RSS per slave KiB', 'r', () => fixed(c.rssPerSlaveKiB, 1)],
        ['heap per slave KiB', 'r', () => fixed(c.heapPerSlaveKiB, 1)],
        ['master RSS under load MiB', 'r', () => fixed(l.masterRssMiB, 0)],
        ['evictions', 'r', () => result.evictions.master],
        ['heartbeats refused', 'r', () => result.evictions.heartbeatsRefused],
      ],
      [result],
    ),
    '',
  );
  for (const t of result.targets) {
    const value = t.name.startsWith('tasks/s') ? thousands(t.value) : fixed(t.value, t.value % 1 ? 2 : 0);
    lines.push(
      `- target ${t.name}: **${value}** (${t.met ? 'met' : 'NOT met'}${t.note ? `; ${t.note}` : ''})`,
    );
  }
  for (const problem of result.problems) lines.push(`- problem: ${problem}`);
  const p = result.profile;
  if (p) {
    const threads = p.threads.map((t) => `${fixed(t.busyMs, 0)} ms${t.top ? ` (top: \`${t.top}\`)` : ''}`);
    lines.push(
      '',
      `Master main-thread CPU profile (\`${p.file}\`, ${p.windowed ? 'measured window only' : 'whole child'}): ` +
        `${fixed(p.summary.busyMs, 0)} ms busy, ${fixed(p.summary.idleMs, 0)} ms idle. Other threads (result ` +
        `pool, loader), CPU in the window without Atomics.wait: ${threads.join('; ') || 'no thread profiles'}.`,
      '',
      ...profileTables(p.summary),
    );
  }
  return lines.join('\n') + '\n';
}

export function headlines(r: FleetResult) {
  const phase = (kind: HeartbeatPhaseKind) => r.heartbeats.find((p) => p.kind === kind)?.p99Ms ?? Number.NaN;
  return [
    higher('tasks/s', r.load.tasksPerSec, 'tasks/s'),
    lower('task p50', r.load.p50Ms, 'ms'),
    lower('task p99', r.load.p99Ms, 'ms'),
    lower('heartbeat p99, under load', phase('loaded'), 'ms'),
    lower('heartbeat p99, heartbeats only', phase('idle'), 'ms'),
    lower('heartbeat p99 ÷ null master', r.ratios?.p99 ?? Number.NaN, '×'),
    lower('heartbeat CPU/beat ÷ null master', r.ratios?.cpuPerBeat ?? Number.NaN, '×'),
    lower('false evictions', r.evictions.falseEvictions),
    lower('master CPU', r.load.masterCpu * 100, '%'),
    lower('master RSS per slave', r.connect.rssPerSlaveKiB, 'KiB'),
    ...rowHeadlines(r.loads ?? []),
  ];
}
