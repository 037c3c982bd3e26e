// The sweep: silent slaves leave the registry, and their running tasks end as FAILED with a clear reason
// (the reference forgets them and they wait forever).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { SlaveTaskAlreadyExistError, TaskEndCode, TaskEndedError, TaskStatus } from '../src/index.ts';
import { spawnSlave, startMaster, startSlave } from './helpers/fleet.ts';

test('a slave killed with SIGKILL mid-task is swept; its task fails with SLAVE_LOST and join settles', async () => {
  const master = await startMaster({ heartbeatTolerance: 0.6, heartbeatCheckSpan: 0.1 });
  const { child, port } = await spawnSlave({ 'work-ms': 60_000, 'heartbeat-span': 0.2 });
  try {
    const connection = master.newConnection('doomed', '127.0.0.1', port);
    await connection.connect();
    let failedWith: unknown;
    const task = connection.newTask({ a: 1, b: 2 }).onFail((_, result) => {
      failedWith = result;
    });
    await task.start();
    assert.equal(task.status, TaskStatus.STARTED);
    child.kill('SIGKILL');
    await once(child, 'exit');
    const killedAt = performance.now();
    await task.join();
    const waited = (performance.now() - killedAt) / 1000;
    assert.equal(task.status, TaskStatus.FAILED);
    assert.ok(task.error instanceof TaskEndedError);
    assert.equal((task.error as TaskEndedError).code, TaskEndCode.SLAVE_LOST);
    assert.match(task.error.message, /slave lost: doomed sent no heartbeat/);
    assert.deepEqual(failedWith, { error: 'SLAVE_LOST', message: task.error.message });
    assert.equal(master.has('doomed'), false);
    assert.equal(connection.isConnected, false);
    assert.equal(master.stats().runningTasks, 0);
    // a liveness bound, not a timing claim: tolerance + check span, plus generous slack for a loaded machine
    assert.ok(waited < 0.6 + 0.1 + 5, `swept after ${waited.toFixed(2)} s`);
  } finally {
    child.kill('SIGKILL');
    await master.close();
  }
});

test('a frozen slave (SIGSTOP: socket open, no heartbeats) is swept; once thawed it reconnects', async () => {
  const master = await startMaster({ heartbeatTolerance: 0.6, heartbeatCheckSpan: 0.1 });
  const { child, port } = await spawnSlave({ 'work-ms': 200, 'heartbeat-span': 0.2 });
  try {
    const connection = master.newConnection('frozen', '127.0.0.1', port);
    await connection.connect();
    const task = await connection.newTask({ a: 1, b: 1 }).start();
    child.kill('SIGSTOP');
    await task.join();
    assert.equal(task.status, TaskStatus.FAILED);
    assert.equal((task.error as TaskEndedError).code, TaskEndCode.SLAVE_LOST);
    assert.equal(master.has('frozen'), false);
    child.kill('SIGCONT');
    // thawed, it reports its old task (ignored: the token is gone) and its next heartbeat is refused, so it
    // drops the stale link and accepts a new connection under the same name
    const again = master.newConnection('frozen', '127.0.0.1', port);
    let connected = false;
    for (let i = 0; i < 100 && !connected; i++) {
      connected = await again.connect().then(
        () => true,
        () => new Promise<boolean>((r) => setTimeout(() => r(false), 50)),
      );
    }
    assert.equal(connected, true, 'the thawed slave accepted a new connection');
    assert.equal(master.has('frozen'), true);
    // it may still be finishing the task it had when frozen (its result goes nowhere): retry while it is busy
    let next = again.newTask({ a: 20, b: 22 });
    for (let i = 0; i < 100; i++) {
      const refused = await next.start().then(
        () => false,
        (err: unknown) => err instanceof SlaveTaskAlreadyExistError,
      );
      if (!refused) break;
      await new Promise((r) => setTimeout(r, 50));
      next = again.newTask({ a: 20, b: 22 });
    }
    await next.join();
    assert.equal(next.status, TaskStatus.COMPLETED);
    assert.deepEqual(next.result, { sum: 42 });
  } finally {
    child.kill('SIGKILL');
    await master.close();
  }
});

test('a callback that throws does not block the next task or other callbacks', async () => {
  const warnings: string[] = [];
  const master = await startMaster({ logger: { warn: (_, m) => warnings.push(m ?? '') } });
  const slave = await startSlave({ processTask: (d) => d });
  try {
    const connection = master.newConnection('cb', '127.0.0.1', slave.port);
    await connection.connect();
    let second = 0;
    const first = connection
      .newTask({ n: 1 })
      .onComplete(() => {
        throw new Error('user bug');
      })
      .onComplete(() => {
        second++;
      });
    await first.start();
    await first.join();
    assert.equal(first.status, TaskStatus.COMPLETED);
    assert.equal(second, 1, 'the callback after the throwing one still ran');
    assert.ok(warnings.some((w) => /callback threw/.test(w)));
    const next = await connection.newTask({ n: 2 }).start();
    await next.join();
    assert.deepEqual(next.result, { n: 2 });
  } finally {
    await master.close();
    await slave.close();
  }
});

test('a slave whose processTask throws a plain error reports a failure (the reference hangs)', async () => {
  const master = await startMaster();
  const slave = await startSlave({
    processTask: () => {
      throw new RangeError('boom');
    },
  });
  try {
    const connection = master.newConnection('thrower', '127.0.0.1', slave.port);
    await connection.connect();
    const task = await connection.newTask({}).start();
    await task.join();
    assert.equal(task.status, TaskStatus.FAILED);
    assert.deepEqual(task.result, { error: 'RangeError', message: 'boom' });
  } finally {
    await master.close();
    await slave.close();
  }
});

test('master.close() fails running tasks with MASTER_SHUTTING_DOWN and is idempotent', async () => {
  const master = await startMaster();
  const slave = await startSlave({ processTask: () => new Promise(() => undefined) });
  try {
    const connection = master.newConnection('stuck', '127.0.0.1', slave.port);
    await connection.connect();
    const task = await connection.newTask({}).start();
    const closing = master.close();
    assert.equal(master.close(), closing, 'a second close() is the same promise');
    await closing;
    await task.join();
    assert.equal(task.status, TaskStatus.FAILED);
    assert.equal((task.error as TaskEndedError).code, TaskEndCode.MASTER_SHUTTING_DOWN);
    assert.equal(await master.ping(), false);
  } finally {
    await master.close();
    await slave.close();
  }
});
