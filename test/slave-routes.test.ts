// The slave's routes on the wire: every row of docs/protocol.md's slave check table, sent raw as a DI-engine
// master would (no Content-Type), plus the size cap, bodies that are not JSON, and hang-ups mid-body.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  ConnectionRefuse,
  DisconnectionRefuse,
  type Master,
  SlaveErrorCode as S,
  type Slave,
  type SlaveConnection,
  SlaveConnectionRefusedError,
  TaskRefuse,
} from '../src/index.ts';
import { type Deferred, deferred } from './helpers/deferred.ts';
import { assertFailure, assertSuccess } from './helpers/envelope.ts';
import { startMaster, startSlave, waitFor } from './helpers/fleet.ts';
import { HoldingPeer } from './helpers/holding-peer.ts';
import { RawConnection, type RawRequest, raw, rawExchange, serialise } from './helpers/raw-http.ts';

const kMaxBody = 256;
/** A master address nothing listens on: a slave that connects to it loses the link at its first heartbeat. */
const kNowhere = 'http://127.0.0.1:1';
const kSomeToken = 'a'.repeat(64);

function connectBody(address = kNowhere, data: unknown = {}): string {
  return JSON.stringify({ master: { address }, data });
}

function connectRequest(headers: Record<string, string>, body = connectBody()): RawRequest {
  return { method: 'POST', path: '/connect', headers, body };
}

function disconnectRequest(headers: Record<string, string>, body = '{"data":{}}'): RawRequest {
  return { method: 'DELETE', path: '/disconnect', headers, body };
}

function newTaskRequest(headers: Record<string, string>, id: string = randomUUID()): RawRequest {
  return { method: 'POST', path: '/task/new', headers, body: JSON.stringify({ task: { id }, data: {} }) };
}

/** The three routes a master calls; each gets the same channel and token checks. */
const kMasterRoutes: { name: string; request(headers: Record<string, string>): RawRequest }[] = [
  { name: 'POST /connect', request: (headers) => connectRequest(headers) },
  { name: 'DELETE /disconnect', request: (headers) => disconnectRequest(headers) },
  { name: 'POST /task/new', request: (headers) => newTaskRequest(headers) },
];

const kSelfRoutes: { name: string; request(headers: Record<string, string>): RawRequest }[] = [
  { name: 'GET /ping', request: (headers) => ({ method: 'GET', path: '/ping', headers }) },
  { name: 'DELETE /shutdown', request: (headers) => ({ method: 'DELETE', path: '/shutdown', headers }) },
];

describe('slave routes, unconnected', () => {
  let slave: Slave;

  before(async () => {
    slave = await startSlave({ heartbeatSpan: 60, requestRetries: 0, maxBodySize: kMaxBody });
  });
  after(async () => {
    await slave.close();
  });

  test('Channel missing or empty: 400, 201 on every master route, before the token is looked at', async () => {
    for (const route of kMasterRoutes) {
      assertFailure(await raw(slave.port, route.request({})), 400, S.CHANNEL_NOT_FOUND, route.name);
      assertFailure(
        await raw(slave.port, route.request({ Token: kSomeToken })),
        400,
        S.CHANNEL_NOT_FOUND,
        route.name,
      );
      const empty = route.request({ Channel: '', Token: kSomeToken });
      assertFailure(await raw(slave.port, empty), 400, S.CHANNEL_NOT_FOUND, route.name);
    }
    assert.equal(slave.isConnected, false);
  });

  test('Channel differs: 403, 202 (1, abc, 2_33, " 0233 ", -1, …), before the token is looked at', async () => {
    for (const route of kMasterRoutes) {
      for (const value of ['1', 'abc', '2_33', ' 0233 ', '-1', '+0', '0.0']) {
        const answer = await raw(slave.port, route.request({ Channel: value }));
        assertFailure(answer, 403, S.CHANNEL_INVALID, `${route.name}, Channel ${JSON.stringify(value)}`);
      }
    }
    assert.equal(slave.isConnected, false);
  });

  test('Channel with leading zeros (00) is refused: 403, 202; plain 0 reaches the next check', async () => {
    assertFailure(await raw(slave.port, connectRequest({ Channel: '00' })), 403, S.CHANNEL_INVALID);
    // no token: a passing channel shows as 301
    assertFailure(await raw(slave.port, connectRequest({ Channel: '0' })), 400, S.MASTER_TOKEN_NOT_FOUND);
  });

  test('master Token missing or empty: 400, 301 on every master route', async () => {
    for (const route of kMasterRoutes) {
      assertFailure(
        await raw(slave.port, route.request({ Channel: '0' })),
        400,
        S.MASTER_TOKEN_NOT_FOUND,
        route.name,
      );
      const empty = route.request({ Channel: '0', Token: '' });
      assertFailure(await raw(slave.port, empty), 400, S.MASTER_TOKEN_NOT_FOUND, route.name);
    }
  });

  test("/disconnect and /task/new while not connected: no token is the connected master's, so 403, 302", async () => {
    // The token check comes before the "not connected" check, and with no master every token fails it: the
    // reference (need_match=True, master token None) answers the same. 502 is seen only when the link drops
    // after the token was checked (see "a link lost mid-request" below).
    for (const request of [
      disconnectRequest({ Channel: '0', Token: kSomeToken }),
      newTaskRequest({ Channel: '0', Token: kSomeToken }),
    ]) {
      assertFailure(await raw(slave.port, request), 403, S.MASTER_TOKEN_INVALID, request.path);
    }
  });

  test('/connect with a body that is not a connect request: 400, 904', async () => {
    const bodies: [string, string][] = [
      ['not JSON', 'not json'],
      ['a JSON array', JSON.stringify([{ master: { address: kNowhere } }])],
      ['JSON null', 'null'],
      ['no master', JSON.stringify({ data: {} })],
      ['master without address', JSON.stringify({ master: {}, data: {} })],
      ['address not http(s)', JSON.stringify({ master: { address: 'ftp://127.0.0.1:1' }, data: {} })],
    ];
    for (const [what, body] of bodies) {
      const answer = await raw(slave.port, connectRequest({ Channel: '0', Token: kSomeToken }, body));
      assertFailure(answer, 400, S.REQUEST_DATA_INVALID, what);
    }
    assert.equal(slave.isConnected, false);
  });

  test('a body over maxBodySize: 413, 901 (Content-Length or chunked)', async () => {
    const big = connectBody(kNowhere, { pad: 'x'.repeat(kMaxBody) });
    assertFailure(
      await raw(slave.port, connectRequest({ Channel: '0', Token: kSomeToken }, big)),
      413,
      S.REQUEST_BODY_TOO_LARGE,
    );
    const chunk = 'x'.repeat(kMaxBody / 2 + 1);
    const framed = `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
    const bytes = Buffer.from(
      `POST /connect HTTP/1.1\r\nHost: 127.0.0.1\r\nChannel: 0\r\nToken: ${kSomeToken}\r\n` +
        `Transfer-Encoding: chunked\r\n\r\n${framed}${framed}0\r\n\r\n`,
      'latin1',
    );
    const [answer] = await rawExchange(slave.port, bytes, 1);
    assert.ok(answer, 'answered');
    assertFailure(answer, 413, S.REQUEST_BODY_TOO_LARGE, 'chunked');
    assert.equal(slave.isConnected, false);
  });

  test('the size cap comes after the header checks: an oversized body without a token is 400, 301', async () => {
    const big = 'x'.repeat(kMaxBody * 4);
    assertFailure(
      await raw(slave.port, connectRequest({ Channel: '0' }, big)),
      400,
      S.MASTER_TOKEN_NOT_FOUND,
    );
  });

  test('self Token missing or empty: 400, 401; wrong: 403, 402 on GET /ping and DELETE /shutdown', async () => {
    for (const route of kSelfRoutes) {
      assertFailure(await raw(slave.port, route.request({})), 400, S.SELF_TOKEN_NOT_FOUND, route.name);
      assertFailure(
        await raw(slave.port, route.request({ Token: '' })),
        400,
        S.SELF_TOKEN_NOT_FOUND,
        route.name,
      );
      for (const value of [kSomeToken, slave.selfToken.slice(1), `${slave.selfToken}0`]) {
        assertFailure(
          await raw(slave.port, route.request({ Token: value })),
          403,
          S.SELF_TOKEN_INVALID,
          route.name,
        );
      }
    }
    assert.equal(await slave.ping(), true, 'a refused shutdown leaves the slave serving');
  });

  test('self Token right: GET /ping answers 200, PONG!', async () => {
    assertSuccess(
      await raw(slave.port, { method: 'GET', path: '/ping', headers: { Token: slave.selfToken } }),
      'PONG!',
    );
  });

  test('an unknown route: 404, 903', async () => {
    for (const request of [
      { method: 'GET', path: '/' },
      { method: 'GET', path: '/connect', headers: { Channel: '0', Token: kSomeToken } },
      { method: 'PUT', path: '/task/new', headers: { Channel: '0', Token: kSomeToken }, body: '{}' },
    ]) {
      assertFailure(
        await raw(slave.port, request),
        404,
        S.ROUTE_NOT_FOUND,
        `${request.method} ${request.path}`,
      );
    }
  });

  test('an error answered before the body was read does not desync the connection', async () => {
    const refused = serialise(connectRequest({ Channel: '7', Token: kSomeToken }));
    const ping = serialise({ method: 'GET', path: '/ping', headers: { Token: slave.selfToken } });
    const answers = await rawExchange(slave.port, Buffer.concat([refused, ping]), 2);
    assert.equal(answers.length, 2);
    assertFailure(answers[0]!, 403, S.CHANNEL_INVALID);
    assertSuccess(answers[1]!, 'PONG!');
  });

  test('a master that hangs up mid-body does not crash the slave, nor connect it', async () => {
    const dying = await RawConnection.open(slave.port);
    dying.write(
      Buffer.from(
        `POST /connect HTTP/1.1\r\nHost: 127.0.0.1\r\nChannel: 0\r\nToken: ${kSomeToken}\r\nContent-Length: 1000\r\n\r\n0123456789`,
        'latin1',
      ),
    );
    // a round trip on another socket: by its answer, the slave has read the partial request
    assert.equal(await slave.ping(), true);
    dying.destroy();
    assert.equal(await slave.ping(), true);
    assert.equal(slave.isConnected, false);
  });

  test('DELETE /shutdown with the self token: 200, and the slave goes down', async () => {
    const doomed = await startSlave();
    const answer = await raw(doomed.port, {
      method: 'DELETE',
      path: '/shutdown',
      headers: { Token: doomed.selfToken },
    });
    assertSuccess(answer, /shutdown/i);
    await waitFor('the slave to start shutting down', () => doomed.isShuttingDown);
    await doomed.close(); // idempotent: joins the shutdown the route started
    assert.equal(await doomed.ping(), false);
  });
});

describe('slave routes, connected to a master', () => {
  let master: Master;
  let slave: Slave;
  let connection: SlaveConnection;
  let release: Deferred<void>;
  let started: Deferred<void>;

  before(async () => {
    release = deferred();
    started = deferred();
    slave = await startSlave({
      heartbeatSpan: 60,
      requestRetries: 0,
      processTask: () => {
        started.resolve();
        return release.promise;
      },
    });
    master = await startMaster();
    connection = master.newConnection('s', '127.0.0.1', slave.port);
    await connection.connect();
  });
  after(async () => {
    release.resolve();
    await master.close();
    await slave.close();
  });

  test('/connect while connected: 400, 501, whatever the token', async () => {
    for (const value of [kSomeToken, connection.token]) {
      const answer = await raw(slave.port, connectRequest({ Channel: '0', Token: value }));
      assertFailure(answer, 400, S.SLAVE_ALREADY_CONNECTED);
    }
    assert.equal(slave.masterToken, connection.token, 'still connected to the same master');
  });

  test("master Token not the connected master's: 403, 302 on /disconnect and /task/new", async () => {
    for (const value of [
      kSomeToken,
      connection.token.toUpperCase(),
      connection.token.slice(1),
      slave.selfToken,
    ]) {
      for (const request of [
        disconnectRequest({ Channel: '0', Token: value }),
        newTaskRequest({ Channel: '0', Token: value }),
      ]) {
        assertFailure(await raw(slave.port, request), 403, S.MASTER_TOKEN_INVALID, request.path);
      }
    }
    assert.equal(slave.isConnected, true);
    assert.equal(slave.hasTask, false);
  });

  test('master Token missing: 400, 301, even while connected', async () => {
    for (const request of [disconnectRequest({ Channel: '0' }), newTaskRequest({ Channel: '0' })]) {
      assertFailure(await raw(slave.port, request), 400, S.MASTER_TOKEN_NOT_FOUND, request.path);
    }
  });

  test('/task/new with a body that is not a task: 400, 904', async () => {
    const headers = { Channel: '0', Token: connection.token };
    for (const body of ['not json', '[]', JSON.stringify({ data: {} })]) {
      const answer = await raw(slave.port, { method: 'POST', path: '/task/new', headers, body });
      assertFailure(answer, 400, S.REQUEST_DATA_INVALID, body);
    }
  });

  test('/task/new while a task is running: 400, 601', async () => {
    const headers = { Channel: '0', Token: connection.token };
    assertSuccess(await raw(slave.port, newTaskRequest(headers)), 'Task received!');
    await started.promise;
    assert.equal(slave.hasTask, true);
    assertFailure(await raw(slave.port, newTaskRequest(headers)), 400, S.TASK_ALREADY_EXIST);
    // the header checks still come first
    assertFailure(
      await raw(slave.port, newTaskRequest({ Channel: '1', Token: connection.token })),
      403,
      S.CHANNEL_INVALID,
    );
  });
});

describe('slave routes, refused by hooks', () => {
  let master: Master;
  let welcoming: Slave;
  let refusing: Slave;
  let connection: SlaveConnection;

  before(async () => {
    master = await startMaster();
    refusing = await startSlave({
      heartbeatSpan: 60,
      requestRetries: 0,
      hooks: {
        beforeConnection: () => {
          throw new ConnectionRefuse({ why: 'x' });
        },
      },
    });
    welcoming = await startSlave({
      heartbeatSpan: 60,
      requestRetries: 0,
      processTask: () => ({}),
      hooks: {
        beforeDisconnection: () => {
          throw new DisconnectionRefuse({ why: 'y' });
        },
        beforeTask: () => {
          throw new TaskRefuse({ why: 'z' });
        },
      },
    });
    connection = master.newConnection('welcoming', '127.0.0.1', welcoming.port);
    await connection.connect();
  });
  after(async () => {
    await master.close();
    await welcoming.close();
    await refusing.close();
  });

  test('ConnectionRefuse from beforeConnection: 403, 503 with the refusal data', async () => {
    const answer = await raw(refusing.port, connectRequest({ Channel: '0', Token: kSomeToken }));
    assertFailure(answer, 403, S.SLAVE_CONNECTION_REFUSED, '', { why: 'x' });
    assert.equal(refusing.isConnected, false);
  });

  test("ConnectionRefuse reaches the master's connect() as SlaveConnectionRefusedError with its data", async () => {
    const refused = master.newConnection('refused', '127.0.0.1', refusing.port);
    await assert.rejects(refused.connect(), (err: unknown) => {
      assert.ok(err instanceof SlaveConnectionRefusedError);
      assert.equal(err.statusCode, 403);
      assert.equal(err.code, S.SLAVE_CONNECTION_REFUSED);
      assert.deepEqual(err.data, { why: 'x' });
      return true;
    });
    assert.equal(master.has('refused'), false);
  });

  test('DisconnectionRefuse from beforeDisconnection: 403, 504 with the refusal data', async () => {
    const answer = await raw(welcoming.port, disconnectRequest({ Channel: '0', Token: connection.token }));
    assertFailure(answer, 403, S.SLAVE_DISCONNECTION_REFUSED, '', { why: 'y' });
    assert.equal(welcoming.masterToken, connection.token, 'still connected');
  });

  test('TaskRefuse from beforeTask: 403, 602 with the refusal data; the slot stays free', async () => {
    const answer = await raw(welcoming.port, newTaskRequest({ Channel: '0', Token: connection.token }));
    assertFailure(answer, 403, S.TASK_REFUSED, '', { why: 'z' });
    assert.equal(welcoming.hasTask, false);
  });

  test('a refusal without data carries {}', async () => {
    const bare = await startSlave({
      hooks: {
        beforeConnection: () => {
          throw new ConnectionRefuse();
        },
      },
    });
    try {
      const answer = await raw(bare.port, connectRequest({ Channel: '0', Token: kSomeToken }));
      assertFailure(answer, 403, S.SLAVE_CONNECTION_REFUSED, '', {});
    } finally {
      await bare.close();
    }
  });

  test('a hook that throws something else: 400, 904, and the slave keeps serving', async () => {
    const clumsy = await startSlave({
      hooks: {
        beforeConnection: () => {
          throw new Error('boom');
        },
      },
    });
    try {
      const answer = await raw(clumsy.port, connectRequest({ Channel: '0', Token: kSomeToken }));
      assertFailure(answer, 400, S.REQUEST_DATA_INVALID);
      assert.equal(clumsy.isConnected, false);
      assert.equal(await clumsy.ping(), true);
    } finally {
      await clumsy.close();
    }
  });
});

describe('slave routes while shutting down', () => {
  test('every route answers 401, 101, before any other check', async () => {
    // A master that never answers holds the slave's first heartbeat, and close() waits for it: the slave is
    // then shutting down but still serving the sockets it had already accepted.
    const peer = await HoldingPeer.start();
    const slave = await startSlave({ heartbeatSpan: 60, requestRetries: 0 });
    let closing: Promise<void> | undefined;
    try {
      assertSuccess(
        await raw(slave.port, connectRequest({ Channel: '0', Token: kSomeToken }, connectBody(peer.origin))),
        'Connect success.',
      );
      await peer.received(1);
      const socket = await RawConnection.open(slave.port);
      const [first] = await socket.send({
        method: 'GET',
        path: '/ping',
        headers: { Token: slave.selfToken },
      });
      assertSuccess(first!, 'PONG!', 'before close()');

      closing = slave.close();
      assert.equal(slave.isShuttingDown, true);
      const requests: [string, RawRequest][] = [
        ['/connect', connectRequest({ Channel: '0', Token: kSomeToken })],
        ['/connect without Channel and Token', connectRequest({})],
        ['/disconnect with the master token', disconnectRequest({ Channel: '0', Token: kSomeToken })],
        ['/task/new with a bad channel', newTaskRequest({ Channel: 'x', Token: kSomeToken })],
        [
          'GET /ping with the self token',
          { method: 'GET', path: '/ping', headers: { Token: slave.selfToken } },
        ],
        ['GET /ping without a token', { method: 'GET', path: '/ping' }],
        [
          'DELETE /shutdown with a wrong token',
          { method: 'DELETE', path: '/shutdown', headers: { Token: 'x' } },
        ],
      ];
      for (const [what, request] of requests) {
        const [answer] = await socket.send(request);
        assert.ok(answer, `answered: ${what}`);
        assertFailure(answer, 401, S.SYSTEM_SHUTTING_DOWN, what);
      }
      socket.destroy();
    } finally {
      peer.dropAll(); // the held heartbeat fails, and close() can finish
      await (closing ?? slave.close());
      await peer.close();
    }
    assert.equal(await slave.ping(), false);
  });
});

describe('slave routes, a link lost mid-request', () => {
  test('/disconnect whose master link dropped after the token check: 400, 502', async () => {
    const peer = await HoldingPeer.start();
    const lost = deferred<string>();
    const slave = await startSlave({
      heartbeatSpan: 60,
      requestRetries: 0,
      hooks: { lostConnection: (address) => lost.resolve(address) },
    });
    try {
      const token = kSomeToken;
      assertSuccess(
        await raw(slave.port, connectRequest({ Channel: '0', Token: token }, connectBody(peer.origin))),
        'Connect success.',
      );
      await peer.received(1);
      const body = '{"data":{}}';
      const socket = await RawConnection.open(slave.port);
      // headers only: the token check runs now, while the slave is still connected
      socket.write(
        Buffer.from(
          `DELETE /disconnect HTTP/1.1\r\nHost: 127.0.0.1\r\nChannel: 0\r\nToken: ${token}\r\nContent-Length: ${body.length}\r\n\r\n`,
          'latin1',
        ),
      );
      // a round trip on another socket: by its answer, the slave has checked the headers above
      assert.equal(await slave.ping(), true);
      peer.dropAll(); // the held heartbeat fails (no retries): the slave drops the link
      assert.equal(await lost.promise, peer.origin);
      assert.equal(slave.isConnected, false);
      socket.write(Buffer.from(body));
      const [answer] = await socket.next(1);
      assert.ok(answer, 'answered');
      assertFailure(answer, 400, S.SLAVE_NOT_CONNECTED);
      socket.destroy();
    } finally {
      await slave.close();
      await peer.close();
    }
  });
});

describe('slave task ids', () => {
  test('/task/new with a task id that is not a UUID: 400, 904 (its result would be refused by the master)', async () => {
    const master = await startMaster();
    const slave = await startSlave({ heartbeatSpan: 60, requestRetries: 0, processTask: () => ({}) });
    try {
      const connection = master.newConnection('s', '127.0.0.1', slave.port);
      await connection.connect();
      const answer = await raw(
        slave.port,
        newTaskRequest({ Channel: '0', Token: connection.token }, 'not-a-uuid'),
      );
      assertFailure(answer, 400, S.REQUEST_DATA_INVALID);
    } finally {
      await master.close();
      await slave.close();
    }
  });
});
