/**
 * Chaos benchmark (issue 14's chaos row): one real master (a child process) with N virtual slaves (this process)
 * kept busy by N closed loops of `master.submit(data, { retries })` → `join()`; every `--kill-every` seconds
 * `--kill-percent` of the slaves are killed (bench/harness/virtual-fleet.ts `killRandom`: no more heartbeats, no
 * result for the task held, every request cut off) and as many new ones connected. When the load stops, every
 * task still out is waited for; then the books: created = completed + failed + cancelled, tasks lost (never
 * settled), tasks delivered twice, retries, evictions, late results ignored. Any task lost or delivered twice, or
 * books that do not balance, is a problem (exit code 1).
 *
 *   npx tsx bench/chaos/chaos.ts [--slaves 1000] [--duration 40] [--kill-every 10] [--kill-percent 1]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type Context, defineBench, kRunSlackMs, runIfMain, within } from '../harness/bench.ts';
import { connectLimitMs, connectSlaves, progressLog, startMaster } from '../harness/master-child.ts';
import { thousands } from '../harness/report.ts';
import { VirtualFleet } from '../harness/virtual-fleet.ts';
import type { ChaosBooks, ChaosStart, ChaosStop } from './chaos-load.ts';
import {
  assemble,
  type ChaosOptions,
  type ChaosResult,
  checkOptions,
  formatMarkdown,
  headlines,
  type KillRound,
  kFlags,
  killCount,
  killTimes,
  kMasterRequests,
} from './report.ts';

const kChaosLoad = fileURLToPath(new URL('./chaos-load.ts', import.meta.url));

async function run(o: ChaosOptions, ctx: Context) {
  const { log } = ctx;
  const limitMs = connectLimitMs(o.slaves);
  const plannedMs = (o.duration + o.drain) * 1000 + limitMs;
  const each = killCount(o.slaves, o.killPercent);
  const times = killTimes(o.duration, o.killEvery);
  log(
    `chaos: ${thousands(o.slaves)} slaves, tasks of ${o.sleepMs} ms with retries: ${o.retries}; ${each} killed and ` +
      `replaced at ${times.join(', ')} s of ${o.duration} s; at most ${Math.ceil((plannedMs + kRunSlackMs) / 1000)} s`,
  );
  const fleet = await VirtualFleet.start({
    ports: o.ports,
    heartbeatSpan: o.heartbeatSpan,
    heartbeatJitter: o.heartbeatJitter,
    resultBytes: 16,
    sleepMs: o.sleepMs,
    sockets: Math.min(o.simConnections, o.slaves),
    beatPipelining: Math.ceil(o.slaves / o.simConnections),
  });
  ctx.defer(() => fleet.close());

  let phase = 'connecting';
  const onProgress = progressLog(log, ({ completed, stats: s }, perSec) =>
    perSec > 0
      ? `${phase}: completed ${thousands(completed)} (${thousands(perSec)}/s), retries ${s.taskRetries}, ` +
        `evictions ${s.evictions}, queued ${s.tasksQueued}, killed ${fleet.killed}, slaves ${s.slaves}`
      : undefined,
  );
  const master = await startMaster(
    {
      options: {
        heartbeatTolerance: o.heartbeatTolerance,
        heartbeatCheckSpan: o.heartbeatCheckSpan,
        ...kMasterRequests,
      },
      plugins: [kChaosLoad],
      warnings: 5,
    },
    { label: 'chaos master', onProgress, defer: ctx.defer },
  );
  const origin = `http://127.0.0.1:${master.ready.port}`;
  let named = 0;
  const connect = (slaves: number) => {
    const first = named;
    named += slaves;
    const request = { ports: fleet.ports, slaves, first, concurrency: o.connectConcurrency };
    return connectSlaves(master, { ...request, msgpack: false, limitMs });
  };
  const measure = async () => {
    const connected = await connect(o.slaves);
    log(
      `connected ${thousands(connected.connected)}/${thousands(o.slaves)} in ${connected.seconds.toFixed(1)} s`,
    );
    await master.request('chaos-start', { retries: o.retries } satisfies ChaosStart);
    const started = performance.now();
    const elapsed = () => (performance.now() - started) / 1000;
    phase = 'chaos';
    const rounds: KillRound[] = [];
    for (const at of times) {
      await sleep(Math.max(0, at - elapsed()) * 1000);
      const atSeconds = elapsed();
      const killed = fleet.killRandom(each, origin).length;
      const replaced = await connect(killed);
      rounds.push({ atSeconds, killed, replaced: replaced.connected, failed: replaced.failed });
      log(`t=${atSeconds.toFixed(1)} s: killed ${killed}, connected ${replaced.connected} in their place`);
    }
    await sleep(Math.max(0, o.duration - elapsed()) * 1000);
    const loadSeconds = elapsed();
    phase = 'draining';
    const load = await master.request<ChaosBooks>(
      'chaos-stop',
      { drainMs: o.drain * 1000 } satisfies ChaosStop,
      o.drain * 1000 + 15_000,
    );
    const stats = await master.request<Record<string, number>>('stats');
    const counters = structuredClone(fleet.counters);
    fleet.drop(origin);
    await master.stop(15_000);
    return assemble({ options: o, connect: connected, rounds, loadSeconds, load, stats, counters });
  };
  return within(plannedMs + kRunSlackMs, 'chaos benchmark', measure());
}

export const chaos = defineBench({
  name: 'chaos',
  flags: kFlags,
  check: checkOptions,
  run,
  format: formatMarkdown,
  headlines,
});
export type { ChaosResult };

runIfMain(import.meta.url, chaos);
