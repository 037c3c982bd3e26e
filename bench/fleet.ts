/**
 * Fleet macro benchmark: one real master (a child process) connects N virtual slaves (this process, the real
 * protocol on the wire) and keeps every one of them busy, `newTask(data).start()` → `join()` → next, while every
 * slave heartbeats. Before the load the fleet heartbeats the idle master alone; after it, as many fresh virtual
 * slaves heartbeat a raw-uWS "null master" from the same (warm) simulator, so the heartbeat figures come with a
 * baseline measured in the same run.
 *
 *   npx tsx bench/fleet.ts [--slaves N] [--duration S] [--heartbeat-span S] [--profile]
 *
 * See `--help` for the rest, and bench/README.md for what each number means.
 */
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { numberArg, walkArgs } from './args.ts';
import { type CpuProfile, summariseCpuProfile } from './cpu-profile.ts';
import { FleetMasterChild, type LoadOutcome, type Progress } from './fleet-child.ts';
import {
  checkTargets,
  countFalseEvictions,
  type FleetRecordedOptions,
  type FleetResult,
  formatMarkdown,
  type HeartbeatPhase,
  type HeartbeatPhaseKind,
  profileThreadOf,
  trimCpuProfile,
  writeResults,
} from './fleet-report.ts';
import { type SimCounters, type SimWindow, type TargetStats, VirtualFleet } from './fleet-slaves.ts';
import { thousands } from './front-end-report.ts';
import { ServerChild } from './server-child.ts';

export type { FleetResult } from './fleet-report.ts';
export { formatMarkdown, writeResults } from './fleet-report.ts';

export interface FleetOptions extends FleetRecordedOptions {
  /** Where `profile` writes the `.cpuprofile` files (a subdirectory per run). @defaultValue bench/results */
  profileDir: string;
  /** Progress lines. @defaultValue none */
  log: (line: string) => void;
}

const kResultsDir = fileURLToPath(new URL('./results/', import.meta.url));

export const kDefaults: Readonly<Omit<FleetOptions, 'log'>> = Object.freeze({
  slaves: 1000,
  duration: 20,
  warmup: 2,
  heartbeatSpan: 1,
  heartbeatJitter: 0.1,
  heartbeatTolerance: 5,
  heartbeatCheckSpan: 1,
  resultBytes: 64,
  workUs: 0,
  sleepMs: 0,
  resultThreads: undefined,
  taskClient: 'lean',
  connectConcurrency: 64,
  ports: 4,
  simConnections: 1000,
  baselineDuration: 5,
  msgpack: false,
  profile: false,
  profileDir: kResultsDir,
});

/** Profiler sampling interval (µs). */
const kProfileIntervalUs = 250;
/**
 * Unmeasured seconds before each heartbeats-only window: at least one span, so every slave has beaten on its new
 * sockets, and 2 s for the simulator's JIT (the null master's phase is its first work).
 */
const settleSeconds = (span: number) => Math.max(2, span);
/** Beyond the planned time: start-up, connects, drains, shutdown. */
const kRunSlackMs = 120_000;
/** Most time to wait for tasks in flight once the measured window closes. */
const kDrainMs = 10_000;

// ---- CLI parsing (pure) ----

export interface ParsedArgs {
  options: Omit<FleetOptions, 'log'>;
  /** Directory for the JSON + markdown results. */
  out: string;
  write: boolean;
  help: boolean;
}

export const kUsage = `usage: npx tsx bench/fleet.ts [options]
  --slaves N               virtual slaves (default ${kDefaults.slaves})
  --duration S             measured seconds of task load (default ${kDefaults.duration})
  --warmup S               unmeasured seconds of task load first (default ${kDefaults.warmup})
  --heartbeat-span S       seconds between two heartbeats of a slave (default ${kDefaults.heartbeatSpan})
  --heartbeat-jitter F     each span varies by up to ±F of itself (default ${kDefaults.heartbeatJitter})
  --heartbeat-tolerance S  master heartbeatTolerance (default ${kDefaults.heartbeatTolerance})
  --heartbeat-check-span S master heartbeatCheckSpan (default ${kDefaults.heartbeatCheckSpan})
  --result-bytes B         padding in each result payload (default ${kDefaults.resultBytes})
  --work-us US             busy-loop per task, in the simulator's one thread (default ${kDefaults.workUs})
  --sleep-ms MS            sleep per task instead, tasks overlap (default ${kDefaults.sleepMs})
  --result-threads N       master resultThreads (0 = inline; default: the master's default)
  --connect-concurrency N  connects in flight at once (default ${kDefaults.connectConcurrency})
  --ports N                ports the virtual slaves share (default ${kDefaults.ports})
  --sim-connections N      simulator sockets to the master per kind (heartbeats, results); slave i uses
                           socket i mod N; at least the fleet size: one per slave (default ${kDefaults.simConnections})
  --baseline-duration S    seconds of heartbeats only, against the idle master and then the null master
                           (0 skips both; default ${kDefaults.baselineDuration})
  --task-client C          master taskClient for /task/new: lean or undici (default ${kDefaults.taskClient})
  --msgpack                task and result bodies as MessagePack
  --profile                CPU-profile the master child (node --cpu-prof) and summarise its load window
  --out DIR                results directory (default bench/results)
  --no-write               print only`;

type NumberKey = {
  [K in keyof FleetRecordedOptions]: FleetRecordedOptions[K] extends number ? K : never;
}[keyof FleetRecordedOptions];

/** Numeric flags: option key, range, integer. */
const kNumberFlags: Readonly<Record<string, [NumberKey, number, number, boolean]>> = {
  '--slaves': ['slaves', 1, 100_000, true],
  '--duration': ['duration', 0.5, 3600, false],
  '--warmup': ['warmup', 0, 600, false],
  '--heartbeat-span': ['heartbeatSpan', 0.2, 600, false],
  '--heartbeat-jitter': ['heartbeatJitter', 0, 0.5, false],
  '--heartbeat-tolerance': ['heartbeatTolerance', 0.2, 3600, false],
  '--heartbeat-check-span': ['heartbeatCheckSpan', 0.1, 3600, false],
  '--result-bytes': ['resultBytes', 0, 64 * 1024 * 1024, true],
  '--work-us': ['workUs', 0, 1_000_000, true],
  '--sleep-ms': ['sleepMs', 0, 600_000, true],
  '--connect-concurrency': ['connectConcurrency', 1, 10_000, true],
  '--ports': ['ports', 1, 64, true],
  '--sim-connections': ['simConnections', 1, 10_000, true],
  '--baseline-duration': ['baselineDuration', 0, 600, false],
};

/** Parses `process.argv.slice(2)` (`--flag value` or `--flag=value`). Pure: throws a RangeError naming the flag. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const options: Omit<FleetOptions, 'log'> = { ...kDefaults };
  const common = walkArgs(argv, kUsage, (flag, value) => {
    const numeric = kNumberFlags[flag];
    if (numeric) {
      const [key, min, max, integer] = numeric;
      options[key] = numberArg(flag.slice(2), value(), min, max, integer);
      return true;
    }
    switch (flag) {
      case '--result-threads':
        options.resultThreads = numberArg('result-threads', value(), 0, 256, true);
        break;
      case '--task-client': {
        const client = value();
        if (client !== 'lean' && client !== 'undici') {
          throw new RangeError(`--task-client must be lean or undici, got ${JSON.stringify(client)}`);
        }
        options.taskClient = client;
        break;
      }
      case '--msgpack':
        options.msgpack = true;
        break;
      case '--profile':
        options.profile = true;
        break;
      default:
        return false;
    }
    return true;
  });
  const out = common.out ?? kResultsDir;
  if (common.out !== undefined) options.profileDir = common.out;
  const { write, help } = common;
  if (options.heartbeatTolerance <= options.heartbeatSpan) {
    throw new RangeError(
      `--heartbeat-tolerance (${options.heartbeatTolerance} s) must exceed --heartbeat-span (${options.heartbeatSpan} s), or every slave is evicted`,
    );
  }
  return { options, out, write, help };
}

// ---- measuring ----

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
const ms = (us: number) => us / 1000;

/** Logs heartbeats/s every second until stopped. */
function ticker(fleet: VirtualFleet, log: (line: string) => void, label: () => string): () => void {
  let last = { at: performance.now(), beats: fleet.counters.beats };
  const timer = setInterval(() => {
    const now = performance.now();
    const rate = ((fleet.counters.beats - last.beats) * 1000) / (now - last.at);
    last = { at: now, beats: fleet.counters.beats };
    log(`${label()}, heartbeats/s ${thousands(rate)}, refused ${fleet.counters.beatsRefused}`);
  }, 1000);
  return () => clearInterval(timer);
}

/** A master whose heartbeats a heartbeats-only window measures. */
interface BeatTarget {
  kind: HeartbeatPhaseKind;
  origin: string;
  /** The answering process's own CPU time, and its loop delay since the last call (NaN if unknown). */
  sample: () => Promise<{ cpu: NodeJS.CpuUsage; loopDelayP99Ms: number; loopDelayMaxMs: number }>;
}

function statsOf(fleet: VirtualFleet, origin: string): TargetStats {
  const stats = fleet.statsFor(origin);
  if (!stats)
    throw new Error(`no virtual slave talks to ${origin} (does the master announce another address?)`);
  return stats;
}

/** A window's heartbeat figures for one master, from its counters before and after and its latency window. */
function beatPhase(
  kind: HeartbeatPhaseKind,
  before: Pick<TargetStats, 'beats' | 'beatsRefused' | 'beatErrors'>,
  after: Pick<TargetStats, 'beats' | 'beatsRefused' | 'beatErrors'>,
  window: SimWindow | undefined,
  wallMs: number,
  serverMs: number,
  serverLoopDelay: { p99: number; max: number },
  simMs: number,
): HeartbeatPhase {
  const beats = after.beats - before.beats;
  const seen = window !== undefined && window.beats.count > 0;
  return {
    kind,
    seconds: wallMs / 1000,
    beats,
    beatsPerSec: (beats * 1000) / wallMs,
    p50Ms: seen ? ms(window.beats.percentile(50)) : Number.NaN,
    p99Ms: seen ? ms(window.beats.percentile(99)) : Number.NaN,
    maxMs: seen ? ms(window.beats.max) : Number.NaN,
    refused: after.beatsRefused - before.beatsRefused,
    errors: after.beatErrors - before.beatErrors,
    serverCpu: serverMs / wallMs,
    serverCpuUsPerBeat: beats > 0 ? (serverMs * 1000) / beats : Number.NaN,
    serverLoopDelayP99Ms: serverLoopDelay.p99,
    serverLoopDelayMaxMs: serverLoopDelay.max,
    simCpu: simMs / wallMs,
  };
}

/**
 * One heartbeats-only window: settle, then measure the beats of the given masters' fleets and each master's CPU.
 * (Used with one master at a time: at 10,000 slaves one simulator cannot send two fleets' beats at once on two
 * cores, and both windows would then measure the simulator.)
 */
async function measureHeartbeats(
  fleet: VirtualFleet,
  targets: readonly BeatTarget[],
  options: FleetOptions,
): Promise<HeartbeatPhase[]> {
  const started = performance.now();
  const settle = settleSeconds(options.heartbeatSpan);
  const stop = ticker(fleet, options.log, () => {
    const s = (performance.now() - started) / 1000;
    return `heartbeats only (${targets.map((t) => t.kind).join(' + ')}) ${s.toFixed(0)}/${settle + options.baselineDuration} s`;
  });
  try {
    await sleep(settle * 1000);
    fleet.resetWindows();
    const before = targets.map((t) => ({ ...statsOf(fleet, t.origin) }));
    const server0 = await Promise.all(targets.map((t) => t.sample()));
    const sim0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(options.baselineDuration * 1000);
    const wallMs = performance.now() - t0;
    const simMs = cpuMs(process.cpuUsage(sim0));
    const server1 = await Promise.all(targets.map((t) => t.sample()));
    const windows = fleet.resetWindows();
    return targets.map((t, i) =>
      beatPhase(
        t.kind,
        before[i]!,
        statsOf(fleet, t.origin),
        windows.get(t.origin),
        wallMs,
        cpuMs(server1[i]!.cpu) - cpuMs(server0[i]!.cpu),
        { p99: server1[i]!.loopDelayP99Ms, max: server1[i]!.loopDelayMaxMs },
        simMs,
      ),
    );
  } finally {
    stop();
  }
}

interface SimLoadWindow {
  phase: HeartbeatPhase;
  simCpu: number;
  simElu: number;
  simLoopDelayP99Ms: number;
  reportP50Ms: number;
  reportP99Ms: number;
  counters: SimCounters;
}

/** The simulator's side of the load window, timed here: [warmup, warmup + duration] from the load's start. */
async function measureLoadWindow(
  fleet: VirtualFleet,
  origin: string,
  options: FleetOptions,
): Promise<SimLoadWindow> {
  await sleep(options.warmup * 1000);
  fleet.resetWindows();
  const before = { ...fleet.counters };
  const beatsBefore = { ...statsOf(fleet, origin) };
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  await sleep(options.duration * 1000);
  const wallMs = performance.now() - t0;
  const simMs = cpuMs(process.cpuUsage(cpu0));
  const elu = performance.eventLoopUtilization(elu0).utilization;
  delay.disable();
  const window = fleet.resetWindows().get(origin);
  const after = { ...fleet.counters };
  const counters = { ...after };
  for (const key of Object.keys(after) as (keyof SimCounters)[]) {
    if (key !== 'firstProblems') (counters[key] as number) = (after[key] as number) - (before[key] as number);
  }
  const results = window?.results;
  return {
    // the server CPU is filled in from the master's own window
    phase: beatPhase(
      'loaded',
      beatsBefore,
      statsOf(fleet, origin),
      window,
      wallMs,
      Number.NaN,
      { p99: Number.NaN, max: Number.NaN },
      simMs,
    ),
    simCpu: simMs / wallMs,
    simElu: elu,
    simLoopDelayP99Ms: delay.percentile(99) / 1e6,
    reportP50Ms: results && results.count > 0 ? ms(results.percentile(50)) : Number.NaN,
    reportP99Ms: results && results.count > 0 ? ms(results.percentile(99)) : Number.NaN,
    counters,
  };
}

/** Progress of the master child, one line per second: connected, tasks/s, heartbeats/s, evictions. */
function progressLogger(fleet: VirtualFleet, log: (line: string) => void, phase: () => string) {
  let last: { at: number; completed: number; beats: number } | undefined;
  return (p: Progress) => {
    const now = performance.now();
    const beats = fleet.counters.beats;
    if (last && p.completed >= last.completed) {
      const seconds = (now - last.at) / 1000;
      log(
        `${phase()}: connected ${thousands(p.connected)}, tasks/s ${thousands((p.completed - last.completed) / seconds)}, ` +
          `heartbeats/s ${thousands((beats - last.beats) / seconds)}, evictions ${p.stats.evictions}, ` +
          `refused ${fleet.counters.beatsRefused}, running ${thousands(p.stats.runningTasks)}`,
      );
    }
    last = { at: now, completed: p.completed, beats };
  };
}

async function summariseProfiles(
  dir: string,
  window: [number, number] | undefined,
): Promise<FleetResult['profile']> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile'));
  const load = async (file: string) => {
    const profile = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as CpuProfile;
    return window ? trimCpuProfile(profile, window[0], window[1]) : profile;
  };
  const main = files.find((f) => profileThreadOf(f) === 0);
  if (main === undefined) return undefined;
  const threads: NonNullable<FleetResult['profile']>['threads'] = [];
  for (const file of files) {
    if (file === main) continue;
    const summary = summariseCpuProfile(await load(file), 1000);
    // a pool thread blocked in Atomics.wait samples as busy in piscina's wait loop: that is idle time
    const waitingMs = summary.functions
      .filter((f) => f.name.startsWith('atomicsWaitLoop '))
      .reduce((n, f) => n + f.selfMs, 0);
    const top = summary.functions.find((f) => !f.name.startsWith('atomicsWaitLoop '));
    threads.push({
      file: path.join(dir, file),
      busyMs: summary.busyMs - waitingMs,
      waitingMs,
      top: top ? `${top.name} (${top.selfMs.toFixed(0)} ms)` : '',
    });
  }
  return {
    file: path.join(dir, main),
    windowed: window !== undefined,
    summary: summariseCpuProfile(await load(main), 20),
    threads,
  };
}

// ---- the whole benchmark ----

/**
 * Runs the whole benchmark and returns its results. Bounded: a watchdog fails the run once it overruns the
 * planned time by two minutes; both children and the virtual fleet are stopped on success and on error.
 */
export async function run(input: Partial<FleetOptions> = {}): Promise<FleetResult> {
  const options: FleetOptions = { ...kDefaults, log: () => {}, ...input };
  const { log } = options;
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const loadBefore = os.loadavg()[0] ?? Number.NaN;
  const connectLimitMs = 30_000 + options.slaves * 5;
  const baselines =
    options.baselineDuration > 0 ? 2 * (settleSeconds(options.heartbeatSpan) + options.baselineDuration) : 0;
  const plannedMs = (baselines + options.warmup + options.duration) * 1000 + connectLimitMs + kDrainMs;
  log(
    `fleet: ${thousands(options.slaves)} slaves, ${options.warmup} + ${options.duration} s of load, ` +
      `${options.baselineDuration} s per heartbeat baseline; at most ${Math.ceil((plannedMs + kRunSlackMs) / 1000)} s`,
  );

  let nullMaster: ServerChild | undefined;
  let master: FleetMasterChild | undefined;
  let fleet: VirtualFleet | undefined;
  // a parent that dies (or is interrupted) must not leave its children behind
  const killChildren = () => {
    master?.kill();
    if (nullMaster?.pid !== undefined) {
      try {
        process.kill(nullMaster.pid, 'SIGKILL');
      } catch {}
    }
  };
  process.once('exit', killChildren);
  let watchdog: NodeJS.Timeout | undefined;
  const overrun = new Promise<never>((_, reject) => {
    watchdog = setTimeout(
      () => reject(new Error(`fleet benchmark overran its plan by ${kRunSlackMs / 1000} s: stopped`)),
      plannedMs + kRunSlackMs,
    );
  });
  const profileDir = path.join(options.profileDir, `fleet-profile-${stamp}`);

  const body = async (): Promise<FleetResult> => {
    fleet = await VirtualFleet.start({
      ports: options.ports,
      heartbeatSpan: options.heartbeatSpan,
      heartbeatJitter: options.heartbeatJitter,
      resultBytes: options.resultBytes,
      workUs: options.workUs,
      sleepMs: options.sleepMs,
      msgpack: options.msgpack,
      sockets: Math.min(options.simConnections, options.slaves),
      beatPipelining: Math.ceil(options.slaves / options.simConnections),
    });
    const heartbeats: HeartbeatPhase[] = [];

    // 2. the master connects the fleet
    let phase = 'connecting';
    master = await FleetMasterChild.start({
      knobs: {
        heartbeatTolerance: options.heartbeatTolerance,
        heartbeatCheckSpan: options.heartbeatCheckSpan,
        resultThreads: options.resultThreads,
        taskClient: options.taskClient,
      },
      execArgv: options.profile
        ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-interval', String(kProfileIntervalUs)]
        : [],
    });
    const m = master;
    const masterOrigin = `http://127.0.0.1:${m.port}`;
    const memoryBefore = await m.memory();
    m.onProgress = progressLogger(fleet, log, () => phase);
    const connect = await m.connect({
      ports: fleet.ports,
      slaves: options.slaves,
      concurrency: options.connectConcurrency,
      msgpack: options.msgpack,
      limitMs: connectLimitMs,
    });
    m.onProgress = undefined;
    const memoryAfter = await m.memory();
    log(
      `connected ${thousands(connect.connected)}/${thousands(options.slaves)} in ${connect.seconds.toFixed(1)} s` +
        (connect.failed > 0 ? `; ${connect.failed} failed, first: ${connect.firstError}` : ''),
    );

    // 3. heartbeats only, against the idle master
    if (options.baselineDuration > 0) {
      heartbeats.push(
        ...(await measureHeartbeats(
          fleet,
          [{ kind: 'idle', origin: masterOrigin, sample: () => m.sample() }],
          options,
        )),
      );
    }

    // 4. task load: every connection runs start → join → next
    const loadStarted = performance.now();
    phase = 'load';
    m.onProgress = progressLogger(fleet, log, () => {
      const s = (performance.now() - loadStarted) / 1000;
      return `load ${s.toFixed(0)}/${options.warmup + options.duration} s`;
    });
    const [outcome, sim] = await Promise.all([
      m.load({ duration: options.duration, warmup: options.warmup, drainMs: kDrainMs }),
      measureLoadWindow(fleet, masterOrigin, options),
    ]);
    m.onProgress = undefined;
    const final = await m.sample();
    // its slaves go first (a closing master refuses heartbeats: that is no eviction), then the master exits,
    // writing its profile if any
    await fleet.drop(masterOrigin);
    await m.stop();
    master = undefined;

    // 5. the null master: as many fresh slaves heartbeat a raw uWS app answering the master's heartbeat bytes with
    //    no checks; the simulator is warm by now, and alone with this one fleet, as it was with the master's
    if (options.baselineDuration > 0) {
      nullMaster = await ServerChild.start('uws');
      const child = nullMaster;
      const nullOrigin = `http://127.0.0.1:${child.port}`;
      fleet.addDirect(options.slaves, nullOrigin);
      heartbeats.unshift(
        ...(await measureHeartbeats(
          fleet,
          [
            {
              kind: 'null',
              origin: nullOrigin,
              sample: async () => ({
                cpu: await child.cpuUsage(),
                loopDelayP99Ms: Number.NaN,
                loopDelayMaxMs: Number.NaN,
              }),
            },
          ],
          options,
        )),
      );
      await fleet.drop(nullOrigin);
      await child.stop();
      nullMaster = undefined;
    }
    return assemble({
      options,
      startedAt,
      loadBefore,
      resultThreads: m.resultThreads,
      connect,
      memoryBefore,
      memoryAfter,
      heartbeats,
      outcome,
      sim,
      stats: final.stats as unknown as Record<string, number>,
      counters: fleet.counters,
    });
  };

  try {
    const result = await Promise.race([body(), overrun]);
    if (options.profile) {
      result.profile = await summariseProfiles(profileDir, result.load.windowUs);
      if (result.profile === undefined) result.problems.push(`no CPU profile found in ${profileDir}`);
    }
    return result;
  } finally {
    clearTimeout(watchdog);
    await Promise.all([master?.stop(), nullMaster?.stop(), fleet?.close()]);
    process.off('exit', killChildren);
  }
}

interface Parts {
  options: FleetOptions;
  startedAt: Date;
  loadBefore: number;
  resultThreads: number;
  connect: Awaited<ReturnType<FleetMasterChild['connect']>>;
  memoryBefore: NodeJS.MemoryUsage;
  memoryAfter: NodeJS.MemoryUsage;
  heartbeats: HeartbeatPhase[];
  outcome: LoadOutcome;
  sim: SimLoadWindow;
  stats: Record<string, number>;
  counters: SimCounters;
}

const kMiB = 1024 * 1024;

function assemble(parts: Parts): FleetResult {
  const { options, outcome, sim, connect } = parts;
  const masterMs = outcome.cpu.userMs + outcome.cpu.systemMs;
  const wallMs = outcome.seconds * 1000;
  const loaded: HeartbeatPhase = {
    ...sim.phase,
    serverCpu: masterMs / wallMs,
    serverLoopDelayP99Ms: outcome.loopDelayP99Ms,
    serverLoopDelayMaxMs: outcome.loopDelayMaxMs,
  };
  const heartbeats = [...parts.heartbeats, loaded];
  const nullPhase = heartbeats.find((h) => h.kind === 'null');
  const idle = heartbeats.find((h) => h.kind === 'idle');
  const ratios =
    nullPhase && idle
      ? {
          p50: idle.p50Ms / nullPhase.p50Ms,
          p99: idle.p99Ms / nullPhase.p99Ms,
          cpuPerBeat: idle.serverCpuUsPerBeat / nullPhase.serverCpuUsPerBeat,
        }
      : undefined;
  const evictionsMaster = parts.stats.evictions ?? 0;
  // refusals since the fleet started (the null master answers every token, so these are the master's)
  const heartbeatsRefused = parts.counters.beatsRefused;
  const falseEvictions = countFalseEvictions(evictionsMaster, heartbeatsRefused);
  const tasksPerSec = outcome.completed / outcome.seconds;
  const problems: string[] = [];
  if (connect.connected < options.slaves) {
    problems.push(
      `${options.slaves - connect.connected} slaves not connected (${connect.failed} failed; first: ${connect.firstError})`,
    );
  }
  if (falseEvictions > 0) {
    problems.push(`${evictionsMaster} evictions, ${heartbeatsRefused} heartbeats refused`);
  }
  if (outcome.failed + outcome.startFailed > 0) {
    problems.push(`${outcome.failed} tasks failed, ${outcome.startFailed} failed to start`);
  }
  if (outcome.unfinished > 0) problems.push(`${outcome.unfinished} tasks still running after the drain`);
  if (sim.counters.resultsRefused + sim.counters.resultErrors > 0) {
    problems.push(
      `${sim.counters.resultsRefused} results refused, ${sim.counters.resultErrors} lost to connection errors`,
    );
  }
  for (const line of parts.counters.firstProblems) problems.push(`simulator saw: ${line}`);
  const connected = Math.max(1, connect.connected);
  return {
    bench: 'fleet',
    startedAt: parts.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    environment: {
      node: process.version,
      platform: `${process.platform} ${os.release()}`,
      cpus: os.availableParallelism(),
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
      loadAverage: [parts.loadBefore, os.loadavg()[0] ?? Number.NaN],
    },
    options: recordedOptions(options),
    master: { resultThreads: parts.resultThreads },
    connect: {
      slaves: options.slaves,
      connected: connect.connected,
      failed: connect.failed,
      seconds: connect.seconds,
      perSec: connect.connected / connect.seconds,
      firstError: connect.firstError,
      rssBeforeMiB: parts.memoryBefore.rss / kMiB,
      rssAfterMiB: parts.memoryAfter.rss / kMiB,
      rssPerSlaveKiB: (parts.memoryAfter.rss - parts.memoryBefore.rss) / 1024 / connected,
      heapPerSlaveKiB: (parts.memoryAfter.heapUsed - parts.memoryBefore.heapUsed) / 1024 / connected,
    },
    load: {
      seconds: outcome.seconds,
      tasks: outcome.completed,
      tasksPerSec,
      failed: outcome.failed,
      startFailed: outcome.startFailed,
      unfinished: outcome.unfinished,
      loopsLost: outcome.loopsLost,
      p50Ms: ms(outcome.latencyUs.p50),
      p99Ms: ms(outcome.latencyUs.p99),
      maxMs: ms(outcome.latencyUs.max),
      meanMs: ms(outcome.latencyUs.mean),
      masterCpu: masterMs / wallMs,
      masterElu: outcome.elu,
      masterLoopDelayP99Ms: outcome.loopDelayP99Ms,
      masterLoopDelayMaxMs: outcome.loopDelayMaxMs,
      masterRssMiB: outcome.memory.rss / kMiB,
      simCpu: sim.simCpu,
      simElu: sim.simElu,
      simLoopDelayP99Ms: sim.simLoopDelayP99Ms,
      reportP50Ms: sim.reportP50Ms,
      reportP99Ms: sim.reportP99Ms,
      resultsPushedBack: sim.counters.resultsPushedBack,
      resultsRefused: sim.counters.resultsRefused,
      resultErrors: sim.counters.resultErrors,
      tasksRefused: sim.counters.tasksRefused,
      windowUs: outcome.windowUs,
    },
    heartbeats,
    ratios,
    evictions: { master: evictionsMaster, heartbeatsRefused, falseEvictions },
    masterStats: parts.stats,
    targets: checkTargets(options, tasksPerSec, idle?.p99Ms ?? Number.NaN, loaded.p99Ms, falseEvictions),
    ok: problems.length === 0,
    problems,
    profile: undefined,
  };
}

function recordedOptions(o: FleetOptions): FleetRecordedOptions {
  return {
    slaves: o.slaves,
    duration: o.duration,
    warmup: o.warmup,
    heartbeatSpan: o.heartbeatSpan,
    heartbeatJitter: o.heartbeatJitter,
    heartbeatTolerance: o.heartbeatTolerance,
    heartbeatCheckSpan: o.heartbeatCheckSpan,
    resultBytes: o.resultBytes,
    workUs: o.workUs,
    sleepMs: o.sleepMs,
    resultThreads: o.resultThreads,
    taskClient: o.taskClient,
    connectConcurrency: o.connectConcurrency,
    ports: o.ports,
    simConnections: o.simConnections,
    baselineDuration: o.baselineDuration,
    msgpack: o.msgpack,
    profile: o.profile,
  };
}

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.help) {
    console.log(kUsage);
    return 0;
  }
  // Ctrl-C: exit, which runs run()'s exit handler (children killed)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
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
