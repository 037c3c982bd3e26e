// The fleet in /metrics and /status: queue depth, tasks by state, slots, retries and cancellations.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TaskStatus } from '../src/index.ts';
import { deferred } from './helpers/deferred.ts';
import { startMaster, startSlave, waitFor } from './helpers/fleet.ts';

/** `name{labels} value` lines of a Prometheus exposition, by series. */
function series(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

test('queue depth, tasks by state, slots, retries and cancellations, in /metrics and /status', async () => {
  const master = await startMaster({ metrics: true });
  const gate = deferred();
  let refused = false;
  const slave = await startSlave({
    concurrency: 2,
    heartbeatSpan: 0.2,
    hooks: {
      beforeTask: (data) => {
        // the first task is refused once, so it is retried
        if ((data as { n: number }).n === 0 && !refused) {
          refused = true;
          throw new Error('not now');
        }
      },
    },
    processTask: async () => {
      await gate.promise;
      return {};
    },
  });
  try {
    await master.newConnection('s', '127.0.0.1', slave.port).connect();
    const tasks = Array.from({ length: 5 }, (_, n) => master.submit({ n }, { retries: 1 }));
    await waitFor('two run', () => tasks.filter((t) => t.status === TaskStatus.STARTED).length === 2);
    tasks[4]!.cancel();
    const scrape = async () => {
      const res = await fetch(`http://127.0.0.1:${master.port}/metrics`, {
        headers: { authorization: `Bearer ${master.selfToken}` },
      });
      return series(await res.text());
    };
    let m = await scrape();
    assert.equal(m.get('fleetmaster_queue_depth'), 2);
    assert.equal(m.get('fleetmaster_tasks{state="queued"}'), 2);
    assert.equal(m.get('fleetmaster_tasks{state="dispatched"}'), 2);
    assert.equal(m.get('fleetmaster_slots{state="free"}'), 0);
    assert.equal(m.get('fleetmaster_slots{state="busy"}'), 2);
    assert.equal(m.get('fleetmaster_task_retries_total'), 1);
    assert.equal(m.get('fleetmaster_tasks_created_total'), 5);
    assert.equal(m.get('fleetmaster_tasks_total{status="cancelled",reason="cancelled"}'), 1);
    const status = await fetch(`http://127.0.0.1:${master.port}/status`, {
      headers: { token: master.selfToken },
    });
    const { stats } = ((await status.json()) as { data: { stats: Record<string, number> } }).data;
    assert.equal(stats.tasksQueued, 2);
    assert.equal(stats.tasksCancelled, 1);
    assert.equal(stats.taskRetries, 1);
    assert.equal(stats.slots, 2);
    assert.equal(stats.freeSlots, 0);
    gate.resolve();
    await Promise.all(tasks.map((t) => t.join()));
    m = await scrape();
    assert.equal(m.get('fleetmaster_queue_depth'), 0);
    assert.equal(m.get('fleetmaster_slots{state="free"}'), 2);
    assert.equal(m.get('fleetmaster_tasks_total{status="completed",reason="reported"}'), 4);
    const { tasksCreated, tasksCompleted, tasksFailed, tasksCancelled } = master.stats();
    assert.equal(tasksCreated, tasksCompleted + tasksFailed + tasksCancelled, 'the books balance');
  } finally {
    gate.resolve();
    await master.close();
    await slave.close();
  }
});
