// Pure protocol pieces, without sockets: channel and token checks, the error-code tables and their typed
// errors, the result-body decoder and the defensive envelope parser.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { Packr } from 'msgpackr';
import {
  errorClassTables,
  isResponseError,
  MasterResponseError,
  masterErrorFor,
  ResponseError,
  SlaveChannelInvalidError,
  SlaveResponseError,
  slaveErrorFor,
} from '../src/errors.ts';
import * as publicApi from '../src/index.ts';
import { decodeResultBody } from '../src/master/results/decode.ts';
import { createChannelCheck } from '../src/protocol/channel.ts';
import { codeName, MasterErrorCode, SlaveErrorCode } from '../src/protocol/codes.ts';
import { failureEnvelope, parseEnvelope, successEnvelope } from '../src/protocol/envelope.ts';
import { createTokenCheck, randomToken } from '../src/protocol/token.ts';
import { isUuid } from '../src/protocol/uuid.ts';

describe('createChannelCheck', () => {
  test('channel 0: only "0" is ok; empty is missing; anything else (leading zeros too) is invalid', () => {
    const check = createChannelCheck(0);
    assert.equal(check('0'), 'ok');
    assert.equal(check(''), 'missing');
    for (const value of [
      '00',
      '0000000000',
      '1',
      '-1',
      '-0',
      '+0',
      ' 0',
      '0 ',
      '0.0',
      '0e0',
      '0x0',
      'abc',
      '0_0',
      '٠',
      'NaN',
    ]) {
      assert.equal(check(value), 'invalid', JSON.stringify(value));
    }
  });

  test('channel 233: exactly "233" is ok, Python-int spellings are not', () => {
    const check = createChannelCheck(233);
    assert.equal(check('233'), 'ok');
    // int() in the reference accepts all of these; the decisions table refuses them
    for (const value of [
      '0233',
      '000233',
      '2_33',
      ' 0233 ',
      '+233',
      '233 ',
      '\t233',
      '233.0',
      '2.33e2',
      '0',
      '2330',
      '23',
    ]) {
      assert.equal(check(value), 'invalid', JSON.stringify(value));
    }
  });

  test('an absurdly long run of digits is invalid, never parsed as a number', () => {
    const check = createChannelCheck(0);
    assert.equal(check('0'.repeat(33)), 'invalid');
    assert.equal(check('9'.repeat(400)), 'invalid');
  });
});

describe('tokens', () => {
  test('randomToken: 64 lower-case hexadecimal characters, different each time', () => {
    const tokens = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const token = randomToken();
      assert.match(token, /^[0-9a-f]{64}$/);
      tokens.add(token);
    }
    assert.equal(tokens.size, 100);
  });

  test('createTokenCheck: only the exact token passes', () => {
    const token = randomToken();
    const check = createTokenCheck(token);
    assert.equal(check(token), true);
    assert.equal(check(''), false);
    assert.equal(check(token.slice(1)), false, 'shorter');
    assert.equal(check(`${token}0`), false, 'longer');
    assert.equal(check(token.toUpperCase()), false, 'case matters');
    assert.equal(check(randomToken()), false);
    const flipped = (token[0] === 'a' ? 'b' : 'a') + token.slice(1);
    assert.equal(check(flipped), false, 'one character off');
  });

  test('createTokenCheck: a string whose characters only share their low bytes with the token does not pass', () => {
    const check = createTokenCheck('a'.repeat(64));
    assert.equal(check('\u0161'.repeat(64)), false);
  });
});

describe('error-code tables', () => {
  const tables = [
    ['MasterErrorCode', MasterErrorCode, errorClassTables.master, MasterResponseError],
    ['SlaveErrorCode', SlaveErrorCode, errorClassTables.slave, SlaveResponseError],
  ] as const;

  test('codes are unique within each table, and SUCCESS is 0', () => {
    for (const [name, table] of tables) {
      const codes = Object.values(table);
      assert.equal(new Set(codes).size, codes.length, `${name} has duplicate codes`);
      assert.equal(table.SUCCESS, 0);
      for (const code of codes) assert.ok(Number.isInteger(code) && code >= 0, `${name}: ${code}`);
    }
  });

  test('the codes DI-engine defines keep its values', () => {
    assert.deepEqual(
      [
        MasterErrorCode.SYSTEM_SHUTTING_DOWN,
        MasterErrorCode.CHANNEL_NOT_GIVEN,
        MasterErrorCode.CHANNEL_INVALID,
      ],
      [101, 201, 202],
    );
    assert.deepEqual(
      [MasterErrorCode.MASTER_TOKEN_NOT_GIVEN, MasterErrorCode.MASTER_TOKEN_INVALID],
      [301, 302],
    );
    assert.deepEqual([MasterErrorCode.SELF_TOKEN_NOT_GIVEN, MasterErrorCode.SELF_TOKEN_INVALID], [401, 402]);
    assert.deepEqual(
      [MasterErrorCode.SLAVE_TOKEN_NOT_GIVEN, MasterErrorCode.SLAVE_TOKEN_INVALID],
      [501, 502],
    );
    assert.equal(MasterErrorCode.TASK_DATA_INVALID, 601);
    assert.deepEqual(
      [SlaveErrorCode.SLAVE_ALREADY_CONNECTED, SlaveErrorCode.SLAVE_NOT_CONNECTED],
      [501, 502],
    );
    assert.deepEqual(
      [SlaveErrorCode.SLAVE_CONNECTION_REFUSED, SlaveErrorCode.SLAVE_DISCONNECTION_REFUSED],
      [503, 504],
    );
    assert.deepEqual([SlaveErrorCode.TASK_ALREADY_EXIST, SlaveErrorCode.TASK_REFUSED], [601, 602]);
  });

  test('fleetmaster additions are 9xx, so a DI-engine peer can tell them apart', () => {
    assert.equal(MasterErrorCode.REQUEST_BODY_TOO_LARGE, 901);
    assert.equal(SlaveErrorCode.REQUEST_BODY_TOO_LARGE, 901);
    assert.equal(MasterErrorCode.ROUTE_NOT_FOUND, 903);
    assert.equal(SlaveErrorCode.REQUEST_DATA_INVALID, 904);
  });

  test('SlaveErrorCode: every code but SUCCESS has its own typed error class', () => {
    assertEveryCodeHasAClass(SlaveErrorCode, errorClassTables.slave);
  });

  test('MasterErrorCode: every code but SUCCESS has its own typed error class', () => {
    assertEveryCodeHasAClass(MasterErrorCode, errorClassTables.master);
  });

  test('each class is a subclass of its side, named after its code, and exported from src/index.ts', () => {
    const exported = new Set<unknown>(Object.values(publicApi));
    for (const [name, table, classes, base] of tables) {
      for (const [code, Cls] of classes) {
        const key = codeName(table, code);
        assert.ok(key, `${name}: class for unknown code ${code}`);
        assert.ok(Cls.prototype instanceof base, `${Cls.name} extends ${base.name}`);
        assert.match(Cls.name, /^(Master|Slave)[A-Za-z]+Error$/);
        assert.ok(exported.has(Cls), `${Cls.name} is not exported from src/index.ts`);
        const err = new Cls(400, { success: false, code, message: 'm', data: null });
        assert.equal(err.name, Cls.name);
        assert.equal(err.code, code);
      }
      const classNames = [...classes.values()].map((c) => c.name);
      assert.equal(new Set(classNames).size, classNames.length, `${name}: two codes share a class name`);
    }
    for (const base of [ResponseError, MasterResponseError, SlaveResponseError]) {
      assert.ok(exported.has(base), `${base.name} is exported`);
    }
    assert.ok(exported.has(publicApi.isResponseError));
  });

  test('slaveErrorFor(403, code 202) is a SlaveChannelInvalidError carrying status, code, message and data', () => {
    const err = slaveErrorFor(403, { success: false, code: 202, message: 'm', data: { a: 1 } });
    assert.ok(err instanceof SlaveChannelInvalidError);
    assert.ok(err instanceof SlaveResponseError);
    assert.ok(err instanceof ResponseError);
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'SlaveChannelInvalidError');
    assert.equal(err.statusCode, 403);
    assert.equal(err.code, 202);
    assert.equal(err.message, 'm');
    assert.deepEqual(err.data, { a: 1 });
    assert.equal(isResponseError(err), true);
  });

  test('an unknown code still gives the side’s base class', () => {
    const slave = slaveErrorFor(500, { success: false, code: 777, message: '', data: null });
    assert.equal(slave.constructor, SlaveResponseError);
    assert.equal(slave.statusCode, 500);
    assert.equal(slave.code, 777);
    assert.match(slave.message, /500/, 'an empty message falls back to one naming status and code');
    const master = masterErrorFor(418, { success: false, code: 12345, message: 'teapot', data: null });
    assert.equal(master.constructor, MasterResponseError);
    assert.equal(master.message, 'teapot');
  });

  test('isResponseError: true for our errors and for any object with the shared brand, false otherwise', () => {
    assert.equal(
      isResponseError(masterErrorFor(403, { success: false, code: 502, message: 'x', data: null })),
      true,
    );
    // the brand is Symbol.for, so an error from a second copy of the library counts too
    assert.equal(isResponseError({ [Symbol.for('fleetmaster.ResponseError')]: true }), true);
    for (const value of [
      new Error('x'),
      null,
      undefined,
      0,
      'ResponseError',
      {},
      { statusCode: 403, code: 202 },
    ]) {
      assert.equal(isResponseError(value), false, String(value));
    }
  });
});

function assertEveryCodeHasAClass(
  table: Record<string, number>,
  classes: ReadonlyMap<number, unknown>,
): void {
  const missing = Object.entries(table)
    .filter(([key, code]) => key !== 'SUCCESS' && !classes.has(code))
    .map(([key, code]) => `${key} (${code})`);
  assert.deepEqual(missing, []);
  assert.equal(classes.has(0), false, 'SUCCESS has no error class');
}

describe('decodeResultBody', () => {
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const id = randomUUID();

  test('a DI-engine result (JSON, no Content-Type): its task id and result', () => {
    assert.deepEqual(decodeResultBody(json({ task: { id }, result: { r: 1 } }), ''), {
      ok: true,
      taskId: id,
      result: { r: 1 },
    });
  });

  test('a missing or null result becomes {}; any other result is kept as sent', () => {
    assert.deepEqual(decodeResultBody(json({ task: { id } }), ''), { ok: true, taskId: id, result: {} });
    assert.deepEqual(decodeResultBody(json({ task: { id }, result: null }), ''), {
      ok: true,
      taskId: id,
      result: {},
    });
    for (const result of [0, false, '', [1, 2], 'text']) {
      const decoded = decodeResultBody(json({ task: { id }, result }), '');
      assert.deepEqual(decoded, { ok: true, taskId: id, result }, JSON.stringify(result));
    }
  });

  test('an upper-case UUID is read as the same, lower-case id', () => {
    const decoded = decodeResultBody(json({ task: { id: id.toUpperCase() } }), 'application/json');
    assert.ok(decoded.ok);
    assert.equal(decoded.taskId, id);
  });

  test('JSON content types with parameters, and a body that is a view into a larger buffer', () => {
    const body = json({ task: { id }, result: { ok: 1 } });
    const framed = Buffer.concat([Buffer.from('garbage'), body, Buffer.from('more garbage')]);
    const view = framed.subarray(7, 7 + body.length);
    assert.deepEqual(decodeResultBody(view, 'application/json; charset=utf-8'), {
      ok: true,
      taskId: id,
      result: { ok: 1 },
    });
  });

  test('MessagePack bodies (application/msgpack and application/x-msgpack)', () => {
    const packr = new Packr({ useRecords: false });
    const body = Buffer.from(packr.pack({ task: { id }, result: { n: 3 } }));
    for (const type of ['application/msgpack', 'application/x-msgpack']) {
      assert.deepEqual(decodeResultBody(body, type), { ok: true, taskId: id, result: { n: 3 } }, type);
    }
    const bad = decodeResultBody(Buffer.from([0xc1]), 'application/msgpack');
    assert.equal(bad.ok, false);
  });

  test('everything that is not a result is refused with a message', () => {
    const bodies: [string, Buffer][] = [
      ['not JSON', Buffer.from('not json')],
      ['invalid UTF-8 JSON', Buffer.from([0x7b, 0xff, 0x7d])],
      ['an array', json([{ task: { id } }])],
      ['null', json(null)],
      ['a number', json(5)],
      ['a string', json(id)],
      ['an empty body (read as {})', Buffer.alloc(0)],
      ['no task', json({ result: {} })],
      ['task an array', json({ task: [id] })],
      ['task a string', json({ task: id })],
      ['no task.id', json({ task: {} })],
      ['task.id null', json({ task: { id: null } })],
      ['task.id a number', json({ task: { id: 1 } })],
      ['task.id an object', json({ task: { id: { id } } })],
      ['task.id not a UUID', json({ task: { id: 'abc' } })],
      ['task.id with braces', json({ task: { id: `{${id}}` } })],
      ['task.id without dashes', json({ task: { id: id.replaceAll('-', '') } })],
      ['task.id with spaces', json({ task: { id: ` ${id} ` } })],
    ];
    for (const [what, body] of bodies) {
      const decoded = decodeResultBody(body, '');
      assert.equal(decoded.ok, false, what);
      assert.ok(!decoded.ok && decoded.message.length > 0, `${what}: a message`);
    }
  });

  test('isUuid: the 8-4-4-4-12 hexadecimal form, any case', () => {
    assert.equal(isUuid(id), true);
    assert.equal(isUuid(id.toUpperCase()), true);
    assert.equal(isUuid('00000000-0000-0000-0000-000000000000'), true);
    for (const value of ['', 'abc', `${id}0`, id.slice(1), id.replace(/-/g, ''), `${id.slice(0, -1)}g`]) {
      assert.equal(isUuid(value), false, value);
    }
  });
});

describe('parseEnvelope', () => {
  test('reads what successEnvelope and failureEnvelope write', () => {
    assert.deepEqual(parseEnvelope(successEnvelope('PONG!')), {
      success: true,
      code: 0,
      message: 'PONG!',
      data: null,
    });
    assert.deepEqual(parseEnvelope(failureEnvelope(202, 'm', { a: 1 })), {
      success: false,
      code: 202,
      message: 'm',
      data: { a: 1 },
    });
  });

  test('fills a missing message with "" and missing data with null, and drops extra keys', () => {
    assert.deepEqual(parseEnvelope('{"success":false,"code":5}'), {
      success: false,
      code: 5,
      message: '',
      data: null,
    });
    assert.deepEqual(parseEnvelope('{"success":true,"code":0,"message":7,"data":{"x":1},"extra":true}'), {
      success: true,
      code: 0,
      message: '',
      data: { x: 1 },
    });
  });

  test('anything that is not an envelope gives undefined', () => {
    for (const text of [
      '',
      'not json',
      '<html>502 Bad Gateway</html>',
      'null',
      '5',
      '"text"',
      '[]',
      '{}',
      '{"success":"true","code":0}',
      '{"success":true,"code":"0"}',
      '{"success":true}',
      '{"code":0}',
    ]) {
      assert.equal(parseEnvelope(text), undefined, text);
    }
  });
});
