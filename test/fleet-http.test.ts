// The fleet's HTTP routes for other languages, driven with plain HTTP (undici's request), as a Python client
// with `requests` would drive them: POST /fleet/tasks, GET /fleet/tasks/{id}?wait=S, DELETE /fleet/tasks/{id}.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { type Master, MasterErrorCode, type Slave } from '../src/index.ts';
import { kMaxWaiters } from '../src/master/fleet/http-tasks.ts';
import { deferred } from './helpers/deferred.ts';
import { startMaster, startSlave, waitFor } from './helpers/fleet.ts';

interface Envelope<D = unknown> {
  success: boolean;
  code: number;
  message: string;
  data: D;
}

interface View {
  id: string;
  status: string;
  attempts: number;
  slave: string | null;
  result: unknown;
  error: { code: string; message: string } | null;
}

async function call<D = View>(
  master: Master,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  headers: Record<string, string> = { authorization: `Bearer ${master.selfToken}` },
  signal?: AbortSignal,
): Promise<{ status: number; headers: Record<string, unknown>; envelope: Envelope<D> }> {
  const res = await request(`http://127.0.0.1:${master.port}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
  const envelope = (await res.body.json()) as Envelope<D>;
  return { status: res.statusCode, headers: res.headers, envelope };
}

describe('/fleet/tasks over HTTP', () => {
  let master: Master;
  let slave: Slave;
  const gate = deferred();

  before(async () => {
    master = await startMaster({ queueLimit: 3, maxBodySize: 4096, fleetTasksKept: 5 });
    slave = await startSlave({
      heartbeatSpan: 0.2,
      processTask: async (data) => {
        const { a, b, hold } = data as { a: number; b: number; hold?: boolean };
        if (hold) await gate.promise;
        return { sum: a + b };
      },
    });
  });
  after(async () => {
    gate.resolve();
    await master.close();
    await slave.close();
  });

  test('the self token guards every route, as /status', async () => {
    for (const [method, path] of [
      ['POST', '/fleet/tasks'],
      ['GET', '/fleet/tasks/x'],
      ['DELETE', '/fleet/tasks/x'],
    ] as const) {
      const none = await call(master, method, path, method === 'POST' ? { data: {} } : undefined, {});
      assert.equal(none.status, 400, `${method} without a token`);
      assert.equal(none.envelope.code, MasterErrorCode.SELF_TOKEN_NOT_GIVEN);
      const wrong = await call(master, method, path, undefined, { token: 'nope' });
      assert.equal(wrong.status, 403);
      assert.equal(wrong.envelope.code, MasterErrorCode.SELF_TOKEN_INVALID);
    }
    assert.equal(master.stats().tasksCreated, 0, 'nothing was submitted');
  });

  test('submit answers the id at once; GET ?wait long-polls until it settles; the Token header works too', async () => {
    const submitted = await call<{ id: string; status: string }>(master, 'POST', '/fleet/tasks', {
      data: { a: 2, b: 3 },
      retries: 1,
      priority: 2,
    });
    assert.equal(submitted.status, 200);
    assert.equal(submitted.envelope.success, true);
    assert.match(submitted.envelope.data.id, /^[0-9a-f-]{36}$/);
    assert.equal(submitted.envelope.data.status, 'queued', 'no slave yet');
    const { id } = submitted.envelope.data;
    const now = await call(master, 'GET', `/fleet/tasks/${id}`);
    assert.equal(now.envelope.data.status, 'queued');
    assert.equal(now.envelope.data.slave, null);
    const waiting = call(master, 'GET', `/fleet/tasks/${id}?wait=30`, undefined, { token: master.selfToken });
    await waitFor('the request waits', () => master.fleetTasks.waiters === 1);
    await master.newConnection('s', '127.0.0.1', slave.port).connect();
    const settled = await waiting;
    assert.equal(settled.status, 200);
    assert.deepEqual(settled.envelope.data, {
      id,
      status: 'completed',
      attempts: 1,
      slave: 's',
      result: { sum: 5 },
      error: null,
    });
    assert.equal(master.fleetTasks.waiters, 0);
  });

  test('bad bodies and queries: 400 with code 904 naming what is wrong; unknown ids 404 with 909', async () => {
    const cases: [unknown, RegExp][] = [
      ['{ not json', /JSON/],
      [[1, 2], /Body must be an object/],
      [{ data: {}, retry: 2 }, /Unknown field "retry"/],
      [{ data: {}, retries: -1 }, /^retries must be an integer between 0 and 100/],
      [{ data: {}, priority: 'high' }, /^priority must be a finite number/],
      [{ data: {}, deadline: 0 }, /^deadline must be a number > 0/],
      [{ data: {}, tags: ['gpu'] }, /^tags must name tags some connection carries.*"gpu"/],
      [{ data: {}, tags: 'gpu' }, /^tags must be an array of strings/],
    ];
    for (const [body, message] of cases) {
      const res = await call(master, 'POST', '/fleet/tasks', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.envelope.code, MasterErrorCode.REQUEST_DATA_INVALID);
      assert.match(res.envelope.message, message);
    }
    for (const wait of ['abc', '-1', '61', '']) {
      const res = await call(master, 'GET', `/fleet/tasks/x?wait=${wait}`);
      assert.equal(res.status, 400, `wait=${wait}`);
      assert.match(res.envelope.message, /wait must be a number of seconds between 0 and 60/);
    }
    const unknown = await call(master, 'GET', '/fleet/tasks/00000000-0000-4000-8000-000000000000');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.envelope.code, MasterErrorCode.TASK_NOT_FOUND);
    assert.equal((await call(master, 'DELETE', '/fleet/tasks/nope')).status, 404);
    const large = await call(master, 'POST', '/fleet/tasks', { data: { pad: 'x'.repeat(5000) } });
    assert.equal(large.status, 413);
    assert.equal(large.envelope.code, MasterErrorCode.REQUEST_BODY_TOO_LARGE);
  });

  test('a full queue answers 503 with Retry-After and code 908, and keeps nothing', async () => {
    const created = master.stats().tasksCreated;
    // one holds the slave's only slot, three fill the queue (queueLimit 3)
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await call<{ id: string }>(master, 'POST', '/fleet/tasks', {
        data: { a: i, b: 0, hold: true },
      });
      assert.equal(res.status, 200);
      ids.push(res.envelope.data.id);
    }
    const full = await call(master, 'POST', '/fleet/tasks', { data: { a: 9, b: 9 } });
    assert.equal(full.status, 503);
    assert.equal(full.headers['retry-after'], '1');
    assert.equal(full.envelope.code, MasterErrorCode.QUEUE_FULL);
    assert.equal(master.stats().tasksQueued, 3);
    assert.equal(master.stats().tasksCreated, created + 5);
    // cancel a queued one and the running one over HTTP
    const cancelled = await call(master, 'DELETE', `/fleet/tasks/${ids[3]}`);
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.envelope.message, 'Task cancelled.');
    assert.equal(cancelled.envelope.data.status, 'cancelled');
    assert.deepEqual(cancelled.envelope.data.error, {
      code: 'CANCELLED',
      message: 'cancelled: cancelled over HTTP',
    });
    const again = await call(master, 'DELETE', `/fleet/tasks/${ids[3]}`);
    assert.equal(again.envelope.message, 'Task had already ended.');
    gate.resolve();
    for (const id of ids.slice(0, 3)) {
      const done = await call(master, 'GET', `/fleet/tasks/${id}?wait=30`);
      assert.equal(done.envelope.data.status, 'completed', id);
    }
  });

  test('settled tasks are kept at most fleetTasksKept (the oldest go first)', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await call<{ id: string }>(master, 'POST', '/fleet/tasks', { data: { a: i, b: 1 } });
      ids.push(res.envelope.data.id);
      await call(master, 'GET', `/fleet/tasks/${res.envelope.data.id}?wait=30`);
    }
    assert.ok(master.fleetTasks.size <= 5, `kept: ${master.fleetTasks.size}`);
    assert.equal((await call(master, 'GET', `/fleet/tasks/${ids[0]}`)).status, 404, 'the oldest was dropped');
    assert.equal((await call(master, 'GET', `/fleet/tasks/${ids[5]}`)).status, 200);
  });

  test('a waiting GET whose client leaves is let go', async () => {
    // a task that never settles: no slave carries the tag
    master.newConnection('phantom', '127.0.0.1', 1, { tags: ['never'] });
    const stuck = await call<{ id: string }>(master, 'POST', '/fleet/tasks', { data: {}, tags: ['never'] });
    const abort = new AbortController();
    const waiting = call(
      master,
      'GET',
      `/fleet/tasks/${stuck.envelope.data.id}?wait=30`,
      undefined,
      undefined,
      abort.signal,
    );
    await waitFor('it waits', () => master.fleetTasks.waiters === 1);
    abort.abort();
    await assert.rejects(waiting);
    await waitFor('the waiter is gone', () => master.fleetTasks.waiters === 0);
    const short = await call(master, 'GET', `/fleet/tasks/${stuck.envelope.data.id}?wait=0.1`);
    assert.equal(short.envelope.data.status, 'queued', 'after S seconds the task is answered as it is');
  });
});

describe('FleetHttpTasks bounds, without sockets', () => {
  test(`past ${kMaxWaiters} waiting requests, a ?wait answers at once; close() answers every waiter`, async () => {
    const master = await startMaster();
    try {
      const submitted = master.fleetTasks.submit(Buffer.from('{"data":{}}'), 'application/json');
      const { id } = JSON.parse(submitted.answer.body).data as { id: string };
      const pending = [];
      for (let i = 0; i < kMaxWaiters; i++) {
        const reply = master.fleetTasks.read(id, 'wait=60');
        assert.ok('later' in reply, `request ${i} waits`);
        pending.push(reply.later);
      }
      assert.equal(master.fleetTasks.waiters, kMaxWaiters);
      const over = master.fleetTasks.read(id, 'wait=60');
      assert.ok('answer' in over, 'one more answers at once');
      master.fleetTasks.close();
      const answers = await Promise.all(pending);
      assert.equal(answers.length, kMaxWaiters);
      assert.ok(
        answers.every((a) => JSON.parse(a.answer.body).data.status === 'queued'),
        'answered as it is',
      );
      assert.equal(master.fleetTasks.waiters, 0);
    } finally {
      await master.close();
    }
  });

  test('settled tasks are forgotten after fleetTaskRetention seconds', async () => {
    const master = await startMaster({ fleetTaskRetention: 1 });
    try {
      const submitted = JSON.parse(
        master.fleetTasks.submit(Buffer.from('{"data":{}}'), 'application/json').answer.body,
      );
      const { id } = submitted.data as { id: string };
      master.fleetTasks.cancel(id);
      assert.ok('answer' in master.fleetTasks.read(id, ''), 'readable');
      assert.equal(
        JSON.parse((master.fleetTasks.read(id, '') as { answer: { body: string } }).answer.body).code,
        0,
      );
      await sleep(1100);
      const gone = master.fleetTasks.read(id, '') as { answer: { body: string } };
      assert.equal(JSON.parse(gone.answer.body).code, MasterErrorCode.TASK_NOT_FOUND);
    } finally {
      await master.close();
    }
  });
});
