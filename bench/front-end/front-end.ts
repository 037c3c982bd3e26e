/**
 * Front-end macro benchmark: the master's `GET /slave/heartbeat` and `PUT /slave/task/complete` against a raw
 * uWebSockets.js app and a node:http server answering the same bytes. Each server runs alone in a child process
 * (bench/harness/servers.ts), autocannon runs here; the servers take turns over many short runs so drift on a
 * small machine hits all three alike, and every figure is a median over rounds.
 *
 *   npx tsx bench/front-end/front-end.ts [--duration S] [--rounds N] [--connections C] [--pipelining P]
 *
 * See `--help` for the rest, and bench/README.md for what each number means.
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createHistogram } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { type Context, defineBench, runIfMain, within } from '../harness/bench.ts';
import { pinProcess } from '../harness/pin.ts';
import { kProfileIntervalUs, readProfile, summariseCpuProfile } from '../harness/profile.ts';
import { cpuMs, thousands } from '../harness/report.ts';
import {
  kHeartbeatBody,
  kResultBody,
  kServerLabels,
  type ServerChild,
  serverKindsFor,
  startServer,
} from '../harness/servers.ts';
import {
  type FrontEndFigures,
  type FrontEndOptions,
  findProblems,
  formatMarkdown,
  headlines,
  kFlags,
  kHeartbeatTargets,
  type RouteName,
  type RouteSummary,
  type Sample,
  summariseRoute,
} from './report.ts';

/** Beyond the planned load time: start-up, probes, IPC and shutdown. */
const kRunSlackMs = 60_000;

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
  const { kind, port, token } = server.ready;
  const { status, body } = await probe(port, requestFor(route, token));
  let success = false;
  try {
    success = (JSON.parse(body) as { success?: unknown }).success === true;
  } catch {}
  if (status !== 200 || !success)
    throw new Error(`${kServerLabels[kind]} answered ${route} with ${status} ${body}`);
  const isMaster = kind === 'master' || kind === 'master-node';
  if (isMaster && route === 'result' && !body.includes('ignored')) {
    throw new Error(`master did not take the "ignored" result path: ${body}`);
  }
  if (isMaster && body !== (route === 'heartbeat' ? kHeartbeatBody : kResultBody)) {
    log(
      `warning: the master's ${route} answer differs from the baselines' (update bench/harness/servers.ts): ${body}`,
    );
  }
}

async function measure(
  server: ServerChild,
  route: RouteName,
  o: FrontEndOptions,
  seconds: number,
  round: number,
) {
  const request = requestFor(route, server.ready.token);
  // autocannon's own latency histogram counts whole milliseconds; loopback answers take tens of microseconds
  const latency = createHistogram({ lowest: 1, highest: 60_000_000, figures: 3 });
  const serverBefore = await server.cpuUsage();
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${server.ready.port}${request.path}`,
        method: request.method,
        headers: request.headers,
        body: request.body,
        connections: o.connections,
        pipelining: o.pipelining,
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
    server: server.ready.kind,
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
  } satisfies Sample;
}

const cpuList = (from: number, to: number) => (from === to ? `${from}` : `${from}-${to}`);

/** Pins as `--pin` asks; returns the undo (this process back on every CPU). */
function pinAll(children: readonly ServerChild[], log: (line: string) => void): () => void {
  const cpus = os.availableParallelism();
  const pinned =
    cpus >= 2 &&
    children.every((c) => c.pid !== undefined && pinProcess(c.pid, cpuList(cpus - 1, cpus - 1))) &&
    pinProcess(process.pid, cpuList(0, cpus - 2));
  log(
    pinned
      ? `pinned: servers on CPU ${cpus - 1}, autocannon on ${cpuList(0, cpus - 2)}`
      : 'could not pin (taskset missing, or one CPU): running unpinned',
  );
  return pinned ? () => void pinProcess(process.pid, cpuList(0, cpus - 1)) : () => {};
}

async function measureAll(
  children: readonly ServerChild[],
  o: FrontEndOptions,
  log: (line: string) => void,
  profileFile?: string,
) {
  for (const child of children) for (const route of o.routes) await checkServer(child, route, log);
  if (o.warmup > 0) {
    log('warm-up');
    for (const route of o.routes) for (const child of children) await measure(child, route, o, o.warmup, -1);
  }
  // the profile follows the first master (the uws engine's where it runs)
  const master = children.find((c) => c.ready.kind === 'master' || c.ready.kind === 'master-node')!;
  if (profileFile !== undefined) await master.request('profile-start', { intervalUs: kProfileIntervalUs });
  const samples: Sample[] = [];
  for (let round = 0; round < o.rounds; round++) {
    // rotate who goes first, so no server always follows the same rival (or always starts the round)
    const order = children.map((_, i) => children[(i + round) % children.length]!);
    for (const route of o.routes) {
      for (const child of order) samples.push(await measure(child, route, o, o.duration, round));
    }
    const at = (route: RouteName, kind: string) =>
      thousands(
        samples.find((s) => s.round === round && s.route === route && s.server === kind)?.reqPerSec ?? 0,
      );
    const kinds = children.map((c) => c.ready.kind);
    const line = o.routes.map((r) => `${r} ${kinds.map((k) => at(r, k)).join(' / ')}`).join('; ');
    log(`round ${round + 1}/${o.rounds}, req/s ${kinds.join(' / ')}: ${line}`);
  }
  if (profileFile !== undefined) await master.request('profile-stop', { file: profileFile });
  return samples;
}

async function run(o: FrontEndOptions, ctx: Context): Promise<FrontEndFigures> {
  const kinds = serverKindsFor(o.engines);
  const pairs = o.routes.length * kinds.length;
  const plannedMs = pairs * (o.warmup + o.rounds * o.duration) * 1000;
  ctx.log(
    `front-end bench: ${pairs} server×route pairs × (${o.warmup} s warm-up + ${o.rounds} × ${o.duration} s) ≈ ${Math.ceil(plannedMs / 1000)} s of load`,
  );
  let profileFile: string | undefined;
  if (o.profile) {
    await mkdir(ctx.out, { recursive: true });
    profileFile = path.resolve(ctx.out, `front-end-${ctx.stamp}-master.cpuprofile`);
  }
  const knobs = {
    ...(o.resultThreads === undefined ? {} : { resultThreads: o.resultThreads }),
    ...(o.metrics ? { metrics: true } : {}),
  };
  const children: ServerChild[] = [];
  for (const kind of kinds) {
    const child = await startServer(kind, knobs);
    ctx.defer(() => child.stop(3000));
    children.push(child);
  }
  if (o.pin) ctx.defer(pinAll(children, ctx.log));
  const samples = await within(
    plannedMs + kRunSlackMs,
    'front-end bench',
    measureAll(children, o, ctx.log, profileFile),
  );

  const routes: Partial<Record<RouteName, RouteSummary>> = {};
  for (const route of o.routes)
    routes[route] = summariseRoute(
      samples.filter((s) => s.route === route),
      o.rounds,
    );
  const problems = findProblems(routes);
  const notes = Object.fromEntries(
    children.map((c) => [c.ready.kind, c.ready.notes]),
  ) as FrontEndFigures['serverNotes'];
  return {
    serverNotes: notes,
    routes,
    ok: !problems.some((p) => p.startsWith('heartbeat ')),
    problems,
    heartbeat: Object.fromEntries(
      o.engines.flatMap((engine) => {
        const ratio = routes.heartbeat?.ratios[engine]?.median;
        return ratio === undefined ? [] : [[engine, { ratio, target: kHeartbeatTargets[engine] }]];
      }),
    ),
    profile:
      profileFile === undefined
        ? undefined
        : {
            file: path.relative(process.cwd(), profileFile),
            summary: summariseCpuProfile(await readProfile(profileFile), 20),
          },
    samples,
  };
}

export const frontEnd = defineBench({
  name: 'front-end',
  flags: kFlags,
  run,
  format: formatMarkdown,
  headlines,
});

runIfMain(import.meta.url, frontEnd);
