/**
 * What open dashboard pages cost a master at 10,000 slaves (issue 15): the same run without pages, with 1 and with 5
 * pages reading the dashboard's event stream, side by side, in alternating order, N rounds. Reports tasks/s and
 * heartbeat p99 with their ratios to the run without pages, and the bytes per second each page receives.
 *
 *   npx tsx bench-pending/dashboard-clients.ts [--slaves 10000] [--pages 0,1,5] [--duration 15] [--rounds 2]
 *
 * Waiting to move into bench/ as `bench/fleet.ts --dashboard-clients N` (see README.md beside this file).
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { VirtualFleet } from '../bench/harness/virtual-fleet.ts';
import { DashboardMasterChild, type LoadOutcome } from './dashboard-master.ts';

export interface Options {
  slaves: number;
  /** Page counts to run; 0 is the baseline every ratio is taken against. */
  pages: number[];
  /** Also run a master without the admin listener (no dashboard at all). */
  off: boolean;
  duration: number;
  warmup: number;
  rounds: number;
  heartbeatSpan: number;
  heartbeatTolerance: number;
}

export const kDefaults: Options = {
  slaves: 10_000,
  pages: [0, 1, 5],
  off: true,
  duration: 15,
  warmup: 3,
  rounds: 2,
  heartbeatSpan: 1,
  heartbeatTolerance: 10,
};

export function parseArgs(argv: readonly string[]): Options {
  const options = { ...kDefaults };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? '';
    const number = (min: number, max: number) => {
      const n = Number(value());
      if (!(n >= min && n <= max)) throw new RangeError(`${flag} must be a number from ${min} to ${max}`);
      return n;
    };
    if (flag === '--slaves') options.slaves = number(1, 100_000);
    else if (flag === '--duration') options.duration = number(1, 3600);
    else if (flag === '--warmup') options.warmup = number(0, 600);
    else if (flag === '--rounds') options.rounds = number(1, 100);
    else if (flag === '--heartbeat-span') options.heartbeatSpan = number(0.2, 60);
    else if (flag === '--heartbeat-tolerance') options.heartbeatTolerance = number(0.5, 3600);
    else if (flag === '--no-off') options.off = false;
    else if (flag === '--pages') {
      options.pages = value()
        .split(',')
        .map((p) => Number(p));
      if (!options.pages.includes(0) || options.pages.some((p) => !Number.isInteger(p) || p < 0 || p > 32)) {
        throw new RangeError('--pages must list page counts from 0 to 32, 0 included (the baseline)');
      }
    } else throw new RangeError(`unknown flag ${flag}`);
  }
  return options;
}

/** One page's event stream, read and counted (as a browser would: every byte received). */
function openPage(port: number) {
  const page = {
    bytes: 0,
    snapshotBytes: 0,
    /** Sizes of the update events received since the last `take()`. */
    updates: [] as number[],
    status: 0,
    close: (): void => undefined,
  };
  const req = http.get({ host: '127.0.0.1', port, path: '/dashboard/events' }, (res) => {
    page.status = res.statusCode ?? 0;
    let text = '';
    res.on('data', (chunk: Buffer) => {
      page.bytes += chunk.length;
      text += chunk.toString('latin1');
      let cut = text.indexOf('\n\n');
      while (cut >= 0) {
        if (text.startsWith('event: snapshot')) page.snapshotBytes = cut + 2;
        if (text.startsWith('event: update')) page.updates.push(cut + 2);
        text = text.slice(cut + 2);
        cut = text.indexOf('\n\n');
      }
    });
  });
  req.on('error', () => undefined);
  page.close = () => req.destroy();
  return page;
}

interface Run {
  round: number;
  mode: string;
  pages: number;
  load: LoadOutcome;
  tasksPerSecond: number;
  beats: number;
  beatP50Ms: number;
  beatP99Ms: number;
  beatsRefused: number;
  evictions: number;
  /** Per page, over the measured window: every byte received (a page catching up counts its backlog). */
  bytesPerSecond: number | null;
  /** Per page: the mean size of the updates received in the window, and how many a second arrived. */
  bytesPerUpdate: number | null;
  updatesPerSecond: number | null;
  snapshotBytes: number | null;
}

async function runOnce(
  o: Options,
  round: number,
  pages: number | 'off',
  log: (s: string) => void,
): Promise<Run> {
  const fleet = await VirtualFleet.start({
    ports: 4,
    heartbeatSpan: o.heartbeatSpan,
    heartbeatJitter: 0.1,
    resultBytes: 16,
    workUs: 0,
    sleepMs: 0,
    msgpack: false,
    sockets: 1024,
    beatPipelining: 16,
  });
  const master = await DashboardMasterChild.start({
    admin: pages !== 'off',
    heartbeatTolerance: o.heartbeatTolerance,
  });
  const open: ReturnType<typeof openPage>[] = [];
  try {
    const started = performance.now();
    const connected = await master.connect(fleet.ports, o.slaves);
    log(`  ${connected} slaves connected in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await sleep(Math.max(2, o.heartbeatSpan) * 1000);
    for (let i = 0; i < (pages === 'off' ? 0 : pages); i++) open.push(openPage(master.adminPort));
    const load = master.load(o.warmup, o.duration);
    await sleep(o.warmup * 1000);
    fleet.resetWindows();
    const bytes0 = open.map((p) => p.bytes);
    for (const p of open) p.updates = [];
    const t0 = performance.now();
    await sleep(o.duration * 1000);
    const windows = fleet.resetWindows();
    const seconds = (performance.now() - t0) / 1000;
    const bytes = open.map((p, i) => p.bytes - bytes0[i]!);
    const updates = open.flatMap((p) => p.updates);
    const outcome = await load;
    const origin = `http://127.0.0.1:${master.port}`;
    const beats = windows.get(origin)?.beats;
    const stats = fleet.statsFor(origin);
    return {
      round,
      mode: pages === 'off' ? 'no admin listener' : `${pages} page${pages === 1 ? '' : 's'}`,
      pages: pages === 'off' ? -1 : pages,
      load: outcome,
      tasksPerSecond: outcome.completed / outcome.seconds,
      beats: beats?.count ?? 0,
      beatP50Ms: (beats?.percentile(50) ?? Number.NaN) / 1000,
      beatP99Ms: (beats?.percentile(99) ?? Number.NaN) / 1000,
      beatsRefused: stats?.beatsRefused ?? 0,
      evictions: await master.evictions(),
      bytesPerSecond: open.length > 0 ? bytes.reduce((a, b) => a + b, 0) / open.length / seconds : null,
      snapshotBytes: open.length > 0 ? open[0]!.snapshotBytes : null,
      bytesPerUpdate: updates.length > 0 ? updates.reduce((a, b) => a + b, 0) / updates.length : null,
      updatesPerSecond: open.length > 0 ? updates.length / open.length / seconds : null,
    };
  } finally {
    for (const p of open) p.close();
    await master.stop();
    await fleet.close();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : s.length % 2
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export function formatMarkdown(runs: Run[]): string {
  const modes = [...new Set(runs.map((r) => r.mode))];
  const base = (round: number) => runs.find((r) => r.round === round && r.pages === 0)!;
  const rows = modes.map((mode) => {
    const rs = runs.filter((r) => r.mode === mode);
    const taskRatio = rs.map((r) => r.tasksPerSecond / base(r.round).tasksPerSecond);
    const beatRatio = rs.map((r) => base(r.round).beatP99Ms / r.beatP99Ms);
    const bps = rs.map((r) => r.bytesPerSecond).filter((b): b is number => b !== null);
    const snap = rs.map((r) => r.snapshotBytes).filter((b): b is number => b !== null);
    const perUpdate = rs.map((r) => r.bytesPerUpdate).filter((b): b is number => b !== null);
    const rate = rs.map((r) => r.updatesPerSecond).filter((b): b is number => b !== null);
    const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');
    return [
      mode,
      f(median(rs.map((r) => r.tasksPerSecond))),
      `${f(median(taskRatio), 3)} (${f(Math.min(...taskRatio), 3)}–${f(Math.max(...taskRatio), 3)})`,
      f(median(rs.map((r) => r.beatP99Ms)), 1),
      `${f(median(beatRatio), 3)} (${f(Math.min(...beatRatio), 3)}–${f(Math.max(...beatRatio), 3)})`,
      f(median(rs.map((r) => r.load.loopDelayP99Ms)), 1),
      `${f(median(rs.map((r) => r.load.cpuMs / r.load.seconds / 10)))}%`,
      perUpdate.length > 0 ? `${f(median(perUpdate) / 1024, 1)} KiB × ${f(median(rate), 2)}/s` : '–',
      bps.length > 0 ? `${f(median(bps) / 1024, 1)} KiB/s` : '–',
      snap.length > 0 ? `${f(median(snap) / 1024, 0)} KiB` : '–',
      String(rs.reduce((n, r) => n + r.evictions + r.beatsRefused, 0)),
    ];
  });
  const head = [
    'mode',
    'tasks/s',
    'tasks/s ÷ 0 pages',
    'heartbeat p99 ms',
    '0 pages p99 ÷ this p99',
    'master loop p99 ms',
    'master CPU',
    'per page: update size × updates/s',
    'per page: all bytes/s',
    'snapshot',
    'evictions + refused',
  ];
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const modes: (number | 'off')[] = [...(o.off ? (['off'] as const) : []), ...o.pages];
  log(
    `dashboard pages at ${o.slaves} slaves, heartbeat every ${o.heartbeatSpan} s: ${modes.join(', ')} × ${o.rounds} rounds, ` +
      `${o.warmup} + ${o.duration} s each; load ${loadavg()[0]!.toFixed(2)}`,
  );
  const runs: Run[] = [];
  for (let round = 0; round < o.rounds; round++) {
    // the order rotates every round, so no mode always runs first
    const order = modes.map((_, i) => modes[(i + round) % modes.length]!);
    for (const pages of order) {
      log(`round ${round + 1}: ${pages === 'off' ? 'no admin listener' : `${pages} pages`}`);
      const run = await runOnce(o, round, pages, log);
      log(
        `  ${run.tasksPerSecond.toFixed(0)} tasks/s, heartbeat p99 ${run.beatP99Ms.toFixed(1)} ms` +
          (run.bytesPerSecond === null ? '' : `, ${(run.bytesPerSecond / 1024).toFixed(1)} KiB/s per page`),
      );
      runs.push(run);
    }
  }
  const table = formatMarkdown(runs);
  log(`load after: ${loadavg()[0]!.toFixed(2)}`);
  console.log(table);
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  // (a saved run's table again: formatMarkdown(JSON.parse(readFileSync(file)).runs))
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(`${dir}dashboard-clients-${stamp}.json`, JSON.stringify({ options: o, runs }, null, 2));
  writeFileSync(`${dir}dashboard-clients-${stamp}.md`, `${table}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(2);
  });
}
