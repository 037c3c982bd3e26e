// The master's routes on the wire: every row of docs/protocol.md's master check table, in its check order, the
// decisions for the cases the reference gets wrong, and what a DI-engine slave actually sends.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  MasterErrorCode as C,
  type Master,
  type Slave,
  type SlaveConnection,
  type Task,
  TaskStatus,
} from '../src/index.ts';
import { type Deferred, deferred } from './helpers/deferred.ts';
import { assertEnvelope, assertFailure, assertSuccess } from './helpers/envelope.ts';
import { startMaster, startSlave, waitFor } from './helpers/fleet.ts';
import { RawConnection, type RawRequest, raw, rawExchange, serialise } from './helpers/raw-http.ts';

const kMaxBody = 256;
const kReceived = 'Received!';
const kResultReceived = 'Result received!';
const kIgnored = /ignored/i;

function heartbeat(headers: Record<string, string>, body?: string): RawRequest {
  return { method: 'GET', path: '/slave/heartbeat', headers, body };
}

function result(outcome: 'complete' | 'fail', headers: Record<string, string>, body: string): RawRequest {
  return { method: 'PUT', path: `/slave/task/${outcome}`, headers, body };
}

function resultBody(taskId: string, value: unknown = {}): string {
  return JSON.stringify({ task: { id: taskId }, result: value });
}

/** The three routes a slave calls; each gets the same header checks. */
const kSlaveRoutes: { name: string; request(headers: Record<string, string>): RawRequest }[] = [
  { name: 'GET /slave/heartbeat', request: (headers) => heartbeat(headers) },
  {
    name: 'PUT /slave/task/complete',
    request: (headers) => result('complete', headers, resultBody(randomUUID())),
  },
  { name: 'PUT /slave/task/fail', request: (headers) => result('fail', headers, resultBody(randomUUID())) },
];

/** The two management routes, guarded by the master's self token. */
const kSelfRoutes: { name: string; request(headers: Record<string, string>): RawRequest }[] = [
  { name: 'GET /ping', request: (headers) => ({ method: 'GET', path: '/ping', headers }) },
  { name: 'DELETE /shutdown', request: (headers) => ({ method: 'DELETE', path: '/shutdown', headers }) },
];

/** Headers and the first bytes of a body `declared` long: the rest never comes unless the test sends it. */
function truncated(
  method: string,
  path: string,
  headers: Record<string, string>,
  declared: number,
  sent = '0123456789',
): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', `Content-Length: ${declared}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${sent}`, 'latin1');
}

describe('master routes', () => {
  let master: Master;
  let slave: Slave;
  let other: Slave;
  let connection: SlaveConnection;
  let otherConnection: SlaveConnection;
  let token: string;
  let release: Deferred<void>;

  before(async () => {
    release = deferred();
    // processTask holds until the suite ends, so a task stays STARTED while results are sent by hand
    slave = await startSlave({ heartbeatSpan: 60, requestRetries: 0, processTask: () => release.promise });
    other = await startSlave({ heartbeatSpan: 60, requestRetries: 0, processTask: () => release.promise });
    master = await startMaster({ maxBodySize: kMaxBody });
    connection = master.newConnection('s', '127.0.0.1', slave.port);
    await connection.connect();
    otherConnection = master.newConnection('other', '127.0.0.1', other.port);
    await otherConnection.connect();
    token = connection.token;
  });

  after(async () => {
    release.resolve();
    await master.close();
    await slave.close();
    await other.close();
  });

  describe('header checks, in docs/protocol.md order', () => {
    test('Channel missing: 400, 201 on every slave route, before the token is looked at', async () => {
      for (const route of kSlaveRoutes) {
        assertFailure(
          await raw(master.port, route.request({ Token: token })),
          400,
          C.CHANNEL_NOT_GIVEN,
          route.name,
        );
        // an unknown token too: the channel is checked first
        const unknown = route.request({ Token: 'f'.repeat(64) });
        assertFailure(await raw(master.port, unknown), 400, C.CHANNEL_NOT_GIVEN, route.name);
      }
    });

    test('Channel empty counts as missing: 400, 201', async () => {
      for (const route of kSlaveRoutes) {
        const answer = await raw(master.port, route.request({ Channel: '', Token: token }));
        assertFailure(answer, 400, C.CHANNEL_NOT_GIVEN, route.name);
      }
    });

    test('Channel present but not the channel in plain digits: 403, 202 (abc, 2_33, " 0233 ", -1, 1, …)', async () => {
      // serialise writes each value byte for byte, so " 0233 " goes out with its spaces
      const values = ['abc', '2_33', ' 0233 ', '-1', '1', '+0', '0x0', '0.0', '0e0', '-0'];
      for (const route of kSlaveRoutes) {
        for (const value of values) {
          const answer = await raw(master.port, route.request({ Channel: value, Token: token }));
          assertFailure(answer, 403, C.CHANNEL_INVALID, `${route.name}, Channel ${JSON.stringify(value)}`);
        }
      }
    });

    test('Channel invalid comes before the token: a bad channel with no token is 403, 202', async () => {
      for (const route of kSlaveRoutes) {
        assertFailure(
          await raw(master.port, route.request({ Channel: 'abc' })),
          403,
          C.CHANNEL_INVALID,
          route.name,
        );
      }
    });

    test("Channel must be exactly the channel's digits: leading zeros (00, 000) are refused, 403, 202", async () => {
      for (const value of ['00', '000']) {
        assertFailure(
          await raw(master.port, heartbeat({ Channel: value, Token: token })),
          403,
          C.CHANNEL_INVALID,
          value,
        );
      }
      assertSuccess(await raw(master.port, heartbeat({ Channel: '0', Token: token })), kReceived);
    });

    test('Token missing: 400, 501 on every slave route', async () => {
      for (const route of kSlaveRoutes) {
        assertFailure(
          await raw(master.port, route.request({ Channel: '0' })),
          400,
          C.SLAVE_TOKEN_NOT_GIVEN,
          route.name,
        );
      }
    });

    test('Token empty counts as missing: 400, 501', async () => {
      for (const route of kSlaveRoutes) {
        const answer = await raw(master.port, route.request({ Channel: '0', Token: '' }));
        assertFailure(answer, 400, C.SLAVE_TOKEN_NOT_GIVEN, route.name);
      }
    });

    test('Token unknown: 403, 502 on every slave route (the master self token is not a slave token)', async () => {
      const unknown = [randomUUID(), 'f'.repeat(64), token.slice(0, 63), `${token}0`, master.selfToken];
      for (const route of kSlaveRoutes) {
        for (const value of unknown) {
          const answer = await raw(master.port, route.request({ Channel: '0', Token: value }));
          assertFailure(answer, 403, C.SLAVE_TOKEN_INVALID, route.name);
        }
      }
    });

    test('the right channel and token: the heartbeat answers 200, Received!', async () => {
      assertSuccess(await raw(master.port, heartbeat({ Channel: '0', Token: token })), kReceived);
    });
  });

  describe('self routes', () => {
    test('Token missing or empty: 400, 401 on GET /ping and DELETE /shutdown', async () => {
      for (const route of kSelfRoutes) {
        assertFailure(await raw(master.port, route.request({})), 400, C.SELF_TOKEN_NOT_GIVEN, route.name);
        assertFailure(
          await raw(master.port, route.request({ Token: '' })),
          400,
          C.SELF_TOKEN_NOT_GIVEN,
          route.name,
        );
      }
    });

    test('Token wrong: 403, 402 (a slave token is not the self token)', async () => {
      for (const route of kSelfRoutes) {
        for (const value of ['f'.repeat(64), token, master.selfToken.slice(1), `${master.selfToken} x`]) {
          const answer = await raw(master.port, route.request({ Token: value }));
          assertFailure(answer, 403, C.SELF_TOKEN_INVALID, route.name);
        }
      }
      assert.equal(await master.ping(), true, 'a refused shutdown leaves the master serving');
    });

    test('Token right: GET /ping answers 200, PONG!', async () => {
      assertSuccess(
        await raw(master.port, { method: 'GET', path: '/ping', headers: { Token: master.selfToken } }),
        'PONG!',
      );
      assert.equal(await master.ping(), true);
    });

    test('Token right: DELETE /shutdown answers 200 and the master goes down', async () => {
      const doomed = await startMaster();
      const answer = await raw(doomed.port, {
        method: 'DELETE',
        path: '/shutdown',
        headers: { Token: doomed.selfToken },
      });
      assertEnvelope(answer, 200, C.SUCCESS);
      await waitFor('the master to start shutting down', () => doomed.isShuttingDown);
      await doomed.close(); // idempotent: joins the shutdown the route started
      assert.equal(await doomed.ping(), false);
    });
  });

  describe('result bodies', () => {
    const invalid: [string, string][] = [
      ['not JSON', 'not json'],
      ['truncated JSON', '{"task": {"id": '],
      ['a JSON array', JSON.stringify([{ task: { id: randomUUID() } }])],
      ['JSON null', 'null'],
      ['a JSON string', '"task"'],
      ['an object without task', JSON.stringify({ result: {} })],
      ['task null', JSON.stringify({ task: null })],
      ['task a string', JSON.stringify({ task: randomUUID() })],
      ['task without id', JSON.stringify({ task: {}, result: {} })],
      ['task.id null', JSON.stringify({ task: { id: null } })],
      ['task.id a number', JSON.stringify({ task: { id: 42 } })],
      ['task.id not a UUID', JSON.stringify({ task: { id: 'abc' } })],
      ['task.id a UUID without dashes', JSON.stringify({ task: { id: randomUUID().replaceAll('-', '') } })],
      ['task.id a UUID in braces', JSON.stringify({ task: { id: `{${randomUUID()}}` } })],
    ];

    test('a body that is not a result: 400, 601 on both result routes', async () => {
      for (const outcome of ['complete', 'fail'] as const) {
        for (const [what, body] of invalid) {
          const answer = await raw(master.port, result(outcome, { Channel: '0', Token: token }, body));
          assertFailure(answer, 400, C.TASK_DATA_INVALID, `${outcome}: ${what}`);
        }
      }
    });

    test('a well-formed result for an unknown task id: 200, success, a message saying it was ignored', async () => {
      const before = master.stats().resultsIgnored;
      for (const outcome of ['complete', 'fail'] as const) {
        // as a DI-engine slave sends it: no Content-Type
        const answer = await raw(
          master.port,
          result(outcome, { Channel: '0', Token: token }, resultBody(randomUUID())),
        );
        assertSuccess(answer, kIgnored, outcome);
      }
      assert.equal(master.stats().resultsIgnored, before + 2, 'counted in metrics');
    });

    test("a result is delivered once: another slave's, a duplicate and a late fail are acknowledged and ignored", async () => {
      const task: Task = await connection.newTask({ n: 1 }).start();
      assert.equal(task.status, TaskStatus.STARTED);
      const headers = { Channel: '0', Token: token };

      const foreign = await raw(
        master.port,
        result('complete', { Channel: '0', Token: otherConnection.token }, resultBody(task.id)),
      );
      assertSuccess(foreign, kIgnored, "another slave's token");
      assert.equal(task.status, TaskStatus.STARTED, "another slave's result does not end the task");

      assertSuccess(
        await raw(master.port, result('complete', headers, resultBody(task.id, { v: 1 }))),
        kResultReceived,
      );
      await task.join();
      assert.equal(task.status, TaskStatus.COMPLETED);
      assert.deepEqual(task.result, { v: 1 });

      assertSuccess(
        await raw(master.port, result('complete', headers, resultBody(task.id, { v: 2 }))),
        kIgnored,
        'duplicate',
      );
      assertSuccess(
        await raw(master.port, result('fail', headers, resultBody(task.id, { v: 3 }))),
        kIgnored,
        'late fail',
      );
      assert.equal(task.status, TaskStatus.COMPLETED);
      assert.deepEqual(task.result, { v: 1 }, 'the first result stands');
    });

    test('an upper-case task id names the same task', async () => {
      const task: Task = await otherConnection.newTask({ n: 2 }).start();
      const headers = { Channel: '0', Token: otherConnection.token };
      assertSuccess(
        await raw(master.port, result('fail', headers, resultBody(task.id.toUpperCase(), { e: 1 }))),
        kResultReceived,
      );
      await task.join();
      assert.equal(task.status, TaskStatus.FAILED);
      assert.deepEqual(task.result, { e: 1 });
    });
  });

  describe('body size cap', () => {
    test('a body over maxBodySize (Content-Length): 413, 901 on both result routes', async () => {
      const body = resultBody(randomUUID(), { pad: 'x'.repeat(kMaxBody) });
      for (const outcome of ['complete', 'fail'] as const) {
        const answer = await raw(master.port, result(outcome, { Channel: '0', Token: token }, body));
        assertFailure(answer, 413, C.REQUEST_BODY_TOO_LARGE, outcome);
      }
    });

    test('a chunked body over maxBodySize (no Content-Length; each chunk under the cap, their sum over it): 413, 901', async () => {
      const chunk = 'x'.repeat(kMaxBody / 2 + 1);
      const framed = `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
      const bytes = Buffer.from(
        `PUT /slave/task/complete HTTP/1.1\r\nHost: 127.0.0.1\r\nChannel: 0\r\nToken: ${token}\r\n` +
          `Transfer-Encoding: chunked\r\n\r\n${framed}${framed}0\r\n\r\n`,
        'latin1',
      );
      const [answer] = await rawExchange(master.port, bytes, 1);
      assert.ok(answer, 'answered');
      assertFailure(answer, 413, C.REQUEST_BODY_TOO_LARGE);
    });

    test('a body exactly maxBodySize long is read (and judged on its content)', async () => {
      const base = resultBody(randomUUID(), { pad: '' });
      const body = resultBody(JSON.parse(base).task.id, { pad: 'x'.repeat(kMaxBody - base.length) });
      assert.equal(Buffer.byteLength(body), kMaxBody);
      assertSuccess(
        await raw(master.port, result('complete', { Channel: '0', Token: token }, body)),
        kIgnored,
      );
    });

    test('the size cap comes after the header checks: an oversized body with an unknown token is 403, 502', async () => {
      const body = 'x'.repeat(kMaxBody * 4);
      const answer = await raw(
        master.port,
        result('complete', { Channel: '0', Token: 'f'.repeat(64) }, body),
      );
      assertFailure(answer, 403, C.SLAVE_TOKEN_INVALID);
    });
  });

  describe('unknown routes', () => {
    test('404, 903 for an unknown path or a known path with another method', async () => {
      const requests: RawRequest[] = [
        { method: 'GET', path: '/' },
        { method: 'GET', path: '/nowhere' },
        { method: 'POST', path: '/slave/heartbeat', headers: { Channel: '0', Token: token }, body: '{}' },
        { method: 'GET', path: '/slave/task/complete', headers: { Channel: '0', Token: token } },
        { method: 'POST', path: '/ping', headers: { Token: master.selfToken } },
      ];
      for (const request of requests) {
        assertFailure(
          await raw(master.port, request),
          404,
          C.ROUTE_NOT_FOUND,
          `${request.method} ${request.path}`,
        );
      }
    });
  });

  describe('what a DI-engine slave sends', () => {
    test('GET /slave/heartbeat with body {}, Content-Length and no Content-Type: 200, Received!', async () => {
      const request = heartbeat({ Channel: '0', Token: token }, '{}');
      assert.doesNotMatch(serialise(request).toString('latin1'), /content-type/i);
      assertSuccess(await raw(master.port, request), kReceived);
    });

    test('three such heartbeats pipelined on one socket are all answered', async () => {
      const one = serialise(heartbeat({ Channel: '0', Token: token }, '{}'));
      const answers = await rawExchange(master.port, Buffer.concat([one, one, one]), 3);
      assert.equal(answers.length, 3);
      for (const answer of answers) assertSuccess(answer, kReceived);
    });

    test('an error answered before the body was read does not desync the connection', async () => {
      const cases: [string, RawRequest, number, number][] = [
        [
          'unknown token',
          result('complete', { Channel: '0', Token: 'f'.repeat(64) }, resultBody(randomUUID())),
          403,
          C.SLAVE_TOKEN_INVALID,
        ],
        ['no channel', result('fail', { Token: token }, resultBody(randomUUID())), 400, C.CHANNEL_NOT_GIVEN],
        [
          'bad channel',
          result('complete', { Channel: 'x', Token: token }, resultBody(randomUUID())),
          403,
          C.CHANNEL_INVALID,
        ],
        [
          'no token',
          result('fail', { Channel: '0' }, resultBody(randomUUID())),
          400,
          C.SLAVE_TOKEN_NOT_GIVEN,
        ],
      ];
      const next = serialise(heartbeat({ Channel: '0', Token: token }, '{}'));
      for (const [what, request, status, code] of cases) {
        const answers = await rawExchange(master.port, Buffer.concat([serialise(request), next]), 2);
        assert.equal(answers.length, 2, `both answered (${what})`);
        assertFailure(answers[0]!, status, code, what);
        assertSuccess(answers[1]!, kReceived, `${what}, then a heartbeat`);
      }
    });

    test('answers given after the body was read keep the connection usable (one request at a time)', async () => {
      // Not pipelined: uWS closes a connection on which a request arrives while an earlier answer is still
      // pending (it allows only synchronous pipelining), and result answers come from the result stage.
      const socket = await RawConnection.open(master.port);
      try {
        const headers = { Channel: '0', Token: token };
        const [invalid] = await socket.send(result('complete', headers, '{{{{'));
        assertFailure(invalid!, 400, C.TASK_DATA_INVALID, 'not JSON');
        const [ignored] = await socket.send(result('fail', headers, resultBody(randomUUID())));
        assertSuccess(ignored!, kIgnored, 'unknown task');
        const [beat] = await socket.send(heartbeat(headers, '{}'));
        assertSuccess(beat!, kReceived, 'then a heartbeat');
        assert.equal(socket.isClosed, false);
      } finally {
        socket.destroy();
      }
    });

    test('a slave that hangs up mid-body does not crash the master', async () => {
      const cases: [string, Buffer][] = [
        [
          'result route, known token',
          truncated('PUT', '/slave/task/complete', { Channel: '0', Token: token }, 1000),
        ],
        [
          'result route, unknown token',
          truncated('PUT', '/slave/task/fail', { Channel: '0', Token: 'f'.repeat(64) }, 1000),
        ],
        ['heartbeat with a body', truncated('GET', '/slave/heartbeat', { Channel: '0', Token: token }, 1000)],
        ['unknown route', truncated('POST', '/nowhere', {}, 1000)],
      ];
      for (const [what, bytes] of cases) {
        const dying = await RawConnection.open(master.port);
        dying.write(bytes);
        // a round trip on another socket: by its answer, the master has read the partial request
        assertSuccess(await raw(master.port, heartbeat({ Channel: '0', Token: token })), kReceived, what);
        dying.destroy();
        assertSuccess(
          await raw(master.port, heartbeat({ Channel: '0', Token: token })),
          kReceived,
          `${what}, after`,
        );
      }
      assert.equal(await master.ping(), true);
    });
  });
});

describe('master routes while shutting down', () => {
  test('every route answers 401, 101, before any other check', async () => {
    const slave = await startSlave({ heartbeatSpan: 60, requestRetries: 0 });
    const master = await startMaster();
    let closing: Promise<void> | undefined;
    const held = await RawConnection.open(master.port);
    const socket = await RawConnection.open(master.port);
    try {
      const connection = master.newConnection('s', '127.0.0.1', slave.port);
      await connection.connect();
      const token = connection.token;
      // A result whose body has only begun to arrive: a graceful close() waits for its answer, so the master
      // is shutting down yet still serving the sockets it had already accepted.
      const body = resultBody(randomUUID());
      held.write(
        truncated(
          'PUT',
          '/slave/task/complete',
          { Channel: '0', Token: token },
          body.length,
          body.slice(0, 10),
        ),
      );
      // a round trip on another socket: by its answer, the master has read the held request's headers
      const [first] = await socket.send(heartbeat({ Channel: '0', Token: token }));
      assertSuccess(first!, kReceived, 'before close()');

      closing = master.close();
      assert.equal(master.isShuttingDown, true);
      const requests: [string, RawRequest][] = [
        ['heartbeat', heartbeat({ Channel: '0', Token: token })],
        ['heartbeat without Channel and Token', heartbeat({})],
        [
          'result with a bad channel',
          result('fail', { Channel: 'abc', Token: token }, resultBody(randomUUID())),
        ],
        [
          'result with an unknown token',
          result('complete', { Channel: '0', Token: 'f'.repeat(64) }, resultBody(randomUUID())),
        ],
        [
          'result with the right headers',
          result('complete', { Channel: '0', Token: token }, resultBody(randomUUID())),
        ],
        ['GET /ping without a token', { method: 'GET', path: '/ping' }],
        [
          'GET /ping with the self token',
          { method: 'GET', path: '/ping', headers: { Token: master.selfToken } },
        ],
        [
          'DELETE /shutdown with a wrong token',
          { method: 'DELETE', path: '/shutdown', headers: { Token: 'x' } },
        ],
      ];
      for (const [what, request] of requests) {
        const [answer] = await socket.send(request);
        assert.ok(answer, `answered: ${what}`);
        assertFailure(answer, 401, C.SYSTEM_SHUTTING_DOWN, what);
      }
      // the held result gets its answer too, whatever the stage made of it
      const [late] = await held.send(Buffer.from(body.slice(10)));
      assert.ok(late, 'the request begun before close() is answered');
      const code = late.json?.code;
      assert.ok(code === C.SUCCESS || code === C.SYSTEM_SHUTTING_DOWN, `held result answered ${late.body}`);
      assertEnvelope(late, code === C.SUCCESS ? 200 : 401, code, 'held result');
    } finally {
      held.destroy();
      socket.destroy();
      await (closing ?? master.close());
      await slave.close();
    }
  });
});

describe('master routes on channel 233', () => {
  // The channel check runs before the token check, so with an unknown token an accepted channel shows as
  // 403/502 and a refused one as 403/202: no slave is needed to see which way the channel went.
  let master: Master;
  const unknown = 'f'.repeat(64);

  before(async () => {
    master = await startMaster({ channel: 233 });
  });
  after(async () => {
    await master.close();
  });

  test('233 is the channel; 0233, 2_33, +233, 233.0, 0 and 2330 are not', async () => {
    const answer = await raw(master.port, heartbeat({ Channel: '233', Token: unknown }));
    assertFailure(answer, 403, C.SLAVE_TOKEN_INVALID, 'Channel 233 accepted');
    for (const value of ['0233', '000233', '2_33', '+233', '233.0', '0', '2330', '23 3']) {
      const answer = await raw(master.port, heartbeat({ Channel: value, Token: unknown }));
      assertFailure(answer, 403, C.CHANNEL_INVALID, `Channel ${value} refused`);
    }
  });

  test('Channel " 0233 " (spaces inside the raw header value) is refused: 403, 202', async () => {
    // uWS drops the spaces (RFC 9110: they are not part of the value); "0233" is then refused for its zero
    const bytes = Buffer.from(
      `GET /slave/heartbeat HTTP/1.1\r\nHost: 127.0.0.1\r\nChannel: ${' 0233 '}\r\nToken: ${unknown}\r\n\r\n`,
      'latin1',
    );
    const [answer] = await rawExchange(master.port, bytes, 1);
    assert.ok(answer);
    assertFailure(answer, 403, C.CHANNEL_INVALID);
  });
});
