/**
 * Front-end macro benchmark: the master's `GET /slave/heartbeat` and `PUT /slave/task/complete` against a raw
 * uWebSockets.js app and a node:http server answering the same bytes. Each server runs alone in a child process
 * (this file, forked with `--serve <kind>`), autocannon runs here; the servers take turns over many short runs
 * so drift on a small machine hits all three alike, and every figure is reported as a median.
 *
 *   npx tsx bench/front-end.ts [--duration S] [--rounds N] [--connections C] [--pipelining P]
 *                              [--warmup S] [--routes heartbeat,result] [--profile] [--out DIR] [--no-write]
 *
 * See bench/README.md for what each number means.
 */
import { type ChildProcess, fork, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createHistogram } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { type ProfileSummary, summariseCpuProfile } from './cpu-profile.ts';
import { kServerKinds, kServerLabels, type ServerKind, startServer } from './servers.ts';

export type RouteName = 'heartbeat' | 'result';
const kRouteNames: readonly RouteName[] = ['heartbeat', 'result'];
const kBaselines = ['uws', 'node'] as const;
type Baseline = (typeof kBaselines)[number];

export interface FrontEndOptions {
  /** Seconds of load per server, per route, per round. @defaultValue 2 */
  duration: number;
  /** Rounds; each round runs every server once per route, in an order rotated per round. @defaultValue 10 */
  rounds: number;
  /** autocannon connections. @defaultValue 10 */
  connections: number;
  /** Requests in flight per connection. @defaultValue 1 */
  pipelining: number;
  /** Seconds of unrecorded load per server and route before round 1 (JIT warm-up). @defaultValue 1 */
  warmup: number;
  /** Routes to measure. @defaultValue both */
  routes: readonly RouteName[];
  /** Run the master child under `--cpu-prof` and summarise where its time went. @defaultValue false */
  profile: boolean;
  /**
   * Pin the servers to the last CPU and this process (autocannon) to the others with `taskset`, so the two never
   * trade cores mid-run. @defaultValue false
   */
  pin: boolean;
  /** Where `--profile` writes the `.cpuprofile`. @defaultValue bench/results */
  profileDir: string;
  /** Progress lines (to stderr from the CLI). @defaultValue none */
  log: (line: string) => void;
}

export const kDefaults: Readonly<Omit<FrontEndOptions, 'log'>> = Object.freeze({
  duration: 2,
  rounds: 10,
  connections: 10,
  pipelining: 1,
  warmup: 1,
  routes: kRouteNames,
  profile: false,
  pin: false,
  profileDir: fileURLToPath(new URL('./results/', import.meta.url)),
});

// ---- CLI parsing (pure) ----

export interface ParsedArgs {
  /** Set in a child: which server to serve. */
  serve: ServerKind | undefined;
  options: Omit<FrontEndOptions, 'log'>;
  /** Directory for the JSON + markdown results. */
  out: string;
  write: boolean;
  help: boolean;
}

export const kUsage = `usage: npx tsx bench/front-end.ts [options]
  --duration S        seconds per run (default ${kDefaults.duration})
  --rounds N          rounds; servers alternate within each (default ${kDefaults.rounds})
  --connections C     autocannon connections (default ${kDefaults.connections})
  --pipelining P      requests in flight per connection (default ${kDefaults.pipelining})
  --warmup S          unrecorded seconds per server and route first (default ${kDefaults.warmup})
  --routes LIST       heartbeat,result (default both)
  --profile           --cpu-prof the master child and summarise it
  --pin               taskset: servers on the last CPU, autocannon on the others
  --out DIR           results directory (default bench/results)
  --no-write          print only`;

function numberArg(
  name: string,
  raw: string | undefined,
  min: number,
  max: number,
  integer: boolean,
): number {
  const value = Number(raw);
  if (raw === undefined || raw === '' || !Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(`--${name} must be a number in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  if (integer && !Number.isInteger(value)) throw new RangeError(`--${name} must be an integer, got ${raw}`);
  return value;
}

/** Parses `process.argv.slice(2)`. Pure: throws a RangeError naming the flag on bad input. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const options = { ...kDefaults };
  let serve: ServerKind | undefined;
  let out = kDefaults.profileDir;
  let write = true;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = () => (eq > 0 ? arg.slice(eq + 1) : argv[++i]);
    switch (flag) {
      case '--duration':
        options.duration = numberArg('duration', value(), 0.1, 600, false);
        break;
      case '--rounds':
        options.rounds = numberArg('rounds', value(), 1, 1000, true);
        break;
      case '--connections':
        options.connections = numberArg('connections', value(), 1, 10_000, true);
        break;
      case '--pipelining':
        options.pipelining = numberArg('pipelining', value(), 1, 1000, true);
        break;
      case '--warmup':
        options.warmup = numberArg('warmup', value(), 0, 600, false);
        break;
      case '--routes': {
        const raw = value() ?? '';
        const routes = raw.split(',').filter((r) => r !== '');
        const bad = routes.find((r) => !kRouteNames.includes(r as RouteName));
        if (routes.length === 0 || bad !== undefined) {
          throw new RangeError(`--routes must list ${kRouteNames.join(', ')}; got ${JSON.stringify(raw)}`);
        }
        options.routes = [...new Set(routes as RouteName[])];
        break;
      }
      case '--profile':
        options.profile = true;
        break;
      case '--out': {
        const dir = value();
        if (!dir) throw new RangeError('--out needs a directory');
        out = dir;
        options.profileDir = dir;
        break;
      }
      case '--pin':
        options.pin = true;
        break;
      case '--no-write':
        write = false;
        break;
      case '--serve': {
        const kind = value();
        if (!kServerKinds.includes(kind as ServerKind)) {
          throw new RangeError(
            `--serve must be one of ${kServerKinds.join(', ')}, got ${JSON.stringify(kind)}`,
          );
        }
        serve = kind as ServerKind;
        break;
      }
      case '-h':
      case '--help':
        help = true;
        break;
      default:
        throw new RangeError(`unknown argument ${JSON.stringify(arg)}\n${kUsage}`);
    }
  }
  return { serve, options, out, write, help };
}

// ---- child side: one server, driven over IPC ----

type ToChild = { type: 'cpu'; id: number } | { type: 'stop' };
type FromChild =
  | { type: 'ready'; port: number; token: string }
  | { type: 'cpu'; id: number; usage: NodeJS.CpuUsage }
  | { type: 'failed'; message: string };

async function serveChild(kind: ServerKind): Promise<void> {
  const send = (message: FromChild) => process.send?.(message);
  // an orphaned server must not outlive the benchmark
  process.once('disconnect', () => process.exit(0));
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(kind);
  } catch (err) {
    send({ type: 'failed', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    process.exit(1);
  }
  process.on('message', (message: ToChild) => {
    if (message.type === 'cpu') send({ type: 'cpu', id: message.id, usage: process.cpuUsage() });
    else if (message.type === 'stop') {
      // a plain exit (not a signal) lets --cpu-prof write its profile
      const exit = () => process.exit(0);
      setTimeout(exit, 2000).unref();
      server.close().then(exit, exit);
    }
  });
  send({ type: 'ready', port: server.port, token: server.token });
}

// ---- parent side ----

const kSelf = fileURLToPath(import.meta.url);
const kReadyTimeoutMs = 20_000;

/** A server child: forked, asked for its CPU time between runs, stopped (and killed if it lingers). */
class ServerChild {
  readonly kind: ServerKind;
  readonly port: number;
  readonly token: string;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, (usage: NodeJS.CpuUsage) => void>();
  #nextId = 0;

  private constructor(kind: ServerKind, child: ChildProcess, port: number, token: string) {
    this.kind = kind;
    this.#child = child;
    this.port = port;
    this.token = token;
    child.on('message', (message: FromChild) => {
      if (message.type !== 'cpu') return;
      this.#pending.get(message.id)?.(message.usage);
      this.#pending.delete(message.id);
    });
  }

  static start(kind: ServerKind, execArgv: readonly string[]): Promise<ServerChild> {
    const child = fork(kSelf, ['--serve', kind], {
      execArgv: [...process.execArgv, ...execArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new Error(`${kind} server not ready after ${kReadyTimeoutMs} ms`)),
        kReadyTimeoutMs,
      );
      const cleanup = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        child.off('error', fail);
      };
      function fail(err: Error) {
        cleanup();
        child.kill('SIGKILL');
        reject(err);
      }
      function onExit(code: number | null, signal: string | null) {
        fail(new Error(`${kind} server exited before ready (code ${code}, signal ${signal})`));
      }
      function onMessage(message: FromChild) {
        if (message.type === 'failed') fail(new Error(`${kind} server failed to start: ${message.message}`));
        if (message.type !== 'ready') return;
        cleanup();
        resolve(new ServerChild(kind, child, message.port, message.token));
      }
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.once('error', fail);
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  cpuUsage(): Promise<NodeJS.CpuUsage> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.kind} server did not report its CPU time`));
      }, 5000);
      this.#pending.set(id, (usage) => {
        clearTimeout(timer);
        resolve(usage);
      });
      this.#child.send({ type: 'cpu', id } satisfies ToChild);
    });
  }

  /** Asks the child to close and exit; kills it after `graceMs`. Never rejects. */
  stop(graceMs = 3000): Promise<void> {
    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      if (child.connected) child.send({ type: 'stop' } satisfies ToChild);
      else child.kill('SIGKILL');
    });
  }
}

interface RouteRequest {
  method: 'GET' | 'PUT';
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
}

function requestFor(route: RouteName, token: string): RouteRequest {
  const headers = { channel: '0', token };
  if (route === 'heartbeat') return { method: 'GET', path: '/slave/heartbeat', headers, body: undefined };
  // a fresh UUID: no task of the master has it, so the master decodes, looks up and answers "ignored"
  const body = JSON.stringify({ task: { id: randomUUID() }, result: { x: 1 } });
  return {
    method: 'PUT',
    path: '/slave/task/complete',
    headers: { ...headers, 'content-type': 'application/json' },
    body,
  };
}

/** One request by hand, before any load: each server must answer 200 with a success envelope. */
function probe(port: number, request: RouteRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: request.method,
        path: request.path,
        headers: request.headers,
        agent: false,
        timeout: 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`probe of ${request.path} timed out`)));
    req.on('error', reject);
    req.end(request.body);
  });
}

async function checkServer(server: ServerChild, route: RouteName): Promise<void> {
  const { status, body } = await probe(server.port, requestFor(route, server.token));
  let success = false;
  try {
    success = (JSON.parse(body) as { success?: unknown }).success === true;
  } catch {}
  if (status !== 200 || !success) {
    throw new Error(`${kServerLabels[server.kind]} answered ${route} with ${status} ${body}`);
  }
  if (server.kind === 'master' && route === 'result' && !body.includes('ignored')) {
    throw new Error(`master did not take the "ignored" result path: ${body}`);
  }
}

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

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

async function measure(
  server: ServerChild,
  route: RouteName,
  options: FrontEndOptions,
  seconds: number,
  round: number,
): Promise<Sample> {
  const request = requestFor(route, server.token);
  // autocannon's own latency histogram has 1 ms resolution; loopback answers take tens of microseconds
  const latency = createHistogram({ lowest: 1, highest: 60_000_000, figures: 3 });
  const serverBefore = await server.cpuUsage();
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${server.port}${request.path}`,
        method: request.method,
        headers: request.headers,
        body: request.body,
        connections: options.connections,
        pipelining: options.pipelining,
        duration: seconds,
        timeout: 5,
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      latency.record(Math.max(1, Math.round(responseTime * 1000)));
    });
  });
  const wallMs = performance.now() - started;
  const clientCpuMs = cpuMs(process.cpuUsage(clientBefore));
  const serverCpuMs = cpuMs(await server.cpuUsage()) - cpuMs(serverBefore);
  const requests = result.requests.total;
  return {
    round,
    route,
    server: server.kind,
    requests,
    seconds: result.duration,
    reqPerSec: requests / result.duration,
    p50Ms: latency.percentile(50) / 1000,
    p99Ms: latency.percentile(99) / 1000,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    serverCpuUsPerReq: requests > 0 ? (serverCpuMs * 1000) / requests : Number.NaN,
    serverCpu: serverCpuMs / wallMs,
    clientCpu: clientCpuMs / wallMs,
  };
}

// ---- statistics and report ----

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
  options: Omit<FrontEndOptions, 'log' | 'profileDir'>;
  routes: Partial<Record<RouteName, RouteSummary>>;
  /** False when the heartbeat saw any error, timeout or non-2xx answer, on any server. */
  ok: boolean;
  problems: string[];
  /** Heartbeat master ÷ raw uWS, median; the target is ≥ `heartbeatTarget`. */
  heartbeatRatio: number | undefined;
  heartbeatTarget: number;
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

const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const thousands = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
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
      `${o.pin ? 'pinned' : 'unpinned'}; ${result.startedAt}.` +
      (o.profile ? ' **Master profiled (--cpu-prof): its figures are depressed.**' : ''),
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

// ---- the run ----

/** `taskset` every thread of `pid` onto `cpus` (a list like `0-2`); false when taskset is missing or refuses. */
function pin(pid: number, cpus: string): boolean {
  const done = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
  return done.status === 0;
}

function cpuList(from: number, to: number): string {
  return from === to ? `${from}` : `${from}-${to}`;
}

const kRunSlackMs = 60_000;

/** Runs the whole benchmark and returns its results; never leaves a child behind. */
export async function run(input: Partial<FrontEndOptions> = {}): Promise<FrontEndResult> {
  const options: FrontEndOptions = { ...kDefaults, log: () => {}, ...input };
  const startedAt = new Date();
  const loadBefore = os.loadavg()[0] ?? Number.NaN;
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const profileDir = path.join(options.profileDir, `front-end-${stamp}-profile`);
  const runs = options.routes.length * kServerKinds.length;
  const budgetMs = runs * (options.warmup + options.rounds * options.duration) * 1000;
  options.log(
    `front-end bench: ${runs} server×route pairs × (${options.warmup} s warm-up + ${options.rounds} × ${options.duration} s) ≈ ${Math.ceil(budgetMs / 1000)} s`,
  );

  const children: ServerChild[] = [];
  let watchdog: NodeJS.Timeout | undefined;
  let unpin = () => true;
  try {
    for (const kind of kServerKinds) {
      const execArgv =
        options.profile && kind === 'master' ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
      children.push(await ServerChild.start(kind, execArgv));
    }
    if (options.pin) {
      const cpus = os.availableParallelism();
      const pinned =
        cpus >= 2 &&
        children.every((c) => c.pid !== undefined && pin(c.pid, cpuList(cpus - 1, cpus - 1))) &&
        pin(process.pid, cpuList(0, cpus - 2));
      if (pinned) unpin = () => pin(process.pid, cpuList(0, cpus - 1));
      options.log(
        pinned
          ? `pinned: servers on CPU ${cpus - 1}, autocannon on ${cpuList(0, cpus - 2)}`
          : 'could not pin (taskset missing, or one CPU); running unpinned',
      );
    }
    const timedOut = new Promise<never>((_, reject) => {
      watchdog = setTimeout(
        () => reject(new Error(`front-end bench exceeded its time bound (${budgetMs + kRunSlackMs} ms)`)),
        budgetMs + kRunSlackMs,
      );
    });
    const samples = await Promise.race([measureAll(children, options), timedOut]);
    clearTimeout(watchdog);

    const routes: Partial<Record<RouteName, RouteSummary>> = {};
    const problems: string[] = [];
    for (const route of options.routes) {
      const summary = summariseRoute(
        samples.filter((s) => s.route === route),
        options.rounds,
      );
      routes[route] = summary;
      for (const kind of kServerKinds) {
        const s = summary.servers[kind];
        const bad = s.errors + s.timeouts + s.non2xx;
        if (bad > 0) {
          problems.push(
            `${route} on ${kServerLabels[kind]}: ${s.errors} errors, ${s.timeouts} timeouts, ${s.non2xx} non-2xx`,
          );
        }
      }
    }
    const heartbeat = routes.heartbeat;
    const ok = !problems.some((p) => p.startsWith('heartbeat '));

    await Promise.all(children.map((c) => c.stop()));
    const profile = options.profile ? await readProfile(profileDir) : undefined;
    const { log: _log, profileDir: _dir, ...recorded } = options;
    return {
      bench: 'front-end',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      environment: {
        node: process.version,
        platform: `${process.platform} ${os.release()}`,
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
        loadAverage: [loadBefore, os.loadavg()[0] ?? Number.NaN],
      },
      options: recorded,
      routes,
      ok,
      problems,
      heartbeatRatio: heartbeat?.ratios.uws.median,
      heartbeatTarget: kHeartbeatTarget,
      profile,
      samples,
    };
  } finally {
    clearTimeout(watchdog);
    unpin();
    await Promise.all(children.map((c) => c.stop()));
  }
}

async function measureAll(children: readonly ServerChild[], options: FrontEndOptions): Promise<Sample[]> {
  for (const child of children) for (const route of options.routes) await checkServer(child, route);
  if (options.warmup > 0) {
    options.log('warm-up');
    for (const route of options.routes) {
      for (const child of children) await measure(child, route, options, options.warmup, -1);
    }
  }
  const samples: Sample[] = [];
  for (let round = 0; round < options.rounds; round++) {
    // rotate who goes first, so no server always runs on a machine just warmed (or cooled) by the same rival
    const order = children.map((_, i) => children[(i + round) % children.length]!);
    for (const route of options.routes) {
      for (const child of order) samples.push(await measure(child, route, options, options.duration, round));
    }
    const line = options.routes
      .map((route) => {
        const at = (kind: ServerKind) =>
          samples.find((s) => s.round === round && s.route === route && s.server === kind)?.reqPerSec ?? 0;
        return `${route} ${thousands(at('master'))} / ${thousands(at('uws'))} / ${thousands(at('node'))}`;
      })
      .join('; ');
    options.log(`round ${round + 1}/${options.rounds} req/s master / uws / node: ${line}`);
  }
  return samples;
}

async function readProfile(dir: string): Promise<FrontEndResult['profile']> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile'));
  // one profile per thread (tsx's loader has its own): the server's is the busiest
  let best: FrontEndResult['profile'];
  for (const name of names) {
    const file = path.join(dir, name);
    const summary = summariseCpuProfile(JSON.parse(await readFile(file, 'utf8')), 20);
    if (!best || summary.busyMs > best.summary.busyMs)
      best = { file: path.relative(process.cwd(), file), summary };
  }
  return best;
}

/** Writes `front-end-<timestamp>.json` and `.md` into `dir`; returns their paths. */
export async function writeResults(result: FrontEndResult, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const base = path.join(dir, `front-end-${result.startedAt.replace(/[:.]/g, '-')}`);
  await writeFile(`${base}.json`, JSON.stringify(result, null, 2) + '\n');
  await writeFile(`${base}.md`, formatMarkdown(result));
  return [`${base}.json`, `${base}.md`];
}

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.serve) {
    await serveChild(args.serve);
    return -1; // the child lives on, driven over IPC
  }
  if (args.help) {
    console.log(kUsage);
    return 0;
  }
  const result = await run({ ...args.options, log: (line) => console.error(line) });
  console.log(formatMarkdown(result));
  if (args.write) {
    for (const file of await writeResults(result, args.out))
      console.error(`wrote ${path.relative(process.cwd(), file)}`);
  }
  return result.ok ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 2;
    },
  );
}
