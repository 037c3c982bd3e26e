/**
 * The dashboard's work per second on the master at 10,000 slaves, without a network: one pass over the registry
 * (slots, ages, counts), the base64 arrays, the update frame's JSON and its SSE framing; and a page's snapshot.
 * tinybench, as bench/registry.ts; the time of one tick ÷ 1 s is the share of the main thread the dashboard takes.
 *
 *   npx tsx bench-pending/dashboard-tick.ts [--slaves 10000]
 */
import { Bench } from 'tinybench';
import { sseEvent } from '../src/http/event-stream.ts';
import { historyPoint, type Reading, summarize } from '../src/master/dashboard/aggregate.ts';
import { FleetEventLog } from '../src/master/dashboard/event-log.ts';
import type { UpdateFrame } from '../src/master/dashboard/frames.ts';
import { SlaveSlots, type SlotSource } from '../src/master/dashboard/slave-slots.ts';

const at = process.argv.indexOf('--slaves');
const slaves = at > 0 ? Number(process.argv[at + 1]) : 10_000;
const toleranceMs = 17_000;
let now = 1_000_000;
const records = Array.from({ length: slaves }, (_, i) => ({
  name: `slave-${i}`,
  state: 'connected' as const,
  lastHeartbeat: now,
  connection: { origin: `http://10.0.${(i >> 8) & 255}.${i & 255}:7236`, runningTasks: 0 },
}));
const slots = new SlaveSlots<SlotSource>();
const events = new FleetEventLog(500);
const reading: Reading = {
  at: 0,
  tasksCompleted: 0,
  tasksFailed: 0,
  results: 0,
  heartbeats: 0,
  evictions: 0,
  running: 0,
  pool: { busyMs: 0, threads: 1, held: 0 },
};
slots.pass(records, now, toleranceMs);
slots.takeChanges();

/** One second of a fleet under load: every slave beat at its own phase, tasks in flight changed for many. */
function churn(): void {
  now += 1000;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    r.lastHeartbeat = now - ((i * 37) % 1000);
    (r.connection as { runningTasks: number }).runningTasks = (i + now / 1000) % 3 === 0 ? 0 : 1;
  }
}

let bytes = 0;
function tick(): void {
  const fleet = slots.pass(records, now, toleranceMs);
  const summary = summarize(reading, { ...reading, at: reading.at + 1000 }, fleet, toleranceMs / 1000, {
    queued: null,
    loop: { p99: 1, max: 2 },
    at: Date.now(),
  });
  const inflight = slots.takeInflightChanged();
  const { events: fresh, skipped } = events.since(0, 100);
  const update: UpdateFrame = {
    capacity: slots.capacity,
    slots: slots.takeChanges(),
    ages: slots.agesBase64(),
    ...(inflight ? { inflight: slots.inflightBase64() } : {}),
    summary,
    point: historyPoint(summary),
    events: fresh,
    eventsSkipped: skipped,
  };
  bytes = sseEvent('update', JSON.stringify(update)).length;
}

let snapshotBytes = 0;
function snapshot(): void {
  snapshotBytes = JSON.stringify({
    slots: slots.all(),
    ages: slots.agesBase64(),
    inflight: slots.inflightBase64(),
  }).length;
}

const bench = new Bench({ time: 1000 });
// every tick sees a new second: all ages moved, a third of the in-flight counts changed (sent in full)
bench.add(`update tick, ${slaves} slaves`, tick, { beforeEach: churn });
bench.add(`snapshot's slots, ${slaves} slaves`, snapshot);
await bench.run();
for (const task of bench.tasks) {
  const r = task.result as
    | { latency?: { mean: number; p99: number }; mean?: number; p99?: number }
    | undefined;
  const mean = r?.latency?.mean ?? r?.mean ?? Number.NaN;
  const p99 = r?.latency?.p99 ?? r?.p99 ?? Number.NaN;
  console.log(
    `${task.name}: mean ${mean.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms (${((mean / 1000) * 100).toFixed(2)}% of one second)`,
  );
}
console.log(`update frame: ${bytes} bytes; snapshot slots and arrays: ${snapshotBytes} bytes`);
