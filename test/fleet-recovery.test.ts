// Re-dispatch and fencing: lost slaves (real processes, SIGKILLed), refused tasks and unreachable slaves give a
// task another attempt on another slave; a late result of an earlier attempt is acknowledged and ignored, so the
// caller sees exactly one outcome. Also tags, and the cancel extension telling a fleetmaster slave to stop.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  SlaveTaskRefusedError,
  type Task,
  TaskEndCode,
  type TaskEndedError,
  TaskRefuse,
  TaskStatus,
} from '../src/index.ts';
import { deferred } from './helpers/deferred.ts';
import { type ChildSlave, spawnSlave, startMaster, startSlave, waitFor } from './helpers/fleet.ts';

describe('re-dispatch', () => {
  test('slave processes SIGKILLed mid-task: with retries every task completes once, the lost ones on another slave', async () => {
    const master = await startMaster({ heartbeatTolerance: 0.6, heartbeatCheckSpan: 0.1 });
    const children: ChildSlave[] = await Promise.all(
      [0, 1, 2].map(() => spawnSlave({ 'work-ms': 1500, 'heartbeat-span': 0.2 })),
    );
    try {
      for (const [i, child] of children.entries()) {
        await master.newConnection(`s${i}`, '127.0.0.1', child.port).connect();
      }
      const completions = new Map<Task, number>();
      const tasks = Array.from({ length: 6 }, (_, i) => master.submit({ a: i, b: 100 }, { retries: 2 }));
      for (const task of tasks) {
        completions.set(task, 0);
        task.onComplete(() => completions.set(task, completions.get(task)! + 1));
      }
      await waitFor(
        'three tasks run',
        () => tasks.filter((t) => t.status === TaskStatus.STARTED).length === 3,
      );
      const victim = children[1]!;
      const held = tasks.filter((t) => t.slave === 's1' && t.status === TaskStatus.STARTED);
      assert.equal(held.length, 1, 'a slave of concurrency 1 holds one task');
      victim.child.kill('SIGKILL');
      await once(victim.child, 'exit');
      await Promise.all(tasks.map((t) => t.join()));
      for (const [i, task] of tasks.entries()) {
        assert.equal(task.status, TaskStatus.COMPLETED, `task ${i}: ${task.error?.message}`);
        assert.deepEqual(task.result, { sum: i + 100 });
        assert.equal(completions.get(task), 1, `task ${i} completed exactly once`);
      }
      const [lost] = held;
      assert.equal(lost!.attempts, 2, 'the task the dead slave held took a second attempt');
      assert.notEqual(lost!.slave, 's1', 'on another slave');
      assert.equal(master.has('s1'), false, 'the dead slave was evicted');
      const stats = master.stats();
      assert.equal(stats.taskRetries, 1);
      assert.equal(stats.tasksCompleted, 6);
      assert.equal(stats.resultsDelivered, 6);
      assert.equal(stats.tasksCreated, stats.tasksCompleted + stats.tasksFailed + stats.tasksCancelled);
    } finally {
      for (const c of children) c.child.kill('SIGKILL');
      await master.close();
    }
  });

  test('without retries left a lost task fails as before, with SLAVE_LOST', async () => {
    const master = await startMaster({ heartbeatTolerance: 0.6, heartbeatCheckSpan: 0.1 });
    const { child, port } = await spawnSlave({ 'work-ms': 60_000, 'heartbeat-span': 0.2 });
    try {
      await master.newConnection('doomed', '127.0.0.1', port).connect();
      const task = master.submit({ a: 1, b: 2 }, { retries: 1 });
      const other = master.submit({ a: 1, b: 2 });
      await waitFor('it runs', () => task.status === TaskStatus.STARTED);
      child.kill('SIGKILL');
      // the first loss puts it back; with no slave left it waits, and the queued one waits too
      await waitFor('put back', () => task.status === TaskStatus.QUEUED);
      assert.equal(task.attempts, 1);
      const second = await spawnSlave({ 'work-ms': 60_000, 'heartbeat-span': 0.2 });
      try {
        await master.newConnection('doomed-too', '127.0.0.1', second.port).connect();
        await waitFor('its second attempt runs', () => task.status === TaskStatus.STARTED);
        second.child.kill('SIGKILL');
        await task.join();
        assert.equal(task.status, TaskStatus.FAILED);
        assert.equal((task.error as TaskEndedError).code, TaskEndCode.SLAVE_LOST);
        assert.equal(task.attempts, 2);
        assert.equal(task.slave, 'doomed-too');
        assert.equal(other.status, TaskStatus.QUEUED, 'never ran: no slave was free for it');
      } finally {
        second.child.kill('SIGKILL');
      }
    } finally {
      child.kill('SIGKILL');
      await master.close();
    }
  });

  test('a refused task (TaskRefuse) counts as an attempt and goes to another slave; without retries it fails to start', async () => {
    const master = await startMaster();
    const refuser = await startSlave({
      processTask: (d) => d,
      hooks: {
        beforeTask: () => {
          throw new TaskRefuse({ why: 'busy elsewhere' });
        },
      },
    });
    const worker = await startSlave({ processTask: () => ({ done: true }) });
    try {
      // connected first, so it has been idle the longest: the policy picks it first
      await master.newConnection('refuser', '127.0.0.1', refuser.port).connect();
      await sleep(20);
      await master.newConnection('worker', '127.0.0.1', worker.port).connect();
      const task = await master.submit({}, { retries: 1 }).join();
      assert.equal(task.status, TaskStatus.COMPLETED);
      assert.equal(task.attempts, 2);
      assert.equal(task.slave, 'worker');
      await master.delete('worker');
      const alone = await master.submit({}).join();
      assert.equal(alone.status, TaskStatus.START_FAILED);
      assert.ok(alone.error instanceof SlaveTaskRefusedError, 'alone.error instanceof SlaveTaskRefusedError');
      assert.equal(alone.slave, 'refuser');
      assert.equal(master.stats().taskRetries, 1);
    } finally {
      await master.close();
      await refuser.close();
      await worker.close();
    }
  });

  test('fencing: an attempt whose /task/new timed out runs anyway; its late result is acknowledged, ignored and never delivered', async () => {
    const master = await startMaster({ requestTimeout: 0.3, requestRetries: 0 });
    const slowRan = deferred();
    const slow = await startSlave({
      heartbeatSpan: 0.2,
      // accepts, but answers /task/new only after the master gave up on it; then runs the task all the same
      hooks: { beforeTask: () => sleep(800) },
      processTask: (data) => {
        slowRan.resolve();
        return { from: 'slow', data };
      },
    });
    const fast = await startSlave({ heartbeatSpan: 0.2, processTask: (data) => ({ from: 'fast', data }) });
    try {
      await master.newConnection('slow', '127.0.0.1', slow.port).connect();
      await sleep(20);
      await master.newConnection('fast', '127.0.0.1', fast.port).connect();
      let delivered = 0;
      const task = master.submit({ n: 1 }, { retries: 1 }).onComplete(() => delivered++);
      await task.join();
      assert.equal(task.status, TaskStatus.COMPLETED);
      assert.deepEqual(task.result, { from: 'fast', data: { n: 1 } });
      assert.equal(task.attempts, 2);
      const ignoredBefore = master.stats().resultsIgnored;
      await slowRan.promise;
      await waitFor(
        'the late result came and was ignored',
        () => master.stats().resultsIgnored > ignoredBefore,
      );
      assert.equal(delivered, 1, 'the caller saw one outcome');
      assert.deepEqual(task.result, { from: 'fast', data: { n: 1 } }, 'the late result changed nothing');
      assert.equal(master.stats().resultsDelivered, 1);
    } finally {
      await master.close();
      await slow.close();
      await fast.close();
    }
  });
});

test('fencing on one slave: a retry lands on the same slave, and the earlier attempt reporting first is not taken for it', async () => {
  const master = await startMaster({ requestTimeout: 0.3, requestRetries: 0 });
  let hooks = 0;
  let runs = 0;
  const slave = await startSlave({
    heartbeatSpan: 0.2,
    concurrency: 2,
    // the first /task/new is answered long after the master gave up on it (and sent the retry here); it then runs
    // all the same, and reports before the retry does
    hooks: { beforeTask: () => (++hooks === 1 ? sleep(1000) : undefined) },
    processTask: async () => {
      if (++runs === 1) {
        await sleep(1500); // the retry: the first to run, the last to report
        return { attempt: 'current' };
      }
      return { attempt: 'late' };
    },
  });
  try {
    await master.newConnection('only', '127.0.0.1', slave.port).connect();
    const task = master.submit({}, { retries: 1 });
    await task.join();
    assert.equal(task.attempts, 2);
    assert.equal(task.slave, 'only');
    assert.deepEqual(task.result, { attempt: 'current' });
    assert.equal(runs, 2, 'both attempts ran');
    assert.equal(master.stats().resultsIgnored, 1, "the first attempt's result was acknowledged and ignored");
    assert.equal(master.stats().resultsDelivered, 1);
  } finally {
    await master.close();
    await slave.close();
  }
});

describe('tags', () => {
  test('a task runs only on a slave carrying every tag; one waiting for a tag blocks no other task', async () => {
    const master = await startMaster();
    const slaves = await Promise.all(
      ['cpu', 'gpu', 'gpu-big', 'tpu'].map(() =>
        startSlave({
          concurrency: 2,
          processTask: async (d) => {
            await sleep(2);
            return d;
          },
        }),
      ),
    );
    try {
      const [cpu, gpu, gpuBig, tpu] = slaves;
      await master.newConnection('cpu', '127.0.0.1', cpu!.port).connect();
      await master.newConnection('gpu', '127.0.0.1', gpu!.port, { tags: ['gpu'] }).connect();
      await master.newConnection('gpu-big', '127.0.0.1', gpuBig!.port, { tags: ['big', 'gpu'] }).connect();
      const tpuConnection = master.newConnection('tpu', '127.0.0.1', tpu!.port, { tags: ['tpu'] });
      const waiting = master.submit({ n: 'tpu' }, { tags: ['tpu'] });
      const big = Array.from({ length: 10 }, (_, n) => master.submit({ n }, { tags: ['gpu', 'big'] }));
      const anyGpu = Array.from({ length: 10 }, (_, n) => master.submit({ n }, { tags: ['gpu'] }));
      const plain = Array.from({ length: 10 }, (_, n) => master.submit({ n }));
      await Promise.all([...big, ...anyGpu, ...plain].map((t) => t.join()));
      assert.ok(
        [...big, ...anyGpu, ...plain].every((t) => t.status === TaskStatus.COMPLETED),
        '[...big, ...anyGpu, ...plain].every((t) => t.status === TaskStatus.COM',
      );
      assert.deepEqual(new Set(big.map((t) => t.slave)), new Set(['gpu-big']));
      for (const t of anyGpu) assert.ok(t.slave === 'gpu' || t.slave === 'gpu-big', String(t.slave));
      assert.equal(
        waiting.status,
        TaskStatus.QUEUED,
        'no tpu slave yet: it waits, and nothing waited behind it',
      );
      await tpuConnection.connect();
      await waiting.join();
      assert.equal(waiting.status, TaskStatus.COMPLETED);
      assert.equal(waiting.slave, 'tpu');
      const status = master.status();
      assert.deepEqual(status.slaves.find((s) => s.name === 'gpu-big')?.tags, ['big', 'gpu']);
      assert.equal(status.slaves.find((s) => s.name === 'cpu')?.capacity, 2);
    } finally {
      await master.close();
      await Promise.all(slaves.map((s) => s.close()));
    }
  });
});

describe('cancel extension', () => {
  test("a fleetmaster slave is told to stop: processTask's signal aborts, and its slot is free once it reported", async () => {
    const master = await startMaster();
    const aborted = deferred<unknown>();
    const slave = await startSlave({
      heartbeatSpan: 0.2,
      processTask: (data, signal) => {
        if ((data as { n: number }).n !== 1) return { ok: data };
        return new Promise((_, reject) => {
          signal.addEventListener('abort', () => {
            aborted.resolve(signal.reason);
            reject(signal.reason);
          });
        });
      },
    });
    try {
      await master.newConnection('fm', '127.0.0.1', slave.port).connect();
      const task = master.submit({ n: 1 });
      await waitFor('it runs', () => task.status === TaskStatus.STARTED);
      const ignoredBefore = master.stats().resultsIgnored;
      task.cancel('changed my mind');
      assert.equal(task.status, TaskStatus.CANCELLED);
      const reason = await aborted.promise;
      assert.match(String((reason as Error).message), /cancelled by the master/);
      await waitFor(
        'its result came back and was ignored',
        () => master.stats().resultsIgnored > ignoredBefore,
      );
      await waitFor('the slot is free', () => master.stats().freeSlots === 1);
      const next = await master.submit({ n: 2 }).join();
      assert.equal(next.status, TaskStatus.COMPLETED);
      assert.equal(task.status, TaskStatus.CANCELLED, 'the late failure changed nothing');
    } finally {
      await master.close();
      await slave.close();
    }
  });

  test('a task cancelled or past its deadline while /task/new is in flight: the slave is told once it accepted', async () => {
    const master = await startMaster();
    let aborted = 0;
    const slave = await startSlave({
      concurrency: 2,
      hooks: { beforeTask: () => sleep(300) },
      processTask: (_data, signal) =>
        new Promise((resolve) => {
          signal.addEventListener('abort', () => {
            aborted++;
            resolve({ stopped: true });
          });
        }),
    });
    try {
      await master.newConnection('fm', '127.0.0.1', slave.port).connect();
      const late = master.submit({}, { deadline: 0.1 });
      const cancelled = master.submit({});
      await waitFor('both are being sent', () => cancelled.status === TaskStatus.STARTING);
      cancelled.cancel();
      await Promise.all([late.join(), cancelled.join()]);
      assert.equal((late.error as TaskEndedError).code, TaskEndCode.DEADLINE_EXCEEDED);
      assert.equal(cancelled.status, TaskStatus.CANCELLED);
      await waitFor('both signals aborted', () => aborted === 2);
      await waitFor('both slots are free again', () => master.stats().freeSlots === 2);
    } finally {
      await master.close();
      await slave.close();
    }
  });

  test('a deadline passing while a submitted task runs fails it and tells the slave to stop', async () => {
    const master = await startMaster();
    const aborted = deferred();
    const slave = await startSlave({
      processTask: (_data, signal) =>
        new Promise((resolve) => {
          signal.addEventListener('abort', () => {
            aborted.resolve();
            resolve({ stopped: true });
          });
        }),
    });
    try {
      await master.newConnection('fm', '127.0.0.1', slave.port).connect();
      const task = await master.submit({}, { deadline: 0.2 }).join();
      assert.equal(task.status, TaskStatus.FAILED);
      assert.equal((task.error as TaskEndedError).code, TaskEndCode.DEADLINE_EXCEEDED);
      await aborted.promise;
      await waitFor('the slot is free again', () => master.stats().freeSlots === 1);
    } finally {
      await master.close();
      await slave.close();
    }
  });
});
