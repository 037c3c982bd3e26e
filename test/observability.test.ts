// Operating a fleet: /metrics (Prometheus text, parsed) and /status, on the front end behind the self token and
// on the admin listener; logs through a pino-compatible logger. Real master, real slaves, real pool.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type Master, type Slave, TaskFail, TaskStatus } from '../src/index.ts';
import { startMaster, startSlave, waitFor } from './helpers/fleet.ts';

/** Prometheus text → `name{labels}` → value (comments dropped). */
function parseExposition(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    series.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return series;
}

function value(series: Map<string, number>, key: string): number {
  const v = series.get(key);
  assert.notEqual(v, undefined, `series ${key} is exposed`);
  return v as number;
}

interface LogLine {
  level: string;
  fields: Record<string, unknown>;
  message: string | undefined;
}

describe('metrics and status', () => {
  const logs: LogLine[] = [];
  const logger = Object.fromEntries(
    ['error', 'warn', 'info', 'debug'].map((level) => [
      level,
      (fields: Record<string, unknown>, message?: string) => logs.push({ level, fields, message }),
    ]),
  );
  let master: Master;
  let steady: Slave;
  let doomed: Slave;
  let base: string;

  before(async () => {
    master = await startMaster({
      metrics: true,
      adminPort: 0,
      heartbeatTolerance: 0.6,
      heartbeatCheckSpan: 0.1,
      resultThreads: 1,
      logger,
    });
    base = `http://127.0.0.1:${master.port}`;
    steady = await startSlave({
      heartbeatSpan: 0.2,
      processTask: (d) => {
        const { n } = d as { n: number };
        if (n < 0) throw new TaskFail({ reason: 'negative' });
        return { double: n * 2 };
      },
    });
    // never answers its task, and will go silent: the master evicts it and fails its task
    doomed = await startSlave({ heartbeatSpan: 0.2, processTask: () => new Promise(() => undefined) });
  });

  after(async () => {
    await master.close();
    await steady.close();
    await doomed.destroy().catch(() => undefined);
  });

  test('every named series counts what happened', async () => {
    const s = master.newConnection('steady', '127.0.0.1', steady.port);
    const d = master.newConnection('doomed', '127.0.0.1', doomed.port);
    await s.connect();
    await d.connect();
    const ok = await s.newTask({ n: 21 }).start();
    await ok.join();
    const bad = await s.newTask({ n: -1 }).start();
    await bad.join();
    const lost = await d.newTask({ n: 1 }).start();
    assert.equal(ok.status, TaskStatus.COMPLETED);
    assert.equal(bad.status, TaskStatus.FAILED);
    // a heartbeat with a token the master never gave: counted as an error answer (403, code 502)
    const refused = await fetch(`${base}/slave/heartbeat`, {
      headers: { channel: '0', token: 'f'.repeat(64) },
    });
    assert.equal(refused.status, 403);
    // the doomed slave goes silent without a word: evicted, its task failed as lost
    await doomed.destroy();
    await lost.join();
    assert.equal(lost.status, TaskStatus.FAILED);

    const res = await fetch(`${base}/metrics`, { headers: { token: master.selfToken } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const m = parseExposition(await res.text());
    assert.equal(value(m, 'fleetmaster_slaves{state="connected"}'), 1);
    assert.equal(value(m, 'fleetmaster_slaves{state="pending"}'), 0);
    assert.ok(value(m, 'fleetmaster_heartbeats_total') >= 2, 'heartbeats counted');
    assert.equal(value(m, 'fleetmaster_evictions_total{reason="heartbeat_timeout"}'), 1);
    assert.equal(value(m, 'fleetmaster_evictions_total{reason="disconnected"}'), 0);
    assert.equal(value(m, 'fleetmaster_tasks_running'), 0);
    assert.equal(value(m, 'fleetmaster_tasks_total{status="completed",reason="reported"}'), 1);
    assert.equal(value(m, 'fleetmaster_tasks_total{status="failed",reason="reported"}'), 1);
    assert.equal(value(m, 'fleetmaster_tasks_total{status="failed",reason="slave_lost"}'), 1);
    assert.equal(value(m, 'fleetmaster_results_total{verdict="delivered"}'), 2);
    assert.equal(value(m, 'fleetmaster_request_errors_total{code="502"}'), 1);
    assert.equal(
      value(m, 'fleetmaster_request_errors_total{code="601"}'),
      0,
      'every code is listed from the start',
    );
    assert.equal(value(m, 'fleetmaster_task_duration_seconds_count{outcome="completed"}'), 1);
    assert.equal(value(m, 'fleetmaster_task_duration_seconds_count{outcome="failed"}'), 2);
    // the lost task ran from its start to the eviction: at least the tolerance less one heartbeat span
    assert.ok(
      value(m, 'fleetmaster_task_duration_seconds_sum{outcome="failed"}') >= 0.3,
      'lost task counted',
    );
    assert.equal(value(m, 'fleetmaster_result_handler_duration_seconds_count'), 2);
    assert.equal(value(m, 'fleetmaster_result_pool_threads'), 1);
    assert.equal(value(m, 'fleetmaster_result_pool_queue_depth'), 0);
    assert.equal(value(m, 'fleetmaster_result_pool_held'), 0);
    assert.ok(![...m.keys()].some((k) => k.startsWith('fleetmaster_nats_')), 'no NATS series without queue');
    const utilization = value(m, 'fleetmaster_result_pool_utilization');
    assert.ok(utilization >= 0 && utilization <= 1);
    assert.ok(value(m, 'fleetmaster_result_pool_busy_seconds_total') > 0);
    assert.ok(value(m, 'process_cpu_user_seconds_total') > 0, "prom-client's process metrics");

    // the library logged the story
    const messages = logs.map((l) => `${l.level} ${l.message}`);
    assert.ok(messages.includes('info master listening'));
    assert.ok(messages.includes('info slave connected'));
    const eviction = logs.find((l) => l.message === 'slave evicted');
    assert.equal(eviction?.level, 'warn');
    assert.equal(eviction?.fields.slave, 'doomed');
    assert.equal(eviction?.fields.reason, 'heartbeat_timeout');
    assert.equal(eviction?.fields.tasksLost, 1);
    assert.ok(logs.some((l) => l.message === 'task failed' && l.fields.end === 'slave_lost'));
  });

  test('/status lists every slave with its address, heartbeat age and tasks in flight', async () => {
    const res = await fetch(`${base}/status`, { headers: { authorization: `Bearer ${master.selfToken}` } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { success: boolean; code: number; data: ReturnType<Master['status']> };
    assert.equal(body.success, true);
    assert.equal(body.code, 0);
    const { master: m, stats, slaves } = body.data;
    assert.equal(m.port, master.port);
    assert.equal(m.channel, 0);
    assert.equal(m.shuttingDown, false);
    assert.ok(m.uptime > 0);
    assert.equal(stats.evictions, 1);
    assert.equal(stats.tasksCompleted, 1);
    assert.equal(stats.tasksFailed, 2);
    assert.equal(slaves.length, 1);
    const [slave] = slaves;
    assert.deepEqual(Object.keys(slave!).sort(), [
      'address',
      'capacity',
      'lastHeartbeatAge',
      'name',
      'state',
      'tags',
      'tasksInFlight',
    ]);
    assert.equal(slave!.capacity, 1, 'a fleetmaster slave announces concurrency 1 by default');
    assert.deepEqual(slave!.tags, []);
    assert.equal(slave!.name, 'steady');
    assert.equal(slave!.address, `http://127.0.0.1:${steady.port}`);
    assert.equal(slave!.state, 'connected');
    assert.equal(slave!.tasksInFlight, 0);
    assert.ok(slave!.lastHeartbeatAge >= 0 && slave!.lastHeartbeatAge < 0.6, 'a heartbeating slave is fresh');
  });

  test('the front end wants the self token; the admin listener does not', async () => {
    const none = await fetch(`${base}/metrics`);
    assert.equal(none.status, 400);
    assert.equal(((await none.json()) as { code: number }).code, 401);
    const wrong = await fetch(`${base}/status`, { headers: { token: 'nope' } });
    assert.equal(wrong.status, 403);
    assert.equal(((await wrong.json()) as { code: number }).code, 402);
    const admin = `http://127.0.0.1:${master.adminPort}`;
    assert.ok(master.adminPort > 0);
    const metrics = await fetch(`${admin}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^fleetmaster_heartbeats_total \d+$/m);
    const status = await fetch(`${admin}/status`);
    assert.equal(((await status.json()) as { data: { slaves: unknown[] } }).data.slaves.length, 1);
    const other = await fetch(`${admin}/slave/heartbeat`, { headers: { channel: '0' } });
    assert.equal(other.status, 404, 'the admin listener serves nothing else');
    // the errors of the token checks are counted too, and the admin listener's own 404
    const m = parseExposition(await (await fetch(`${admin}/metrics`)).text());
    assert.equal(value(m, 'fleetmaster_request_errors_total{code="401"}'), 1);
    assert.equal(value(m, 'fleetmaster_request_errors_total{code="402"}'), 1);
    assert.equal(value(m, 'fleetmaster_request_errors_total{code="903"}'), 1);
  });
});

describe('a result upload cut mid-body', () => {
  test('is counted (results_total{verdict="aborted"}, stats) and logged with its task id', async () => {
    const warnings: { fields: Record<string, unknown>; message: string | undefined }[] = [];
    const master = await startMaster({
      metrics: true,
      logger: {
        warn: (fields: Record<string, unknown>, message?: string) => warnings.push({ fields, message }),
      },
    });
    const slave = await startSlave({ processTask: () => new Promise(() => undefined) });
    try {
      const connection = master.newConnection('slow', '127.0.0.1', slave.port);
      await connection.connect();
      const task = await connection.newTask({}).start();
      // the head and a tenth of the body, then the link dies
      const socket = net.connect(master.port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write(
        'PUT /slave/task/complete HTTP/1.1\r\nHost: x\r\nChannel: 0\r\n' +
          `Token: ${connection.token}\r\nTask-Id: ${task.id}\r\nFleet-Extensions: task-id\r\n` +
          'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"task":{"id":',
      );
      await new Promise((r) => setTimeout(r, 50));
      socket.destroy();
      await waitFor('the abort to be seen', () => master.stats().resultsAborted === 1);
      const cut = warnings.find((w) => w.message === 'a result upload was cut before its body was complete');
      assert.equal(cut?.fields.slave, 'slow');
      assert.equal(cut?.fields.taskId, task.id);
      const m = parseExposition((await master.metrics()) ?? '');
      assert.equal(value(m, 'fleetmaster_results_total{verdict="aborted"}'), 1);
      assert.equal(task.isEnded, false, 'nothing reached the task: the slave may still send its result');
    } finally {
      await master.close();
      await slave.destroy();
    }
  });
});

describe('metrics off (the default)', () => {
  test('/metrics is not found even with the token; /status still answers; a fixed self token is honoured', async () => {
    const selfToken = 'a-fixed-token-for-tools';
    const master = await startMaster({ selfToken });
    try {
      assert.equal(master.selfToken, selfToken);
      assert.equal(master.metrics(), undefined);
      const res = await fetch(`http://127.0.0.1:${master.port}/metrics`, { headers: { token: selfToken } });
      assert.equal(res.status, 404);
      assert.equal(((await res.json()) as { code: number }).code, 903);
      assert.equal(master.counters.errors.get(903), 1, 'the refused scrape is counted');
      const status = await fetch(`http://127.0.0.1:${master.port}/status`, { headers: { token: selfToken } });
      assert.equal(status.status, 200);
    } finally {
      await master.close();
    }
  });

  test('a self token too short to be a secret is refused', () => {
    assert.throws(() => startMaster({ selfToken: 'short' }), /selfToken must be a string of at least 16/);
  });
});
