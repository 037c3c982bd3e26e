// fleetmaster's slave driven by a DI-engine master (test/helpers/di-engine-master.ts): a master that lists the
// slave's token only after it has processed the /connect answer, so the slave's first heartbeat may be refused.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Slave } from '../src/index.ts';
import { type DiEngineMaster, startDiEngineMaster } from './helpers/di-engine-master.ts';
import { startMaster, startSlave, waitFor } from './helpers/fleet.ts';

describe('a DI-engine master that lists the slave late', () => {
  let master: DiEngineMaster;
  let slave: Slave;

  before(async () => {
    master = await startDiEngineMaster();
    slave = await startSlave({
      heartbeatSpan: 0.2,
      processTask: (data) => {
        const { a, b } = data as { a: number; b: number };
        return { sum: a + b };
      },
    });
  });
  after(async () => {
    await slave.close();
    await master.close();
  });

  test('connect, a task, a second task: 20 runs, the slave never drops the link over an early heartbeat', async () => {
    // 0 ms is DI-engine's own timing (listed right after the answer: a race); the others make the early beat certain
    const delays = [0, 1, 5, 20, 50];
    for (let run = 0; run < 20; run++) {
      const at = `run ${run}`;
      const { token, answer } = await master.connect(slave.port, delays[run % delays.length]!);
      assert.equal(answer.status, 200, `${at}: connect ${answer.message}`);
      const first = await master.newTask(slave.port, token, { a: run, b: 1 });
      assert.equal(first.answer.status, 200, `${at}: first task ${first.answer.message}`);
      assert.deepEqual(await first.result, { route: 'complete', result: { sum: run + 1 } }, at);
      // by the first heartbeat the master accepts, an early refusal has been met, whatever the slave did with it
      await waitFor(
        `${at}: a heartbeat accepted, or the link ended`,
        () => master.acceptedBeatsOf(token) > 0 || !slave.isConnected,
      );
      assert.equal(slave.isConnected, true, `${at}: the slave kept its master`);
      const second = await master.newTask(slave.port, token, { a: run, b: 2 });
      assert.equal(second.answer.status, 200, `${at}: second task ${second.answer.message}`);
      assert.deepEqual(await second.result, { route: 'complete', result: { sum: run + 2 } }, at);
      const gone = await master.disconnect(slave.port, token);
      assert.equal(gone.status, 200, `${at}: disconnect ${gone.message}`);
    }
    assert.ok(master.beats.refused > 0, 'early heartbeats were refused: the race was exercised');
  });

  test('a refusal after a heartbeat was accepted still ends the link (the master forgot the slave)', async () => {
    const { token } = await master.connect(slave.port, 0);
    await waitFor('a heartbeat accepted', () => master.acceptedBeatsOf(token) > 0);
    master.forget(token);
    await waitFor('the slave to drop the link', () => !slave.isConnected);
  });

  test('a master that announced fleetmaster extensions gets no grace: its first refusal ends the link', async () => {
    // a fleetmaster master lists the token before /connect: its refusal cannot be the slave's being early
    const refusedBefore = master.beats.refused;
    await master.connect(slave.port, 'never', { 'Fleet-Extensions': 'task-id, msgpack, backpressure' });
    await waitFor('the slave to drop the link', () => !slave.isConnected);
    assert.equal(master.beats.refused - refusedBefore, 1, 'one refused beat, not sent again');
  });

  test('a master that never lists the slave: the link ends once the early grace is over', async () => {
    const refusedBefore = master.beats.refused;
    await master.connect(slave.port, 'never');
    // the grace is 5 s (at least two spans): the slave beats on schedule until then
    await waitFor('the slave to drop the link', () => !slave.isConnected, 15_000);
    assert.ok(master.beats.refused - refusedBefore > 1, 'refused beats were sent again before the end');
  });
});

test('a fleetmaster master lists the token before /connect: the first heartbeat still goes at once', async () => {
  const master = await startMaster();
  // a span longer than the test: any heartbeat the master sees is the one sent on connect
  const slave = await startSlave({ heartbeatSpan: 60 });
  try {
    await master.newConnection('early', '127.0.0.1', slave.port).connect();
    await waitFor('the first heartbeat', () => master.stats().heartbeats > 0);
  } finally {
    await master.close();
    await slave.close();
  }
});
