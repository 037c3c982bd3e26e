// The dashboard's routes on the admin listener, over HTTP without a browser: the page and its headers, the built
// assets, read-only, the event stream's frames (a snapshot, then updates with what changed), its bounds. A real
// master with real slaves; the engine is this run's.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Master, type Slave, TaskRefuse, TaskStatus } from '../src/index.ts';
import { kDashboardLimits } from '../src/master/dashboard/dashboard.ts';
import type { SnapshotFrame, UpdateFrame } from '../src/master/dashboard/frames.ts';
import { ensureDashboardBuilt } from './helpers/browser.ts';
import { startMaster, startSlave, waitFor } from './helpers/fleet.ts';
import { openEventStream } from './helpers/sse.ts';

describe('dashboard routes', () => {
  let master: Master;
  let steady: Slave;
  let doomed: Slave;
  let origin: string;

  before(async () => {
    await ensureDashboardBuilt();
    master = await startMaster({
      adminPort: 0,
      heartbeatTolerance: 1.5,
      heartbeatCheckSpan: 0.1,
      resultThreads: 1,
    });
    origin = `http://127.0.0.1:${master.adminPort}`;
    steady = await startSlave({ heartbeatSpan: 0.2, processTask: (d) => d });
    doomed = await startSlave({ heartbeatSpan: 0.2, processTask: () => new Promise(() => undefined) });
    await master.newConnection('steady', '127.0.0.1', steady.port).connect();
    await master.newConnection('doomed', '127.0.0.1', doomed.port).connect();
  });

  after(async () => {
    await master.close();
    await steady.close();
    await doomed.destroy().catch(() => undefined);
  });

  test('GET /dashboard: the page, never cached, under a policy that forbids inline scripts and other origins', async () => {
    const res = await fetch(`${origin}/dashboard`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /connect-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:|\*/);
    const html = await res.text();
    assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)/, 'no inline script');
    assert.doesNotMatch(html, /\sstyle=|<style/, 'no inline style');
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, 'nothing from another origin');
    const assets = [...html.matchAll(/(?:src|href)="dashboard\/assets\/([^"]+)"/g)].map((m) => m[1]!);
    assert.equal(assets.length, 2, 'one script, one style sheet');
    for (const name of assets) {
      const asset = await fetch(`${origin}/dashboard/assets/${name}`);
      assert.equal(asset.status, 200, name);
      assert.match(name, /-[A-Z0-9]{8}\.(js|css)$/, 'a hashed name');
      assert.equal(
        asset.headers.get('content-type'),
        name.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8',
      );
      assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      assert.ok((await asset.arrayBuffer()).byteLength > 1000);
    }
    for (const bad of ['nope.js', '..%2F..%2Fpackage.json', 'index.html']) {
      const res404 = await fetch(`${origin}/dashboard/assets/${bad}`);
      assert.equal(res404.status, 404, bad);
      await res404.arrayBuffer();
    }
  });

  test('read-only: only GET reaches the dashboard, and no request changes the fleet', async () => {
    const before = master.names().sort();
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      for (const path of ['/dashboard', '/dashboard/events', '/dashboard/assets/x.js']) {
        const res = await fetch(`${origin}${path}`, { method, body: method === 'DELETE' ? undefined : '{}' });
        assert.equal(res.status, 404, `${method} ${path}`);
        await res.arrayBuffer();
      }
    }
    assert.deepEqual(master.names().sort(), before);
  });

  test('the stream: a snapshot of every slave, then an update a second; an eviction frees the slot and names the slave', async () => {
    const stream = openEventStream(`${origin}/dashboard/events`);
    try {
      await waitFor('the snapshot', () => stream.events.length >= 1);
      assert.equal(stream.status, 200);
      assert.equal(stream.headers['content-type'], 'text/event-stream; charset=utf-8');
      const first = stream.events[0]!;
      assert.equal(first.event, 'snapshot');
      const snapshot = JSON.parse(first.data) as SnapshotFrame;
      assert.equal(snapshot.master.heartbeatTolerance, 1.5);
      assert.equal(snapshot.master.engine, master.engine);
      const names = new Map(snapshot.slots.map((s) => [s[2], s[0]]));
      assert.deepEqual([...names.keys()].sort(), ['doomed', 'steady']);
      assert.equal(snapshot.summary.slaves.total, 2);
      assert.ok(snapshot.history.length >= 1);
      assert.ok(
        snapshot.events.some((e) => e.kind === 'connect' && e.slave === 'doomed'),
        'the connects are in the events',
      );
      const doomedSlot = names.get('doomed')!;

      // the doomed slave takes a task it never finishes, then goes silent
      const task = master.get('doomed').newTask({ n: 1 });
      await task.start();
      await doomed.destroy();
      const evicted = () =>
        stream.events
          .filter((e) => e.event === 'update')
          .map((e) => JSON.parse(e.data) as UpdateFrame)
          .find((u) => u.events.some((ev) => ev.kind === 'evict'));
      await waitFor('an update with the eviction', () => evicted() !== undefined, 15_000);
      const update = evicted()!;
      const eviction = update.events.find((e) => e.kind === 'evict');
      assert.ok(eviction?.kind === 'evict');
      assert.equal(eviction.slave, 'doomed');
      assert.equal(eviction.tasksLost, 1);
      assert.ok(eviction.silentFor >= 1);
      assert.ok(
        update.events.some(
          (e) => e.kind === 'task_failed' && e.code === 'slave_lost' && e.taskId === task.id,
        ),
        'the task it lost failed with its code',
      );
      assert.deepEqual(
        update.slots.find((s) => s[0] === doomedSlot),
        [doomedSlot, null],
        'its slot is freed',
      );
      assert.equal(update.summary.slaves.total, 1);
      assert.equal(update.summary.evictions, 1);
      const updates = stream.events
        .filter((e) => e.event === 'update')
        .map((e) => JSON.parse(e.data) as UpdateFrame);
      assert.ok(updates.length >= 2);
      for (let i = 1; i < updates.length; i++) {
        const gap = updates[i]!.summary.at - updates[i - 1]!.summary.at;
        assert.ok(gap >= 900, `updates ${gap} ms apart: at most one a second`);
      }
    } finally {
      stream.close();
    }
  });

  test(`at most ${kDashboardLimits.maxPages} pages at once: one more is answered 503, and a closed one frees its place`, async () => {
    const streams = Array.from({ length: kDashboardLimits.maxPages }, () =>
      openEventStream(`${origin}/dashboard/events`),
    );
    try {
      await waitFor('every page', () => streams.every((s) => s.events.length >= 1));
      const refused = await fetch(`${origin}/dashboard/events`);
      assert.equal(refused.status, 503);
      assert.match(await refused.text(), /Too many dashboard pages open/);
      streams.pop()!.close();
      const again = openEventStream(`${origin}/dashboard/events`);
      streams.push(again);
      await waitFor('a place again', () => again.events.length >= 1 || again.status === 503);
      assert.equal(again.status, 200);
    } finally {
      for (const s of streams) s.close();
    }
  });

  test('a slave deleted by the master is a disconnect event, with the tasks it ended', async () => {
    const m = await startMaster({ adminPort: 0, resultThreads: 1 });
    const slave = await startSlave({ heartbeatSpan: 0.2, processTask: () => new Promise(() => undefined) });
    const stream = openEventStream(`http://127.0.0.1:${m.adminPort}/dashboard/events`);
    try {
      await waitFor('the snapshot', () => stream.events.length >= 1);
      const connection = m.newConnection('leaving', '127.0.0.1', slave.port);
      await connection.connect();
      await connection.newTask({}).start();
      await m.delete('leaving');
      const disconnect = () =>
        stream.events
          .filter((e) => e.event === 'update')
          .flatMap((e) => (JSON.parse(e.data) as UpdateFrame).events)
          .find((e) => e.kind === 'disconnect');
      await waitFor('the disconnect event', () => disconnect() !== undefined);
      assert.deepEqual(
        { ...disconnect()!, seq: 0, at: 0 },
        {
          seq: 0,
          at: 0,
          kind: 'disconnect',
          slave: 'leaving',
          address: `http://127.0.0.1:${slave.port}`,
          tasksEnded: 1,
        },
      );
    } finally {
      stream.close();
      await m.close();
      await slave.destroy();
    }
  });

  test('a submitted task its slave refused goes back to the queue: a retry event naming the attempt and the slave', async () => {
    const m = await startMaster({ adminPort: 0, resultThreads: 1 });
    // the only slave refuses the first task it is given, then takes the next
    let refused = false;
    const slave = await startSlave({
      heartbeatSpan: 0.2,
      processTask: (d) => d,
      hooks: {
        beforeTask: () => {
          if (refused) return;
          refused = true;
          throw new TaskRefuse({ why: 'busy' });
        },
      },
    });
    const stream = openEventStream(`http://127.0.0.1:${m.adminPort}/dashboard/events`);
    try {
      await waitFor('the snapshot', () => stream.events.length >= 1);
      await m.newConnection('picky', '127.0.0.1', slave.port).connect();
      const task = m.submit({ n: 1 }, { retries: 1 });
      await task.join();
      assert.equal(task.status, TaskStatus.COMPLETED);
      const retry = () =>
        stream.events
          .filter((e) => e.event === 'update')
          .flatMap((e) => (JSON.parse(e.data) as UpdateFrame).events)
          .find((e) => e.kind === 'retry');
      await waitFor('the retry event', () => retry() !== undefined);
      const event = retry()!;
      assert.ok(event.kind === 'retry');
      assert.deepEqual([event.taskId, event.attempt, event.slave], [task.id, 1, 'picky']);
      assert.match(event.reason, /refused/i);
    } finally {
      stream.close();
      await m.close();
      await slave.close();
    }
  });

  test('closing the master ends every stream', async () => {
    const m = await startMaster({ adminPort: 0 });
    const stream = openEventStream(`http://127.0.0.1:${m.adminPort}/dashboard/events`);
    await waitFor('the snapshot', () => stream.events.length >= 1);
    await m.close();
    await waitFor('the end of the stream', () => stream.ended);
  });
});
