/**
 * The live dashboard's own work, without sockets (issue 15): one update tick, what `Dashboard#tick`
 * (src/master/dashboard/dashboard.ts) does once a second whether pages are open or not (the pass over the
 * registry, the summary and chart point, the slot changes) plus, as with a page open, the update frame's JSON and
 * SSE framing; and one page's snapshot (`Dashboard#snapshot`: a pass, every slot, 15 minutes of history, the last
 * events). The Dashboard keeps these steps private behind its timer and its streams, so they are called here in
 * its order: a change there is one here.
 *
 * The fleet is a real `SlaveRegistry` (the dashboard walks its list); before each tick, untimed, a second goes by:
 * every slave heartbeats at its own phase and a third of the slaves' tasks in flight change, so every age byte
 * moves and the in-flight array is sent in full, as under load.
 */
import { sseEvent } from '../../src/http/event-stream.ts';
import { historyPoint, type Reading, summarize } from '../../src/master/dashboard/aggregate.ts';
import { kDashboardLimits } from '../../src/master/dashboard/dashboard.ts';
import { FleetEventLog } from '../../src/master/dashboard/event-log.ts';
import type { HistoryPoint, SnapshotFrame, Summary, UpdateFrame } from '../../src/master/dashboard/frames.ts';
import { SlaveSlots } from '../../src/master/dashboard/slave-slots.ts';
import { type SlaveRecord, SlaveRegistry } from '../../src/master/fleet/registry.ts';
import { kMasterOptions } from '../../src/master/options.ts';

/** The master's default `heartbeatTolerance`, in seconds. */
export const kToleranceSeconds = kMasterOptions.heartbeatTolerance.default;
const kTickMs = kDashboardLimits.tickMs;

interface Connection {
  readonly origin: string;
  runningTasks: number;
}

export interface DashboardTick {
  readonly size: number;
  /** One second of a loaded fleet goes by (setup, never timed). */
  churn(): void;
  /** One tick with a page open; returns the update event's length. */
  tick(): number;
  /** What a page opening gets; returns the snapshot event's length. */
  snapshot(): number;
  /** The last update and snapshot frames built (for tests). */
  readonly lastUpdate: UpdateFrame | undefined;
  readonly lastSnapshot: SnapshotFrame | undefined;
}

export function dashboardTick(size: number): DashboardTick {
  const limits = kDashboardLimits;
  const toleranceMs = kToleranceSeconds * 1000;
  const registry = new SlaveRegistry<Connection>();
  const slots = new SlaveSlots<SlaveRecord<Connection>>();
  const events = new FleetEventLog(limits.events);
  let now = 1_000_000;
  const connections: Connection[] = [];
  /** In heartbeat order: touched in this order, they stay in it. */
  const records: SlaveRecord<Connection>[] = [];
  for (let i = 0; i < size; i++) {
    const origin = `http://10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:7236`;
    const connection = { origin, runningTasks: 1 };
    connections.push(connection);
    records.push(registry.add(`slave-${i}`, `token-${i}`, connection, 'connected', now));
    events.record({ kind: 'connect', slave: `slave-${i}`, address: origin });
  }
  let seconds = 0;
  let completed = 0;
  const readingAt = (at: number): Reading => ({
    at,
    tasksCompleted: completed,
    tasksFailed: 0,
    results: completed,
    heartbeats: seconds * size,
    evictions: 0,
    running: size,
    pool: { busyMs: seconds * 600, threads: 2, held: 0 },
  });
  const master = {
    engine: 'uws',
    node: process.version,
    port: 7236,
    channel: 0,
    heartbeatTolerance: kToleranceSeconds,
    startedAt: Date.now(),
  };
  let reading = readingAt(now);
  let summary: Summary | undefined;
  const history: HistoryPoint[] = [];
  let eventsSent = 0;
  let lastUpdate: UpdateFrame | undefined;
  let lastSnapshot: SnapshotFrame | undefined;

  const tick = (): number => {
    const previous = reading;
    reading = readingAt(now);
    const fleet = slots.pass(registry.records(), reading.at, toleranceMs);
    summary = summarize(previous, reading, fleet, kToleranceSeconds, {
      queued: null,
      loop: { p99: 1, max: 2 },
      at: Date.now(),
    });
    const point = historyPoint(summary);
    history.push(point);
    if (history.length > limits.historyPoints) history.shift();
    const changed = slots.takeChanges();
    const inflightChanged = slots.takeInflightChanged();
    const fresh = events.since(eventsSent, limits.eventsPerUpdate);
    eventsSent = events.lastSeq;
    const update: UpdateFrame = {
      capacity: slots.capacity,
      slots: changed,
      ages: slots.agesBase64(),
      ...(inflightChanged ? { inflight: slots.inflightBase64() } : {}),
      summary,
      point,
      events: fresh.events,
      eventsSkipped: fresh.skipped,
    };
    lastUpdate = update;
    return sseEvent('update', JSON.stringify(update)).length;
  };

  const churn = (): void => {
    now += kTickMs;
    seconds++;
    completed += size * 2;
    for (let i = 0; i < size; i++) {
      // each at its own phase of the second, in the registry's order (which stays the heartbeats' order)
      registry.touch(records[i]!, now - kTickMs + ((i + 1) * kTickMs) / size);
      // a third of the slaves change their count each second
      if ((i + seconds) % 3 === 0) connections[i]!.runningTasks ^= 1;
    }
  };

  const snapshot = (): number => {
    const fleet = slots.pass(registry.records(), now, toleranceMs);
    const { histogram: _, ...slaves } = fleet;
    const frame: SnapshotFrame = {
      master,
      capacity: slots.capacity,
      slots: slots.all(),
      ages: slots.agesBase64(),
      inflight: slots.inflightBase64(),
      summary: { ...summary!, slaves },
      history,
      events: events.last(limits.eventsInSnapshot),
    };
    lastSnapshot = frame;
    return sseEvent('snapshot', JSON.stringify(frame)).length;
  };

  // the master has been up for 15 minutes: every slave has its slot (the update that named them all is sent) and
  // the charts' history is full
  churn();
  tick();
  while (history.length < limits.historyPoints) history.push([...history.at(-1)!]);

  return {
    size,
    churn,
    tick,
    snapshot,
    get lastUpdate() {
      return lastUpdate;
    },
    get lastSnapshot() {
      return lastSnapshot;
    },
  };
}
