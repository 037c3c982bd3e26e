// fast-check arbitraries for test/fuzz.test.ts: methods, paths, header values and bodies, weighted toward the
// ones that reach past the header checks, with a few that HTTP forbids.
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import {
  type BodyCodec,
  type BodyShape,
  type FuzzBody,
  type FuzzRequest,
  type Header,
  kMasterRoutes,
  kMaxBody,
  kSlaveRoutes,
  kStandardMethods,
  type Side,
} from './fuzz-model.ts';

const packr = new Packr({ useRecords: false, moreTypes: true });

const kHex = '0123456789abcdef';
const hex64 = fc.string({ unit: fc.constantFrom(...kHex), minLength: 64, maxLength: 64 });
const kHuge = 'H'.repeat(8 * 1024);

/**
 * Latin-1 byte strings: printable ASCII, obs-text (0x80–0xff), and rarely HTAB or DEL (DEL is outside RFC 9110's
 * field-value, but uWS passes it through).
 */
const printable = fc.string({ unit: 'grapheme-ascii', maxLength: 40 });
const latin1 = fc.string({
  unit: fc.oneof(
    { weight: 20, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
    { weight: 4, arbitrary: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)) },
    { weight: 1, arbitrary: fc.constantFrom('\t', '\x7f') },
  ),
  maxLength: 40,
});
const utf8AsLatin1 = fc
  .string({ unit: 'grapheme', maxLength: 12 })
  .map((s) => Buffer.from(s.replace(/[\r\n]/g, ''), 'utf8').toString('latin1'));
/** A byte HTTP forbids in a header value, put into one header of a few requests. */
const poisonArb = fc.oneof(
  { weight: 20, arbitrary: fc.constant(undefined) },
  {
    weight: 1,
    arbitrary: fc.tuple(
      fc.nat(),
      fc
        .integer({ min: 0, max: 0x1f })
        .filter((c) => c !== 0x09 && c !== 0x0a && c !== 0x0d)
        .map((c) => String.fromCharCode(c)),
    ),
  },
);

/** Any header value, weighted toward the ones that exercise the checks. */
function valueArb(specials: fc.Arbitrary<string>[]): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.constant('') },
    ...specials.map((arbitrary) => ({ weight: 4, arbitrary })),
    { weight: 1, arbitrary: fc.constant(kHuge) },
    { weight: 2, arbitrary: printable },
    { weight: 1, arbitrary: latin1 },
    { weight: 1, arbitrary: utf8AsLatin1 },
  );
}

function channelArb(): fc.Arbitrary<string | undefined> {
  return valueArb([
    fc.constant('0'),
    fc.constant('0'),
    fc.constant('0'),
    fc.constantFrom(
      ' 0 ',
      '\t0',
      '0\xe9',
      '\xa00',
      '00',
      '-0',
      '+0',
      '0.0',
      '0x0',
      '1',
      '233',
      '2_33',
      ' 0233 ',
    ),
    fc.integer({ min: -5, max: 500 }).map(String),
  ]);
}

function tokenArb(valid: string[], self: string): fc.Arbitrary<string | undefined> {
  const around = fc
    .tuple(fc.constantFrom(...valid), fc.constantFrom(' ', '\t', '\xe9', 'x', '0'), fc.boolean())
    .map(([t, pad, before]) => (before ? `${pad}${t}` : `${t}${pad}`));
  return valueArb([
    fc.constantFrom(...valid),
    fc.constantFrom(...valid),
    fc.constantFrom(...valid),
    fc.constantFrom(...valid),
    fc.constant(self),
    around,
    fc.constantFrom(...valid).map((t) => t.toUpperCase()),
    fc.constantFrom(...valid).map((t) => t.slice(0, 63)),
    hex64,
  ]);
}

const contentTypeArb = valueArb([
  fc.constantFrom(
    'application/msgpack',
    'application/msgpack',
    'application/x-msgpack',
    'application/msgpack; charset=binary',
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/MSGPACK',
    'text/plain',
    'multipart/form-data; boundary=x',
  ),
]);

const taskIdArb = valueArb([fc.uuid(), fc.uuid().map((u) => u.toUpperCase()), fc.constant('not-a-uuid')]);

const extensionsArb = valueArb([
  fc.constantFrom('task-id, msgpack, backpressure', 'backpressure', 'msgpack', ',,,', 'task-id,task-id'),
]);

/** A few unrelated headers, some of which uWS might act on. */
const extraHeadersArb = fc.array(
  fc.oneof(
    fc.record({ name: fc.constantFrom('X-Fuzz', 'X-Forwarded-For', 'Cookie', 'Accept'), value: latin1 }),
    fc.constantFrom(
      { name: 'Connection', value: 'close' },
      { name: 'Connection', value: 'keep-alive' },
      { name: 'Expect', value: '100-continue' },
      { name: 'Upgrade', value: 'websocket' },
      { name: 'Accept-Encoding', value: 'gzip' },
    ),
  ),
  { maxLength: 3 },
);

/** Rarely, more headers than uWS takes (it holds such a request; observed near 50). */
const manyHeadersArb = fc.oneof(
  { weight: 30, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.integer({ min: 55, max: 80 }) },
);

// paths

const kQueryChar = fc.constantFrom(...'abcxyz019=&%/?;:@!$()*+,-._~'.split(''));
const queryArb = fc.string({ unit: kQueryChar, maxLength: 30 });

function pathArb(routes: string[]): fc.Arbitrary<string> {
  const real = fc.constantFrom(...routes);
  const nearMiss = fc.tuple(real, fc.integer({ min: 0, max: 7 })).map(([p, how]) => {
    switch (how) {
      case 0:
        return p.toUpperCase();
      case 1:
        return `${p}/`;
      case 2:
        return `/${p}`;
      case 3:
        return p.slice(0, -1);
      case 4:
        return `${p}.json`;
      case 5:
        return p.replace('/', '/./');
      case 6:
        return `${p}/..`;
      default:
        return p.replaceAll('/', '//');
    }
  });
  const percent = fc.tuple(real, fc.boolean()).map(([p, all]) =>
    p
      .split('')
      .map((c, i) =>
        c !== '/' && (all || i === 1) ? `%${c.charCodeAt(0).toString(16).padStart(2, '0')}` : c,
      )
      .join(''),
  );
  const long = fc
    .tuple(fc.integer({ min: 200, max: 8000 }), fc.option(real, { nil: '' }))
    .map(([n, p]) => `${p}/${'a'.repeat(n)}`);
  const random = fc.string({ unit: 'grapheme-ascii', maxLength: 30 }).map((s) => `/${s}`);
  const nonAscii = utf8AsLatin1.map((s) => `/${s}`);
  return fc.oneof(
    { weight: 12, arbitrary: real },
    { weight: 3, arbitrary: fc.tuple(real, queryArb).map(([p, q]) => `${p}?${q}`) },
    { weight: 2, arbitrary: nearMiss },
    { weight: 1, arbitrary: percent },
    { weight: 1, arbitrary: long },
    { weight: 1, arbitrary: random },
    { weight: 1, arbitrary: nonAscii },
  );
}

const methodArb = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom(...kStandardMethods) },
  { weight: 1, arbitrary: fc.constantFrom('get', 'CONNECT', 'TRACE', 'M-SEARCH', 'PROPFIND', 'GETT') },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z]{1,12}$/) },
);

// bodies

const jsonValue = fc.jsonValue({ maxDepth: 3 });

function body(kind: string, codec: BodyCodec, shape: BodyShape, value: unknown): FuzzBody {
  const bytes =
    codec === 'msgpack'
      ? Buffer.from(packr.pack(value))
      : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
  return { kind, bytes, codec, shape };
}

function wellFormed(kind: string, shape: BodyShape, value: fc.Arbitrary<unknown>): fc.Arbitrary<FuzzBody> {
  return fc
    .tuple(value, fc.boolean())
    .map(([v, msgpack]) => body(kind, msgpack ? 'msgpack' : 'json', shape, v));
}

/** Bodies both ends meet: garbage, wrong types, deep nesting, truncation, over the cap. */
const genericBodies: fc.Arbitrary<FuzzBody>[] = [
  jsonValue.map((v) => body('random JSON', 'json', 'unknown', v)),
  fc.string({ maxLength: 200 }).map((s) => body('text', 'other', 'unknown', s)),
  fc.uint8Array({ maxLength: 300 }).map((b) => ({
    kind: 'random bytes',
    bytes: Buffer.from(b),
    codec: 'other' as const,
    shape: 'unknown' as const,
  })),
  fc
    .tuple(fc.integer({ min: 1, max: kMaxBody / 2 - 1 }), fc.boolean())
    .map(([n, arrays]) =>
      body(
        `JSON nested ${n} deep`,
        'json',
        arrays ? 'not-object' : 'object',
        arrays ? `${'['.repeat(n)}${']'.repeat(n)}` : `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`,
      ),
    ),
  fc.integer({ min: 1, max: kMaxBody - 1 }).map((n) => ({
    // n one-element arrays inside each other, then nil
    kind: `MessagePack nested ${n} deep`,
    bytes: Buffer.concat([Buffer.alloc(n, 0x91), Buffer.from([0xc0])]),
    codec: 'msgpack' as const,
    shape: 'not-object' as const,
  })),
  fc
    .tuple(fc.integer({ min: kMaxBody + 1, max: kMaxBody * 3 }), fc.constantFrom('x', '{', '\x91'))
    .map(([n, fill]) => ({
      kind: `over the cap (${n} B)`,
      bytes: Buffer.alloc(n, fill),
      codec: 'other' as const,
      shape: 'unknown' as const,
    })),
  fc
    .constantFrom('null', '[]', '42', '"x"', 'true')
    .map((s) => body('JSON not an object', 'json', 'not-object', s)),
];

/** A well-formed value cut short: MessagePack that ends mid-value. */
function truncatedMsgpack(shape: fc.Arbitrary<unknown>): fc.Arbitrary<FuzzBody> {
  return fc
    .tuple(shape, fc.double({ min: 0, max: 0.999, noNaN: true }))
    .map(([v, at]) => {
      const full = Buffer.from(packr.pack(v));
      return {
        kind: 'truncated MessagePack',
        bytes: full.subarray(0, Math.floor(full.length * at)),
        codec: 'msgpack' as const,
        shape: 'invalid' as const,
      };
    })
    .filter((b) => b.bytes.length > 0);
}

const resultValue = fc.record({ task: fc.record({ id: fc.uuid() }), result: jsonValue });
const taskValue = fc.record({ task: fc.record({ id: fc.uuid() }), data: jsonValue });
const badTaskId = fc.oneof(
  jsonValue.filter((v) => typeof v !== 'string'),
  fc.constantFrom('', 'abc', '{00000000-0000-0000-0000-000000000000}', '00000000000000000000000000000000'),
);

export const masterBodyArb: fc.Arbitrary<FuzzBody | undefined> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 6, arbitrary: wellFormed('a result for a random task id', 'result', resultValue) },
  {
    weight: 2,
    arbitrary: wellFormed(
      'a result with a wrong task',
      'bad-task-id',
      fc.oneof(
        fc.record({ task: fc.record({ id: badTaskId }), result: jsonValue }),
        fc.record({ result: jsonValue }),
      ),
    ),
  },
  {
    weight: 1,
    arbitrary: wellFormed(
      'task not an object',
      'bad-task-id',
      jsonValue
        .filter((v) => typeof v !== 'object' || v === null || Array.isArray(v))
        .map((task) => ({ task })),
    ),
  },
  { weight: 2, arbitrary: truncatedMsgpack(resultValue) },
  ...genericBodies.map((arbitrary) => ({ weight: 1, arbitrary })),
);

/** Connect requests name `addresses` (a master nobody runs, the real master, the slave itself, broken ones). */
const slaveBodyArb = (addresses: string[]): fc.Arbitrary<FuzzBody | undefined> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 4, arbitrary: wellFormed('a task', 'task', taskValue) },
    {
      weight: 2,
      arbitrary: wellFormed(
        'a task with a wrong id',
        'bad-task-id',
        fc.oneof(
          fc.record({ task: fc.record({ id: badTaskId }), data: jsonValue }),
          fc.record({ data: jsonValue }),
        ),
      ),
    },
    {
      weight: 2,
      arbitrary: wellFormed(
        'a connect request',
        'connect',
        fc.record({
          master: fc.record({ address: fc.constantFrom(...addresses) }),
          data: jsonValue,
        }),
      ),
    },
    { weight: 1, arbitrary: wellFormed('a disconnect request', 'object', fc.record({ data: jsonValue })) },
    { weight: 2, arbitrary: truncatedMsgpack(taskValue) },
    ...genericBodies.map((arbitrary) => ({ weight: 1, arbitrary })),
  );

export interface Tokens {
  valid: string[];
  self: string;
  /** Master addresses for connect bodies. */
  addresses?: string[];
}

/** Addresses no master answers on, or that are not addresses at all. */
export const kBrokenAddresses = [
  'http://127.0.0.1:1',
  'https://127.0.0.1:1',
  'http://[::1]:1',
  'http://127.0.0.1:99999',
  'http://',
  'http://[::1',
  'http://a b:1',
  'http://user:pw@127.0.0.1:1/some/path?q=1#f',
  'ftp://127.0.0.1:1',
  '',
];

/** One fuzzed request for `side`; DELETE never carries the self token (that would shut the end down). */
export function requestArb(side: Side, tokens: Tokens): fc.Arbitrary<FuzzRequest> {
  const routes = Object.keys(side === 'master' ? kMasterRoutes : kSlaveRoutes);
  const routed = fc.constantFrom(...routes).chain((route) => {
    const [method, path] = route.split(' ') as [string, string];
    return fc.record({
      method: fc.oneof({ weight: 5, arbitrary: fc.constant(method) }, { weight: 1, arbitrary: methodArb }),
      path: fc.oneof({ weight: 5, arbitrary: fc.constant(path) }, { weight: 2, arbitrary: pathArb([path]) }),
    });
  });
  const anywhere = fc.record({ method: methodArb, path: pathArb(routes.map((r) => r.split(' ')[1]!)) });
  return fc
    .record({
      target: fc.oneof({ weight: 4, arbitrary: routed }, { weight: 1, arbitrary: anywhere }),
      channel: channelArb(),
      token: tokenArb(tokens.valid, tokens.self),
      contentType: contentTypeArb,
      taskId: side === 'master' ? taskIdArb : fc.constant(undefined),
      extensions: extensionsArb,
      extras: extraHeadersArb,
      many: manyHeadersArb,
      poison: poisonArb,
      body: side === 'master' ? masterBodyArb : slaveBodyArb(tokens.addresses ?? kBrokenAddresses),
      chunked: fc.oneof(
        { weight: 5, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
    })
    .map((r) => {
      const headers: Header[] = [];
      const add = (name: string, value: string | undefined) => {
        if (value !== undefined) headers.push({ name, value });
      };
      add('Channel', r.channel);
      let token = r.token;
      if (r.target.method === 'DELETE' && token?.includes(tokens.self)) token = 'not-the-self-token';
      add('Token', token);
      add('Content-Type', r.contentType);
      add('Task-Id', r.taskId);
      add('Fleet-Extensions', r.extensions);
      for (const h of r.extras) headers.push(h);
      for (let i = 0; i < r.many; i++) headers.push({ name: `X-Many-${i}`, value: 'y' });
      if (r.poison && headers.length > 0) {
        const [at, byte] = r.poison;
        // a new object: the generated ones may be shared constants, which must stay untouched
        const i = at % headers.length;
        const { name, value } = headers[i]!;
        const mid = value.length >> 1;
        headers[i] = { name, value: `${value.slice(0, mid)}${byte}${value.slice(mid)}` };
      }
      return {
        method: r.target.method,
        path: r.target.path,
        headers,
        body: r.body,
        chunked: r.body !== undefined && r.chunked,
      };
    });
}

/** Requests answered synchronously by the master (no body read), for pipelining: all strict HTTP. */
export function syncRequestArb(tokens: Tokens): fc.Arbitrary<FuzzRequest> {
  const strictValue = (specials: fc.Arbitrary<string>[]) =>
    fc.oneof(fc.constant(undefined), fc.constant(''), printable, ...specials);
  return fc
    .record({
      target: fc.constantFrom(
        { method: 'GET', path: '/slave/heartbeat' },
        { method: 'GET', path: '/slave/heartbeat?x=1' },
        { method: 'GET', path: '/ping' },
        { method: 'GET', path: '/nowhere' },
        { method: 'HEAD', path: '/ping' },
        { method: 'OPTIONS', path: '/slave/heartbeat' },
        { method: 'GET', path: '/slave/task/complete' },
      ),
      channel: strictValue([fc.constantFrom('0', '0', ' 0 ', '00', '2_33', '1')]),
      token: strictValue([fc.constantFrom(...tokens.valid), fc.constant(tokens.self), hex64]),
      beatBody: fc.boolean(),
    })
    .map((r) => {
      const headers: Header[] = [];
      if (r.channel !== undefined) headers.push({ name: 'Channel', value: r.channel });
      if (r.token !== undefined) headers.push({ name: 'Token', value: r.token });
      // DI-engine's heartbeat carries {} (read and dropped by uWS; the route never reads it)
      const withBody = r.beatBody && r.target.path.startsWith('/slave/heartbeat');
      return {
        ...r.target,
        headers,
        body: withBody ? body('{}', 'json', 'object', '{}') : undefined,
        chunked: false,
      };
    });
}
