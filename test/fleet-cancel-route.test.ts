// The slave's POST /task/cancel (extension 'cancel'), with its checks and bounds, driven with plain HTTP.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SlaveErrorCode } from '../src/index.ts';
import { kMaxCancelBody } from '../src/slave/cancel-route.ts';
import { startMaster, startSlave, waitFor } from './helpers/fleet.ts';

test('POST /task/cancel: the master checks in order, a 4 KiB body cap, success for a task that already ended', async () => {
  const master = await startMaster();
  let aborted = 0;
  const slave = await startSlave({
    processTask: (_data, signal) =>
      new Promise((resolve) => {
        signal.addEventListener('abort', () => {
          aborted++;
          resolve({});
        });
      }),
  });
  try {
    await master.newConnection('s', '127.0.0.1', slave.port).connect();
    const token = slave.masterToken!;
    const url = `http://127.0.0.1:${slave.port}/task/cancel`;
    const post = async (headers: Record<string, string>, body: string) => {
      const res = await fetch(url, { method: 'POST', headers, body });
      return { status: res.status, envelope: (await res.json()) as { code: number; message: string } };
    };
    const good = { channel: '0', token };
    assert.equal((await post({ token }, '{}')).envelope.code, SlaveErrorCode.CHANNEL_NOT_FOUND);
    assert.equal((await post({ channel: '0' }, '{}')).envelope.code, SlaveErrorCode.MASTER_TOKEN_NOT_FOUND);
    const wrong = await post({ channel: '0', token: 'nope' }, '{}');
    assert.equal(wrong.status, 403);
    assert.equal(wrong.envelope.code, SlaveErrorCode.MASTER_TOKEN_INVALID);
    const large = await post(good, JSON.stringify({ task: { id: 'x' }, pad: 'x'.repeat(kMaxCancelBody) }));
    assert.equal(large.status, 413);
    assert.equal(large.envelope.code, SlaveErrorCode.REQUEST_BODY_TOO_LARGE);
    const bad = await post(good, '{"task":{}}');
    assert.equal(bad.status, 400);
    assert.equal(bad.envelope.code, SlaveErrorCode.REQUEST_DATA_INVALID);
    const unknown = await post(good, '{"task":{"id":"00000000-0000-4000-8000-000000000000"}}');
    assert.equal(unknown.status, 200);
    assert.match(unknown.envelope.message, /No such task runs here/);
    // a running task: its signal aborts
    const connection = master.get('s');
    const task = connection.newTask({});
    await task.start();
    const cancelled = await post(good, JSON.stringify({ task: { id: task.id } }));
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.envelope.message, 'Task cancel received.');
    await waitFor('the signal aborted', () => aborted === 1);
    await task.join();
  } finally {
    await master.close();
    await slave.close();
  }
});
