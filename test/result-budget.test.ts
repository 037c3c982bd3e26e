// What result bodies may hold of a master (issue 11, finding 8): uploads count against resultQueueBytes from
// before their first byte is read, one slave's unfinished uploads never pass maxBodySize, and nothing is
// allocated past what the budget allows. The budget alone, then on a real master.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MasterErrorCode as M, type Master, type Slave } from '../src/index.ts';
import { ResultBudget } from '../src/master/results/budget.ts';
import { assertFailure } from './helpers/envelope.ts';
import { startMaster, startSlave, waitFor } from './helpers/fleet.ts';
import { RawConnection } from './helpers/raw-http.ts';

const MiB = 1024 * 1024;

/** The next answer on the connection, or a failure naming `what` if none comes within a few seconds. */
async function answered(connection: RawConnection, what: string) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer while the first upload is unfinished`)),
      5000,
    );
  });
  try {
    const [answer] = await Promise.race([connection.next(), late]);
    return answer;
  } finally {
    clearTimeout(timer);
  }
}

describe('ResultBudget', () => {
  const limits = { maxCount: 3, maxBytes: 100, perSlaveBytes: 60 };

  test('admits while there is room; the first upload always fits, however large', () => {
    const budget = new ResultBudget<string>(limits);
    assert.equal(budget.tryAdmit('a', 500), true, 'nothing held: any size passes');
    assert.equal(budget.tryAdmit('b', 1), false, 'the budget is spent');
    budget.uploaded('a', 500);
    budget.release(500);
    assert.equal(budget.tryAdmit('a', 50), true);
    assert.equal(budget.tryAdmit('b', 50), true);
    assert.equal(budget.tryAdmit('c', 1), false, '101 bytes would pass maxBytes');
    assert.deepEqual([budget.count, budget.bytes], [2, 100]);
  });

  test("one slave's unfinished uploads stay within its share; a finished one no longer counts there", () => {
    const budget = new ResultBudget<string>(limits);
    assert.equal(budget.overSlaveShare('a', 60), false, 'a first upload always fits its share');
    budget.tryAdmit('a', 40);
    assert.equal(budget.overSlaveShare('a', 30), true, '40 + 30 > 60');
    assert.equal(budget.overSlaveShare('b', 30), false);
    budget.uploaded('a', 40);
    assert.equal(
      budget.overSlaveShare('a', 30),
      false,
      'its body arrived: it holds the budget, not the share',
    );
    assert.equal(budget.bytes, 40);
  });

  test('held uploads are admitted in order as room comes back; one that gave up leaves the line', async () => {
    const budget = new ResultBudget<string>(limits);
    budget.tryAdmit('a', 90);
    const order: string[] = [];
    const b = budget.admit('b', 50).then(() => order.push('b'));
    void budget.admit('c', 10).then(() => order.push('c'));
    const d = budget.admit('d', 5).then(() => order.push('d'));
    assert.equal(budget.tryAdmit('e', 1), false, 'nobody passes those who wait');
    assert.equal(budget.abandon('c', 10), true);
    budget.uploaded('a', 90);
    budget.release(90);
    await Promise.all([b, d]);
    assert.deepEqual(order, ['b', 'd']);
    assert.deepEqual([budget.count, budget.bytes], [2, 55]);
  });

  test('a chunked upload grows within the budget and its share', () => {
    const budget = new ResultBudget<string>(limits);
    budget.tryAdmit('a', 0);
    assert.equal(budget.grow('a', 50), true);
    assert.equal(budget.grow('a', 20), false, 'past its share of 60');
    budget.tryAdmit('b', 0);
    assert.equal(budget.grow('b', 50), true);
    assert.equal(budget.grow('b', 1), false, 'past maxBytes');
  });
});

/** The head of a result upload declaring `length` bytes, and its first `sent` bytes. */
function upload(token: string, length: number, sent: number, extensions?: string): Buffer {
  const lines = [
    'PUT /slave/task/complete HTTP/1.1',
    'Host: 127.0.0.1',
    'Channel: 0',
    `Token: ${token}`,
    'Content-Type: application/json',
    `Content-Length: ${length}`,
  ];
  if (extensions) lines.push(`Fleet-Extensions: ${extensions}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), Buffer.alloc(sent, 0x20)]);
}

describe('a master under unfinished uploads', () => {
  let master: Master;
  const slaves: Slave[] = [];
  const open: RawConnection[] = [];

  before(async () => {
    master = await startMaster({ resultQueueBytes: 16 * MiB, resultThreads: 1 });
    for (let i = 0; i < 3; i++) {
      const slave = await startSlave({ heartbeatSpan: 0.5 });
      slaves.push(slave);
      await master.newConnection(`s${i}`, '127.0.0.1', slave.port).connect();
    }
  });
  after(async () => {
    for (const connection of open) connection.destroy();
    await master.close();
    for (const slave of slaves) await slave.close();
  });

  test('20 unfinished 60 MiB uploads on one token: one is read, the rest refused unread (503, 902)', async () => {
    const token = master.get('s0').token;
    global.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    const answers = [];
    for (let i = 0; i < 20; i++) {
      const connection = await RawConnection.open(master.port);
      open.push(connection);
      connection.write(upload(token, 60 * MiB, 10));
      if (i > 0) answers.push(await answered(connection, `upload ${i + 1}`));
    }
    for (const answer of answers) {
      assert.ok(answer, 'answered while the first upload is unfinished');
      assertFailure(answer, 503, M.RESULT_STAGE_BUSY, 'over the slave share', { retryAfterMs: 200 });
    }
    const grew = process.memoryUsage().arrayBuffers - before;
    // the admitted one preallocated its 60 MiB; the 19 others nothing (before: 20 × 60 MiB)
    assert.ok(grew < 2 * 64 * MiB, `array buffers grew by ${(grew / MiB).toFixed(0)} MiB`);
    assert.equal(master.budget.count, 1);
    for (const connection of open.splice(0)) connection.destroy();
    await waitFor('the cut upload to give its budget back', () => master.budget.count === 0);
    assert.equal(master.budget.bytes, 0);
  });

  test('past resultQueueBytes, a DI-engine upload is held unallocated; it is read once room comes back', async () => {
    // s1 takes 10 of the 16 MiB; s2's 10 MiB must wait (a DI-engine slave is never refused a result)
    const first = await RawConnection.open(master.port);
    const second = await RawConnection.open(master.port);
    open.push(first, second);
    first.write(upload(master.get('s1').token, 10 * MiB, 10));
    await waitFor('the first upload admitted', () => master.budget.bytes === 10 * MiB);
    global.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    second.write(upload(master.get('s2').token, 10 * MiB, 1000));
    // a heartbeat on another socket: once it is answered, the master has seen the second upload's head
    const beat = await RawConnection.open(master.port);
    open.push(beat);
    await beat.send({
      method: 'GET',
      path: '/slave/heartbeat',
      headers: { Channel: '0', Token: master.get('s2').token },
    });
    assert.equal(master.budget.count, 1, 'the second is not admitted');
    const grew = process.memoryUsage().arrayBuffers - before;
    assert.ok(grew < 2 * MiB, `the held upload allocated ${(grew / MiB).toFixed(1)} MiB`);
    // the first one ends (its body is not JSON: 400, 601), which gives its room to the second
    first.write(Buffer.alloc(10 * MiB - 10, 0x20));
    const [done] = await first.next();
    assertFailure(done!, 400, M.TASK_DATA_INVALID, 'first upload');
    await waitFor('the held upload admitted', () => master.budget.bytes === 10 * MiB);
    second.write(Buffer.alloc(10 * MiB - 1000, 0x20));
    const [late] = await second.next();
    assertFailure(late!, 400, M.TASK_DATA_INVALID, 'held upload, read in the end');
    await waitFor('everything given back', () => master.budget.count === 0);
  });
});
