// Starting, listening and stopping: ports, refusal of a held port, ping, dispose, the shutdown route.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { Master, Slave } from '../src/index.ts';
import { quietLogger, startMaster, startSlave, waitFor } from './helpers/fleet.ts';
import { raw } from './helpers/raw-http.ts';

test('port 0 binds a free port; ping answers while running', async () => {
  const master = await startMaster();
  assert.ok(master.port > 0);
  assert.equal(await master.ping(), true);
  await master.close();
  assert.equal(await master.ping(), false);
});

test('a second master on a port another master holds refuses to start, naming host and port', async () => {
  const first = await startMaster();
  const second = new Master({ host: '127.0.0.1', port: first.port, logger: quietLogger });
  try {
    await assert.rejects(second.start(), new RegExp(`Master cannot listen on 127\\.0\\.0\\.1:${first.port}`));
    // the first still owns every heartbeat
    assert.equal(await first.ping(), true);
  } finally {
    await first.close();
  }
});

test('a port held by another kind of listener (node:net) is refused too', async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    await assert.rejects(
      new Slave({ host: '127.0.0.1', port }).start(),
      new RegExp(`Slave cannot listen on 127\\.0\\.0\\.1:${port}`),
    );
  } finally {
    server.close();
  }
});

test('a closed master frees its port for the next one at once', async () => {
  const first = await startMaster();
  const port = first.port;
  await first.close();
  const second = await new Master({ host: '127.0.0.1', port, logger: quietLogger }).start();
  assert.equal(second.port, port);
  await second.close();
});

test('await using disposes master and slave', async () => {
  let port: number;
  {
    await using master = await startMaster();
    await using slave = await startSlave();
    port = master.port;
    assert.equal(await slave.ping(), true);
  }
  const again = await new Master({ host: '127.0.0.1', port, logger: quietLogger }).start();
  await again.close();
});

test('DELETE /shutdown with the self token shuts the master down', async () => {
  const master = await startMaster();
  const answer = await raw(master.port, {
    method: 'DELETE',
    path: '/shutdown',
    headers: { Token: master.selfToken },
  });
  assert.equal(answer.status, 200);
  assert.equal(answer.json?.success, true);
  await waitFor('master closed itself', () => master.isShuttingDown);
  await master.close();
  assert.equal(await master.ping(), false);
});

test('start() twice is refused; start() after close() is refused', async () => {
  const master = await startMaster();
  await assert.rejects(master.start(), /already started/);
  await master.close();
  await assert.rejects(master.start(), /closed/);
});
