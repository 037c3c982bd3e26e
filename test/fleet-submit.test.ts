// Submit to the fleet: queueing, priorities, cancellation, bad input, the bounded queue, close, and the
// scheduler's promise that a slave never holds more tasks than its slots, with real masters and slaves.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Master,
  type Slave,
  type Task,
  TaskEndCode,
  TaskEndedError,
  TaskFail,
  TaskStatus,
} from '../src/index.ts';
import { deferred } from './helpers/deferred.ts';
import { startDiEngineSlave } from './helpers/di-engine-slave.ts';
import { startMaster, startSlave, waitFor } from './helpers/fleet.ts';

/** A slave whose tasks wait until the test opens their gate; it records what it was given, in order. */
async function gatedSlave(): Promise<{
  slave: Slave;
  received: unknown[];
  open(n?: number): void;
  running(): number;
}> {
  const received: unknown[] = [];
  const gates: (() => void)[] = [];
  let running = 0;
  const slave = await startSlave({
    heartbeatSpan: 0.2,
    processTask: async (data) => {
      received.push(data);
      running++;
      const gate = deferred();
      gates.push(() => gate.resolve());
      await gate.promise;
      running--;
      return { echo: data };
    },
  });
  return {
    slave,
    received,
    open(n = gates.length) {
      for (const g of gates.splice(0, n)) g();
    },
    running: () => running,
  };
}

async function connect(master: Master, name: string, port: number, options = {}) {
  const connection = master.newConnection(name, '127.0.0.1', port, options);
  await connection.connect();
  return connection;
}

describe('submit', () => {
  test('a task waits in the queue until a slave connects, then completes there; slave and attempts are readable', async () => {
    const master = await startMaster();
    const slave = await startSlave({ processTask: (d) => ({ sum: (d as { a: number }).a + 1 }) });
    try {
      let completed: unknown;
      const task = master.submit({ a: 41 }).onComplete((_, result) => {
        completed = result;
      });
      assert.equal(task.status, TaskStatus.QUEUED);
      assert.equal(task.slave, undefined);
      assert.equal(task.attempts, 0);
      assert.equal(master.stats().tasksQueued, 1);
      await assert.rejects(task.start(), /started by the fleet scheduler/);
      await connect(master, 'only', slave.port);
      await task.join();
      assert.equal(task.status, TaskStatus.COMPLETED);
      assert.deepEqual(task.result, { sum: 42 });
      assert.deepEqual(completed, { sum: 42 });
      assert.equal(task.slave, 'only');
      assert.equal(task.attempts, 1);
      const stats = master.stats();
      assert.equal(stats.tasksQueued, 0);
      assert.equal(stats.tasksCreated, 1);
      assert.equal(stats.tasksCompleted, 1);
      assert.equal(stats.slots, 1);
      assert.equal(stats.freeSlots, 1);
    } finally {
      await master.close();
      await slave.close();
    }
  });

  test('a failure reported by the slave is FAILED with its result, and is not retried', async () => {
    const master = await startMaster();
    let calls = 0;
    const slave = await startSlave({
      processTask: () => {
        calls++;
        throw new TaskFail({ reason: 'no' });
      },
    });
    try {
      await connect(master, 's', slave.port);
      const task = await master.submit({}, { retries: 3 }).join();
      assert.equal(task.status, TaskStatus.FAILED);
      assert.deepEqual(task.result, { reason: 'no' });
      assert.equal(task.attempts, 1);
      assert.equal(calls, 1);
    } finally {
      await master.close();
      await slave.close();
    }
  });

  test('higher priority first, first in first out within a priority', async () => {
    const master = await startMaster();
    const gated = await gatedSlave();
    try {
      await connect(master, 'g', gated.slave.port);
      const blocker = master.submit({ n: 'blocker' });
      await waitFor('the blocker runs', () => gated.running() === 1);
      const tasks = [
        master.submit({ n: 'low-1' }, { priority: -1 }),
        master.submit({ n: 'mid-1' }),
        master.submit({ n: 'high-1' }, { priority: 5 }),
        master.submit({ n: 'mid-2' }),
        master.submit({ n: 'high-2' }, { priority: 5 }),
        master.submit({ n: 'low-2' }, { priority: -1 }),
      ];
      assert.ok(
        tasks.every((t) => t.status === TaskStatus.QUEUED),
        'tasks.every((t) => t.status === TaskStatus.QUEUED)',
      );
      assert.equal(master.stats().tasksQueued, 6);
      for (let i = 0; i < 7; i++) {
        await waitFor('a task runs', () => gated.running() === 1);
        gated.open(1);
        await waitFor('it reported', () => gated.running() === 0 || gated.received.length > i + 1);
      }
      await Promise.all([blocker.join(), ...tasks.map((t) => t.join())]);
      assert.deepEqual(
        gated.received.map((d) => (d as { n: string }).n),
        ['blocker', 'high-1', 'high-2', 'mid-1', 'mid-2', 'low-1', 'low-2'],
      );
    } finally {
      gated.open();
      await master.close();
      await gated.slave.close();
    }
  });

  test('bad input throws a TypeError or RangeError naming it, and nothing is queued', async () => {
    const master = await startMaster();
    try {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const cases: [unknown, unknown, RegExp][] = [
        [cyclic, undefined, /^TypeError: data must be serialisable as JSON/],
        [10n, undefined, /^TypeError: data must be serialisable as JSON/],
        [() => 1, undefined, /^TypeError: data must be serialisable as JSON \(got a function\)/],
        [{}, { retries: -1 }, /^RangeError: options\.retries must be an integer between 0 and 100/],
        [{}, { retries: 1.5 }, /^RangeError: options\.retries/],
        [{}, { priority: Number.NaN }, /^RangeError: options\.priority must be a finite number/],
        [{}, { deadline: 0 }, /^RangeError: options\.deadline must be a number of seconds > 0/],
        [{}, { signal: { aborted: false } }, /^TypeError: options\.signal must be an AbortSignal/],
        [{}, { tags: 'gpu' }, /^TypeError: options\.tags must be an array of strings/],
        [{}, { tags: [''] }, /^TypeError: options\.tags must hold non-empty strings/],
        [
          {},
          { tags: ['gpu'] },
          /^RangeError: options\.tags must name tags some connection carries.*unknown: "gpu"/,
        ],
        [{}, 'fast', /^TypeError: options must be an object/],
      ];
      for (const [data, options, message] of cases) {
        assert.throws(
          () => master.submit(data, options as never),
          (err: Error) => message.test(`${err.name}: ${err.message}`),
          String(message),
        );
      }
      const stats = master.stats();
      assert.equal(stats.tasksQueued, 0);
      assert.equal(stats.tasksCreated, 0, 'nothing was made');
      // a tag becomes known once a connection carries it (connected or not)
      master.newConnection('gpu-box', '127.0.0.1', 1, { tags: ['gpu'] });
      assert.equal(master.submit({}, { tags: ['gpu'] }).status, TaskStatus.QUEUED);
      assert.throws(
        () => master.newConnection('x', '127.0.0.1', 1, { capacity: 0 }),
        /options\.capacity must be an integer between 1 and 1024/,
      );
    } finally {
      await master.close();
    }
  });

  test(`a full queue: the next submit has FAILED with QUEUE_FULL at once, and the queue is unchanged`, async () => {
    const master = await startMaster({ queueLimit: 2 });
    try {
      const waiting = [master.submit({ n: 1 }), master.submit({ n: 2 })];
      const refused = master.submit({ n: 3 });
      assert.equal(refused.status, TaskStatus.FAILED);
      assert.ok(refused.error instanceof TaskEndedError, 'refused.error instanceof TaskEndedError');
      assert.equal((refused.error as TaskEndedError).code, TaskEndCode.QUEUE_FULL);
      assert.match(refused.error.message, /queue full: 2 tasks wait already \(queueLimit\)/);
      assert.deepEqual(refused.result, { error: 'QUEUE_FULL', message: refused.error.message });
      await refused.join();
      assert.ok(
        waiting.every((t) => t.status === TaskStatus.QUEUED),
        'waiting.every((t) => t.status === TaskStatus.QUEUED)',
      );
      assert.equal(master.stats().tasksQueued, 2);
      // room again once one leaves
      waiting[0]!.cancel();
      assert.equal(master.submit({ n: 4 }).status, TaskStatus.QUEUED);
    } finally {
      await master.close();
    }
  });

  test('close() with a full queue fails every queued task with MASTER_SHUTTING_DOWN; a later submit too', async () => {
    const master = await startMaster({ queueLimit: 50 });
    const tasks = Array.from({ length: 50 }, (_, n) => master.submit({ n }));
    let failCallbacks = 0;
    for (const t of tasks) t.onFail(() => failCallbacks++);
    await master.close();
    const settled = await Promise.all(tasks.map((t) => t.join()));
    for (const t of settled) {
      assert.equal(t.status, TaskStatus.FAILED);
      assert.equal((t.error as TaskEndedError).code, TaskEndCode.MASTER_SHUTTING_DOWN);
    }
    assert.equal(failCallbacks, 0, 'the master failed them before any slave ran them');
    const late = master.submit({ n: 'late' });
    assert.equal(late.status, TaskStatus.FAILED);
    assert.equal((late.error as TaskEndedError).code, TaskEndCode.MASTER_SHUTTING_DOWN);
    const stats = master.stats();
    assert.equal(stats.tasksQueued, 0);
    assert.equal(stats.tasksCreated, 51);
    assert.equal(stats.tasksFailed, 51);
  });
});

describe('cancel', () => {
  test('a queued task leaves the queue and never reaches a slave; no callback runs', async () => {
    const master = await startMaster();
    const gated = await gatedSlave();
    try {
      await connect(master, 'g', gated.slave.port);
      const first = master.submit({ n: 'first' });
      const doomed = master.submit({ n: 'doomed' });
      const last = master.submit({ n: 'last' });
      let callbacks = 0;
      doomed.onComplete(() => callbacks++).onFail(() => callbacks++);
      assert.equal(doomed.status, TaskStatus.QUEUED);
      assert.equal(doomed.cancel('not needed'), true);
      assert.equal(doomed.cancel(), false, 'twice');
      assert.equal(doomed.status, TaskStatus.CANCELLED);
      assert.equal((doomed.error as TaskEndedError).code, TaskEndCode.CANCELLED);
      assert.equal(doomed.error?.message, 'cancelled: not needed');
      assert.deepEqual(doomed.result, { error: 'CANCELLED', message: 'cancelled: not needed' });
      await doomed.join();
      assert.equal(master.stats().tasksQueued, 1);
      await waitFor('first runs', () => gated.running() === 1);
      gated.open();
      await waitFor('last runs', () => gated.received.length === 2 && gated.running() === 1);
      gated.open();
      await Promise.all([first.join(), last.join()]);
      assert.deepEqual(
        gated.received.map((d) => (d as { n: string }).n),
        ['first', 'last'],
      );
      assert.equal(callbacks, 0);
      assert.equal(doomed.attempts, 0);
      const stats = master.stats();
      assert.equal(stats.tasksCancelled, 1);
      assert.equal(stats.tasksCreated, stats.tasksCompleted + stats.tasksFailed + stats.tasksCancelled);
    } finally {
      gated.open();
      await master.close();
      await gated.slave.close();
    }
  });

  test('a running task on a DI-engine slave settles at once; its slot stays taken until the slave reports, whose result is ignored', async () => {
    const master = await startMaster();
    const release = deferred();
    let calls = 0;
    const di = await startDiEngineSlave(async (data) => {
      calls++;
      if ((data as { n: number }).n === 1) await release.promise;
      return { done: data };
    });
    try {
      await connect(master, 'di', di.port);
      const running = master.submit({ n: 1 });
      const next = master.submit({ n: 2 });
      await waitFor('the first runs', () => running.status === TaskStatus.STARTED);
      assert.equal(next.status, TaskStatus.QUEUED);
      const ignoredBefore = master.stats().resultsIgnored;
      assert.equal(running.cancel(), true);
      await running.join();
      assert.equal(running.status, TaskStatus.CANCELLED);
      // the DI-engine slave still works on it: nothing else is sent to it meanwhile
      await sleep(300);
      assert.equal(next.status, TaskStatus.QUEUED, 'the slot is still taken');
      assert.equal(master.stats().freeSlots, 0);
      release.resolve();
      await next.join();
      assert.equal(next.status, TaskStatus.COMPLETED);
      assert.equal(
        master.stats().resultsIgnored,
        ignoredBefore + 1,
        'its late result acknowledged and ignored',
      );
      await waitFor('both answers reached the slave', () => di.resultStatuses.length === 2);
      assert.deepEqual(di.resultStatuses, [200, 200], 'a DI-engine slave is never answered with an error');
      assert.equal(di.refusals, 0);
      assert.equal(calls, 2);
      assert.deepEqual(running.result, { error: 'CANCELLED', message: 'cancelled' });
    } finally {
      release.resolve();
      await master.close();
      await di.close();
    }
  });

  test('an AbortSignal cancels; an aborted one gives a task CANCELLED at once that was never queued', async () => {
    const master = await startMaster();
    try {
      const controller = new AbortController();
      const task = master.submit({}, { signal: controller.signal });
      assert.equal(task.status, TaskStatus.QUEUED);
      controller.abort(new Error('user gave up'));
      assert.equal(task.status, TaskStatus.CANCELLED);
      assert.equal(task.error?.message, 'cancelled: user gave up');
      const early = master.submit({}, { signal: AbortSignal.abort('too late') });
      assert.equal(early.status, TaskStatus.CANCELLED);
      assert.equal(early.error?.message, 'cancelled: too late');
      assert.equal(master.stats().tasksQueued, 0);
      assert.equal(master.stats().tasksCancelled, 2);
    } finally {
      await master.close();
    }
  });

  test('a deadline counts from submit: a task past it while queued fails with DEADLINE_EXCEEDED', async () => {
    const master = await startMaster();
    try {
      const task = master.submit({}, { deadline: 0.1 });
      await task.join();
      assert.equal(task.status, TaskStatus.FAILED);
      assert.equal((task.error as TaskEndedError).code, TaskEndCode.DEADLINE_EXCEEDED);
      assert.equal(master.stats().tasksQueued, 0);
    } finally {
      await master.close();
    }
  });
});

describe('capacity', () => {
  test('a DI-engine slave never holds two tasks: 30 tasks with a fleetmaster slave beside it, none refused', async () => {
    const master = await startMaster();
    const di = await startDiEngineSlave(async (data) => {
      await sleep(5);
      return data;
    });
    const slave = await startSlave({
      processTask: async (d) => {
        await sleep(5);
        return d;
      },
    });
    try {
      await connect(master, 'di', di.port);
      await connect(master, 'fm', slave.port);
      const tasks = Array.from({ length: 30 }, (_, n) => master.submit({ n }));
      await Promise.all(tasks.map((t) => t.join()));
      assert.ok(
        tasks.every((t) => t.status === TaskStatus.COMPLETED),
        'tasks.every((t) => t.status === TaskStatus.COMPLETED)',
      );
      assert.equal(di.refusals, 0, 'never sent a second task while busy');
      assert.ok(di.receivedTaskIds.length > 0, 'it took its share');
      const bySlave = new Map<string, number>();
      for (const t of tasks) bySlave.set(t.slave!, (bySlave.get(t.slave!) ?? 0) + 1);
      assert.equal(bySlave.get('di'), di.receivedTaskIds.length);
    } finally {
      await master.close();
      await di.close();
      await slave.close();
    }
  });
});

describe('map', () => {
  test('yields every task in completion order, never more than inFlight outstanding, never overfilling the queue', async () => {
    const master = await startMaster({ queueLimit: 3 });
    let running = 0;
    let most = 0;
    const slave = await startSlave({
      concurrency: 4,
      processTask: async (data) => {
        running++;
        most = Math.max(most, running);
        // later items finish sooner: completion order differs from submit order
        await sleep(5 + (20 - (data as { n: number }).n));
        running--;
        return data;
      },
    });
    try {
      await connect(master, 's', slave.port);
      assert.equal(master.get('s').capacity, 4, 'the slave announced its concurrency');
      let submitted = 0;
      function* items() {
        for (let n = 0; n < 20; n++) {
          submitted++;
          yield { n };
        }
      }
      const seen: number[] = [];
      let outstandingMost = 0;
      for await (const task of master.map(items(), { inFlight: 6 })) {
        outstandingMost = Math.max(outstandingMost, submitted - seen.length);
        assert.ok(task.isEnded, 'task.isEnded');
        assert.equal(task.status, TaskStatus.COMPLETED, `task ${task.data.n}: ${task.error?.message}`);
        seen.push(task.data.n);
      }
      assert.deepEqual(
        [...seen].sort((a, b) => a - b),
        Array.from({ length: 20 }, (_, n) => n),
      );
      assert.ok(outstandingMost <= 6, `at most inFlight outstanding (${outstandingMost})`);
      assert.ok(most <= 4, 'never more than its capacity on the slave');
      assert.ok(most > 1, `it ran tasks side by side (${most})`);
      assert.equal(master.stats().tasksFailed, 0, 'no QUEUE_FULL: map waited for room');
    } finally {
      await master.close();
      await slave.close();
    }
  });

  test('leaving the loop early cancels the outstanding tasks and closes the source; an async source works', async () => {
    const master = await startMaster();
    const gated = await gatedSlave();
    try {
      await connect(master, 'g', gated.slave.port);
      let closed = false;
      async function* items() {
        try {
          for (let n = 0; ; n++) yield { n };
        } finally {
          closed = true;
        }
      }
      const mapped = master.map(items(), { inFlight: 4 });
      const next = mapped.next(); // a generator runs only when asked
      await waitFor('a task runs', () => gated.running() === 1);
      gated.open(1);
      const first = await next;
      assert.equal(first.done, false);
      // four outstanding before the first was yielded: now one runs and two wait
      await waitFor('the next one runs', () => gated.running() === 1);
      assert.equal(master.stats().tasksQueued, 2);
      await mapped.return();
      assert.equal(closed, true, 'the source was closed');
      const stats = master.stats();
      assert.equal(stats.tasksQueued, 0);
      assert.equal(stats.tasksCancelled, 3, 'the running one and the two waiting');
      assert.equal(stats.tasksCompleted, 1);
    } finally {
      gated.open();
      await master.close();
      await gated.slave.close();
    }
  });

  test('bad data in the items throws from the loop and cancels what is outstanding', async () => {
    const master = await startMaster();
    try {
      const seen: Task[] = [];
      await assert.rejects(async () => {
        for await (const task of master.map([{ n: 1 }, { n: 2 }, 5n], { inFlight: 10 })) seen.push(task);
      }, /data must be serialisable as JSON/);
      assert.equal(seen.length, 0);
      assert.equal(master.stats().tasksQueued, 0);
      assert.equal(master.stats().tasksCancelled, 2);
    } finally {
      await master.close();
    }
  });
});
