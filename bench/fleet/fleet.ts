/**
 * Fleet macro benchmark: one real master (a child process) connects N virtual slaves (this process, the real
 * protocol on the wire) and keeps every one of them busy, `newTask(data).start()` → `join()` → next, while every
 * slave heartbeats. Before the load the fleet heartbeats the idle master alone; after it, as many fresh virtual
 * slaves heartbeat a raw-uWS "null master" from the same (warm) simulator, so the heartbeat figures come with a
 * baseline measured in the same run.
 *
 *   npx tsx bench/fleet/fleet.ts [--slaves N] [--duration S] [--heartbeat-span S] [--profile]
 *
 * See `--help` for the rest, and bench/README.md for what each number means.
 */
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { EngineName } from '../../src/http/engine.ts';
import { checkTolerance } from '../harness/args.ts';
import { type Context, defineBench, kRunSlackMs, runIfMain, within } from '../harness/bench.ts';
import type { IpcChild } from '../harness/ipc-child.ts';
import { connectLimitMs, connectSlaves, progressLog, startMaster } from '../harness/master-child.ts';
import { cpuProfArgs, summariseProfileDir } from '../harness/profile.ts';
import { cpuMs, type HistogramSummary, thousands } from '../harness/report.ts';
import { startServer } from '../harness/servers.ts';
import { type SimCounters, VirtualFleet } from '../harness/virtual-fleet.ts';
import { DashboardPages, type PageWindow } from './dashboard-pages.ts';
import {
  assemble,
  beatPhase,
  countersSince,
  type FleetOptions,
  type FleetResult,
  formatMarkdown,
  type HeartbeatPhase,
  type HeartbeatPhaseKind,
  headlines,
  kFlags,
  type SimLoad,
  statsSince,
} from './report.ts';
import { loadRow, pagesLabel, pageTargets, type RowKey, rowKeys, rowLabel, submitTargets } from './rows.ts';
import type { LoadOutcome, LoadRequest } from './task-load.ts';

/**
 * Unmeasured seconds before each heartbeats-only window: at least one span, so every slave has beaten on its new
 * sockets, and 2 s for the simulator's JIT (the null master's phase is its first work).
 */
const settleSeconds = (span: number) => Math.max(2, span);
/** Most time to wait for tasks in flight once the measured window closes. */
const kDrainMs = 10_000;
/** Most time for every dashboard page of a row to get its snapshot. */
const kPagesOpenMs = 30_000;
const kTaskLoad = fileURLToPath(new URL('./task-load.ts', import.meta.url));

/** Logs `line()` and heartbeats/s every second until stopped. */
function ticker(fleet: VirtualFleet, log: (line: string) => void, line: () => string): () => void {
  let last = { at: performance.now(), beats: fleet.counters.beats };
  const timer = setInterval(() => {
    const now = performance.now();
    const rate = ((fleet.counters.beats - last.beats) * 1000) / (now - last.at);
    last = { at: now, beats: fleet.counters.beats };
    log(`${line()}, heartbeats/s ${thousands(rate)}, refused ${fleet.counters.beatsRefused}`);
  }, 1000);
  return () => clearInterval(timer);
}

/**
 * One heartbeats-only window against one master (at 10,000 slaves one simulator cannot send two fleets' beats at
 * once on two cores, so the master and the null master take turns): settle, then measure the beats, and the
 * master's CPU and event-loop delay.
 */
async function heartbeatsOnly(
  fleet: VirtualFleet,
  kind: HeartbeatPhaseKind,
  server: IpcChild<{ port: number }>,
  o: FleetOptions,
  log: (line: string) => void,
): Promise<HeartbeatPhase> {
  const started = performance.now();
  const settle = settleSeconds(o.heartbeatSpan);
  const stop = ticker(fleet, log, () => {
    const s = (performance.now() - started) / 1000;
    return `heartbeats only (${kind}) ${s.toFixed(0)}/${settle + o.baselineDuration} s`;
  });
  try {
    await sleep(settle * 1000);
    await server.request('loop-begin', { resolutionMs: 10, offsetMs: 0 });
    const [server0, sim0] = [await server.cpuUsage(), process.cpuUsage()];
    fleet.takeWindows();
    await sleep(o.baselineDuration * 1000);
    const window = fleet.takeWindows().get(`http://127.0.0.1:${server.ready.port}`);
    if (!window) throw new Error('no virtual slave talks to the master (does it announce another address?)');
    const simMs = cpuMs(process.cpuUsage(sim0));
    const serverMs = cpuMs(await server.cpuUsage()) - cpuMs(server0);
    const loop = await server.request<HistogramSummary>('loop-end');
    return beatPhase(
      kind,
      window,
      { cpuMs: serverMs, loopDelayP99Ms: loop.p99, loopDelayMaxMs: loop.max },
      simMs,
    );
  } finally {
    stop();
  }
}

/**
 * The simulator's side of the load window, timed here: [warmup, warmup + duration] from the load's start; and what
 * the dashboard pages, if open, received over the same window.
 */
async function simulatorLoad(
  fleet: VirtualFleet,
  origin: string,
  o: FleetOptions,
  pages: DashboardPages | undefined,
): Promise<SimLoad & { pages: PageWindow | undefined }> {
  await sleep(o.warmup * 1000);
  fleet.takeWindows();
  pages?.take();
  const before = { ...fleet.counters };
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  await sleep(o.duration * 1000);
  const after = fleet.counters;
  const window = fleet.takeWindows().get(origin);
  const pageWindow = pages?.take();
  const simMs = cpuMs(process.cpuUsage(cpu0));
  const simElu = performance.eventLoopUtilization(elu0).utilization;
  delay.disable();
  if (!window) throw new Error('no virtual slave talks to the master');
  const figures = {
    simCpu: simMs / (window.seconds * 1000),
    simElu,
    simLoopDelayP99Ms: delay.percentile(99) / 1e6,
    /** A result report's round trip, as the virtual slave saw it. */
    reportP50Ms: window.resultMs.p50,
    reportP99Ms: window.resultMs.p99,
    resultsPushedBack: after.resultsPushedBack - before.resultsPushedBack,
    resultsRefused: after.resultsRefused - before.resultsRefused,
    resultErrors: after.resultErrors - before.resultErrors,
    tasksRefused: after.tasksRefused - before.tasksRefused,
  };
  return { window, simMs, figures, pages: pageWindow };
}

/** Progress of the master child, one line per second: connected, tasks/s, heartbeats/s, evictions. */
function progressLogger(fleet: VirtualFleet, log: (line: string) => void, phase: () => string) {
  let beats = fleet.counters.beats;
  return progressLog(log, (p, tasksPerSec, seconds) => {
    const beatsPerSec = (fleet.counters.beats - beats) / seconds;
    beats = fleet.counters.beats;
    return (
      `${phase()}: connected ${thousands(p.connected)}, tasks/s ${thousands(tasksPerSec)}, ` +
      `heartbeats/s ${thousands(beatsPerSec)}, evictions ${p.stats.evictions}, ` +
      `refused ${fleet.counters.beatsRefused}, running ${thousands(p.stats.runningTasks)}`
    );
  });
}

async function run(o: FleetOptions, ctx: Context) {
  const { log } = ctx;
  const limitMs = connectLimitMs(o.slaves);
  const baselines = o.baselineDuration > 0 ? 2 * (settleSeconds(o.heartbeatSpan) + o.baselineDuration) : 0;
  const loads = o.via.length * Math.max(1, o.dashboardClients.length) * o.rounds;
  const plannedMs =
    (baselines + loads * (o.warmup + o.duration)) * 1000 + limitMs + loads * (kDrainMs + kPagesOpenMs);
  const dashboard = o.dashboardClients.length > 0;
  log(
    `fleet: ${thousands(o.slaves)} slaves, ${o.warmup} + ${o.duration} s of load via ${o.via.join(', ')}` +
      (dashboard
        ? ` with ${o.dashboardClients.map(pagesLabel).join(', ')} of the dashboard` +
          (o.rounds > 1 ? `, ${o.rounds} rounds` : '')
        : '') +
      `, ${o.baselineDuration} s per heartbeat baseline; at most ${Math.ceil((plannedMs + kRunSlackMs) / 1000)} s`,
  );
  const profileDir = path.join(ctx.out, `fleet-profile-${ctx.stamp}`);
  const fleet = await VirtualFleet.start({
    ports: o.ports,
    heartbeatSpan: o.heartbeatSpan,
    heartbeatJitter: o.heartbeatJitter,
    resultBytes: o.resultBytes,
    workUs: o.workUs,
    sleepMs: o.sleepMs,
    msgpack: o.msgpack,
    sockets: Math.min(o.simConnections, o.slaves),
    beatPipelining: Math.ceil(o.slaves / o.simConnections),
  });
  ctx.defer(() => fleet.close());

  const measure = async (engine: EngineName, baselines: boolean) => {
    let onProgress = progressLogger(fleet, log, () => `${engine}: connecting`);
    const master = await startMaster(
      {
        options: {
          heartbeatTolerance: o.heartbeatTolerance,
          heartbeatCheckSpan: o.heartbeatCheckSpan,
          resultThreads: o.resultThreads,
          taskClient: o.taskClient,
          engine,
          // the dashboard ticks (once a second) only with the admin listener; every page row needs it
          ...(dashboard ? { adminPort: 0 } : {}),
        },
        plugins: [kTaskLoad],
        warnings: 5,
      },
      {
        label: `fleet master (${engine} engine)`,
        execArgv: o.profile && baselines ? cpuProfArgs(profileDir) : [],
        onProgress: (p) => onProgress(p),
        defer: ctx.defer,
      },
    );
    const origin = `http://127.0.0.1:${master.ready.port}`;
    const memoryBefore = await master.request<NodeJS.MemoryUsage>('memory');
    const request = { ports: fleet.ports, slaves: o.slaves, concurrency: o.connectConcurrency };
    const connect = await connectSlaves(master, { ...request, msgpack: o.msgpack, limitMs });
    const memoryAfter = await master.request<NodeJS.MemoryUsage>('memory');
    log(
      `connected ${thousands(connect.connected)}/${thousands(o.slaves)} in ${connect.seconds.toFixed(1)} s` +
        (connect.failed > 0 ? `; ${connect.failed} failed, first: ${connect.firstError}` : ''),
    );
    const heartbeats: HeartbeatPhase[] = [];
    if (baselines && o.baselineDuration > 0) {
      heartbeats.push(await heartbeatsOnly(fleet, 'idle', master, o, log));
    }

    // each path and page count in turn, on the same master and slaves: every loop runs start (or submit) → join →
    // next, while the pages (if any) read the dashboard's stream
    const loads: {
      key: RowKey;
      outcome: LoadOutcome;
      sim: SimLoad;
      pages: PageWindow | undefined;
      stats: Record<string, number>;
      counters: SimCounters;
    }[] = [];
    for (const key of rowKeys([engine], o.via, o.dashboardClients, o.rounds)) {
      const { via, pages: count } = key;
      const what = `${engine}, via ${via}${count === null ? '' : `, ${pagesLabel(count)}`}`;
      let pages: DashboardPages | undefined;
      if (count !== null && count > 0) {
        // opened (and their snapshots read) before the load, so the measured window sees their steady cost
        pages = await DashboardPages.open(master.ready.adminPort, count, kPagesOpenMs);
        ctx.defer(() => pages?.close());
      }
      const loadStarted = performance.now();
      onProgress = progressLogger(fleet, log, () => {
        const s = (performance.now() - loadStarted) / 1000;
        return `${what}: load ${s.toFixed(0)}/${o.warmup + o.duration} s`;
      });
      const loadMs = (o.warmup + o.duration) * 1000 + kDrainMs + 15_000;
      try {
        const [outcome, sim] = await Promise.all([
          master.request<LoadOutcome>(
            'load',
            { duration: o.duration, warmup: o.warmup, drainMs: kDrainMs, via } satisfies LoadRequest,
            loadMs,
          ),
          simulatorLoad(fleet, origin, o, pages),
        ]);
        const stats = await master.request<Record<string, number>>('stats');
        loads.push({ key, outcome, sim, pages: sim.pages, stats, counters: structuredClone(fleet.counters) });
      } finally {
        pages?.close();
      }
    }
    // its slaves go first (a closing master refuses heartbeats: that is no eviction), then the master exits,
    // writing its profile if any
    fleet.drop(origin);
    await master.stop(15_000);

    // the null master: as many fresh slaves heartbeat the engine's raw server answering the master's heartbeat
    // bytes with no checks; the simulator is warm by now, and alone with this one fleet, as it was with the master's
    if (baselines && o.baselineDuration > 0) {
      const nullMaster = await startServer(engine);
      ctx.defer(() => nullMaster.stop());
      const nullOrigin = `http://127.0.0.1:${nullMaster.ready.port}`;
      fleet.addDirect(o.slaves, nullOrigin);
      heartbeats.unshift(await heartbeatsOnly(fleet, 'null', nullMaster, o, log));
      fleet.drop(nullOrigin);
    }
    const parts = { options: o, master: master.ready, connect, memoryBefore, memoryAfter };
    // the first row's figures are the engine's, with the heartbeat baselines; a later row's evictions and
    // refusals are its own (counted since the row before it ended)
    return loads.map((l, i) => ({
      key: l.key,
      pages: l.pages,
      figures: assemble({
        ...parts,
        heartbeats: i === 0 ? heartbeats : [],
        outcome: l.outcome,
        sim: l.sim,
        stats: i === 0 ? l.stats : statsSince(l.stats, loads[i - 1]!.stats),
        counters: i === 0 ? l.counters : countersSince(l.counters, loads[i - 1]!.counters),
      }),
    }));
  };

  const measureAll = async () => {
    let result: ReturnType<typeof assemble> | undefined;
    for (const [e, engine] of o.engine.entries()) {
      for (const { key, pages, figures } of await measure(engine, e === 0)) {
        const row = loadRow(key, figures, pages);
        // a stream the master dropped while the page read it on time: the dashboard judged a live page too slow
        if (row.page && row.page.dropped > 0) {
          figures.problems.push(`${row.page.dropped} dashboard page streams dropped by the master`);
          figures.ok = false;
        }
        if (result === undefined) result = figures;
        else {
          const label = rowLabel(key, result.loads[0]!);
          result.problems.push(...figures.problems.map((p) => `${label}: ${p}`));
          result.ok &&= figures.ok;
        }
        result.loads.push(row);
      }
    }
    result!.targets.push(...submitTargets(result!.loads, o.slaves), ...pageTargets(result!.loads, o.slaves));
    return result!;
  };
  const result = await within(plannedMs * o.engine.length + kRunSlackMs, 'fleet benchmark', measureAll());
  if (o.profile) {
    const [main, ...threads] = await summariseProfileDir(profileDir, 20, result.load.windowUs);
    if (main?.thread !== 0) result.problems.push(`no CPU profile found in ${profileDir}`);
    else {
      result.profile = {
        file: main.file,
        windowed: true,
        summary: main.summary,
        threads: threads.map(({ file, summary: s }) => {
          const top = s.functions.find((f) => !f.name.startsWith('atomicsWaitLoop '));
          const topLine = top ? `${top.name} (${top.selfMs.toFixed(0)} ms)` : '';
          return { file, busyMs: s.busyMs - s.waitingMs, waitingMs: s.waitingMs, top: topLine };
        }),
      };
    }
  }
  return result;
}

export const fleet = defineBench({
  name: 'fleet',
  flags: kFlags,
  check: checkTolerance,
  run,
  format: formatMarkdown,
  headlines,
});
export type { FleetResult };

runIfMain(import.meta.url, fleet);
