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
 * Three processes: the master (bench/result-pool-master.ts), the slave fleet that answers `/connect` and
 * heartbeats (bench/result-pool-fleet.ts), and this one, which sends results and keeps time.
 *
 *   npx tsx bench/result-pool.ts [--duration S] [--slaves N] [--threads 1,2] [--sizes 1k,64k,1m] ...
 *
 * See `--help`, and bench/README.md for what each number means.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { numberArg, walkArgs } from './args.ts';
import { type CpuProfile, summariseCpuProfile } from './cpu-profile.ts';
import { calibrate } from './handlers/burn.ts';
import { pinProcess } from './pin.ts';
import {
  buildResultPayload,
  formatSize,
  kResultFormats,
  parseSize,
  type ResultFormat,
  type ResultPayload,
} from './result-payloads.ts';
import { SlaveFleet } from './result-pool-fleet.ts';
import { MasterChild } from './result-pool-master.ts';
import {
  findProblems,
  formatMarkdown,
  type HeartbeatRun,
  judge,
  type Mode,
  modeLabel,
  type Phase,
  type RecordedOptions,
  type ResultPoolResult,
  type ThroughputCell,
  writeResults,
} from './result-pool-report.ts';
import { ResultSenders } from './result-senders.ts';

export type { ResultPoolResult } from './result-pool-report.ts';
export { formatMarkdown, writeResults } from './result-pool-report.ts';

export type Part = 'heartbeat' | 'throughput';
export const kParts: readonly Part[] = ['heartbeat', 'throughput'];

export interface ResultPoolOptions extends RecordedOptions {
  /** Seconds of each measured phase (idle, loaded) and of each throughput cell. @defaultValue 5 */
  duration: number;
  /** Unrecorded seconds before each loaded phase and cell (and once per master before its idle phase). @defaultValue 1 */
  warmup: number;
  /** Slaves the master connects; all heartbeat. @defaultValue 1000 */
  slaves: number;
  /** Seconds between two heartbeats of one slave (DI-engine's and fleetmaster's default). @defaultValue 3 */
  heartbeatSpan: number;
  /** The master's `heartbeatTolerance`, seconds; also the heartbeat timeout. @defaultValue 5 */
  tolerance: number;
  /** A heartbeat answered after this many milliseconds is late. @defaultValue 100 */
  lateMs: number;
  /** Result requests in flight at once, each on its own connection. @defaultValue 32 */
  senders: number;
  /** Pool sizes (`resultThreads`) to measure; the inline baseline always runs too. @defaultValue [1] */
  threads: readonly number[];
  /** Milliseconds of CPU the heavy handler spends per result, uncontended (calibrated). @defaultValue 3 */
  handlerMs: number;
  /**
   * Experiment: the nice value (1–19) each pool thread gives itself when it loads the handler, so the main thread
   * wins a busy machine's cores. 0 leaves the threads as the master makes them. @defaultValue 0
   */
  threadNice: number;
  /**
   * Pin as a deployment would place things: the master's main thread and the heartbeating fleet on CPU 0, the pool
   * threads and the result senders on CPU 1 (the slaves sending results are other machines in production).
   * @defaultValue false
   */
  pin: boolean;
  /** Result body sizes for the throughput table, in bytes. @defaultValue 1 KB, 64 KB, 1 MB */
  sizes: readonly number[];
  /** Formats for the throughput table. @defaultValue json, msgpack */
  formats: readonly ResultFormat[];
  /** The result sent in the heartbeat part's loaded phase. @defaultValue 1 KB */
  loadSize: number;
  /** @defaultValue json */
  loadFormat: ResultFormat;
  /** Which parts to run. @defaultValue both */
  parts: readonly Part[];
  /**
   * CPU-profile the master's main thread (the inspector, 250 µs) over each loaded phase and each throughput cell,
   * and summarise where its time went. @defaultValue false
   */
  profile: boolean;
  /**
   * Run each master under `node --cpu-prof`: one profile per thread (main and pool threads) over the master's whole
   * life, summarised once it exits. @defaultValue false
   */
  cpuProf: boolean;
  /** Where `profile` and `cpuProf` write their `.cpuprofile` files. @defaultValue bench/results */
  profileDir: string;
  /** Progress lines. @defaultValue none */
  log: (line: string) => void;
}

const kResultsDir = fileURLToPath(new URL('./results/', import.meta.url));
const kHeavyHandler = fileURLToPath(new URL('./handlers/heavy.ts', import.meta.url));
const kTrivialHandler = fileURLToPath(new URL('./handlers/trivial.ts', import.meta.url));

export const kDefaults: Readonly<Omit<ResultPoolOptions, 'log'>> = Object.freeze({
  duration: 5,
  warmup: 1,
  slaves: 1000,
  heartbeatSpan: 3,
  tolerance: 5,
  lateMs: 100,
  senders: 32,
  threads: [1],
  handlerMs: 3,
  threadNice: 0,
  pin: false,
  sizes: [1024, 64 * 1024, 1024 * 1024],
  formats: kResultFormats,
  loadSize: 1024,
  loadFormat: 'json',
  parts: kParts,
  profile: false,
  cpuProf: false,
  profileDir: kResultsDir,
});

/** Profiler sampling interval on the master's main thread. */
const kProfileIntervalUs = 250;
/** Functions and places kept per profile summary. */
const kProfileLines = 15;
/** Beyond the planned load time: start-ups, connects, probes, drains, shutdowns. */
const kRunSlackMs = 120_000;

// ---- CLI parsing (pure) ----

export interface ParsedArgs {
  options: Omit<ResultPoolOptions, 'log'>;
  /** Directory for the JSON + markdown results. */
  out: string;
  write: boolean;
  help: boolean;
}

export const kUsage = `usage: npx tsx bench/result-pool.ts [options]
  --duration S        seconds per measured phase and per throughput cell (default ${kDefaults.duration})
  --warmup S          unrecorded seconds before each loaded phase and cell (default ${kDefaults.warmup})
  --slaves N          slaves connected and heartbeating (default ${kDefaults.slaves})
  --heartbeat-span S  seconds between two heartbeats of a slave (default ${kDefaults.heartbeatSpan})
  --tolerance S       the master's heartbeatTolerance; also the heartbeat timeout (default ${kDefaults.tolerance})
  --late-ms MS        a heartbeat answered later than this is late (default ${kDefaults.lateMs})
  --senders N         result requests in flight (default ${kDefaults.senders})
  --threads LIST      pool sizes to measure, e.g. 1,2; the inline baseline always runs (default ${kDefaults.threads.join(',')})
  --handler-ms MS     CPU per result of the heavy handler, calibrated here (default ${kDefaults.handlerMs})
  --pin               master main thread + heartbeat fleet on CPU 0, pool threads + result senders on CPU 1
  --thread-nice N     experiment: pool threads lower their own priority to nice N (1-19; default 0, untouched)
  --sizes LIST        throughput result sizes (default 1k,64k,1m)
  --formats LIST      throughput formats: json,msgpack (default both)
  --load-size SIZE    result size in the heartbeat part's loaded phase (default 1k)
  --load-format F     its format: json or msgpack (default ${kDefaults.loadFormat})
  --parts LIST        heartbeat,throughput (default both)
  --profile           CPU-profile the master's main thread over each loaded phase and throughput cell
  --cpu-prof          run each master under node --cpu-prof: every thread, whole life
  --out DIR           results directory (default bench/results)
  --no-write          print only`;

function listArg(name: string, raw: string | undefined): string[] {
  const items = (raw ?? '').split(',').filter((item) => item !== '');
  if (items.length === 0) throw new RangeError(`--${name} needs a comma-separated list`);
  return items;
}

const kMinSize = 128;
const kMaxSize = 32 * 1024 * 1024;

function sizeArg(name: string, raw: string): number {
  let size: number;
  try {
    size = parseSize(raw);
  } catch {
    throw new RangeError(`--${name}: not a size: ${JSON.stringify(raw)} (try 1k, 64k, 1m)`);
  }
  if (size < kMinSize || size > kMaxSize) {
    throw new RangeError(`--${name}: sizes must be in [${kMinSize} B, 32 MB], got ${raw}`);
  }
  return size;
}

function formatArg(name: string, raw: string): ResultFormat {
  if (!kResultFormats.includes(raw as ResultFormat)) {
    throw new RangeError(`--${name} must be ${kResultFormats.join(' or ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as ResultFormat;
}

const unique = <T>(items: T[]) => [...new Set(items)];

/** Parses `process.argv.slice(2)` (`--flag value` or `--flag=value`). Pure: throws a RangeError naming the flag. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const options = { ...kDefaults };
  const common = walkArgs(argv, kUsage, (flag, value) => {
    switch (flag) {
      case '--duration':
        options.duration = numberArg('duration', value(), 0.2, 600, false);
        break;
      case '--warmup':
        options.warmup = numberArg('warmup', value(), 0, 600, false);
        break;
      case '--slaves':
        options.slaves = numberArg('slaves', value(), 1, 10_000, true);
        break;
      case '--heartbeat-span':
        options.heartbeatSpan = numberArg('heartbeat-span', value(), 0.05, 60, false);
        break;
      case '--tolerance':
        options.tolerance = numberArg('tolerance', value(), 0.2, 3600, false);
        break;
      case '--late-ms':
        options.lateMs = numberArg('late-ms', value(), 1, 600_000, false);
        break;
      case '--senders':
        options.senders = numberArg('senders', value(), 1, 1024, true);
        break;
      case '--threads':
        options.threads = unique(
          listArg('threads', value()).map((t) => numberArg('threads', t, 1, 64, true)),
        );
        break;
      case '--handler-ms':
        options.handlerMs = numberArg('handler-ms', value(), 0.05, 1000, false);
        break;
      case '--pin':
        options.pin = true;
        break;
      case '--thread-nice':
        options.threadNice = numberArg('thread-nice', value(), 0, 19, true);
        break;
      case '--sizes':
        options.sizes = unique(listArg('sizes', value()).map((s) => sizeArg('sizes', s)));
        break;
      case '--formats': {
        const formats = listArg('formats', value()).map((f) => formatArg('formats', f));
        options.formats = kResultFormats.filter((f) => formats.includes(f));
        break;
      }
      case '--load-size':
        options.loadSize = sizeArg('load-size', value() ?? '');
        break;
      case '--load-format':
        options.loadFormat = formatArg('load-format', value() ?? '');
        break;
      case '--parts': {
        const raw = listArg('parts', value());
        if (raw.some((p) => !kParts.includes(p as Part))) {
          throw new RangeError(
            `--parts must list ${kParts.join(', ')}; got ${JSON.stringify(raw.join(','))}`,
          );
        }
        options.parts = kParts.filter((p) => raw.includes(p));
        break;
      }
      case '--profile':
        options.profile = true;
        break;
      case '--cpu-prof':
        options.cpuProf = true;
        break;
      default:
        return false;
    }
    return true;
  });
  const out = common.out ?? kResultsDir;
  if (common.out !== undefined) options.profileDir = common.out;
  const { write, help } = common;
  if (options.heartbeatSpan >= options.tolerance) {
    throw new RangeError(
      `--heartbeat-span (${options.heartbeatSpan}) must be below --tolerance (${options.tolerance}), or every slave is evicted`,
    );
  }
  return { options, out, write, help };
}

/** The modes a run measures, in order: each pool size, then the inline baseline. */
export function modesOf(threads: readonly number[]): Mode[] {
  return [...threads.map((t): Mode => ({ name: `pool-${t}`, threads: t })), { name: 'inline', threads: 0 }];
}

/** Seconds of load a run plans (without start-ups), for the progress line and the watchdog. */
export function plannedSeconds(o: Omit<ResultPoolOptions, 'log'>): number {
  const modes = o.threads.length + 1;
  const heartbeat = o.parts.includes('heartbeat') ? modes * (2 * o.warmup + 2 * o.duration) : 0;
  const cells = o.sizes.length * o.formats.length;
  const throughput = o.parts.includes('throughput') ? modes * cells * (o.warmup + o.duration) : 0;
  return heartbeat + throughput;
}

// ---- the benchmark ----

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

interface Rig {
  options: ResultPoolOptions;
  fleet: SlaveFleet;
  handlerRounds: number;
  stamp: string;
  /** Stops for whatever is running now (masters, senders), so a run that fails or overruns leaves nothing. */
  live: Set<() => Promise<void>>;
  profiles: ResultPoolResult['profiles'];
}

/** Runs `body` with `stop` registered in `rig.live`; `stop` runs after it, whatever happens. */
async function holding<T>(rig: Rig, stop: () => Promise<void>, body: () => Promise<T>): Promise<T> {
  rig.live.add(stop);
  try {
    return await body();
  } finally {
    rig.live.delete(stop);
    await stop();
  }
}

/** Starts a master for `mode` with `handler`, waits until the whole fleet heartbeats, runs `body`, cleans up. */
async function withMaster<T>(
  rig: Rig,
  part: Part,
  mode: Mode,
  handler: string,
  body: (master: MasterChild) => Promise<T>,
): Promise<T> {
  const o = rig.options;
  const started = performance.now();
  const cpuProfDir = o.cpuProf
    ? path.resolve(o.profileDir, `result-pool-${rig.stamp}-${part}-${mode.name}`)
    : undefined;
  const master = await MasterChild.start({
    threads: mode.threads,
    handler,
    handlerRounds: rig.handlerRounds,
    threadNice: o.threadNice,
    pin: o.pin ? { main: '0', pool: '1' } : undefined,
    tolerance: o.tolerance,
    slaves: o.slaves,
    fleetPort: rig.fleet.port,
    cpuProfDir,
  });
  const stop = async () => {
    await rig.fleet.halt().catch(() => undefined);
    await master.stop();
    if (cpuProfDir === undefined) return;
    // a profile that cannot be read costs its summary, not the run
    const summaries = await summariseCpuProfDir(cpuProfDir, `${part}, ${mode.name}`).catch((err: unknown) => {
      o.log(`could not summarise the profiles in ${cpuProfDir}: ${String(err)}`);
      return [];
    });
    rig.profiles.push(...summaries);
  };
  return holding(rig, stop, async () => {
    await rig.fleet.whenBeating(o.slaves, 10_000 + 2 * o.heartbeatSpan * 1000);
    o.log(
      `${modeLabel(mode)}: master up, ${o.slaves} slaves connected and heartbeating (${Math.round(performance.now() - started)} ms)`,
    );
    return body(master);
  });
}

/** One measured window: heartbeats always, results when `senders` run. */
async function measure(
  rig: Rig,
  master: MasterChild,
  senders: ResultSenders | undefined,
  seconds: number,
): Promise<Phase> {
  const [statsBefore, masterBefore, fleetBefore] = await Promise.all([
    master.stats(),
    master.cpuUsage(),
    rig.fleet.cpuUsage(),
  ]);
  await Promise.all([rig.fleet.beginPhase(), master.beginLoopWindow()]);
  senders?.beginWindow();
  const selfBefore = process.cpuUsage();
  const started = performance.now();
  await sleep(seconds * 1000);
  const results = senders?.endWindow();
  const selfCpu = cpuMs(process.cpuUsage(selfBefore));
  const [heartbeats, loopDelayMs] = await Promise.all([rig.fleet.endPhase(), master.endLoopWindow()]);
  const wallMs = performance.now() - started;
  const [statsAfter, masterAfter, fleetAfter] = await Promise.all([
    master.stats(),
    master.cpuUsage(),
    rig.fleet.cpuUsage(),
  ]);
  const masterCpuMs = cpuMs(masterAfter) - cpuMs(masterBefore);
  return {
    heartbeats,
    results,
    master: {
      loopDelayMs,
      cpu: masterCpuMs / wallMs,
      cpuMsPerResult: results && results.acknowledged > 0 ? masterCpuMs / results.acknowledged : Number.NaN,
      evictions: statsAfter.evictions - statsBefore.evictions,
      resultsInvalid: statsAfter.resultsInvalid - statsBefore.resultsInvalid,
      resultsFailed: statsAfter.resultsFailed - statsBefore.resultsFailed,
      batches: statsAfter.batches - statsBefore.batches,
      resultsPerBatch:
        statsAfter.batches > statsBefore.batches
          ? (statsAfter.batchedResults - statsBefore.batchedResults) /
            (statsAfter.batches - statsBefore.batches)
          : Number.NaN,
    },
    senderCpu: selfCpu / wallMs,
    fleetCpu: (cpuMs(fleetAfter) - cpuMs(fleetBefore)) / wallMs,
  };
}

/** Sends results for `seconds` without recording (JIT, threads loading the handler), then lets them finish. */
async function warm(senders: ResultSenders, seconds: number): Promise<void> {
  if (seconds <= 0) return;
  senders.start();
  await sleep(seconds * 1000);
  await senders.stop();
}

/** Profiles `master`'s main thread while `body` runs (with `--profile`); records the summary as `label`. */
async function profiled<T>(rig: Rig, master: MasterChild, label: string, body: () => Promise<T>): Promise<T> {
  if (!rig.options.profile) return body();
  const file = path.resolve(
    rig.options.profileDir,
    `result-pool-${rig.stamp}-${label.replace(/[^a-z0-9]+/gi, '-')}.cpuprofile`,
  );
  await master.startProfile(kProfileIntervalUs);
  const value = await body();
  await master.stopProfile(file);
  rig.profiles.push({
    label: `${label}: main thread, this window`,
    file: path.relative(process.cwd(), file),
    summary: summariseCpuProfile(JSON.parse(await readFile(file, 'utf8')), kProfileLines),
  });
  return value;
}

/** What a thread of the master process was, from the code its profile saw. */
function threadRole(profile: CpuProfile, tid: number): string {
  if (tid === 0) return 'main thread';
  const urls = new Set(profile.nodes.map((n) => n.callFrame.url));
  for (const url of urls)
    if (/\/src\/master\/results\/thread\.[jt]s$/.test(url)) return `pool thread (tid ${tid})`;
  return `thread tid ${tid} (not the pool's: tsx's module loader)`;
}

/** Summaries of the `--cpu-prof` files a master left in `dir`: one per thread (tid 0 = the main thread). */
async function summariseCpuProfDir(dir: string, label: string): Promise<ResultPoolResult['profiles']> {
  const files = (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.cpuprofile')).sort();
  const out: ResultPoolResult['profiles'] = [];
  for (const name of files) {
    // CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile
    const tid = Number(name.split('.')[4]);
    const file = path.join(dir, name);
    const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
    out.push({
      label: `${label}: ${threadRole(profile, tid)}, whole life`,
      file: path.relative(process.cwd(), file),
      summary: summariseCpuProfile(profile, kProfileLines),
    });
  }
  return out;
}

const kTaskId = randomUUID();

function sendersFor(rig: Rig, master: MasterChild, payload: ResultPayload): ResultSenders {
  return new ResultSenders({
    origin: `http://127.0.0.1:${master.ready.port}`,
    tokens: master.ready.tokens,
    payload,
    senders: rig.options.senders,
  });
}

async function heartbeatRun(rig: Rig, mode: Mode, payload: ResultPayload): Promise<HeartbeatRun> {
  const o = rig.options;
  return withMaster(rig, 'heartbeat', mode, kHeavyHandler, async (master) => {
    const senders = sendersFor(rig, master, payload);
    return holding(
      rig,
      () => senders.close(),
      async () => {
        await senders.probe();
        await warm(senders, o.warmup);
        const idle = await measure(rig, master, undefined, o.duration);
        o.log(`${modeLabel(mode)}: idle heartbeat p99 ${idle.heartbeats.latencyMs.p99.toFixed(2)} ms`);
        senders.start();
        await sleep(o.warmup * 1000);
        const loaded = await profiled(rig, master, `heartbeat loaded, ${mode.name}`, () =>
          measure(rig, master, senders, o.duration),
        );
        await senders.stop();
        o.log(
          `${modeLabel(mode)}: loaded heartbeat p99 ${loaded.heartbeats.latencyMs.p99.toFixed(2)} ms, ` +
            `${Math.round(loaded.results?.perSecond ?? 0)} results/s`,
        );
        const { notes } = master.ready;
        return { mode, idle, loaded, ...judge(mode, idle, loaded), masterNotes: notes };
      },
    );
  });
}

async function throughputRun(rig: Rig, mode: Mode): Promise<ThroughputCell[]> {
  const o = rig.options;
  return withMaster(rig, 'throughput', mode, kTrivialHandler, async (master) => {
    const cells: ThroughputCell[] = [];
    for (const size of o.sizes) {
      for (const format of o.formats) {
        const payload = buildResultPayload(size, format, kTaskId);
        const senders = sendersFor(rig, master, payload);
        await holding(
          rig,
          () => senders.close(),
          async () => {
            await senders.probe();
            senders.start();
            await sleep(o.warmup * 1000);
            const label = `throughput ${formatSize(size).replace(' ', '')} ${format}, ${mode.name}`;
            const phase = await profiled(rig, master, label, () => measure(rig, master, senders, o.duration));
            await senders.stop();
            cells.push({ mode, size, format, bodyBytes: payload.body.length, values: payload.values, phase });
            o.log(
              `${modeLabel(mode)}: ${formatSize(size)} ${format}: ${Math.round(phase.results?.perSecond ?? 0)} results/s`,
            );
          },
        );
      }
    }
    return cells;
  });
}

/**
 * Runs the benchmark and returns its results. Bounded: a watchdog fails the run once it overruns the planned
 * load time by two minutes; every child process is stopped (and killed if it lingers) on success and on error.
 */
export async function run(input: Partial<ResultPoolOptions> = {}): Promise<ResultPoolResult> {
  const options: ResultPoolOptions = { ...kDefaults, log: () => {}, ...input };
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const loadBefore = os.loadavg()[0] ?? Number.NaN;
  const modes = modesOf(options.threads);
  const plannedMs = plannedSeconds(options) * 1000;
  options.log(
    `result-pool bench: modes ${modes.map((m) => m.name).join(', ')}; parts ${options.parts.join(', ')}; ` +
      `≈ ${Math.ceil(plannedMs / 1000)} s of load plus start-ups`,
  );
  if (options.profile || options.cpuProf) await mkdir(options.profileDir, { recursive: true });

  const handler = options.parts.includes('heartbeat')
    ? calibrate(options.handlerMs)
    : { rounds: 1, measuredMs: Number.NaN };
  if (options.parts.includes('heartbeat')) {
    options.log(
      `heavy handler: ${handler.rounds} rounds ≈ ${handler.measuredMs.toFixed(2)} ms here, uncontended`,
    );
  }
  const loadPayload = buildResultPayload(options.loadSize, options.loadFormat, kTaskId);

  // read before any pinning: once pinned, availableParallelism() counts only the CPUs this process may use
  const machineCpus = os.availableParallelism();
  let fleet: SlaveFleet | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  const profiles: ResultPoolResult['profiles'] = [];
  const live = new Set<() => Promise<void>>();
  try {
    fleet = await SlaveFleet.start({
      slaves: options.slaves,
      spanMs: options.heartbeatSpan * 1000,
      timeoutMs: options.tolerance * 1000,
      lateMs: options.lateMs,
    });
    if (options.pin) {
      const cpus = machineCpus;
      const pinned =
        cpus >= 2 && fleet.pid !== undefined && pinProcess(fleet.pid, '0') && pinProcess(process.pid, '1');
      if (!pinned) throw new Error('--pin needs taskset and 2 CPUs');
      options.log(
        'pinned: master main thread and heartbeat fleet on CPU 0; pool threads and result senders on CPU 1',
      );
    }
    const rig: Rig = { options, fleet, handlerRounds: handler.rounds, stamp, live, profiles };
    const overrun = new Promise<never>((_, reject) => {
      const boundMs = plannedMs + kRunSlackMs + options.slaves * 10 * modes.length;
      watchdog = setTimeout(
        () => reject(new Error(`result-pool bench overran its bound (${boundMs} ms)`)),
        boundMs,
      );
    });
    const work = async () => {
      const heartbeat: HeartbeatRun[] = [];
      const throughput: ThroughputCell[] = [];
      if (options.parts.includes('heartbeat')) {
        for (const mode of modes) heartbeat.push(await heartbeatRun(rig, mode, loadPayload));
      }
      if (options.parts.includes('throughput')) {
        for (const mode of modes) throughput.push(...(await throughputRun(rig, mode)));
      }
      return { heartbeat, throughput };
    };
    const { heartbeat, throughput } = await Promise.race([work(), overrun]);
    const problems = findProblems(heartbeat, throughput, handler.measuredMs);
    const { log: _log, profileDir: _profileDir, ...recorded } = options;
    const failed = problems.some((p) => !p.includes('fleet process itself'));
    return {
      bench: 'result-pool',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      environment: {
        node: process.version,
        platform: `${process.platform} ${os.release()}`,
        cpus: machineCpus,
        cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
        loadAverage: [loadBefore, os.loadavg()[0] ?? Number.NaN],
      },
      options: recorded,
      handler: { rounds: handler.rounds, targetMs: options.handlerMs, measuredMs: handler.measuredMs },
      loadPayload: { bodyBytes: loadPayload.body.length, values: loadPayload.values },
      heartbeat,
      throughput,
      ok: !failed && heartbeat.every((r) => r.targetMet !== false),
      problems,
      profiles,
    };
  } finally {
    clearTimeout(watchdog);
    await Promise.all([...live].map((stop) => stop().catch(() => undefined)));
    await fleet?.stop();
    if (options.pin) pinProcess(process.pid, `0-${machineCpus - 1}`);
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
      console.error(err instanceof Error ? (err.stack ?? err.message) : err);
      process.exitCode = 2;
    },
  );
}
