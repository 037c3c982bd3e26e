// The reference's own scenarios (DI-engine ding/interaction/tests), end to end over real sockets.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ConnectionRefuse,
  DisconnectionRefuse,
  type Master,
  type Slave,
  SlaveChannelInvalidError,
  SlaveConnectionRefusedError,
  SlaveDisconnectionRefusedError,
  SlaveErrorCode,
  SlaveResponseError,
  SlaveTaskRefusedError,
  TaskFail,
  TaskRefuse,
  TaskStatus,
} from '../src/index.ts';
import { kConnectionHooks } from '../src/master/connection.ts';
import { startMaster, startSlave } from './helpers/fleet.ts';

describe('reference scenarios', () => {
  let master: Master;
  let slave: Slave;

  before(async () => {
    slave = await startSlave({
      heartbeatSpan: 0.2,
      processTask: (data) => {
        const { a, b } = data as { a: number; b: number };
        if (a + b > 100) throw new TaskFail({ sum: a + b }, 'sum too large');
        return { sum: a + b };
      },
    });
    master = await startMaster();
  });
  after(async () => {
    await master.close();
    await slave.close();
  });

  test('connect, has, get, disconnect', async () => {
    const connection = master.newConnection('conn', '127.0.0.1', slave.port);
    assert.equal(master.has('conn'), false, 'not listed before connect');
    assert.equal(connection.isConnected, false);
    await connection.connect();
    assert.equal(connection.isConnected, true);
    assert.equal(master.has('conn'), true);
    assert.equal(master.get('conn'), connection);
    assert.deepEqual(master.names(), ['conn']);
    assert.equal(slave.isConnected, true);
    assert.throws(() => master.newConnection('conn', '127.0.0.1', slave.port), /already exists/);
    await connection.disconnect();
    assert.equal(connection.isConnected, false);
    assert.equal(master.has('conn'), false);
    assert.throws(() => master.get('conn'), /not found/);
    assert.equal(slave.isConnected, false);
  });

  test('delete disconnects and removes', async () => {
    const connection = master.newConnection('del', '127.0.0.1', slave.port);
    await connection.connect();
    await master.delete('del');
    assert.equal(master.has('del'), false);
    assert.equal(slave.isConnected, false);
    await assert.rejects(master.delete('del'), /not found/);
  });

  test('a completed task: {sum: 5}, callbacks in order, join settles', async () => {
    const connection = master.newConnection('task', '127.0.0.1', slave.port);
    await connection.connect();
    const seen: string[] = [];
    const task = connection
      .newTask({ a: 2, b: 3 })
      .onComplete((data, result) => seen.push(`1:${JSON.stringify(data)}:${JSON.stringify(result)}`))
      .onFail(() => seen.push('fail'))
      .onComplete(() => seen.push('2'));
    assert.equal(task.status, TaskStatus.IDLE);
    assert.equal(await task.start(), task);
    await task.join();
    assert.equal(task.status, TaskStatus.COMPLETED);
    assert.deepEqual(task.result, { sum: 5 });
    assert.deepEqual(seen, ['1:{"a":2,"b":3}:{"sum":5}', '2']);
    await assert.rejects(task.start(), /Only an IDLE task can be started/);
    await connection.disconnect();
  });

  test('a failed task carries its failure result', async () => {
    const connection = master.newConnection('fail', '127.0.0.1', slave.port);
    await connection.connect();
    let failure: unknown;
    const task = connection.newTask({ a: 200, b: 3 }).onFail((_, result) => {
      failure = result;
    });
    await task.start();
    await task.join();
    assert.equal(task.status, TaskStatus.FAILED);
    assert.deepEqual(task.result, { sum: 203 });
    assert.deepEqual(failure, { sum: 203 });
    await connection.disconnect();
  });

  test('a master on another channel gets SlaveChannelInvalidError (403, 202) and no registry entry', async () => {
    const other = await startMaster({ channel: 233 });
    try {
      const connection = other.newConnection('wrong', '127.0.0.1', slave.port);
      const err = await connection.connect().then(
        () => assert.fail('connect should fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof SlaveChannelInvalidError);
      assert.ok(err instanceof SlaveResponseError);
      assert.equal(err.statusCode, 403);
      assert.equal(err.code, SlaveErrorCode.CHANNEL_INVALID);
      assert.equal(err.message, 'Channel not match with this endpoint.');
      assert.equal(other.has('wrong'), false);
      assert.equal(other.registry.size, 0, 'no pending entry left behind');
      assert.equal(slave.isConnected, false);
    } finally {
      await other.close();
    }
  });
});

describe('hooks and typed errors', () => {
  test('options.hooks and subclass overrides see the reference arguments', async () => {
    const slave = await startSlave({
      heartbeatSpan: 0.2,
      processTask: (d) => d,
      hooks: {
        beforeTask: (data) => {
          if ((data as { refuse?: boolean }).refuse) throw new TaskRefuse({ reason: 'no thanks' });
        },
      },
    });
    const calls: unknown[][] = [];
    const master = await startMaster({
      hooks: {
        beforeConnect: () => ({ hello: 'slave' }),
        afterConnect: (status, success, code, message, data) => {
          calls.push(['afterConnect', status, success, code, message, data]);
          return 'connected!';
        },
        beforeNewTask: (data) => ({ ...(data as object), stamped: true }),
        errorNewTask: (error) => {
          calls.push(['errorNewTask', (error as SlaveResponseError).code]);
          return 'handled';
        },
      },
    });
    try {
      const connection = master.newConnection('hooks', '127.0.0.1', slave.port);
      assert.equal(await connection.connect(), 'connected!');
      assert.deepEqual(calls[0], ['afterConnect', 200, true, 0, 'Connect success.', null]);
      const ok = await connection.newTask({ x: 1 }).start();
      await ok.join();
      assert.deepEqual(ok.result, { x: 1, stamped: true }, 'beforeNewTask changed what was sent');
      const refused = connection.newTask({ refuse: true });
      await refused.start();
      assert.equal(refused.status, TaskStatus.START_FAILED);
      assert.equal(refused.startValue, 'handled');
      assert.ok(refused.error instanceof SlaveTaskRefusedError);
      assert.deepEqual(calls[1], ['errorNewTask', SlaveErrorCode.TASK_REFUSED]);
      assert.equal(
        (await refused.join()).status,
        TaskStatus.START_FAILED,
        'join settles after a failed start',
      );
    } finally {
      await master.close();
      await slave.close();
    }
  });

  test('every hook of the table is called with its arguments, the connection last; a class instance may hold them', async () => {
    let refuse = true;
    const slave = await startSlave({
      heartbeatSpan: 0.2,
      processTask: (d) => d,
      hooks: {
        beforeConnection: () => {
          if (refuse) throw new ConnectionRefuse({ why: 'not yet' });
        },
        beforeDisconnection: () => {
          if (refuse) throw new DisconnectionRefuse({ why: 'not yet' });
        },
      },
    });
    const calls: [string, unknown[]][] = [];
    // hooks on a class's prototype, as a user may write them: each records its name and arguments
    class Recorder {
      beforeConnect(...args: unknown[]) {
        calls.push(['beforeConnect', args]);
      }
      afterConnect(...args: unknown[]) {
        calls.push(['afterConnect', args]);
      }
      errorConnect(...args: unknown[]) {
        calls.push(['errorConnect', args]);
        return 'connect failed';
      }
      beforeDisconnect(...args: unknown[]) {
        calls.push(['beforeDisconnect', args]);
      }
      afterDisconnect(...args: unknown[]) {
        calls.push(['afterDisconnect', args]);
      }
      errorDisconnect(...args: unknown[]) {
        calls.push(['errorDisconnect', args]);
        return 'disconnect failed';
      }
      beforeNewTask(...args: unknown[]) {
        calls.push(['beforeNewTask', args]);
        return args[0];
      }
      afterNewTask(...args: unknown[]) {
        calls.push(['afterNewTask', args]);
      }
      errorNewTask(...args: unknown[]) {
        calls.push(['errorNewTask', args]);
      }
    }
    const master = await startMaster({ hooks: new Recorder() });
    try {
      const connection = master.newConnection('all-hooks', '127.0.0.1', slave.port);
      assert.equal(await connection.connect(), 'connect failed');
      refuse = false;
      await connection.connect();
      const task = connection.newTask({ n: 1 });
      await task.start();
      await task.join();
      refuse = true;
      assert.equal(await connection.disconnect(), 'disconnect failed');
      refuse = false;
      await connection.disconnect();
      const late = await connection.newTask({ n: 2 }).start(); // errorNewTask returns: start() does not reject
      assert.equal(late.status, TaskStatus.START_FAILED);
      const seen = (name: string) => calls.filter(([n]) => n === name).map(([, args]) => args);
      for (const name of Object.keys(kConnectionHooks)) {
        assert.ok(seen(name).length > 0, `${name} was called`);
        for (const args of seen(name)) assert.equal(args.at(-1), connection, `${name}: the connection last`);
      }
      const [refusedConnect] = seen('errorConnect');
      assert.ok(refusedConnect?.[0] instanceof SlaveConnectionRefusedError);
      assert.deepEqual(seen('afterConnect')[0]?.slice(0, 5), [200, true, 0, 'Connect success.', null]);
      assert.deepEqual(seen('beforeNewTask')[0]?.[0], { n: 1 });
      assert.equal(seen('afterNewTask')[0]?.[0], 200);
      assert.ok(seen('errorDisconnect')[0]?.[0] instanceof SlaveDisconnectionRefusedError);
      assert.deepEqual(seen('afterDisconnect')[0]?.slice(0, 5), [200, true, 0, 'Disconnect success.', null]);
    } finally {
      await master.close();
      await slave.close();
    }
  });

  test('without an error hook, a refused task rejects start() with the typed error and join() settles', async () => {
    const slave = await startSlave({
      processTask: (d) => d,
      hooks: {
        beforeTask: () => {
          throw new TaskRefuse({ busy: true });
        },
      },
    });
    const master = await startMaster();
    try {
      const connection = master.newConnection('refuse', '127.0.0.1', slave.port);
      await connection.connect();
      const task = connection.newTask({});
      const err = await task.start().then(
        () => assert.fail('start should reject'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof SlaveTaskRefusedError);
      assert.equal(err.statusCode, 403);
      assert.equal(err.code, 602);
      assert.deepEqual(err.data, { busy: true });
      await task.join();
      assert.equal(task.status, TaskStatus.START_FAILED);
    } finally {
      await master.close();
      await slave.close();
    }
  });

  test('a slave that cannot be reached: RequestFailedError after retries, START_FAILED', async () => {
    const master = await startMaster({ requestRetries: 1, requestRetryWaiting: 0.01 });
    const slave = await startSlave();
    const port = slave.port;
    await slave.close(); // nothing listens there any more
    try {
      const connection = master.newConnection('gone', '127.0.0.1', port);
      await assert.rejects(connection.connect(), (err: Error & { code?: string; attempts?: number }) => {
        assert.equal(err.code, 'REQUEST_FAILED');
        assert.equal(err.attempts, 2);
        return true;
      });
      assert.equal(master.registry.size, 0);
    } finally {
      await master.close();
    }
  });

  test('a subclass overrides hooks and processTask', async () => {
    const { Master, Slave } = await import('../src/index.ts');
    class SumSlave extends Slave {
      override processTask(data: unknown) {
        const { a, b } = data as { a: number; b: number };
        return { sum: a + b };
      }
    }
    let afterCalled = 0;
    class CountingMaster extends Master {
      override afterConnect() {
        afterCalled++;
        return 'sub';
      }
    }
    const slave = await new SumSlave({ host: '127.0.0.1', port: 0 }).start();
    const master = await new CountingMaster({ host: '127.0.0.1', port: 0 }).start();
    try {
      const connection = master.newConnection('sub', '127.0.0.1', slave.port);
      assert.equal(await connection.connect(), 'sub');
      assert.equal(afterCalled, 1);
      const task = await connection.newTask({ a: 40, b: 2 }).start();
      await task.join();
      assert.deepEqual(task.result, { sum: 42 });
    } finally {
      await master.close();
      await slave.close();
    }
  });
});
