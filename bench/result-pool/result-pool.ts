/**
 * Result-pool benchmark (issue 3): does handing results to a thread pool keep heartbeats on time when a heavy
 * result handler saturates the master? In one run, for the pool and for the same handler run inline on the main
 * thread (the baseline):
 *
 * 1. heartbeats: a fleet of slaves heartbeats at a fixed rate, first alone (idle), then while result senders keep
 *    the result stage saturated with a CPU-heavy handler (loaded); heartbeat latency p50/p99, late and missed
 *    heartbeats, evictions, results per second;
 * 2. throughput: results per second with a trivial handler for each result size and format.
 *
 * Three processes: the master (bench/harness/master-child.ts), the virtual fleet that answers `/connect` and
 * heartbeats (bench/harness/virtual-fleet.ts), and this one, which sends results and keeps time.
 *
 *   npx tsx bench/result-pool/result-pool.ts [--duration S] [--slaves N] [--threads 1,2] [--sizes 1k,64k,1m] ...
 *
 * See `--help`, and bench/README.md for what each number means.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type Context, defineBench, kRunSlackMs, runIfMain, within } from '../harness/bench.ts';
import { IpcChild } from '../harness/ipc-child.ts';
import {
  type ChildStats,
  type ConnectOutcome,
  type MasterReady,
  startMaster,
} from '../harness/master-child.ts';
import { pinProcess } from '../harness/pin.ts';
import {
  cpuProfArgs,
  kProfileIntervalUs,
  summariseCpuProfile,
  summariseProfileDir,
} from '../harness/profile.ts';
import { cpuMs, type HistogramSummary } from '../harness/report.ts';
import type { FleetSimOptions, WindowSummary } from '../harness/virtual-fleet.ts';
import { calibrate, kRoundsEnv } from './handlers/burn.ts';
import { kThreadNiceEnv } from './handlers/place-thread.ts';
import { buildResultPayload, formatSize, type ResultPayload } from './payloads.ts';
import {
  checkOptions,
  findProblems,
  formatMarkdown,
  type HeartbeatRun,
  headlines,
  heartbeatPhase,
  judge,
  kFlags,
  type Mode,
  modeLabel,
  modesOf,
  type Part,
  type Phase,
  plannedSeconds,
  type ResultPoolFigures,
  type ResultPoolOptions,
  type ThroughputCell,
} from './report.ts';
import { ResultSenders } from './senders.ts';

const kHeavyHandler = fileURLToPath(new URL('./handlers/heavy.ts', import.meta.url));
const kTrivialHandler = fileURLToPath(new URL('./handlers/trivial.ts', import.meta.url));
const kVirtualFleet = fileURLToPath(new URL('../harness/virtual-fleet.ts', import.meta.url));
/** Functions and places kept per profile summary. */
const kProfileLines = 15;
/** The tick of every `monitorEventLoopDelay` here, subtracted from what it records. */
const kLoop = { resolutionMs: 5, offsetMs: 5 };
const kTaskId = randomUUID();

interface Rig {
  o: ResultPoolOptions;
  ctx: Context;
  fleet: IpcChild<{ port: number }>;
  handlerRounds: number;
  profiles: ResultPoolFigures['profiles'];
}

type Master = IpcChild<MasterReady> & { tokens: string[] };

/** Waits (bounded) until `count` slaves got their first heartbeat answered 200. */
async function whenBeating(fleet: IpcChild, count: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const { beating } = await fleet.request<{ beating: number }>('status');
    if (beating >= count) return;
    if (performance.now() > deadline)
      throw new Error(`only ${beating} of ${count} slaves heartbeat after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Starts a master for `mode` with `handler`, waits until the whole fleet heartbeats, runs `body`, cleans up. */
async function withMaster<T>(
  rig: Rig,
  part: Part,
  mode: Mode,
  handler: string,
  body: (m: Master) => Promise<T>,
) {
  const { o, ctx } = rig;
  const started = performance.now();
  const cpuProfDir = o.cpuProf
    ? path.resolve(ctx.out, `result-pool-${ctx.stamp}-${part}-${mode.name}`)
    : undefined;
  const child = await startMaster(
    {
      options: {
        heartbeatTolerance: o.tolerance,
        resultHandler: handler,
        resultThreads: mode.threads,
        requestRetries: 0,
      },
      env: { [kRoundsEnv]: String(rig.handlerRounds), [kThreadNiceEnv]: String(o.threadNice) },
      pin: o.pin ? { main: '0', pool: '1' } : undefined,
      // a result for an unknown task is the expected path here; anything else is worth seeing, once or twice
      warnings: 3,
    },
    {
      label: `master (resultThreads ${mode.threads})`,
      execArgv: cpuProfDir ? cpuProfArgs(cpuProfDir) : [],
    },
  );
  ctx.defer(() => child.stop());
  try {
    const limitMs = 60_000 + o.slaves * 20;
    const request = {
      ports: [rig.fleet.ready.port],
      slaves: o.slaves,
      concurrency: 32,
      msgpack: false,
      limitMs,
    };
    const connect = await child.request<ConnectOutcome>('connect', request, limitMs + 15_000);
    if (connect.connected < o.slaves)
      throw new Error(
        `the master connected ${connect.connected} of ${o.slaves} slaves: ${connect.firstError}`,
      );
    await whenBeating(rig.fleet, o.slaves, 10_000 + 2 * o.heartbeatSpan * 1000);
    ctx.log(
      `${modeLabel(mode)}: master up, ${o.slaves} slaves connected and heartbeating (${Math.round(performance.now() - started)} ms)`,
    );
    return await body(Object.assign(child, { tokens: connect.tokens }));
  } finally {
    await rig.fleet.request('halt', undefined, 30_000).catch(() => undefined);
    await child.stop();
    if (cpuProfDir !== undefined) {
      // a profile that cannot be read costs its summary, not the run
      const threads = await summariseProfileDir(cpuProfDir, kProfileLines).catch((err: unknown) => {
        ctx.log(`could not summarise the profiles in ${cpuProfDir}: ${String(err)}`);
        return [];
      });
      for (const { role, file, summary } of threads) {
        rig.profiles.push({
          label: `${part}, ${mode.name}: ${role}, whole life`,
          file: path.relative(process.cwd(), file),
          summary,
        });
      }
    }
  }
}

/** One measured window: heartbeats always, results when `senders` run. */
async function measure(
  rig: Rig,
  master: Master,
  senders: ResultSenders | undefined,
  seconds: number,
): Promise<Phase> {
  const { fleet } = rig;
  const sample = () =>
    Promise.all([master.request<ChildStats>('stats'), master.cpuUsage(), fleet.cpuUsage()]);
  const [statsBefore, masterBefore, fleetBefore] = await sample();
  await Promise.all([
    fleet.request('window'),
    fleet.request('loop-begin', kLoop),
    master.request('loop-begin', kLoop),
  ]);
  senders?.beginWindow();
  const selfBefore = process.cpuUsage();
  const started = performance.now();
  await sleep(seconds * 1000);
  const results = senders?.endWindow();
  const selfCpu = cpuMs(process.cpuUsage(selfBefore));
  const [window, fleetLoop, masterLoop] = await Promise.all([
    fleet.request<WindowSummary>('window'),
    fleet.request<HistogramSummary>('loop-end'),
    master.request<HistogramSummary>('loop-end'),
  ]);
  const wallMs = performance.now() - started;
  const [statsAfter, masterAfter, fleetAfter] = await sample();
  const masterCpuMs = cpuMs(masterAfter) - cpuMs(masterBefore);
  const batches = statsAfter.batches - statsBefore.batches;
  return {
    heartbeats: heartbeatPhase(window, rig.o.lateMs, fleetLoop),
    results,
    master: {
      loopDelayMs: masterLoop,
      cpu: masterCpuMs / wallMs,
      cpuMsPerResult: results && results.acknowledged > 0 ? masterCpuMs / results.acknowledged : Number.NaN,
      evictions: statsAfter.evictions - statsBefore.evictions,
      resultsInvalid: statsAfter.resultsInvalid - statsBefore.resultsInvalid,
      resultsFailed: statsAfter.resultsFailed - statsBefore.resultsFailed,
      batches,
      resultsPerBatch:
        batches > 0 ? (statsAfter.batchedResults - statsBefore.batchedResults) / batches : Number.NaN,
    },
    senderCpu: selfCpu / wallMs,
    fleetCpu: (cpuMs(fleetAfter) - cpuMs(fleetBefore)) / wallMs,
  };
}

/** Profiles `master`'s main thread while `body` runs (with `--profile`); records the summary as `label`. */
async function profiled<T>(rig: Rig, master: Master, label: string, body: () => Promise<T>): Promise<T> {
  if (!rig.o.profile) return body();
  const file = path.resolve(
    rig.ctx.out,
    `result-pool-${rig.ctx.stamp}-${label.replace(/[^a-z0-9]+/gi, '-')}.cpuprofile`,
  );
  await master.request('profile-start', { intervalUs: kProfileIntervalUs });
  const value = await body();
  await master.request('profile-stop', { file }, 60_000);
  const summary = summariseCpuProfile(JSON.parse(await readFile(file, 'utf8')), kProfileLines);
  rig.profiles.push({
    label: `${label}: main thread, this window`,
    file: path.relative(process.cwd(), file),
    summary,
  });
  return value;
}

/** Result senders for `master`, closed when `body` ends. */
async function withSenders<T>(
  rig: Rig,
  master: Master,
  payload: ResultPayload,
  body: (s: ResultSenders) => Promise<T>,
) {
  const origin = `http://127.0.0.1:${master.ready.port}`;
  const senders = new ResultSenders({ origin, tokens: master.tokens, payload, senders: rig.o.senders });
  rig.ctx.defer(() => senders.close());
  try {
    await senders.probe();
    return await body(senders);
  } finally {
    await senders.close();
  }
}

function heartbeatRun(rig: Rig, mode: Mode, payload: ResultPayload): Promise<HeartbeatRun> {
  const { o, ctx } = rig;
  return withMaster(rig, 'heartbeat', mode, kHeavyHandler, (master) =>
    withSenders(rig, master, payload, async (senders) => {
      if (o.warmup > 0) {
        // results first, unrecorded: JIT, threads loading the handler
        senders.start();
        await sleep(o.warmup * 1000);
        await senders.stop();
      }
      const idle = await measure(rig, master, undefined, o.duration);
      ctx.log(`${modeLabel(mode)}: idle heartbeat p99 ${idle.heartbeats.latencyMs.p99.toFixed(2)} ms`);
      senders.start();
      await sleep(o.warmup * 1000);
      const loaded = await profiled(rig, master, `heartbeat loaded, ${mode.name}`, () =>
        measure(rig, master, senders, o.duration),
      );
      await senders.stop();
      ctx.log(
        `${modeLabel(mode)}: loaded heartbeat p99 ${loaded.heartbeats.latencyMs.p99.toFixed(2)} ms, ` +
          `${Math.round(loaded.results?.perSecond ?? 0)} results/s`,
      );
      return { mode, idle, loaded, ...judge(mode, idle, loaded), masterNotes: master.ready.notes };
    }),
  );
}

function throughputRun(rig: Rig, mode: Mode): Promise<ThroughputCell[]> {
  const { o, ctx } = rig;
  return withMaster(rig, 'throughput', mode, kTrivialHandler, async (master) => {
    const cells: ThroughputCell[] = [];
    for (const size of o.sizes) {
      for (const format of o.formats) {
        const payload = buildResultPayload(size, format, kTaskId);
        const phase = await withSenders(rig, master, payload, async (senders) => {
          senders.start();
          await sleep(o.warmup * 1000);
          const label = `throughput ${formatSize(size).replace(' ', '')} ${format}, ${mode.name}`;
          const phase = await profiled(rig, master, label, () => measure(rig, master, senders, o.duration));
          await senders.stop();
          return phase;
        });
        cells.push({ mode, size, format, bodyBytes: payload.body.length, values: payload.values, phase });
        ctx.log(
          `${modeLabel(mode)}: ${formatSize(size)} ${format}: ${Math.round(phase.results?.perSecond ?? 0)} results/s`,
        );
      }
    }
    return cells;
  });
}

async function run(o: ResultPoolOptions, ctx: Context): Promise<ResultPoolFigures> {
  const modes = modesOf(o.threads);
  const plannedMs = plannedSeconds(o) * 1000;
  ctx.log(
    `result-pool bench: modes ${modes.map((m) => m.name).join(', ')}; parts ${o.parts.join(', ')}; ` +
      `≈ ${Math.ceil(plannedMs / 1000)} s of load plus start-ups`,
  );
  if (o.profile || o.cpuProf) await mkdir(ctx.out, { recursive: true });
  const heavy = o.parts.includes('heartbeat');
  const handler = heavy ? calibrate(o.handlerMs) : { rounds: 1, measuredMs: Number.NaN };
  if (heavy)
    ctx.log(
      `heavy handler: ${handler.rounds} rounds ≈ ${handler.measuredMs.toFixed(2)} ms here, uncontended`,
    );
  const loadPayload = buildResultPayload(o.loadSize, o.loadFormat, kTaskId);

  // each slave heartbeats on its own connection, one request at a time, as a real slave
  const simulator: FleetSimOptions = {
    ports: 1,
    heartbeatSpan: o.heartbeatSpan,
    heartbeatJitter: 0,
    resultBytes: 0,
    sockets: o.slaves,
    beatPipelining: 1,
    timeoutMs: o.tolerance * 1000,
    lateMs: o.lateMs,
  };
  const fleet = await IpcChild.start<{ port: number }>(kVirtualFleet, simulator, { label: 'slave fleet' });
  ctx.defer(() => fleet.stop());
  if (o.pin) {
    // read before pinning: once pinned, this process counts only the CPUs it may use
    const cpus = `0-${os.availableParallelism() - 1}`;
    if (fleet.pid === undefined || !pinProcess(fleet.pid, '0') || !pinProcess(process.pid, '1')) {
      throw new Error('--pin needs taskset and 2 CPUs');
    }
    ctx.defer(() => pinProcess(process.pid, cpus));
    ctx.log(
      'pinned: master main thread and heartbeat fleet on CPU 0; pool threads and result senders on CPU 1',
    );
  }
  const rig: Rig = { o, ctx, fleet, handlerRounds: handler.rounds, profiles: [] };
  const work = async () => {
    const heartbeat: HeartbeatRun[] = [];
    const throughput: ThroughputCell[] = [];
    if (heavy) for (const mode of modes) heartbeat.push(await heartbeatRun(rig, mode, loadPayload));
    if (o.parts.includes('throughput'))
      for (const mode of modes) throughput.push(...(await throughputRun(rig, mode)));
    return { heartbeat, throughput };
  };
  const boundMs = plannedMs + kRunSlackMs + o.slaves * 10 * modes.length;
  const { heartbeat, throughput } = await within(boundMs, 'result-pool bench', work());
  const problems = findProblems(heartbeat, throughput, handler.measuredMs);
  const failed = problems.some((p) => !p.includes('fleet process itself'));
  return {
    handler: { rounds: handler.rounds, targetMs: o.handlerMs, measuredMs: handler.measuredMs },
    loadPayload: { bodyBytes: loadPayload.body.length, values: loadPayload.values },
    heartbeat,
    throughput,
    ok: !failed && heartbeat.every((r) => r.targetMet !== false),
    problems,
    profiles: rig.profiles,
  };
}

export const resultPool = defineBench({
  name: 'result-pool',
  flags: kFlags,
  check: checkOptions,
  run,
  format: formatMarkdown,
  headlines,
});

runIfMain(import.meta.url, resultPool);
