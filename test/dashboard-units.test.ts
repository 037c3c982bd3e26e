// The dashboard's pure parts, without a browser or a socket: the event ring, the slots and their wire form, the
// aggregation, SSE framing, the page's model fed by frames, and the geometry of the heat map and virtual table.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { describeEvent } from '../src/dashboard/format.ts';
import { heatmapLayout, rowWindow } from '../src/dashboard/layout.ts';
import { decodeBase64, FleetModel, healthOf } from '../src/dashboard/model.ts';
import { sseEvent } from '../src/http/event-stream.ts';
import {
  historyPoint,
  percentileByte,
  perSecond,
  type Reading,
  summarize,
} from '../src/master/dashboard/aggregate.ts';
import { loadDashboardAssets } from '../src/master/dashboard/assets.ts';
import { FleetEventLog } from '../src/master/dashboard/event-log.ts';
import {
  kAgeScale,
  kEmptySlot,
  type SlaveState,
  type SnapshotFrame,
  type UpdateFrame,
} from '../src/master/dashboard/frames.ts';
import { ageByte, SlaveSlots, type SlotSource } from '../src/master/dashboard/slave-slots.ts';

function record(name: string, lastHeartbeat: number, runningTasks = 0, state: SlaveState = 'connected') {
  return {
    name,
    state,
    lastHeartbeat,
    connection: { origin: `http://10.0.0.1:${name.length}`, runningTasks },
  };
}

const bytes = (base64: string) => [...decodeBase64(base64)];

describe('FleetEventLog', () => {
  test('keeps the last `capacity` events, stamped with a sequence number and the time', () => {
    const log = new FleetEventLog(3);
    for (let i = 1; i <= 5; i++) log.record({ kind: 'connect', slave: `s${i}`, address: 'a' });
    assert.equal(log.lastSeq, 5);
    const last = log.last(10);
    assert.deepEqual(
      last.map((e) => [e.seq, e.kind === 'connect' && e.slave]),
      [
        [3, 's3'],
        [4, 's4'],
        [5, 's5'],
      ],
    );
    assert.ok(last.every((e) => typeof e.at === 'number' && e.at > 0));
  });

  test('since(): what came after a sequence number, at most `max`, counting what it leaves out or forgot', () => {
    const log = new FleetEventLog(4);
    assert.deepEqual(log.since(0, 10), { events: [], skipped: 0 });
    for (let i = 1; i <= 6; i++) log.record({ kind: 'connect', slave: `s${i}`, address: 'a' });
    const { events, skipped } = log.since(3, 2);
    assert.deepEqual(
      events.map((e) => e.seq),
      [5, 6],
    );
    assert.equal(skipped, 1);
    // seq 1 and 2 are gone from the ring: counted as skipped
    const all = log.since(0, 100);
    assert.deepEqual(
      all.events.map((e) => e.seq),
      [3, 4, 5, 6],
    );
    assert.equal(all.skipped, 2);
    assert.deepEqual(log.since(6, 10), { events: [], skipped: 0 });
  });

  test('long texts are cut, so the ring is bounded in bytes too', () => {
    const log = new FleetEventLog(2);
    log.record({ kind: 'task_failed', taskId: 't', code: 'slave_lost', reason: 'x'.repeat(10_000) });
    const [event] = log.last(1);
    assert.ok(event?.kind === 'task_failed' && event.reason !== undefined && event.reason.length === 200);
  });

  test('refuses a capacity below 1', () => {
    assert.throws(() => new FleetEventLog(0), RangeError);
  });
});

describe('SlaveSlots', () => {
  const tolerance = 10_000;

  test('gives each slave a slot, its age as a byte of the tolerance, and counts the fleet by health', () => {
    const slots = new SlaveSlots<SlotSource>();
    const now = 100_000;
    const fleet = [
      record('a', now - 1000, 1),
      record('b', now - 6000),
      record('c', now - 9000, 2),
      record('d', now, 0, 'pending'),
    ];
    const pass = slots.pass(fleet, now, tolerance);
    assert.deepEqual(
      { ...pass, histogram: undefined },
      { total: 4, connected: 3, pending: 1, fresh: 2, late: 1, silent: 1, histogram: undefined },
    );
    assert.equal(slots.capacity, 4);
    assert.deepEqual(bytes(slots.agesBase64()), [20, 120, 180, 0]);
    assert.deepEqual(bytes(slots.inflightBase64()), [1, 0, 2, 0]);
    assert.deepEqual(slots.takeChanges(), [
      [0, 1, 'a', 'http://10.0.0.1:1', 'connected'],
      [1, 2, 'b', 'http://10.0.0.1:1', 'connected'],
      [2, 3, 'c', 'http://10.0.0.1:1', 'connected'],
      [3, 4, 'd', 'http://10.0.0.1:1', 'pending'],
    ]);
    assert.equal(slots.takeInflightChanged(), true);
    // nothing changed: no slot change, no in-flight change
    slots.pass(fleet, now + 500, tolerance);
    assert.deepEqual(slots.takeChanges(), []);
    assert.equal(slots.takeInflightChanged(), false);
  });

  test('a slave that left frees its slot, a newcomer takes the lowest free one, the array shrinks at the end', () => {
    const slots = new SlaveSlots<SlotSource>();
    const [a, b, c] = [record('a', 0), record('b', 0), record('c', 0)];
    slots.pass([a, b, c], 0, tolerance);
    slots.takeChanges();
    slots.pass([a, c], 0, tolerance);
    assert.deepEqual(slots.takeChanges(), [[1, null]]);
    assert.deepEqual(bytes(slots.agesBase64()), [0, kEmptySlot, 0]);
    const d = record('d', 0, 3);
    slots.pass([a, c, d], 0, tolerance);
    assert.deepEqual(slots.takeChanges(), [[1, 4, 'd', 'http://10.0.0.1:1', 'connected']]);
    assert.equal(slots.takeInflightChanged(), true);
    slots.pass([a], 0, tolerance);
    // slots 1 and 2 freed; the arrays end at the last slot in use
    assert.equal(slots.capacity, 1);
    assert.deepEqual(slots.takeChanges(), [
      [1, null],
      [2, null],
    ]);
    assert.equal(slots.size, 1);
  });

  test('a state change (pending → connected) is a slot change; a new record of the same name a new slave', () => {
    const slots = new SlaveSlots<SlotSource>();
    const a = record('a', 0, 0, 'pending');
    slots.pass([a], 0, tolerance);
    slots.takeChanges();
    (a as { state: SlaveState }).state = 'connected';
    slots.pass([a], 0, tolerance);
    assert.deepEqual(slots.takeChanges(), [[0, 1, 'a', 'http://10.0.0.1:1', 'connected']]);
    const again = record('a', 0);
    slots.pass([again], 0, tolerance);
    // a new slave with a new id (newcomers are placed before leavers are freed, so it takes another slot)
    assert.deepEqual(slots.takeChanges(), [
      [0, null],
      [1, 2, 'a', 'http://10.0.0.1:1', 'connected'],
    ]);
  });

  test('grows past its first arrays, and all() lists every slot in use', () => {
    const slots = new SlaveSlots<SlotSource>();
    const fleet = Array.from({ length: 1000 }, (_, i) => record(`s${i}`, 0, i % 3));
    slots.pass(fleet, 5000, tolerance);
    assert.equal(slots.capacity, 1000);
    assert.equal(slots.all().length, 1000);
    assert.equal(decodeBase64(slots.agesBase64()).length, 1000);
    assert.ok(decodeBase64(slots.agesBase64()).every((b) => b === 100));
  });

  test('ageByte: fraction of the tolerance × kAgeScale, clamped to 0–254', () => {
    assert.equal(ageByte(0, 1000), 0);
    assert.equal(ageByte(-5, 1000), 0);
    assert.equal(ageByte(500, 1000), kAgeScale / 2);
    assert.equal(ageByte(1e9, 1000), 254);
  });
});

describe('aggregation', () => {
  const reading = (at: number, n: number, pool?: Reading['pool']): Reading => ({
    at,
    tasksCompleted: 10 * n,
    tasksFailed: n,
    results: 10 * n,
    heartbeats: 100 * n,
    evictions: n,
    running: 7,
    pool,
  });

  test('percentileByte reads the histogram of age bytes', () => {
    const histogram = new Uint32Array(255);
    histogram[10] = 90;
    histogram[200] = 9;
    histogram[254] = 1;
    assert.equal(percentileByte(histogram, 100, 0.5), 10);
    assert.equal(percentileByte(histogram, 100, 0.99), 200);
    assert.equal(percentileByte(histogram, 100, 1), 254);
    assert.equal(percentileByte(histogram, 0, 0.5), 0);
  });

  test('perSecond: growth per second, never negative, 0 over no time', () => {
    assert.equal(perSecond(10, 30, 2000), 10);
    assert.equal(perSecond(30, 10, 1000), 0);
    assert.equal(perSecond(0, 10, 0), 0);
  });

  test('summarize: rates over the readings, ages in seconds, pool utilisation, loop delay', () => {
    const histogram = new Uint32Array(255);
    histogram[20] = 3;
    histogram[100] = 1;
    const fleet = { total: 4, connected: 4, pending: 0, fresh: 3, late: 1, silent: 0, histogram };
    const s = summarize(
      reading(1000, 1, { busyMs: 100, threads: 2, held: 0 }),
      reading(3000, 3, { busyMs: 1100, threads: 2, held: 5 }),
      fleet,
      10,
      { queued: null, loop: { p99: 12.34, max: 40 }, at: 1_700_000_000_000 },
    );
    assert.deepEqual(s.tasks, {
      running: 7,
      queued: null,
      completed: 30,
      failed: 3,
      completedPerSecond: 10,
      failedPerSecond: 1,
    });
    assert.equal(s.resultsPerSecond, 10);
    assert.equal(s.heartbeatsPerSecond, 100);
    assert.deepEqual(s.age, { p50: 1, p99: 5, max: 5 });
    assert.deepEqual(s.pool, { utilization: 0.25, held: 5, threads: 2 });
    assert.deepEqual(s.loop, { p99: 12.3, max: 40 });
    assert.deepEqual(historyPoint(s), [1_700_000_000, 10, 1, 10, 100, 1, 5, 5]);
    const inline = summarize(reading(0, 0), reading(1000, 1), { ...fleet, total: 0 }, 10, {
      queued: 3,
      loop: { p99: 0, max: 0 },
      at: 0,
    });
    assert.equal(inline.pool, null);
    assert.deepEqual(inline.age, { p50: 0, p99: 0, max: 0 });
  });
});

describe('sseEvent', () => {
  test('frames an event: name, optional id, one data line per line of the text, a blank line', () => {
    assert.equal(sseEvent('update', '{"a":1}'), 'event: update\ndata: {"a":1}\n\n');
    assert.equal(sseEvent('message', 'x', '7'), 'id: 7\ndata: x\n\n');
    assert.equal(
      sseEvent('e', 'one\ntwo\r\nthree\rfour'),
      'event: e\ndata: one\ndata: two\ndata: three\ndata: four\n\n',
    );
    assert.equal(sseEvent('e', ''), 'event: e\ndata: \n\n');
  });

  test('refuses a name or an id that would break the framing', () => {
    assert.throws(() => sseEvent('a\nb', 'x'), TypeError);
    assert.throws(() => sseEvent('a', 'x', '1\n2'), TypeError);
  });
});

describe('the page model', () => {
  const master = {
    engine: 'node',
    node: 'v20',
    port: 1,
    channel: 0,
    heartbeatTolerance: 10,
    startedAt: 0,
  };
  const summary = summarize(
    reading0(),
    reading0(),
    { total: 0, connected: 0, pending: 0, fresh: 0, late: 0, silent: 0, histogram: new Uint32Array(255) },
    10,
    { queued: null, loop: { p99: 0, max: 0 }, at: 0 },
  );
  function reading0(): Reading {
    return {
      at: 0,
      tasksCompleted: 0,
      tasksFailed: 0,
      results: 0,
      heartbeats: 0,
      evictions: 0,
      running: 0,
      pool: undefined,
    };
  }

  test('a snapshot then updates built by the master side give the master side state', () => {
    const slots = new SlaveSlots<SlotSource>();
    const log = new FleetEventLog(10);
    const b = record('slave-10', 0, 1);
    const a = record('slave-9', 0);
    slots.pass([b, a], 2000, 10_000);
    log.record({ kind: 'connect', slave: 'slave-10', address: 'x' });
    const snapshot: SnapshotFrame = {
      master,
      capacity: slots.capacity,
      slots: slots.all(),
      ages: slots.agesBase64(),
      inflight: slots.inflightBase64(),
      summary,
      history: [[0, 1, 0, 1, 2, 0.1, 0.2, 0.3]],
      events: log.last(10),
    };
    slots.takeChanges();
    slots.takeInflightChanged();
    const model = new FleetModel();
    model.applySnapshot(snapshot, 1000);
    assert.deepEqual(
      model.sorted().map((s) => s.name),
      ['slave-9', 'slave-10'],
      'numeric order of names',
    );
    assert.equal(model.ageSeconds(0, 1000), 2);
    // a fresh slave is shown as the frame saw it
    assert.equal(model.ageSeconds(0, 2500), 2);
    assert.equal(model.tasksInFlight(0), 1);
    assert.equal(model.health(model.sorted()[1]!, 1000), 'fresh');

    // slave-9 leaves, slave-11 comes, slave-10 goes quiet; the same event comes again (a reconnect overlap)
    const c = record('slave-11', 8000);
    slots.pass([b, c], 9000, 10_000);
    log.record({ kind: 'evict', slave: 'slave-9', address: 'x', silentFor: 9, tasksLost: 0 });
    const update: UpdateFrame = {
      capacity: slots.capacity,
      slots: slots.takeChanges(),
      ages: slots.agesBase64(),
      ...(slots.takeInflightChanged() ? { inflight: slots.inflightBase64() } : {}),
      summary,
      point: [1, 2, 0, 2, 2, 0.1, 0.2, 0.3],
      events: log.since(0, 10).events,
      eventsSkipped: 0,
    };
    model.applyUpdate(update, 5000);
    assert.deepEqual(
      model.sorted().map((s) => [s.name, s.slot]),
      [
        ['slave-10', 0],
        ['slave-11', 2],
      ],
    );
    assert.equal(model.health(model.sorted()[0]!, 5000), 'silent');
    // a late or silent one keeps ageing between frames
    assert.equal(model.ageSeconds(0, 5000), 9);
    assert.equal(model.ageSeconds(0, 6500), 10.5);
    assert.equal(model.ageSeconds(2, 5000), 1);
    assert.deepEqual(
      model.events.map((e) => e.seq),
      [1, 2],
      'no event twice',
    );
    assert.equal(model.history.length, 2);
    assert.ok(Number.isNaN(model.fraction(1, 5000)), 'a freed slot has no age');
    assert.ok(Number.isNaN(model.fraction(5, 5000)), 'a slot past the end has no age');
  });

  test('healthOf follows the fractions of the tolerance', () => {
    assert.equal(healthOf('pending', 2), 'pending');
    assert.equal(healthOf('connected', 0.49), 'fresh');
    assert.equal(healthOf('connected', 0.5), 'late');
    assert.equal(healthOf('connected', 0.8), 'silent');
  });

  test('describeEvent names the slave and the figures', () => {
    assert.equal(
      describeEvent({
        seq: 1,
        at: 0,
        kind: 'evict',
        slave: 'gpu-7',
        address: 'http://h:1',
        silentFor: 3.2,
        tasksLost: 1,
      }),
      'gpu-7 evicted: silent for 3.2 s, 1 task lost (http://h:1)',
    );
    assert.equal(
      describeEvent({
        seq: 1,
        at: 0,
        kind: 'task_failed',
        taskId: '0123456789',
        code: 'slave_lost',
        reason: 'r',
      }),
      'task 01234567 failed: slave_lost (r)',
    );
    assert.equal(
      describeEvent({
        seq: 2,
        at: 0,
        kind: 'retry',
        taskId: 'abcdef0123',
        attempt: 1,
        slave: 'gpu-7',
        reason: 'slave lost',
      }),
      'task abcdef01 goes back to the queue after attempt 1 on gpu-7: slave lost',
    );
  });
});

describe('geometry', () => {
  test('rowWindow: the rows in view plus overscan, and where they start', () => {
    assert.deepEqual(rowWindow(0, 100, 25, 1000, 2), { start: 0, end: 7, offset: 0 });
    assert.deepEqual(rowWindow(2500, 100, 25, 1000, 2), { start: 98, end: 107, offset: 2450 });
    // scrolled past the end (a list that just shrank): the last rows
    assert.deepEqual(rowWindow(1e9, 100, 25, 1000, 2), { start: 994, end: 1000, offset: 24_850 });
    assert.deepEqual(rowWindow(0, 100, 25, 3, 2), { start: 0, end: 3, offset: 0 });
    assert.deepEqual(rowWindow(0, 100, 25, 0), { start: 0, end: 0, offset: 0 });
  });

  test('rowWindow renders a bounded number of rows whatever the list', () => {
    for (const count of [10, 10_000, 1_000_000]) {
      const { start, end } = rowWindow(count * 13, 390, 26, count);
      assert.ok(end - start <= Math.ceil(390 / 26) + 1 + 16, `${count} rows → ${end - start} rendered`);
    }
  });

  test('heatmapLayout: 10,000 cells fit in the width and the height budget', () => {
    const layout = heatmapLayout(10_000, 1200);
    assert.ok(layout.cell >= 4);
    assert.ok(layout.columns * layout.cell <= 1200);
    assert.ok(layout.columns * layout.rows >= 10_000);
    assert.ok(layout.rows * layout.cell <= 260);
    assert.deepEqual(heatmapLayout(3, 1200), { cell: 28, columns: 42, rows: 1 });
  });
});

describe('assets', () => {
  test('without a build, the dashboard says how to make one', () => {
    const assets = loadDashboardAssets(['/nonexistent/dashboard/']);
    assert.ok('missing' in assets);
    assert.match(assets.missing, /npm run build/);
  });

  test('a build that cannot be read is reported, not thrown (the master starts all the same)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dashboard-'));
    try {
      mkdirSync(join(dir, 'index.html'));
      const assets = loadDashboardAssets([dir]);
      assert.ok('missing' in assets);
      assert.match(assets.missing, /could not be read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
