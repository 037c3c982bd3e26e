// Results a hostile or broken peer (or handler) can produce, against real masters and real pool threads: whatever
// one result does on its thread, only its own task is affected, and the master never exits.
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';
import { type Master, type Task, TaskEndCode, type TaskEndedError, TaskStatus } from '../src/index.ts';
import type { SlaveConnection } from '../src/master/connection.ts';
import { PoolResultStage } from '../src/master/results/pool-stage.ts';
import type { ResultJob, StageHost } from '../src/master/results/stage.ts';
import { type DiEngineSlave, startDiEngineSlave } from './helpers/di-engine-slave.ts';
import { freePort, startMaster } from './helpers/fleet.ts';
import { type RawAnswer, RawConnection, type RawRequest, serialise } from './helpers/raw-http.ts';

const fixture = (name: string) => new URL(`./fixtures/handlers/${name}.ts`, import.meta.url);

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));
after(() => assert.deepEqual(unhandled, [], 'no unhandled rejection in this file'));

/** A JSON array nested `depth` deep. */
const deepArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

/** A result request as a DI-engine slave sends it (no Task-Id, no Content-Type), its result given as JSON text. */
function resultRequest(token: string, taskId: string, resultJson: string): RawRequest {
  return {
    method: 'PUT',
    path: '/slave/task/complete',
    headers: { Channel: '0', Token: token },
    body: `{"task":{"id":"${taskId}"},"result":${resultJson}}`,
  };
}

/**
 * Sends requests so that the master finishes reading all of them in one event-loop turn, in this order: each on
 * its own socket (uWS closes a connection that pipelines a request behind one still unanswered), all but the
 * last byte first, then every last byte in one go. The results then reach the stage together and are handed to
 * one thread in one batch, in this order.
 */
async function sendTogether(port: number, requests: RawRequest[]): Promise<RawAnswer[]> {
  const connections = await Promise.all(requests.map(() => RawConnection.open(port)));
  try {
    const bytes = requests.map((r) => serialise(r));
    for (const [i, c] of connections.entries()) c.write(bytes[i]!.subarray(0, -1));
    await sleep(100); // lets the master read the bulk of each body
    for (const [i, c] of connections.entries()) c.write(bytes[i]!.subarray(-1));
    const answers = await Promise.all(connections.map((c) => c.next()));
    return answers.map((a, i) => {
      if (a[0] === undefined) throw new Error(`request ${i} got no answer`);
      return a[0];
    });
  } finally {
    for (const c of connections) c.destroy();
  }
}

/**
 * `n` DI-engine slaves, each running one task that never reports by itself: the test sends each task's result,
 * as raw bytes, with that slave's token.
 */
async function silentFleet(master: Master, n: number) {
  const slaves: DiEngineSlave[] = [];
  const tasks: Task[] = [];
  const tokens: string[] = [];
  for (let i = 0; i < n; i++) {
    const slave = await startDiEngineSlave(() => new Promise(() => undefined));
    slaves.push(slave);
    const connection = master.newConnection(`silent${i}`, '127.0.0.1', slave.port);
    await connection.connect();
    tokens.push(connection.token);
    tasks.push(await connection.newTask({ i }).start());
  }
  return { tasks, tokens, close: () => Promise.all(slaves.map((s) => s.close())) };
}

/**
 * Waits for `work`, failing at once if an exception or a rejection escapes into the event loop meanwhile: it
 * would end a real master, and under the test runner (which catches it) the results it held would wait for ever.
 */
async function withoutEscapes<T>(work: Promise<T>): Promise<T> {
  let onEscape: (err: unknown) => void = () => undefined;
  const escaped = new Promise<never>((_, reject) => {
    onEscape = (err) => reject(new Error(`an exception escaped into the event loop: ${String(err)}`));
  });
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
  try {
    return await Promise.race([work, escaped]);
  } finally {
    process.off('uncaughtException', onEscape);
    process.off('unhandledRejection', onEscape);
  }
}

function assertHandlerFailed(task: Task, pattern: RegExp, what: string): void {
  assert.equal(task.status, TaskStatus.FAILED, what);
  assert.equal((task.error as TaskEndedError).code, TaskEndCode.RESULT_HANDLER_FAILED, what);
  assert.match(task.error!.message, pattern, what);
}

describe('a result a thread cannot send back', () => {
  test('a 200,000-deep JSON array beside tiny results, in one turn, does not take down a master with default options', async () => {
    const slave = await startDiEngineSlave((d) => d);
    const port = await freePort();
    const child = fork(
      fileURLToPath(new URL('./fixtures/master-process.ts', import.meta.url)),
      [`--port=${port}`, `--slave-port=${slave.port}`, '--result-threads=default'],
      { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
    );
    const exited = once(child, 'exit');
    try {
      const [{ token }] = (await once(child, 'message')) as [{ token: string }];
      // the deep bodies (400 KB) went to the thread alone; before they are handed over again they must still
      // be here, and nothing that goes wrong around the thread may throw out of the stage
      const answers = await sendTogether(port, [
        resultRequest(token, randomUUID(), deepArray(200_000)),
        resultRequest(token, randomUUID(), deepArray(200_000)),
        resultRequest(token, randomUUID(), '{"tiny":1}'),
      ]);
      // unknown task ids: acknowledged (200, "ignored") once decoded and handled, whatever the value was
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 200, 200],
      );
      const [later] = await sendTogether(port, [resultRequest(token, randomUUID(), '{"later":1}')]);
      assert.equal(later?.status, 200, 'the master still serves');
      assert.equal(child.exitCode, null, 'the master process is still running');
    } finally {
      child.kill('SIGKILL');
      await exited;
      await slave.close();
    }
  });

  test('each value is judged on its own: one too deep to cross fails its own task, never a neighbour', async () => {
    const master = await startMaster({ resultThreads: 1, resultTimeLimit: 5 });
    const fleet = await silentFleet(master, 4);
    try {
      const [tooDeepForThread, tooDeepForMain, tiny, large] = fleet.tasks as [Task, Task, Task, Task];
      const padding = 'x'.repeat(100 * 1024);
      const answers = await withoutEscapes(
        sendTogether(master.port, [
          // 30,000 levels: more than a pool thread's stack can serialise
          resultRequest(fleet.tokens[0]!, tooDeepForThread.id, deepArray(30_000)),
          // 8,000 levels: a thread can write it, the main thread (a quarter of the stack) cannot read it back
          resultRequest(fleet.tokens[1]!, tooDeepForMain.id, deepArray(8_000)),
          resultRequest(fleet.tokens[2]!, tiny.id, '{"tiny":1}'),
          resultRequest(fleet.tokens[3]!, large.id, `{"padding":"${padding}"}`),
        ]),
      );
      assert.deepEqual(
        answers.map((a) => [a.status, a.json?.code]),
        [
          [200, 0],
          [200, 0],
          [200, 0],
          [200, 0],
        ],
      );
      await withoutEscapes(Promise.all(fleet.tasks.map((t) => t.join())));
      assertHandlerFailed(tooDeepForThread, /cannot cross to the main thread \(.*call stack/, '30,000 deep');
      assertHandlerFailed(tooDeepForMain, /cannot be read on the main thread \(.*call stack/, '8,000 deep');
      assert.equal(tiny.status, TaskStatus.COMPLETED, 'the tiny neighbour');
      assert.deepEqual(tiny.result, { tiny: 1 });
      assert.equal(large.status, TaskStatus.COMPLETED, 'the 100 KiB neighbour');
      assert.deepEqual(large.result, { padding });
      assert.equal(master.stats().resultsFailed, 2);
    } finally {
      // not close(): before the fix, a result the stage lost would keep a graceful close waiting for ever
      await master.destroy();
      await fleet.close();
    }
  });

  test('a handler value that cannot be cloned (a function) fails only its own task', async () => {
    const master = await startMaster({ resultHandler: fixture('values'), resultThreads: 1 });
    const fleet = await silentFleet(master, 3);
    try {
      const [before, bad, behind] = fleet.tasks as [Task, Task, Task];
      await withoutEscapes(
        sendTogether(master.port, [
          resultRequest(fleet.tokens[0]!, before.id, '{"n":1}'),
          resultRequest(fleet.tokens[1]!, bad.id, '{"make":"function"}'),
          resultRequest(fleet.tokens[2]!, behind.id, '{"n":3}'),
        ]),
      );
      await withoutEscapes(Promise.all(fleet.tasks.map((t) => t.join())));
      assertHandlerFailed(bad, /cannot cross to the main thread \(.*could not be cloned/, 'the function');
      assert.deepEqual([before.status, before.result], [TaskStatus.COMPLETED, { n: 1 }]);
      assert.deepEqual([behind.status, behind.result], [TaskStatus.COMPLETED, { n: 3 }]);
    } finally {
      // not close(): before the fix, a result the stage lost would keep a graceful close waiting for ever
      await master.destroy();
      await fleet.close();
    }
  });
});

describe('a thread that dies under a batch', () => {
  test('a handler past its time limit beside a 100 KiB result: that result is handed over again, intact', async () => {
    const master = await startMaster({
      resultHandler: fixture('hangs'),
      resultThreads: 1,
      resultTimeLimit: 0.3,
    });
    const fleet = await silentFleet(master, 2);
    try {
      const [large, stuck] = fleet.tasks as [Task, Task];
      const padding = 'y'.repeat(100 * 1024);
      // the large one runs first; its value dies with the thread when the second one hangs, so it goes back to
      // the queue: its body must still be here (the thread only ever got a copy)
      await withoutEscapes(
        sendTogether(master.port, [
          resultRequest(fleet.tokens[0]!, large.id, `{"padding":"${padding}"}`),
          resultRequest(fleet.tokens[1]!, stuck.id, '{"hang":true}'),
        ]),
      );
      await withoutEscapes(Promise.all(fleet.tasks.map((t) => t.join())));
      assertHandlerFailed(stuck, /time limit of 0.3 s/, 'the hung one');
      assert.equal(large.status, TaskStatus.COMPLETED, 'the large neighbour');
      assert.deepEqual(large.result, { padding });
    } finally {
      // not close(): before the fix, a result the stage lost would keep a graceful close waiting for ever
      await master.destroy();
      await fleet.close();
    }
  });

  test('a handler that crashes its thread beside a 100 KiB result: that result is handed over again, intact', async () => {
    const master = await startMaster({ resultHandler: fixture('crashes'), resultThreads: 1 });
    const fleet = await silentFleet(master, 2);
    try {
      const [waiting, crashing] = fleet.tasks as [Task, Task];
      await withoutEscapes(
        sendTogether(master.port, [
          resultRequest(fleet.tokens[0]!, waiting.id, `{"padding":"${'z'.repeat(100 * 1024)}"}`),
          resultRequest(fleet.tokens[1]!, crashing.id, '{"crash":true}'),
        ]),
      );
      await withoutEscapes(Promise.all(fleet.tasks.map((t) => t.join())));
      assertHandlerFailed(crashing, /crashed its thread/, 'the crashing one');
      assert.equal(waiting.status, TaskStatus.COMPLETED, 'handed over again to a fresh thread');
      assert.equal((waiting.result as { padding: string }).padding.length, 100 * 1024);
    } finally {
      // not close(): before the fix, a result the stage lost would keep a graceful close waiting for ever
      await master.destroy();
      await fleet.close();
    }
  });
});

describe("a peer's MessagePack", () => {
  test('an int64 reaches its task as a number; a structured-clone (cyclic) body is refused 400/601', async () => {
    const master = await startMaster({ resultThreads: 1 });
    const fleet = await silentFleet(master, 2);
    try {
      const [counted, cyclic] = fleet.tasks as [Task, Task];
      const msgpack = (token: string, body: Uint8Array): RawRequest => ({
        method: 'PUT',
        path: '/slave/task/complete',
        headers: { Channel: '0', Token: token, 'Content-Type': 'application/msgpack' },
        body: Buffer.from(body),
      });
      // {"task": {"id": ...}, "result": {"count": int64 5000000000}}, as msgpack-python writes it
      const idBytes = Buffer.from(counted.id);
      const int64Body = Buffer.concat([
        Buffer.from([
          0x82,
          0xa4,
          ...Buffer.from('task'),
          0x81,
          0xa2,
          ...Buffer.from('id'),
          0xd9,
          idBytes.length,
        ]),
        idBytes,
        Buffer.from([0xa6, ...Buffer.from('result'), 0x81, 0xa5, ...Buffer.from('count'), 0xd3]),
        Buffer.from('000000012a05f200', 'hex'),
      ]);
      // an array that holds itself (msgpackr rebuilds such a cycle unless told not to)
      const loop: unknown[] = [1];
      loop.push(loop);
      const cyclicBody = new Packr({ useRecords: false, structuredClone: true }).pack({
        task: { id: cyclic.id },
        result: { loop },
      });
      const answers = await withoutEscapes(
        sendTogether(master.port, [
          msgpack(fleet.tokens[0]!, int64Body),
          msgpack(fleet.tokens[1]!, cyclicBody),
        ]),
      );
      assert.deepEqual(
        answers.map((a) => [a.status, a.json?.code]),
        [
          [200, 0],
          [400, 601],
        ],
      );
      await counted.join();
      assert.deepEqual(counted.result, { count: 5_000_000_000 });
      assert.equal(cyclic.status, TaskStatus.STARTED, 'an invalid body settles nothing');
    } finally {
      await master.destroy();
      await fleet.close();
    }
  });
});

describe("the stage's own callbacks", () => {
  test('a host that throws while a result is applied: that result rejects, its neighbours settle, nothing escapes', async () => {
    const fault = new Error('the host failed');
    const host: StageHost = {
      deliver: (_job, _taskId, value) => {
        if ((value as { fault?: boolean }).fault) throw fault;
        return { kind: 'delivered' };
      },
      fail: () => ({ kind: 'delivered' }),
      handled: () => undefined,
    };
    const stage = new PoolResultStage(host, {
      handler: undefined,
      threads: 1,
      timeLimitMs: 5000,
      maxBatch: 64,
    });
    const job = (result: unknown): ResultJob => ({
      outcome: 'complete',
      connection: { name: 'direct' } as SlaveConnection,
      body: Buffer.from(JSON.stringify({ task: { id: randomUUID() }, result })),
      contentType: '',
      taskIdHint: '',
    });
    try {
      // submitted in one turn: one batch, whose verdicts are applied in one callback
      const submitted = [
        stage.submit(job({ n: 1 })),
        stage.submit(job({ fault: true })),
        stage.submit(job({ n: 3 })),
      ];
      const settled = await withoutEscapes(Promise.allSettled(submitted));
      assert.deepEqual(
        settled.map((s) => s.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      assert.equal((settled[1] as PromiseRejectedResult).reason, fault);
      assert.equal(stage.held, 0, 'nothing is left held');
    } finally {
      await stage.destroy();
    }
  });
});
