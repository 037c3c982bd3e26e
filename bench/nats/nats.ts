/**
 * NATS benchmark: what sharing a fleet through NATS JetStream costs per task, against the in-memory queue in the
 * same run. Each phase starts a fresh virtual fleet (this process, the real protocol on the wire) and real masters
 * (bench/harness/master-child.ts) that keep every slave busy:
 *
 *   memory: one master, in-memory queue; `master.map` keeps the slaves busy (bench/nats/map-load.ts)
 *   nats:   the same master with `queue` on a nats-server this benchmark starts; a FleetClient child
 *           (bench/nats/submitter.ts) submits through JetStream
 *   nats2:  two masters with half the slaves each on the same streams, one FleetClient
 *
 * `--warmup` s of load, then `--duration` s measured: tasks/s, the ratio to the memory phase, every process's
 * CPU per task (from /proc/<pid>/stat: masters, submitter, nats-server, this process), and the nats-server's
 * messages and bytes per task (its /varz).
 *
 *   npx tsx bench/nats/nats.ts [--slaves 1000] [--duration 10] [--warmup 3] [--in-flight 4000] [--phases memory,nats,nats2]
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BenchSkipped, type Context, defineBench, kRunSlackMs, runIfMain, within } from '../harness/bench.ts';
import type { IpcChild } from '../harness/ipc-child.ts';
import {
  type ChildStats,
  connectLimitMs,
  connectSlaves,
  type MasterReady,
  startMaster,
} from '../harness/master-child.ts';
import { thousands } from '../harness/report.ts';
import { VirtualFleet } from '../harness/virtual-fleet.ts';
import type { MapStart, MapStop } from './map-load.ts';
import {
  assemble,
  checkOptions,
  countersOf,
  countersSince,
  formatMarkdown,
  headlines,
  kFlags,
  kPhaseLabels,
  mastersOf,
  type NatsCounters,
  type NatsOptions,
  type NatsResult,
  type PhaseKey,
  type PhaseMeasure,
  procCpuSeconds,
  usesNats,
} from './report.ts';
import { type SubmitterCount, startSubmitter } from './submitter.ts';

const kMapLoad = fileURLToPath(new URL('./map-load.ts', import.meta.url));

const cpuSecondsOf = (pid: number) => procCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The binary's version (`v2.9.10`); a benchmark skipped with a clear reason when it cannot be run. */
function natsServerVersion(bin: string): string {
  const probe = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.error || probe.status !== 0) {
    const why = probe.error ? (probe.error as NodeJS.ErrnoException).code : `exit code ${probe.status}`;
    throw new BenchSkipped(
      `${bin} cannot run (${why}): the nats phases need nats-server ≥ 2.9 on PATH ` +
        "(Debian's nats-server package) or --nats-server BIN; --phases memory runs without it",
    );
  }
  return /v\d+\.\d+\.\d+\S*/.exec(probe.stdout)?.[0] ?? probe.stdout.trim();
}

interface NatsServer {
  url: string;
  pid: number;
  counters(): Promise<NatsCounters>;
  stop(): Promise<void>;
}

/** `nats-server -js` on free ports of 127.0.0.1, its store in a fresh temporary directory, /varz on `-m`. */
async function startNatsServer(bin: string): Promise<NatsServer> {
  const port = await freePort();
  const monitor = await freePort();
  const store = mkdtempSync(path.join(tmpdir(), 'fleetmaster-bench-nats-'));
  const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-m', String(monitor), '-sd', store];
  const proc: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (chunk: string) => {
    if (log.length < 64 * 1024) log += chunk;
  });
  // this process exiting any other way must not leave the server behind
  const onExit = () => proc.kill('SIGKILL');
  process.once('exit', onExit);
  const stop = async () => {
    process.off('exit', onExit);
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(store, { recursive: true, force: true });
  };
  const varz = async () => {
    const response = await fetch(`http://127.0.0.1:${monitor}/varz`);
    if (!response.ok) throw new Error(`nats-server /varz answered ${response.status}`);
    return (await response.json()) as Record<string, unknown>;
  };
  try {
    const deadline = performance.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`nats-server exited before it was ready:\n${log}`);
      }
      const up = await varz().then(
        () => true,
        () => false,
      );
      if (up) break;
      if (performance.now() > deadline) throw new Error(`nats-server not ready within 10 s:\n${log}`);
      await sleep(25);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    pid: proc.pid!,
    counters: async () => countersOf(await varz()),
    stop,
  };
}

async function run(o: NatsOptions, ctx: Context) {
  const { log } = ctx;
  // before anything starts: a machine without nats-server skips the benchmark with one clear line
  const natsVersion = o.phases.some(usesNats) ? natsServerVersion(o.natsServer) : undefined;
  const limitMs = connectLimitMs(o.slaves);
  const plannedMs = o.phases.length * ((o.warmup + o.duration) * 1000 + limitMs);
  log(
    `nats: ${thousands(o.slaves)} virtual slaves, in-flight ${thousands(o.inFlight)}, phases ${o.phases.join(', ')}: ` +
      `${o.warmup} + ${o.duration} s each; at most ${Math.ceil((plannedMs + kRunSlackMs) / 1000)} s`,
  );
  let server: NatsServer | undefined;
  const natsServer = async () => {
    if (!server) {
      server = await startNatsServer(o.natsServer);
      ctx.defer(server.stop);
      log(`nats-server ${natsVersion} on ${server.url}`);
    }
    return server;
  };

  const phase = async (key: PhaseKey): Promise<PhaseMeasure> => {
    const nats = usesNats(key) ? await natsServer() : undefined;
    // a stream of its own per phase: nothing left over from the one before
    const fleetName = `bench-${key}`;
    const fleet = await VirtualFleet.start({
      ports: o.ports,
      heartbeatSpan: 1,
      heartbeatJitter: 0.1,
      resultBytes: o.resultBytes,
      sockets: o.slaves,
      beatPipelining: 1,
    });
    ctx.defer(() => fleet.close());
    const count = mastersOf(key);
    const per = o.slaves / count;
    const options = {
      resultThreads: 0,
      heartbeatTolerance: 30,
      ...(nats ? { queue: { servers: nats.url, fleet: fleetName, ackWait: 30 } } : {}),
    };
    const masters: IpcChild<MasterReady>[] = [];
    const connects = await Promise.all(
      Array.from({ length: count }, async (_unused, i) => {
        // none printed: a master closing with tasks out warns for each (the window's are counted)
        const config = { options, plugins: nats ? [] : [kMapLoad], warnings: 0 };
        masters[i] = await startMaster(config, { label: `${key} master ${i + 1}`, defer: ctx.defer });
        const request = { ports: fleet.ports, slaves: per, concurrency: o.connectConcurrency };
        return connectSlaves(masters[i]!, { ...request, msgpack: false, limitMs });
      }),
    );
    const connected = connects.reduce((sum, c) => sum + c.connected, 0);
    log(`${kPhaseLabels[key]}: ${thousands(connected)}/${thousands(o.slaves)} slaves connected`);
    const submitter = nats
      ? await startSubmitter({ servers: nats.url, fleet: fleetName, inFlight: o.inFlight })
      : undefined;
    if (submitter) ctx.defer(() => submitter.stop(15_000));
    else await masters[0]!.request('map-start', { inFlight: o.inFlight } satisfies MapStart);

    const masterStats = () => Promise.all(masters.map((m) => m.request<ChildStats>('stats')));
    const counted = async () => {
      if (submitter) return submitter.request<SubmitterCount>('count');
      const stats = await masterStats();
      return { completed: stats.reduce((sum, s) => sum + s.tasksCompleted, 0), failed: 0 };
    };
    // CPU seconds of every process of the phase: masters, submitter and nats-server (when it has them), this one
    const cpuNow = () => ({
      masters: masters.map((m) => cpuSecondsOf(m.pid!)),
      ...(submitter ? { submitter: cpuSecondsOf(submitter.pid!) } : {}),
      ...(nats ? { natsServer: cpuSecondsOf(nats.pid) } : {}),
      bench: cpuSecondsOf(process.pid),
    });

    await sleep(o.warmup * 1000);
    const [n0, m0, v0] = await Promise.all([counted(), masterStats(), nats?.counters()]);
    const cpu0 = cpuNow();
    const t0 = performance.now();
    await sleep(o.duration * 1000);
    const cpu1 = cpuNow();
    const seconds = (performance.now() - t0) / 1000;
    const [n1, m1, v1] = await Promise.all([counted(), masterStats(), nats?.counters()]);
    const measure: PhaseMeasure = {
      phase: key,
      connected,
      connectFailed: connects.reduce((sum, c) => sum + c.failed, 0),
      firstError: connects.find((c) => c.firstError !== undefined)?.firstError,
      seconds,
      tasks: n1.completed - n0.completed,
      failed: n1.failed - n0.failed,
      masterTasks: m1.map((s, i) => s.tasksCompleted - m0[i]!.tasksCompleted),
      masterWarnings: m1.reduce((sum, s, i) => sum + s.warnings - m0[i]!.warnings, 0),
      lastWarning: m1.find((s, i) => s.warnings > m0[i]!.warnings)?.lastWarning,
      cpu: {
        masters: cpu1.masters.map((s, i) => s - cpu0.masters[i]!),
        ...(submitter ? { submitter: cpu1.submitter! - cpu0.submitter! } : {}),
        ...(nats ? { natsServer: cpu1.natsServer! - cpu0.natsServer! } : {}),
        bench: cpu1.bench - cpu0.bench,
      },
      ...(v0 && v1 ? { nats: countersSince(v0, v1) } : {}),
    };
    log(
      `${kPhaseLabels[key]}: ${thousands(measure.tasks / seconds)} tasks/s over ${seconds.toFixed(1)} s` +
        (measure.failed > 0 ? `, ${measure.failed} failed` : ''),
    );
    // the load first, so the masters do not close on tasks still running
    if (submitter) await submitter.stop(15_000);
    else await masters[0]!.request('map-stop', { drainMs: 10_000 } satisfies MapStop, 15_000);
    await Promise.all(masters.map((m) => m.stop(15_000)));
    await fleet.close();
    return measure;
  };

  const measureAll = async () => {
    const measures: PhaseMeasure[] = [];
    for (const key of o.phases) measures.push(await phase(key));
    return assemble(o, measures, natsVersion);
  };
  return within(plannedMs + kRunSlackMs, 'nats benchmark', measureAll());
}

export const nats = defineBench({
  name: 'nats',
  flags: kFlags,
  check: checkOptions,
  run,
  format: formatMarkdown,
  headlines,
});
export type { NatsResult };

runIfMain(import.meta.url, nats);
