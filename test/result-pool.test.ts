// Results on threads: the user's handler runs on a Piscina pool; whatever it does, only its own task is
// affected and the pool keeps serving.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  Master,
  ResultHandlerLoadError,
  type Slave,
  TaskEndCode,
  type TaskEndedError,
  TaskStatus,
} from '../src/index.ts';
import { startDiEngineSlave } from './helpers/di-engine-slave.ts';
import { quietLogger, startMaster, startSlave } from './helpers/fleet.ts';

const fixture = (name: string) => new URL(`./fixtures/handlers/${name}.ts`, import.meta.url);

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));
after(() => assert.deepEqual(unhandled, [], 'no unhandled rejection in this file'));

/** A master with one handler, and one echoing slave connected as 'echo'. */
async function rig(handler: string, extra: Parameters<typeof startMaster>[0] = {}) {
  const master = await startMaster({ resultHandler: fixture(handler), resultThreads: 1, ...extra });
  const slave = await startSlave({ processTask: (data) => data });
  const connection = master.newConnection('echo', '127.0.0.1', slave.port);
  await connection.connect();
  const run = async (data: unknown) => {
    const task = await connection.newTask(data).start();
    return task.join();
  };
  const close = async () => {
    await master.close();
    await slave.close();
  };
  return { master, slave, connection, run, close };
}

describe('result handler on a pool thread', () => {
  test('its return value becomes task.result; it sees taskId, outcome, slave and the decoded result', async () => {
    const r = await rig('returns');
    try {
      let fromCallback: unknown;
      const task = r.connection.newTask({ sum: 21 }).onComplete((_, result) => {
        fromCallback = result;
      });
      await task.start();
      await task.join();
      assert.equal(task.status, TaskStatus.COMPLETED);
      const expected = { seen: { taskId: task.id, outcome: 'complete', slave: 'echo' }, doubled: 42 };
      assert.deepEqual(task.result, expected);
      assert.deepEqual(fromCallback, expected);
    } finally {
      await r.close();
    }
  });

  test('a handler that throws fails only that task, with the reason; the next one completes', async () => {
    const r = await rig('throws');
    try {
      const bad = await r.run({ explode: true });
      assert.equal(bad.status, TaskStatus.FAILED);
      assert.equal((bad.error as TaskEndedError).code, TaskEndCode.RESULT_HANDLER_FAILED);
      assert.match(bad.error!.message, /handler exploded/);
      const good = await r.run({ fine: 1 });
      assert.equal(good.status, TaskStatus.COMPLETED);
      assert.deepEqual(good.result, { fine: 1 });
      assert.equal(r.master.stats().resultsFailed, 1);
    } finally {
      await r.close();
    }
  });

  test('a handler that hangs past its time limit fails only that task; the thread is replaced', async () => {
    const r = await rig('hangs', { resultTimeLimit: 0.3 });
    try {
      const stuck = await r.run({ hang: true });
      assert.equal(stuck.status, TaskStatus.FAILED);
      assert.equal((stuck.error as TaskEndedError).code, TaskEndCode.RESULT_HANDLER_FAILED);
      assert.match(stuck.error!.message, /time limit of 0.3 s/);
      const next = await r.run({ ok: true });
      assert.equal(next.status, TaskStatus.COMPLETED);
      assert.deepEqual(next.result, { ok: true });
    } finally {
      await r.close();
    }
  });

  test('a handler that crashes its thread fails only that task; the pool keeps serving', async () => {
    const r = await rig('crashes');
    try {
      const crashed = await r.run({ crash: true });
      assert.equal(crashed.status, TaskStatus.FAILED);
      assert.match(crashed.error!.message, /crashed its thread/);
      for (let i = 0; i < 3; i++) {
        const next = await r.run({ i });
        assert.equal(next.status, TaskStatus.COMPLETED);
        assert.deepEqual(next.result, { i });
      }
    } finally {
      await r.close();
    }
  });

  test('results handed over together with one that crashes the thread: only that one fails', async () => {
    const master = await startMaster({ resultHandler: fixture('crashes'), resultThreads: 1 });
    const slaves = await Promise.all(Array.from({ length: 8 }, () => startSlave({ processTask: (d) => d })));
    try {
      const tasks = await Promise.all(
        slaves.map(async (slave, i) => {
          const connection = master.newConnection(`c${i}`, '127.0.0.1', slave.port);
          await connection.connect();
          return connection.newTask({ i, crash: i === 3 }).start();
        }),
      );
      await Promise.all(tasks.map((t) => t.join()));
      for (const [i, task] of tasks.entries()) {
        if (i === 3) {
          assert.equal(task.status, TaskStatus.FAILED);
          assert.match(task.error!.message, /crashed its thread/);
        } else {
          assert.equal(task.status, TaskStatus.COMPLETED, `task ${i}`);
          assert.deepEqual(task.result, { i, crash: false });
        }
      }
    } finally {
      await master.close();
      await Promise.all(slaves.map((s) => s.close()));
    }
  });

  test('a large binary value crosses back intact (typed array and Buffer)', async () => {
    const r = await rig('binary');
    try {
      const n = 1_000_000;
      const task = await r.run({ n });
      assert.equal(task.status, TaskStatus.COMPLETED);
      const { samples, raw } = task.result as { samples: Float64Array; raw: Uint8Array };
      assert.ok(samples instanceof Float64Array);
      assert.equal(samples.length, n);
      assert.equal(samples[n - 1], (n - 1) * 0.5);
      assert.ok(raw instanceof Uint8Array);
      assert.equal(raw.length, n);
      assert.equal(raw[n - 1], 7);
    } finally {
      await r.close();
    }
  });

  test('results arriving together are handed over in batches and each reaches its own task', async () => {
    const master = await startMaster({ resultHandler: fixture('slow'), resultThreads: 1 });
    const slaves = await Promise.all(Array.from({ length: 12 }, () => startSlave({ processTask: (d) => d })));
    try {
      const tasks = await Promise.all(
        slaves.map(async (slave, i) => {
          const connection = master.newConnection(`s${i}`, '127.0.0.1', slave.port);
          await connection.connect();
          return connection.newTask({ ms: 30, i }).start();
        }),
      );
      await Promise.all(tasks.map((t) => t.join()));
      tasks.forEach((task, i) => {
        assert.equal(task.status, TaskStatus.COMPLETED);
        assert.deepEqual(task.result, { ms: 30, i });
      });
    } finally {
      await master.close();
      await Promise.all(slaves.map((s) => s.close()));
    }
  });
});

// `resultThreads: 0`: the same contract on the main thread (the baseline the pool is measured against).
describe('result handler inline (resultThreads: 0)', () => {
  test('its value becomes task.result; a throw fails only its task; a bad body is 400/601; nothing is left held', async () => {
    const r = await rig('returns', { resultThreads: 0, metrics: true });
    try {
      const task = await r.run({ sum: 4 });
      assert.equal(task.status, TaskStatus.COMPLETED);
      assert.deepEqual(task.result, {
        seen: { taskId: task.id, outcome: 'complete', slave: 'echo' },
        doubled: 8,
      });
      // a body that is not JSON: decoded (and refused) on the main thread as on a pool thread
      const answer = await fetch(`http://127.0.0.1:${r.master.port}/slave/task/complete`, {
        method: 'PUT',
        headers: { channel: '0', token: r.connection.token },
        body: 'not JSON',
      });
      assert.equal(answer.status, 400);
      assert.equal(((await answer.json()) as { code: number }).code, 601);
      assert.equal(r.master.stats().resultsInvalid, 1);
      assert.match((await r.master.metrics())!, /^fleetmaster_result_pool_held 0$/m);
      assert.match((await r.master.metrics())!, /^fleetmaster_result_pool_threads 0$/m);
    } finally {
      await r.close();
    }
    const t = await rig('throws', { resultThreads: 0 });
    try {
      const bad = await t.run({ explode: true });
      assert.equal(bad.status, TaskStatus.FAILED);
      assert.equal((bad.error as TaskEndedError).code, TaskEndCode.RESULT_HANDLER_FAILED);
      assert.match(bad.error!.message, /handler exploded/);
      const good = await t.run({ fine: 2 });
      assert.deepEqual(good.result, { fine: 2 });
    } finally {
      await t.close();
    }
  });

  test('without a handler the result is decoded and delivered as sent', async () => {
    const master = await startMaster({ resultThreads: 0 });
    const slave = await startSlave({ processTask: (data) => ({ echoed: data }) });
    try {
      const connection = master.newConnection('plain', '127.0.0.1', slave.port);
      await connection.connect();
      const task = await connection.newTask({ a: 1 }).start();
      await task.join();
      assert.deepEqual(task.result, { echoed: { a: 1 } });
    } finally {
      await master.close();
      await slave.close();
    }
  });
});

describe('loading the handler', () => {
  for (const [stage, resultThreads] of [
    ['a pool', 1],
    ['the inline stage', 0],
  ] as const) {
    for (const [what, name, message] of [
      ['throws while loading', 'fails-to-load', /model file weights\.bin is missing/],
      ['has no default export', 'no-default', /has no default export function/],
    ] as const) {
      test(`a handler module that ${what}: start() rejects with its error, listening nowhere (${stage})`, async () => {
        const resultHandler = fixture(name);
        const master = new Master({
          host: '127.0.0.1',
          port: 0,
          logger: quietLogger,
          resultHandler,
          resultThreads,
        });
        try {
          await assert.rejects(master.start(), (err: unknown) => {
            assert.ok(err instanceof ResultHandlerLoadError);
            assert.equal(err.code, 'FLEETMASTER_RESULT_HANDLER_LOAD');
            assert.equal(err.handler, resultHandler.href);
            assert.match(
              err.message,
              new RegExp(`^result handler ${resultHandler.href} could not be loaded: `),
            );
            assert.match(err.message, message);
            assert.match(
              String((err.cause as Error).message),
              message,
              "the module's own error is the cause",
            );
            return true;
          });
          assert.equal(master.port, -1, 'it never listened');
        } finally {
          await master.close();
        }
      });
    }
  }
});

describe('backpressure', () => {
  let master: Master;
  let slaves: Slave[];
  before(async () => {
    // room for one result at a time, each taking 40 ms of a thread: eight slaves reporting at once overflow it
    master = await startMaster({ resultHandler: fixture('slow'), resultThreads: 1, resultQueueLimit: 1 });
    slaves = await Promise.all(Array.from({ length: 8 }, () => startSlave({ processTask: (d) => d })));
  });
  after(async () => {
    await master.close();
    await Promise.all(slaves.map((s) => s.close()));
  });

  test('a full stage answers 503 to fleetmaster slaves, which retry until every result is delivered', async () => {
    const tasks = await Promise.all(
      slaves.map(async (slave, i) => {
        const connection = master.newConnection(`bp${i}`, '127.0.0.1', slave.port);
        await connection.connect();
        return connection.newTask({ ms: 40, i }).start();
      }),
    );
    await Promise.all(tasks.map((t) => t.join()));
    for (const [i, task] of tasks.entries()) {
      assert.equal(task.status, TaskStatus.COMPLETED);
      assert.deepEqual(task.result, { ms: 40, i });
    }
    const pushedBack = slaves.reduce((n, s) => n + s.stats().resultsPushedBack, 0);
    assert.ok(pushedBack > 0, 'the master pushed back at least once');
    assert.equal(master.stats().resultsDelivered, 8);
  });

  test('a DI-engine slave is never answered 503: its result is held until there is room', async () => {
    const diEngine = await startDiEngineSlave((data) => data);
    try {
      const fleet = slaves.map((_, i) => master.get(`bp${i}`));
      const diConnection = master.newConnection('di-engine', '127.0.0.1', diEngine.port);
      await diConnection.connect();
      // fill the stage from the fleetmaster slaves, and have the DI-engine slave report into the full stage
      const busy = await Promise.all(fleet.map((c, i) => c.newTask({ ms: 40, i }).start()));
      const di = await diConnection.newTask({ ms: 40, from: 'di-engine' }).start();
      await Promise.all([...busy, di].map((t) => t.join()));
      assert.equal(di.status, TaskStatus.COMPLETED);
      assert.deepEqual(di.result, { ms: 40, from: 'di-engine' });
      assert.deepEqual(diEngine.resultStatuses, [200], 'its one result request was answered 200, never 503');
    } finally {
      await diEngine.close();
    }
  });
});

describe('wire formats', () => {
  test('MessagePack both ways: typed arrays and Buffers survive without base64', async () => {
    const master = await startMaster({ resultThreads: 1 });
    let seenBySlave: unknown;
    const slave = await startSlave({
      format: 'msgpack',
      processTask: (data) => {
        seenBySlave = data;
        const { weights, blob } = data as { weights: Float32Array; blob: Uint8Array };
        return { doubled: weights.map((w) => w * 2), blobLength: blob.length, echo: blob };
      },
    });
    try {
      const connection = master.newConnection('mp', '127.0.0.1', slave.port, { msgpack: true });
      await connection.connect();
      assert.equal(connection.usesMsgpack, true);
      const weights = Float32Array.from({ length: 4096 }, (_, i) => i / 8);
      const blob = Buffer.alloc(100_000, 9);
      const task = await connection.newTask({ weights, blob }).start();
      await task.join();
      assert.equal(task.status, TaskStatus.COMPLETED);
      const seen = seenBySlave as { weights: unknown; blob: unknown };
      assert.ok(seen.weights instanceof Float32Array, 'the slave got a Float32Array, not JSON');
      assert.ok(seen.blob instanceof Uint8Array);
      const result = task.result as { doubled: Float32Array; blobLength: number; echo: Uint8Array };
      assert.ok(result.doubled instanceof Float32Array, 'the master got a Float32Array back');
      assert.equal(result.doubled[4095], (4095 / 8) * 2);
      assert.equal(result.blobLength, 100_000);
      assert.equal(result.echo.length, 100_000);
      assert.equal(result.echo[99_999], 9);
    } finally {
      await master.close();
      await slave.close();
    }
  });

  test('a DI-engine peer keeps getting JSON, and its result (no Task-Id, no Content-Type) is routed', async () => {
    const master = await startMaster({ resultThreads: 1 });
    const diEngine = await startDiEngineSlave((data) => ({ sum: (data as { a: number; b: number }).a + 3 }));
    try {
      const connection = master.newConnection('di', '127.0.0.1', diEngine.port, { msgpack: true });
      await connection.connect();
      assert.equal(connection.usesMsgpack, false, 'it announced no extension');
      const task = await connection.newTask({ a: 2, b: 3 }).start();
      await task.join();
      assert.equal(task.status, TaskStatus.COMPLETED);
      assert.deepEqual(task.result, { sum: 5 });
      assert.ok(diEngine.receivedContentTypes.every((t) => t === '' || t === 'application/json'));
      // and its heartbeats (GET with a {} body) keep it listed
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(master.has('di'), true);
    } finally {
      await master.close();
      await diEngine.close();
    }
  });
});
