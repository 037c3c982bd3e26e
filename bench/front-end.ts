/**
 * Front-end macro benchmark: the master's `GET /slave/heartbeat` and `PUT /slave/task/complete` against a raw
 * uWebSockets.js app and a node:http server answering the same bytes. Each server runs alone in a child process
 * (bench/server-child.ts), autocannon runs here; the servers take turns over many short runs so drift on a small
 * machine hits all three alike, and every figure is a median over rounds.
 *
 *   npx tsx bench/front-end.ts [--duration S] [--rounds N] [--connections C] [--pipelining P]
 *
 * See `--help` for the rest, and bench/README.md for what each number means.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createHistogram } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { numberArg, walkArgs } from './args.ts';
import { summariseCpuProfile } from './cpu-profile.ts';
import {
  type FrontEndResult,
  findProblems,
  formatMarkdown,
  kHeartbeatTarget,
  kRouteNames,
  type RecordedOptions,
  type RouteName,
  type RouteSummary,
  type Sample,
  summariseRoute,
  thousands,
  writeResults,
} from './front-end-report.ts';
import { ServerChild } from './server-child.ts';
import { kHeartbeatBody, kResultBody, kServerKinds, kServerLabels, type ServerKind } from './servers.ts';

export type { FrontEndResult, RouteName, Sample } from './front-end-report.ts';
export { formatMarkdown, writeResults } from './front-end-report.ts';

export interface FrontEndOptions extends RecordedOptions {
  /** Seconds of load per server, per route, per round. @defaultValue 2 */
  duration: number;
  /** Rounds; each runs every server once per route, in an order rotated per round. @defaultValue 10 */
  rounds: number;
  /** autocannon connections (think: slaves). @defaultValue 10 */
  connections: number;
  /** Requests in flight per connection (a DI-engine slave sends one at a time). @defaultValue 1 */
  pipelining: number;
  /** Unrecorded seconds per server and route before round 1 (JIT warm-up). @defaultValue 1 */
  warmup: number;
  /** Routes to measure. @defaultValue both */
  routes: readonly RouteName[];
  /** Profile the master child over the measured rounds and summarise where its time went. @defaultValue false */
  profile: boolean;
  /** `taskset` the servers onto the last CPU and autocannon onto the others. @defaultValue false */
  pin: boolean;
  /**
   * The master's `resultThreads` (0: results decoded inline on the main thread). @defaultValue undefined, the
   * master's own default (a thread pool as wide as the machine)
   */
  resultThreads: number | undefined;
  /** Run the master with `metrics: true` (to measure what the counters cost the heartbeat). @defaultValue false */
  metrics: boolean;
  /** Where `profile` writes the `.cpuprofile`. @defaultValue bench/results */
  profileDir: string;
  /** Progress lines. @defaultValue none */
  log: (line: string) => void;
}

const kResultsDir = fileURLToPath(new URL('./results/', import.meta.url));

export const kDefaults: Readonly<Omit<FrontEndOptions, 'log'>> = Object.freeze({
  duration: 2,
  rounds: 10,
  connections: 10,
  pipelining: 1,
  warmup: 1,
  routes: kRouteNames,
  profile: false,
  pin: false,
  resultThreads: undefined,
  metrics: false,
  profileDir: kResultsDir,
});

/** Profiler sampling interval: fine enough to see a 10 µs request's parts over a few seconds. */
const kProfileIntervalUs = 250;
/** Beyond the planned load time: start-up, probes, IPC and shutdown. */
const kRunSlackMs = 60_000;

// ---- CLI parsing (pure) ----

export interface ParsedArgs {
  options: Omit<FrontEndOptions, 'log'>;
  /** Directory for the JSON + markdown results. */
  out: string;
  write: boolean;
  help: boolean;
}

export const kUsage = `usage: npx tsx bench/front-end.ts [options]
  --duration S        seconds per run (default ${kDefaults.duration})
  --rounds N          rounds; the servers take turns within each (default ${kDefaults.rounds})
  --connections C     autocannon connections (default ${kDefaults.connections})
  --pipelining P      requests in flight per connection (default ${kDefaults.pipelining})
  --warmup S          unrecorded seconds per server and route first (default ${kDefaults.warmup})
  --routes LIST       comma-separated: ${kRouteNames.join(',')} (default both)
  --profile           CPU-profile the master over the measured rounds and summarise it
  --pin               taskset: servers on the last CPU, autocannon on the others
  --result-threads N  the master's resultThreads (0 = inline; default: the master's default)
  --metrics           run the master with metrics on (GET /metrics; the counters' cost on each route)
  --out DIR           results directory (default bench/results)
  --no-write          print only`;

/** Parses `process.argv.slice(2)` (`--flag value` or `--flag=value`). Pure: throws a RangeError naming the flag. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const options = { ...kDefaults };
  const common = walkArgs(argv, kUsage, (flag, value) => {
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
        if (routes.length === 0 || routes.some((r) => !kRouteNames.includes(r as RouteName))) {
          throw new RangeError(`--routes must list ${kRouteNames.join(', ')}; got ${JSON.stringify(raw)}`);
        }
        options.routes = kRouteNames.filter((r) => routes.includes(r));
        break;
      }
      case '--profile':
        options.profile = true;
        break;
      case '--pin':
        options.pin = true;
        break;
      case '--result-threads':
        options.resultThreads = numberArg('result-threads', value(), 0, 256, true);
        break;
      case '--metrics':
        options.metrics = true;
        break;
      default:
        return false;
    }
    return true;
  });
  const out = common.out ?? kResultsDir;
  if (common.out !== undefined) options.profileDir = common.out;
  const { write, help } = common;
  return { options, out, write, help };
}

// ---- one run ----

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

/** One request by hand, on its own connection. */
function probe(port: number, request: RouteRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, ...request, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error(`probe of ${request.path} timed out`)));
    req.on('error', reject);
    req.end(request.body);
  });
}

/**
 * Before any load: every server must answer each route 200 with a success envelope, the master "ignored". A
 * master whose answer no longer matches the baselines' bytes is reported (the comparison assumes equal sizes).
 */
async function checkServer(
  server: ServerChild,
  route: RouteName,
  log: (line: string) => void,
): Promise<void> {
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
  const baseline = route === 'heartbeat' ? kHeartbeatBody : kResultBody;
  if (server.kind === 'master' && body !== baseline) {
    log(
      `warning: the master's ${route} answer differs from the baselines' (update bench/servers.ts): ${body}`,
    );
  }
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
  // autocannon's own latency histogram counts whole milliseconds; loopback answers take tens of microseconds
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

// ---- the whole benchmark ----

/** `taskset` every thread of `pid` onto `cpus` (like `0-2`); false when taskset is missing or refuses. */
function pin(pid: number, cpus: string): boolean {
  return spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' }).status === 0;
}

const cpuList = (from: number, to: number) => (from === to ? `${from}` : `${from}-${to}`);

/** Pins as `--pin` asks; returns the undo (this process back on every CPU). */
function pinAll(children: readonly ServerChild[], log: (line: string) => void): () => void {
  const cpus = os.availableParallelism();
  const pinned =
    cpus >= 2 &&
    children.every((c) => c.pid !== undefined && pin(c.pid, cpuList(cpus - 1, cpus - 1))) &&
    pin(process.pid, cpuList(0, cpus - 2));
  log(
    pinned
      ? `pinned: servers on CPU ${cpus - 1}, autocannon on ${cpuList(0, cpus - 2)}`
      : 'could not pin (taskset missing, or one CPU): running unpinned',
  );
  return pinned ? () => void pin(process.pid, cpuList(0, cpus - 1)) : () => {};
}

async function measureAll(
  children: readonly ServerChild[],
  options: FrontEndOptions,
  profileFile: string | undefined,
): Promise<Sample[]> {
  for (const child of children)
    for (const route of options.routes) await checkServer(child, route, options.log);
  if (options.warmup > 0) {
    options.log('warm-up');
    for (const route of options.routes) {
      for (const child of children) await measure(child, route, options, options.warmup, -1);
    }
  }
  const master = children.find((c) => c.kind === 'master');
  if (profileFile !== undefined) await master?.startProfile(kProfileIntervalUs);
  const samples: Sample[] = [];
  for (let round = 0; round < options.rounds; round++) {
    // rotate who goes first, so no server always follows the same rival (or always starts the round)
    const order = children.map((_, i) => children[(i + round) % children.length]!);
    for (const route of options.routes) {
      for (const child of order) samples.push(await measure(child, route, options, options.duration, round));
    }
    const at = (route: RouteName, kind: ServerKind) =>
      thousands(
        samples.find((s) => s.round === round && s.route === route && s.server === kind)?.reqPerSec ?? 0,
      );
    const line = options.routes
      .map((r) => `${r} ${at(r, 'master')} / ${at(r, 'uws')} / ${at(r, 'node')}`)
      .join('; ');
    options.log(`round ${round + 1}/${options.rounds}, req/s master / uws / node: ${line}`);
  }
  if (profileFile !== undefined) await master?.stopProfile(profileFile);
  return samples;
}

/**
 * Runs the whole benchmark and returns its results. Bounded: a watchdog fails the run once it overruns the
 * planned load time by a minute; every child is stopped (and killed if it lingers) on success and on error.
 */
export async function run(input: Partial<FrontEndOptions> = {}): Promise<FrontEndResult> {
  const options: FrontEndOptions = { ...kDefaults, log: () => {}, ...input };
  const startedAt = new Date();
  const loadBefore = os.loadavg()[0] ?? Number.NaN;
  const pairs = options.routes.length * kServerKinds.length;
  const plannedMs = pairs * (options.warmup + options.rounds * options.duration) * 1000;
  options.log(
    `front-end bench: ${pairs} server×route pairs × (${options.warmup} s warm-up + ${options.rounds} × ${options.duration} s) ≈ ${Math.ceil(plannedMs / 1000)} s of load`,
  );
  let profileFile: string | undefined;
  if (options.profile) {
    await mkdir(options.profileDir, { recursive: true });
    const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
    profileFile = path.resolve(options.profileDir, `front-end-${stamp}-master.cpuprofile`);
  }

  const children: ServerChild[] = [];
  let watchdog: NodeJS.Timeout | undefined;
  let unpin = () => {};
  try {
    const knobs = {
      ...(options.resultThreads === undefined ? {} : { resultThreads: options.resultThreads }),
      ...(options.metrics ? { metrics: true } : {}),
    };
    for (const kind of kServerKinds) children.push(await ServerChild.start(kind, knobs));
    if (options.pin) unpin = pinAll(children, options.log);
    const overrun = new Promise<never>((_, reject) => {
      const boundMs = plannedMs + kRunSlackMs;
      watchdog = setTimeout(
        () => reject(new Error(`front-end bench overran its bound (${boundMs} ms)`)),
        boundMs,
      );
    });
    const samples = await Promise.race([measureAll(children, options, profileFile), overrun]);

    const routes: Partial<Record<RouteName, RouteSummary>> = {};
    for (const route of options.routes) {
      routes[route] = summariseRoute(
        samples.filter((s) => s.route === route),
        options.rounds,
      );
    }
    const problems = findProblems(routes);
    const profile =
      profileFile === undefined
        ? undefined
        : {
            file: path.relative(process.cwd(), profileFile),
            summary: summariseCpuProfile(JSON.parse(await readFile(profileFile, 'utf8')), 20),
          };
    const { log: _log, profileDir: _profileDir, ...recorded } = options;
    const notesOf = (kind: ServerKind) => children.find((c) => c.kind === kind)?.notes ?? {};
    return {
      bench: 'front-end',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      environment: {
        node: process.version,
        platform: `${process.platform} ${os.release()}`,
        cpus: os.availableParallelism(),
        cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
        loadAverage: [loadBefore, os.loadavg()[0] ?? Number.NaN],
      },
      options: recorded,
      serverNotes: {
        master: notesOf('master'),
        uws: notesOf('uws'),
        node: notesOf('node'),
      },
      routes,
      ok: !problems.some((p) => p.startsWith('heartbeat ')),
      problems,
      heartbeatRatio: routes.heartbeat?.ratios.uws.median,
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

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.help) {
    console.log(kUsage);
    return 0;
  }
  const result = await run({ ...args.options, log: (line) => console.error(line) });
  console.log(formatMarkdown(result));
  if (args.write) {
    for (const file of await writeResults(result, args.out)) {
      console.error(`wrote ${path.relative(process.cwd(), file)}`);
    }
  }
  return result.ok ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 2;
    },
  );
}
