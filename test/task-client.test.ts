// Which client carries POST /task/new (option taskClient), and how the lean one fails: over real sockets, against
// a node:http stand-in for a slave that records the socket each request came on.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { test } from 'node:test';
import { type Master, type MasterOptions, TaskStatus } from '../src/index.ts';
import { startMaster } from './helpers/fleet.ts';

interface Seen {
  method: string;
  path: string;
  socket: Socket;
  body: string;
}

type TaskAnswer = 'ok' | 'refuse' | 'hang';

/** A slave stand-in: answers /connect (announcing fleetmaster's extensions, or not) and /task/new as told. */
async function fakeSlave(options: { extensions: boolean; task: TaskAnswer }) {
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', path: req.url ?? '', socket: req.socket, body });
      const send = (status: number, envelope: object, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(envelope));
      };
      if (req.url === '/connect') {
        const headers: Record<string, string> = options.extensions
          ? { 'fleet-extensions': 'task-id, msgpack, backpressure' }
          : {};
        send(200, { success: true, code: 0, message: 'Connect success.', data: null }, headers);
      } else if (req.url === '/task/new') {
        if (options.task === 'hang') return;
        if (options.task === 'refuse') {
          send(400, { success: false, code: 601, message: 'Already has a task.', data: null });
        } else {
          send(200, { success: true, code: 0, message: 'Task received!', data: null });
        }
      } else {
        send(200, { success: true, code: 0, message: 'ok', data: null });
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    /** Stops listening and drops every open connection: the slave is gone. */
    async kill() {
      server.close();
      for (const socket of sockets) socket.destroy();
      await once(server, 'close');
    },
  };
}

async function withMaster(options: MasterOptions, run: (master: Master) => Promise<void>): Promise<void> {
  const master = await startMaster(options);
  try {
    await run(master);
  } finally {
    await master.close();
  }
}

const request = (seen: Seen[], path: string) => {
  const found = seen.find((s) => s.path === path);
  assert.ok(found, `the slave saw no ${path}`);
  return found;
};

test('taskClient lean (the default): a fleetmaster slave gets /task/new on a socket of its own', async () => {
  const slave = await fakeSlave({ extensions: true, task: 'ok' });
  try {
    await withMaster({}, async (master) => {
      assert.equal(master.options.taskClient, 'lean');
      const connection = master.newConnection('s', '127.0.0.1', slave.port);
      await connection.connect();
      const task = await connection.newTask({ n: 7 }).start();
      assert.equal(task.status, TaskStatus.STARTED);
      const sent = request(slave.seen, '/task/new');
      assert.equal(sent.method, 'POST');
      assert.deepEqual(JSON.parse(sent.body), { task: { id: task.id }, data: { n: 7 } });
      assert.notEqual(sent.socket, request(slave.seen, '/connect').socket);
    });
  } finally {
    await slave.kill();
  }
});

test('taskClient undici: /task/new reuses the keep-alive socket of /connect', async () => {
  const slave = await fakeSlave({ extensions: true, task: 'ok' });
  try {
    await withMaster({ taskClient: 'undici' }, async (master) => {
      const connection = master.newConnection('s', '127.0.0.1', slave.port);
      await connection.connect();
      const task = await connection.newTask({ n: 7 }).start();
      assert.equal(task.status, TaskStatus.STARTED);
      assert.equal(request(slave.seen, '/task/new').socket, request(slave.seen, '/connect').socket);
    });
  } finally {
    await slave.kill();
  }
});

test('a slave without fleetmaster extensions (DI-engine) always gets undici', async () => {
  const slave = await fakeSlave({ extensions: false, task: 'ok' });
  try {
    await withMaster({ taskClient: 'lean' }, async (master) => {
      const connection = master.newConnection('s', '127.0.0.1', slave.port);
      await connection.connect();
      await connection.newTask({}).start();
      assert.equal(request(slave.seen, '/task/new').socket, request(slave.seen, '/connect').socket);
    });
  } finally {
    await slave.kill();
  }
});

test('lean: a refusal is the typed error, sent once', async () => {
  const slave = await fakeSlave({ extensions: true, task: 'refuse' });
  try {
    await withMaster({ requestRetries: 3, requestRetryWaiting: 0.01 }, async (master) => {
      const connection = master.newConnection('s', '127.0.0.1', slave.port);
      await connection.connect();
      const task = connection.newTask({});
      await assert.rejects(task.start(), (err: Error & { code?: unknown; statusCode?: number }) => {
        assert.equal(err.name, 'SlaveTaskAlreadyExistError');
        assert.equal(err.statusCode, 400);
        return true;
      });
      assert.equal(task.status, TaskStatus.START_FAILED);
      assert.equal(slave.seen.filter((s) => s.path === '/task/new').length, 1);
    });
  } finally {
    await slave.kill();
  }
});

test('lean: a slave that never answers fails the start after requestTimeout and the retries', async () => {
  const slave = await fakeSlave({ extensions: true, task: 'hang' });
  try {
    await withMaster(
      { requestTimeout: 0.3, requestRetries: 1, requestRetryWaiting: 0.01 },
      async (master) => {
        const connection = master.newConnection('s', '127.0.0.1', slave.port);
        await connection.connect();
        const task = connection.newTask({});
        await assert.rejects(task.start(), (err: Error & { code?: string; attempts?: number }) => {
          assert.equal(err.code, 'REQUEST_FAILED');
          assert.equal(err.attempts, 2);
          const cause = (err as Error & { cause?: { code?: string } }).cause;
          assert.equal(cause?.code, 'FLEETMASTER_ANSWER_TIMEOUT');
          return true;
        });
        assert.equal(task.status, TaskStatus.START_FAILED);
        // one request per attempt, each on a fresh socket (a timed-out socket is closed)
        const tasks = slave.seen.filter((s) => s.path === '/task/new');
        assert.equal(tasks.length, 2);
        assert.notEqual(tasks[0]!.socket, tasks[1]!.socket);
      },
    );
  } finally {
    await slave.kill();
  }
});

test('lean: a slave gone after connecting fails the start after the retries (no hang)', async () => {
  const slave = await fakeSlave({ extensions: true, task: 'ok' });
  await withMaster({ requestRetries: 2, requestRetryWaiting: 0.01 }, async (master) => {
    const connection = master.newConnection('s', '127.0.0.1', slave.port);
    await connection.connect();
    assert.equal((await connection.newTask({}).start()).status, TaskStatus.STARTED);
    await slave.kill();
    const task = connection.newTask({});
    await assert.rejects(task.start(), (err: Error & { code?: string; attempts?: number }) => {
      assert.equal(err.code, 'REQUEST_FAILED');
      assert.equal(err.attempts, 3);
      return true;
    });
    assert.equal(task.status, TaskStatus.START_FAILED);
  });
});
