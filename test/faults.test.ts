// Faults the reference does not survive: deadlines, a master restart, its own event loop stalling, a connect
// hijack, TLS, and shutdown with work in flight.
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generate } from 'selfsigned';
import {
  FleetSecretError,
  Master,
  SlaveConnectionRefusedError,
  TaskEndCode,
  type TaskEndedError,
  TaskStatus,
} from '../src/index.ts';
import { startDiEngineSlave } from './helpers/di-engine-slave.ts';
import { freePort, quietLogger, spawnSlave, startMaster, startSlave, waitFor } from './helpers/fleet.ts';

test('a task that outlives its deadline fails with DEADLINE_EXCEEDED; its late result is ignored', async () => {
  const master = await startMaster();
  let release: () => void = () => undefined;
  const slave = await startSlave({
    processTask: () => new Promise((r) => (release = () => r({ late: true }))),
  });
  try {
    const connection = master.newConnection('slow', '127.0.0.1', slave.port);
    await connection.connect();
    const task = await connection.newTask({}, { deadline: 0.2 }).start();
    await task.join();
    assert.equal(task.status, TaskStatus.FAILED);
    assert.equal((task.error as TaskEndedError).code, TaskEndCode.DEADLINE_EXCEEDED);
    assert.deepEqual(task.result, {
      error: 'DEADLINE_EXCEEDED',
      message: 'task outlived its deadline of 0.2 s',
    });
    const ignoredBefore = master.stats().resultsIgnored;
    release();
    await waitFor(
      'late result acknowledged and ignored',
      () => master.stats().resultsIgnored > ignoredBefore,
    );
    assert.equal(task.status, TaskStatus.FAILED, 'the late result changed nothing');
    assert.throws(() => connection.newTask({}, { deadline: -1 }), /options\.deadline/);
  } finally {
    await master.close();
    await slave.close();
  }
});

test('a master restarted on its port: slaves drop the stale link and accept the new master by name', async () => {
  const port = await freePort();
  const first = await startMaster({ port, heartbeatTolerance: 2, heartbeatCheckSpan: 0.1 });
  const slaves = await Promise.all(
    [0, 1].map(() => startSlave({ heartbeatSpan: 0.2, processTask: (d) => d })),
  );
  for (const [i, slave] of slaves.entries())
    await first.newConnection(`s${i}`, '127.0.0.1', slave.port).connect();
  await first.destroy(); // as abrupt as a crash: sockets closed, nothing said to the slaves
  const second = await new Master({ host: '127.0.0.1', port, logger: quietLogger }).start();
  try {
    assert.equal(second.port, port, 'the port was free again at once');
    // s0 reconnects at once (before its next heartbeat could tell it anything): the slave asks its old master,
    // finds it gone, and accepts
    const again = second.newConnection('s0', '127.0.0.1', slaves[0]!.port);
    await again.connect();
    const task = await again.newTask({ after: 'restart' }).start();
    await task.join();
    assert.deepEqual(task.result, { after: 'restart' });
    // s1 is left alone: its next heartbeat is refused by the new master and it becomes connectable
    await waitFor('s1 noticed the restart', () => !slaves[1]!.isConnected);
    await second.newConnection('s1', '127.0.0.1', slaves[1]!.port).connect();
    assert.deepEqual(second.names().sort(), ['s0', 's1']);
  } finally {
    await second.close();
    await Promise.all(slaves.map((s) => s.close()));
  }
});

test('port ownership: a live master keeps its port; after its crash a new master rebinds it at once', async () => {
  const port = await freePort();
  const slave = await startSlave({ heartbeatSpan: 0.2 });
  const child = fork(
    fileURLToPath(new URL('./fixtures/master-process.ts', import.meta.url)),
    [`--port=${port}`, `--slave-port=${slave.port}`],
    { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
  );
  try {
    await once(child, 'message');
    await waitFor('heartbeats flowing to the child master', () => slave.isConnected);
    // held by a live master: refused (a naive SO_REUSEPORT listen would split the slaves' heartbeats)
    await assert.rejects(
      new Master({ host: '127.0.0.1', port, logger: quietLogger }).start(),
      /cannot listen/,
    );
    child.kill('SIGKILL'); // its open connections now sit in TIME_WAIT on the port
    await once(child, 'exit');
    const restarted = await new Master({ host: '127.0.0.1', port, logger: quietLogger }).start();
    assert.equal(restarted.port, port);
    await restarted.newConnection('child-slave', '127.0.0.1', slave.port).connect();
    assert.equal(restarted.has('child-slave'), true);
    await restarted.close();
  } finally {
    child.kill('SIGKILL');
    await slave.close();
  }
});

test('the master stalling its own event loop past the tolerance evicts nobody', async () => {
  const master = await startMaster({ heartbeatTolerance: 0.6, heartbeatCheckSpan: 0.1 });
  // the slave lives in another process, so its heartbeats keep arriving while the master is blocked
  const { child, port } = await spawnSlave({ 'heartbeat-span': 0.2 });
  try {
    await master.newConnection('steady', '127.0.0.1', port).connect();
    await new Promise((r) => setTimeout(r, 300));
    const blockedUntil = Date.now() + 1500; // 2.5× the tolerance: a naive sweep would evict
    while (Date.now() < blockedUntil) {
      /* a blocked tick, as a long GC or a heavy synchronous callback would cause */
    }
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(master.stats().evictions, 0);
    assert.equal(master.has('steady'), true);
  } finally {
    child.kill('SIGKILL');
    await once(child, 'exit');
    await master.close();
  }
});

test('fleet secret: a master without it cannot take the slave over; a slave without it is refused', async () => {
  const secret = 's3cret-fleet';
  const guarded = await startSlave({ fleetSecret: secret, processTask: (d) => d });
  const open = await startSlave({ processTask: (d) => d });
  const diEngine = await startDiEngineSlave((d) => d);
  const ours = await startMaster({ fleetSecret: secret });
  const intruder = await startMaster(); // knows the channel, not the secret
  const wrong = await startMaster({ fleetSecret: 'another' });
  try {
    for (const [name, master] of [
      ['intruder', intruder],
      ['wrong secret', wrong],
    ] as const) {
      const err = await master
        .newConnection('guarded', '127.0.0.1', guarded.port)
        .connect()
        .then(
          () => assert.fail(`${name} connected`),
          (e: unknown) => e,
        );
      assert.ok(err instanceof SlaveConnectionRefusedError, name);
      assert.equal(err.statusCode, 403);
      assert.equal(err.code, 503, 'the refusal code a DI-engine master understands');
      assert.equal(guarded.isConnected, false);
    }
    // the rightful master connects and works
    const connection = ours.newConnection('guarded', '127.0.0.1', guarded.port);
    await connection.connect();
    const task = await connection.newTask({ ok: 1 }).start();
    await task.join();
    assert.deepEqual(task.result, { ok: 1 });
    // slaves that cannot prove the secret are refused by the master and told to disconnect
    for (const [name, port] of [
      ['open', open.port],
      ['di-engine', diEngine.port],
    ] as const) {
      await assert.rejects(ours.newConnection(name, '127.0.0.1', port).connect(), FleetSecretError);
      assert.equal(ours.has(name), false);
    }
    assert.equal(open.isConnected, false, 'the refused slave was told to disconnect');
  } finally {
    await Promise.all([ours.close(), intruder.close(), wrong.close()]);
    await Promise.all([guarded.close(), open.close(), diEngine.close()]);
  }
});

test('TLS: master and slave serve over https with a certificate made at test time', async () => {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  });
  const dir = await mkdtemp(join(tmpdir(), 'fleetmaster-tls-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  await writeFile(keyFile, pems.private);
  await writeFile(certFile, pems.cert);
  const tls = { keyFile, certFile };
  const master = await startMaster({ tls, slaveTls: { ca: pems.cert } });
  const slave = await startSlave({
    tls,
    masterTls: { ca: pems.cert },
    heartbeatSpan: 0.2,
    processTask: (d) => d,
  });
  try {
    assert.equal(await master.ping(), true);
    const connection = master.newConnection('tls', '127.0.0.1', slave.port, { https: true });
    assert.equal(connection.origin, `https://127.0.0.1:${slave.port}`);
    await connection.connect();
    assert.equal(slave.masterAddress, `https://127.0.0.1:${master.port}`);
    const task = await connection.newTask({ secure: true }).start();
    await task.join();
    assert.equal(task.status, TaskStatus.COMPLETED);
    assert.deepEqual(task.result, { secure: true });
    await new Promise((r) => setTimeout(r, 500)); // a few heartbeats over TLS
    assert.equal(master.has('tls'), true);
  } finally {
    await master.close();
    await slave.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('close() lets results already received finish in the pool, then ends the rest', async () => {
  const handler = new URL('./fixtures/handlers/slow.ts', import.meta.url);
  const master = await startMaster({ resultHandler: handler, resultThreads: 1 });
  const quick = await startSlave({ processTask: () => ({ ms: 300 }) });
  const stuck = await startSlave({ processTask: () => new Promise(() => undefined) });
  try {
    const a = master.newConnection('quick', '127.0.0.1', quick.port);
    const b = master.newConnection('stuck', '127.0.0.1', stuck.port);
    await a.connect();
    await b.connect();
    const handled = await a.newTask({}).start();
    const never = await b.newTask({}).start();
    // wait until the quick result is on the pool's thread (300 ms of handler work), then close
    await waitFor('result in the stage', () => (master.results as unknown as { held: number }).held === 1);
    await master.close();
    await handled.join();
    await never.join();
    assert.equal(handled.status, TaskStatus.COMPLETED, 'the result received before close() was finished');
    assert.deepEqual(handled.result, { ms: 300 });
    assert.equal(quick.stats().tasksDone, 1);
    assert.equal(never.status, TaskStatus.FAILED);
    assert.equal((never.error as TaskEndedError).code, TaskEndCode.MASTER_SHUTTING_DOWN);
  } finally {
    await master.close();
    await quick.close();
    await stuck.close();
  }
});
