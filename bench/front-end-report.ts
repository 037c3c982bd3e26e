/**
 * The front-end benchmark's numbers: per-run samples, their medians, the master ÷ baseline ratios, and the
 * markdown table. Pure except `writeResults`.
 */
import type { ProfileSummary } from './cpu-profile.ts';
import { writeResultFiles } from './result-files.ts';
import { kServerKinds, kServerLabels, type ServerKind } from './servers.ts';

export type RouteName = 'heartbeat' | 'result';
export const kRouteNames: readonly RouteName[] = ['heartbeat', 'result'];
export const kBaselines = ['uws', 'node'] as const;
export type Baseline = (typeof kBaselines)[number];

/** The options a result records (see `FrontEndOptions` in front-end.ts for their meaning). */
export interface RecordedOptions {
  duration: number;
  rounds: number;
  connections: number;
  pipelining: number;
  warmup: number;
  routes: readonly RouteName[];
  profile: boolean;
  pin: boolean;
  /** The master's `resultThreads`, when the run set it (else the master's default, in `serverNotes`). */
  resultThreads: number | undefined;
}

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
  /** Server process CPU time ÷ wall time (1 = one core busy). */
  serverCpu: number;
  /** Load generator (this process) CPU time ÷ wall time. */
  clientCpu: number;
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface ServerSummary {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuUsPerReq: number;
  serverCpu: number;
  clientCpu: number;
  errors: number;
  timeouts: number;
  non2xx: number;
}

export interface RatioSummary {
  /** Median over rounds of master req/s ÷ baseline req/s in the same round. */
  median: number;
  min: number;
  max: number;
  perRound: number[];
  /** Median over rounds of master CPU per request ÷ baseline CPU per request (1 = same cost). */
  cpuPerReq: number;
}

export interface RouteSummary {
  servers: Record<ServerKind, ServerSummary>;
  ratios: Record<Baseline, RatioSummary>;
}

export interface FrontEndResult {
  bench: 'front-end';
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
  /** What each server reported about its configuration (the master: its `resultThreads`). */
  serverNotes: Record<ServerKind, Record<string, number | string>>;
  routes: Partial<Record<RouteName, RouteSummary>>;
  /** False when the heartbeat saw any error, timeout or non-2xx answer, on any server. */
  ok: boolean;
  problems: string[];
  /** Heartbeat master ÷ raw uWS, median; the target is ≥ `heartbeatTarget`. */
  heartbeatRatio: number | undefined;
  heartbeatTarget: number;
  /** With `--profile`: where the master's CPU went during the measured rounds. */
  profile: { file: string; summary: ProfileSummary } | undefined;
  samples: Sample[];
}

export const kHeartbeatTarget = 0.9;

function summariseServer(samples: readonly Sample[]): ServerSummary {
  const sum = (pick: (s: Sample) => number) => samples.reduce((n, s) => n + pick(s), 0);
  return {
    reqPerSec: median(samples.map((s) => s.reqPerSec)),
    p50Ms: median(samples.map((s) => s.p50Ms)),
    p99Ms: median(samples.map((s) => s.p99Ms)),
    serverCpuUsPerReq: median(samples.map((s) => s.serverCpuUsPerReq)),
    serverCpu: median(samples.map((s) => s.serverCpu)),
    clientCpu: median(samples.map((s) => s.clientCpu)),
    errors: sum((s) => s.errors),
    timeouts: sum((s) => s.timeouts),
    non2xx: sum((s) => s.non2xx),
  };
}

export function summariseRoute(samples: readonly Sample[], rounds: number): RouteSummary {
  const of = (server: ServerKind) => samples.filter((s) => s.server === server);
  const servers = {
    master: summariseServer(of('master')),
    uws: summariseServer(of('uws')),
    node: summariseServer(of('node')),
  };
  const ratio = (baseline: Baseline): RatioSummary => {
    const perRound: number[] = [];
    const cpu: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const m = samples.find((s) => s.round === round && s.server === 'master');
      const b = samples.find((s) => s.round === round && s.server === baseline);
      if (!m || !b || b.reqPerSec === 0) continue;
      perRound.push(m.reqPerSec / b.reqPerSec);
      cpu.push(m.serverCpuUsPerReq / b.serverCpuUsPerReq);
    }
    return {
      median: median(perRound),
      min: Math.min(...perRound),
      max: Math.max(...perRound),
      perRound,
      cpuPerReq: median(cpu),
    };
  };
  return { servers, ratios: { uws: ratio('uws'), node: ratio('node') } };
}

/** Every error, timeout or non-2xx count, as one line per route and server. */
export function findProblems(routes: FrontEndResult['routes']): string[] {
  const problems: string[] = [];
  for (const route of kRouteNames) {
    const summary = routes[route];
    if (!summary) continue;
    for (const kind of kServerKinds) {
      const s = summary.servers[kind];
      if (s.errors + s.timeouts + s.non2xx === 0) continue;
      problems.push(
        `${route} on ${kServerLabels[kind]}: ${s.errors} errors, ${s.timeouts} timeouts, ${s.non2xx} non-2xx`,
      );
    }
  }
  return problems;
}

const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
export const thousands = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const percent = (n: number) => (Number.isFinite(n) ? `${Math.round(n * 100)}%` : '–');

export function formatMarkdown(result: FrontEndResult): string {
  const o = result.options;
  const lines = [
    `### Front end: master vs raw uWS vs node:http`,
    '',
    `${o.rounds} rounds × ${o.duration} s per server and route (warm-up ${o.warmup} s), ` +
      `${o.connections} connections, pipelining ${o.pipelining}; node ${result.environment.node}, ` +
      `${result.environment.cpus} × ${result.environment.cpuModel}; load average ` +
      `${fixed(result.environment.loadAverage[0], 2)} → ${fixed(result.environment.loadAverage[1], 2)}; ` +
      `${o.pin ? 'pinned' : 'unpinned'}; master resultThreads ${result.serverNotes.master.resultThreads ?? '?'}` +
      `${o.resultThreads === undefined ? ' (its default)' : ''}; ${result.startedAt}.` +
      (o.profile ? ' **Master profiled: its figures are depressed by the profiler.**' : ''),
    '',
    '| route | server | req/s | p50 ms | p99 ms | server µs CPU/req | server CPU | client CPU | errors | non-2xx | master ÷ this: req/s (min–max) | CPU/req |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const route of o.routes) {
    const summary = result.routes[route];
    if (!summary) continue;
    for (const kind of kServerKinds) {
      const s = summary.servers[kind];
      const r = kind === 'master' ? undefined : summary.ratios[kind];
      lines.push(
        `| ${route} | ${kServerLabels[kind]} | ${thousands(s.reqPerSec)} | ${fixed(s.p50Ms, 3)} | ${fixed(s.p99Ms, 3)} | ` +
          `${fixed(s.serverCpuUsPerReq, 2)} | ${percent(s.serverCpu)} | ${percent(s.clientCpu)} | ` +
          `${s.errors + s.timeouts} | ${s.non2xx} | ` +
          (r
            ? `${fixed(r.median, 2)} (${fixed(r.min, 2)}–${fixed(r.max, 2)}) | ${fixed(r.cpuPerReq, 2)} |`
            : '– | – |'),
      );
    }
  }
  lines.push('');
  if (result.heartbeatRatio !== undefined) {
    const met = result.heartbeatRatio >= result.heartbeatTarget;
    lines.push(
      `Heartbeat master ÷ raw uWS: **${fixed(result.heartbeatRatio, 2)}** (target ≥ ${result.heartbeatTarget}: ${met ? 'met' : 'NOT met'}).`,
    );
  }
  for (const problem of result.problems) lines.push(`- problem: ${problem}`);
  if (result.profile) {
    const p = result.profile.summary;
    lines.push(
      '',
      `Master CPU profile (\`${result.profile.file}\`), ${fixed(p.busyMs, 0)} ms busy, ${fixed(p.idleMs, 0)} ms idle:`,
      '',
      '| place | self ms | share of busy |',
      '|---|--:|--:|',
      ...p.places.map((l) => `| ${l.name} | ${fixed(l.selfMs, 0)} | ${percent(l.share)} |`),
      '',
      '| function | self ms | share of busy |',
      '|---|--:|--:|',
      ...p.functions.map((l) => `| \`${l.name}\` | ${fixed(l.selfMs, 0)} | ${percent(l.share)} |`),
    );
  }
  return lines.join('\n') + '\n';
}

/** Writes `front-end-<timestamp>.json` and `.md` into `dir`; returns their paths. */
export function writeResults(result: FrontEndResult, dir: string): Promise<string[]> {
  return writeResultFiles(dir, 'front-end', result.startedAt, result, formatMarkdown(result));
}
