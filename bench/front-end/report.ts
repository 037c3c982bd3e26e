/**
 * The front-end benchmark's result: its flags, per-run samples, their medians, the master ÷ baseline ratios, its
 * table and headlines. Pure.
 */

import type { EngineName } from '../../src/http/engine.ts';
import { int, num, type OptionsOf, subsetOf, toggle, value } from '../harness/args.ts';
import type { Result } from '../harness/bench.ts';
import { type ProfileSummary, profileTables } from '../harness/profile.ts';
import {
  environmentLine,
  fixed,
  higher,
  lower,
  median,
  percent,
  table,
  thousands,
} from '../harness/report.ts';
import {
  availableEngines,
  kEnginePairs,
  kServerKinds,
  kServerLabels,
  type ServerKind,
} from '../harness/servers.ts';

export const kRouteNames = ['heartbeat', 'result'] as const;
export type RouteName = (typeof kRouteNames)[number];

export const kFlags = {
  duration: value(2, num(0.1, 600), 'S', 'seconds per run'),
  rounds: value(10, int(1, 1000), 'N', 'rounds; the servers take turns within each'),
  connections: value(10, int(1, 10_000), 'C', 'autocannon connections'),
  pipelining: value(1, int(1, 1000), 'P', 'requests in flight per connection'),
  warmup: value(1, num(0, 600), 'S', 'unrecorded seconds per server and route first'),
  routes: value<readonly RouteName[]>(kRouteNames, subsetOf(kRouteNames), 'LIST', 'routes to measure'),
  engines: value<readonly EngineName[]>(
    availableEngines(),
    subsetOf(['uws', 'node'] as const),
    'LIST',
    'HTTP engines: each runs the master and its raw baseline',
    'those this Node runs',
  ),
  profile: toggle('CPU-profile the master over the measured rounds and summarise it'),
  pin: toggle('taskset: servers on the last CPU, autocannon on the others'),
  resultThreads: value<number | undefined>(
    undefined,
    int(0, 256),
    'N',
    "the master's resultThreads (0 = inline)",
    "the master's",
  ),
  metrics: toggle("run the master with metrics on (GET /metrics; the counters' cost on each route)"),
};
export type FrontEndOptions = OptionsOf<typeof kFlags>;

/** One autocannon run: one server, one route, one round (round -1 is the warm-up, never recorded). */
export interface Sample {
  round: number;
  route: RouteName;
  server: ServerKind;
  /** Responses received. */
  requests: number;
  seconds: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  /** Server process CPU (user + system) per response, in microseconds. */
  serverCpuUsPerReq: number;
  /** Server process CPU time ÷ wall time (1 = one core busy); load generator (this process) CPU ÷ wall time. */
  serverCpu: number;
  clientCpu: number;
}

function summariseServer(samples: readonly Sample[]) {
  const mid = (pick: (s: Sample) => number) => median(samples.map(pick));
  const sum = (pick: (s: Sample) => number) => samples.reduce((n, s) => n + pick(s), 0);
  return {
    reqPerSec: mid((s) => s.reqPerSec),
    p50Ms: mid((s) => s.p50Ms),
    p99Ms: mid((s) => s.p99Ms),
    serverCpuUsPerReq: mid((s) => s.serverCpuUsPerReq),
    serverCpu: mid((s) => s.serverCpu),
    clientCpu: mid((s) => s.clientCpu),
    errors: sum((s) => s.errors),
    timeouts: sum((s) => s.timeouts),
    non2xx: sum((s) => s.non2xx),
  };
}

/**
 * Per server, the median over rounds; per engine, its master ÷ its raw baseline taken within each round (a slow
 * round is slow for both), then their median (req/s, with min–max, and CPU per request: above 1, the master
 * costs more). Servers and engines without samples are left out.
 */
export function summariseRoute(samples: readonly Sample[], rounds: number) {
  const of = (server: ServerKind) => samples.filter((s) => s.server === server);
  const present = kServerKinds.filter((k) => of(k).length > 0);
  const servers = Object.fromEntries(present.map((k) => [k, summariseServer(of(k))])) as Partial<
    Record<ServerKind, ReturnType<typeof summariseServer>>
  >;
  const ratio = (master: ServerKind, baseline: ServerKind) => {
    const perRound: number[] = [];
    const cpu: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const m = samples.find((s) => s.round === round && s.server === master);
      const b = samples.find((s) => s.round === round && s.server === baseline);
      if (!m || !b || b.reqPerSec === 0) continue;
      perRound.push(m.reqPerSec / b.reqPerSec);
      cpu.push(m.serverCpuUsPerReq / b.serverCpuUsPerReq);
    }
    const spread = { min: Math.min(...perRound), max: Math.max(...perRound) };
    return { median: median(perRound), ...spread, perRound, cpuPerReq: median(cpu) };
  };
  const ratios: Partial<Record<EngineName, ReturnType<typeof ratio>>> = {};
  for (const engine of ['uws', 'node'] as const) {
    const { master, baseline } = kEnginePairs[engine];
    if (servers[master] && servers[baseline]) ratios[engine] = ratio(master, baseline);
  }
  return { servers, ratios };
}
export type RouteSummary = ReturnType<typeof summariseRoute>;

/** Every error, timeout or non-2xx count, as one line per route and server. */
export function findProblems(routes: Partial<Record<RouteName, RouteSummary>>): string[] {
  const problems: string[] = [];
  for (const route of kRouteNames) {
    for (const kind of kServerKinds) {
      const s = routes[route]?.servers[kind];
      if (!s || s.errors + s.timeouts + s.non2xx === 0) continue;
      problems.push(
        `${route} on ${kServerLabels[kind]}: ${s.errors} errors, ${s.timeouts} timeouts, ${s.non2xx} non-2xx`,
      );
    }
  }
  return problems;
}

/** Heartbeat req/s of the master ÷ its engine's raw server, at least: the seam must cost nothing measurable. */
export const kHeartbeatTargets: Readonly<Record<EngineName, number>> = { uws: 0.95, node: 0.9 };

export interface FrontEndFigures {
  /** What each server reported about its configuration (the master: its `resultThreads`). */
  serverNotes: Partial<Record<ServerKind, Record<string, number | string>>>;
  routes: Partial<Record<RouteName, RouteSummary>>;
  /** False when the heartbeat saw any error, timeout or non-2xx answer, on any server. */
  ok: boolean;
  problems: string[];
  /** Per engine measured: heartbeat master ÷ its raw server, median, and the target it must reach. */
  heartbeat: Partial<Record<EngineName, { ratio: number; target: number }>>;
  /** With `--profile`: where the master's CPU went during the measured rounds. */
  profile: { file: string; summary: ProfileSummary } | undefined;
  samples: Sample[];
}
export type FrontEndResult = Result<FrontEndOptions, FrontEndFigures>;

export function formatMarkdown(result: FrontEndResult): string {
  const o = result.options;
  const rows = o.routes.flatMap((route) => {
    const summary = result.routes[route]!;
    return kServerKinds.flatMap((kind) => {
      const s = summary.servers[kind];
      const engine = (['uws', 'node'] as const).find((e) => kEnginePairs[e].baseline === kind);
      return s ? [{ route, kind, s, r: engine === undefined ? undefined : summary.ratios[engine] }] : [];
    });
  });
  const lines = [
    `### Front end: the master on each engine vs that engine's raw server`,
    '',
    `${o.rounds} rounds × ${o.duration} s per server and route (warm-up ${o.warmup} s), ` +
      `${o.connections} connections, pipelining ${o.pipelining}; ${o.pin ? 'pinned' : 'unpinned'}; ` +
      `engines ${o.engines.join(', ')}; master resultThreads ${masterNote(result, 'resultThreads')}` +
      `${o.resultThreads === undefined ? ' (its default)' : ''}; ${environmentLine(result)}` +
      (o.profile ? ' **Master profiled: its figures are depressed by the profiler.**' : ''),
    '',
    ...table<(typeof rows)[number]>(
      [
        ['route', 'l', ({ route }) => route],
        ['server', 'l', ({ kind }) => kServerLabels[kind]],
        ['req/s', 'r', ({ s }) => thousands(s.reqPerSec)],
        ['p50 ms', 'r', ({ s }) => fixed(s.p50Ms, 3)],
        ['p99 ms', 'r', ({ s }) => fixed(s.p99Ms, 3)],
        ['server µs CPU/req', 'r', ({ s }) => fixed(s.serverCpuUsPerReq, 2)],
        ['server CPU', 'r', ({ s }) => percent(s.serverCpu)],
        ['client CPU', 'r', ({ s }) => percent(s.clientCpu)],
        ['errors', 'r', ({ s }) => s.errors + s.timeouts],
        ['non-2xx', 'r', ({ s }) => s.non2xx],
        [
          'master ÷ this: req/s (min–max)',
          'r',
          ({ r }) => (r ? `${fixed(r.median, 2)} (${fixed(r.min, 2)}–${fixed(r.max, 2)})` : '–'),
        ],
        ['CPU/req', 'r', ({ r }) => (r ? fixed(r.cpuPerReq, 2) : '–')],
      ],
      rows,
    ),
    '',
  ];
  for (const engine of ['uws', 'node'] as const) {
    const h = result.heartbeat[engine];
    if (h === undefined) continue;
    const met = h.ratio >= h.target;
    lines.push(
      `Heartbeat, ${engine} engine: master ÷ ${kServerLabels[kEnginePairs[engine].baseline]}: **${fixed(h.ratio, 2)}** (target ≥ ${h.target}: ${met ? 'met' : 'NOT met'}).`,
    );
  }
  for (const problem of result.problems) lines.push(`- problem: ${problem}`);
  const p = result.profile;
  if (p) {
    lines.push(
      '',
      `Master CPU profile (\`${p.file}\`), ${fixed(p.summary.busyMs, 0)} ms busy, ${fixed(p.summary.idleMs, 0)} ms idle:`,
      '',
      ...profileTables(p.summary),
    );
  }
  return lines.join('\n') + '\n';
}

/** A note the masters reported (the same on every engine), or '?'. */
function masterNote(result: FrontEndResult, key: string): string | number {
  for (const kind of ['master', 'master-node'] as const) {
    const note = result.serverNotes[kind]?.[key];
    if (note !== undefined) return note;
  }
  return '?';
}

/** How the headlines name each engine's master and its raw server. */
const kHeadlineNames = { uws: ['master', 'raw uWS'], node: ['node engine master', 'raw node:http'] } as const;

export function headlines(r: FrontEndResult) {
  return kRouteNames.flatMap((route) =>
    (['uws', 'node'] as const).flatMap((engine) => {
      const server = r.routes[route]?.servers[kEnginePairs[engine].master];
      const ratio = r.routes[route]?.ratios[engine];
      if (!server || !ratio) return [];
      const [master, raw] = kHeadlineNames[engine];
      return [
        higher(`${route}: ${master} req/s`, server.reqPerSec, 'req/s'),
        higher(`${route}: ${master} ÷ ${raw} req/s`, ratio.median, '×'),
        lower(`${route}: ${master} ÷ ${raw} CPU/req`, ratio.cpuPerReq, '×'),
      ];
    }),
  );
}
