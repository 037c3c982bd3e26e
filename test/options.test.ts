// Options of Master and Slave: the reference's defaults, and a clear error naming the option for every value
// the reference would silently raise to its minimum (or choke on).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { format, inspect } from 'node:util';
import { Master, type MasterOptions, QueueUnreachableError, Slave, type SlaveOptions } from '../src/index.ts';
import { leastLoaded } from '../src/master/fleet/placement.ts';
import { kMasterOptions } from '../src/master/options.ts';
import { connectNats } from '../src/nats/connect.ts';
import { printableUrl, resolveJetStreamOptions, splitLogin } from '../src/nats/options.ts';
import { type OptionTable, toLogger } from '../src/options.ts';
import { kSlaveOptions } from '../src/slave/options.ts';

/** Options as a user with no type checker might pass them. */
const loose = <T>(value: Record<string, unknown>) => value as T;

/** The longest delay a Node timer honours (~24.8 days); a longer one fires after 1 ms instead. */
const kTimerLimitMs = 2 ** 31 - 1;

describe('Master options', () => {
  test('defaults follow the reference', () => {
    const { options } = new Master();
    assert.equal(options.host, '0.0.0.0');
    assert.equal(options.port, 7235);
    assert.equal(options.channel, 0);
    assert.equal(options.heartbeatTolerance, 17);
    assert.equal(options.heartbeatCheckSpan, 1);
    assert.equal(options.requestRetries, 5);
    assert.equal(options.requestRetryWaiting, 1);
    assert.equal(options.myAddress, undefined);
    assert.equal(options.maxBodySize, 64 * 1024 * 1024);
    assert.equal(options.taskClient, 'lean');
    assert.equal(options.queueLimit, 100_000);
    assert.equal(options.placement, leastLoaded);
    assert.equal(options.fleetTaskRetention, 600);
    assert.equal(options.fleetTasksKept, 10_000);
    assert.deepEqual(options.hooks, {});
  });

  test('the resolved options are frozen', () => {
    const { options } = new Master({ channel: 3 });
    assert.equal(Object.isFrozen(options), true);
    assert.equal(Object.isFrozen(options.hooks), true);
    assert.throws(() => {
      (options as { channel: number }).channel = 4;
    }, TypeError);
  });

  test('given values are kept; undefined means the default', () => {
    const { options } = new Master({
      host: '127.0.0.1',
      port: 0,
      channel: 233,
      heartbeatTolerance: 0.2,
      heartbeatCheckSpan: 0.1,
      requestRetries: 0,
      requestRetryWaiting: 0,
      myAddress: 'http://10.0.0.5:7235/',
    });
    assert.equal(options.host, '127.0.0.1');
    assert.equal(options.port, 0);
    assert.equal(options.channel, 233);
    assert.equal(options.heartbeatTolerance, 0.2, 'the minimum itself is allowed');
    assert.equal(options.heartbeatCheckSpan, 0.1, 'the minimum itself is allowed');
    assert.equal(options.requestRetries, 0);
    assert.equal(options.requestRetryWaiting, 0);
    assert.equal(options.myAddress, 'http://10.0.0.5:7235', 'a trailing slash is dropped');
    assert.equal(new Master({ port: undefined, channel: undefined }).options.port, 7235);
  });

  const invalid: [string, MasterOptions, RegExp][] = [
    ['heartbeatTolerance below 0.2', { heartbeatTolerance: 0.1 }, /options\.heartbeatTolerance/],
    ['heartbeatTolerance NaN', { heartbeatTolerance: Number.NaN }, /options\.heartbeatTolerance/],
    ['heartbeatTolerance a string', loose({ heartbeatTolerance: '17' }), /options\.heartbeatTolerance/],
    ['heartbeatCheckSpan below 0.1', { heartbeatCheckSpan: 0.05 }, /options\.heartbeatCheckSpan/],
    ['heartbeatCheckSpan 0', { heartbeatCheckSpan: 0 }, /options\.heartbeatCheckSpan/],
    ['port negative', { port: -1 }, /options\.port/],
    ['port 70000', { port: 70000 }, /options\.port/],
    ['port not an integer', { port: 7235.5 }, /options\.port/],
    ['channel 1.5', { channel: 1.5 }, /options\.channel/],
    ['channel negative', { channel: -1 }, /options\.channel/],
    ['channel a string', loose({ channel: '0' }), /options\.channel/],
    ['requestRetries negative', { requestRetries: -1 }, /options\.requestRetries/],
    ['requestRetries 1.5', { requestRetries: 1.5 }, /options\.requestRetries/],
    ['requestRetryWaiting negative', { requestRetryWaiting: -1 }, /options\.requestRetryWaiting/],
    ['host empty', { host: '' }, /options\.host/],
    ['taskClient unknown', loose({ taskClient: 'fast' }), /options\.taskClient must be 'lean' or 'undici'/],
    ['maxBodySize 0', { maxBodySize: 0 }, /options\.maxBodySize/],
    ['queueLimit 0', { queueLimit: 0 }, /options\.queueLimit must be an integer between 1 and 100000000/],
    ['queueLimit 1.5', { queueLimit: 1.5 }, /options\.queueLimit/],
    ['placement not a function', loose({ placement: 'least' }), /options\.placement must be a function/],
    ['fleetTaskRetention 0', { fleetTaskRetention: 0 }, /options\.fleetTaskRetention/],
    ['fleetTasksKept 0', { fleetTasksKept: 0 }, /options\.fleetTasksKept/],
    ['myAddress without scheme', { myAddress: '10.0.0.5:7235' }, /options\.myAddress/],
    ['myAddress with a path', { myAddress: 'http://10.0.0.5:7235/x' }, /options\.myAddress/],
    [
      'adminAllowedHosts not an array',
      loose({ adminAllowedHosts: 'localhost' }),
      /^TypeError: options\.adminAllowedHosts must be an array of strings \(got "localhost"\)$/,
    ],
    [
      'adminAllowedHosts an empty item',
      { adminAllowedHosts: ['a.example', ''] },
      /^TypeError: options\.adminAllowedHosts\[1\] must be a non-empty string \(got ""\)$/,
    ],
    [
      'adminAllowedHosts an item not a string',
      loose({ adminAllowedHosts: ['a.example', 7] }),
      /^TypeError: options\.adminAllowedHosts\[1\] must be a non-empty string \(got 7\)$/,
    ],
    [
      'adminAllowedHosts an item with a port',
      { adminAllowedHosts: ['fleet.example:9464'] },
      /^TypeError: options\.adminAllowedHosts\[0\] must be a host name or IP address without a port, or '\*' \(got "fleet\.example:9464"\)$/,
    ],
    [
      'adminAllowedHosts an item that is a URL',
      { adminAllowedHosts: ['http://fleet.example'] },
      /options\.adminAllowedHosts\[0\] must be a host name/,
    ],
    [
      'adminAllowedHosts an item with a space',
      { adminAllowedHosts: ['fleet example'] },
      /options\.adminAllowedHosts\[0\] must be a host name/,
    ],
    [
      'hooks.beforeConnect not a function',
      loose({ hooks: { beforeConnect: 'yes' } }),
      /options\.hooks\.beforeConnect/,
    ],
    [
      'hooks.errorNewTask not a function',
      loose({ hooks: { errorNewTask: {} } }),
      /options\.hooks\.errorNewTask/,
    ],
  ];
  for (const [what, options, message] of invalid) {
    test(`refused, naming the option: ${what}`, () => {
      assert.throws(() => new Master(options), message);
    });
  }

  test('adminAllowedHosts: none by default; given names are normalised and frozen, a copy of the caller’s list', () => {
    assert.equal(new Master().options.adminAllowedHosts, undefined);
    const given = ['Fleet.Example.', '[::1]', '0:0:0:0:0:0:0:2', '10.0.0.5', '*'];
    const { adminAllowedHosts } = new Master({ adminAllowedHosts: given }).options;
    assert.deepEqual(adminAllowedHosts, ['fleet.example', '::1', '::2', '10.0.0.5', '*']);
    assert.ok(Object.isFrozen(adminAllowedHosts));
    given.push('later.example');
    assert.equal(adminAllowedHosts?.length, 5, 'the caller’s array is not kept');
    assert.deepEqual(new Master({ adminAllowedHosts: [] }).options.adminAllowedHosts, []);
  });

  test('refused, naming the option: heartbeatCheckSpan beyond what a timer can wait', () => {
    assert.throws(
      () => new Master({ heartbeatCheckSpan: (kTimerLimitMs + 1) / 1000 }),
      /options\.heartbeatCheckSpan/,
    );
  });
});

describe('Slave options', () => {
  test('defaults follow the reference', () => {
    const { options } = new Slave();
    assert.equal(options.host, '0.0.0.0');
    assert.equal(options.port, 7236);
    assert.equal(options.channel, 0);
    assert.equal(options.heartbeatSpan, 3);
    assert.equal(options.masterTimeout, 30);
    assert.equal(options.requestRetries, 5);
    assert.equal(options.requestRetryWaiting, 1);
    assert.equal(options.maxBodySize, 64 * 1024 * 1024);
    assert.equal(options.processTask, undefined);
    assert.equal(options.concurrency, 1);
    assert.deepEqual(options.hooks, {});
    assert.equal(Object.isFrozen(options), true);
  });

  test('given values are kept, the minimum heartbeatSpan included', () => {
    const processTask = (data: unknown) => data;
    const { options } = new Slave({
      host: '127.0.0.1',
      port: 0,
      channel: 9,
      heartbeatSpan: 0.2,
      processTask,
    });
    assert.equal(options.host, '127.0.0.1');
    assert.equal(options.port, 0);
    assert.equal(options.channel, 9);
    assert.equal(options.heartbeatSpan, 0.2);
    assert.equal(options.processTask, processTask);
  });

  const invalid: [string, SlaveOptions, RegExp][] = [
    ['heartbeatSpan below 0.2', { heartbeatSpan: 0.1 }, /options\.heartbeatSpan/],
    ['heartbeatSpan 0', { heartbeatSpan: 0 }, /options\.heartbeatSpan/],
    ['heartbeatSpan NaN', { heartbeatSpan: Number.NaN }, /options\.heartbeatSpan/],
    ['masterTimeout below 0.2', { masterTimeout: 0.1 }, /options\.masterTimeout/],
    ['masterTimeout not a number', loose({ masterTimeout: '30' }), /options\.masterTimeout/],
    ['port negative', { port: -1 }, /options\.port/],
    ['port 70000', { port: 70000 }, /options\.port/],
    ['channel 1.5', { channel: 1.5 }, /options\.channel/],
    ['requestRetries negative', { requestRetries: -2 }, /options\.requestRetries/],
    ['host empty', { host: '' }, /options\.host/],
    ['maxBodySize negative', { maxBodySize: -1 }, /options\.maxBodySize/],
    ['processTask not a function', loose({ processTask: 'run' }), /options\.processTask/],
    ['concurrency 0', { concurrency: 0 }, /options\.concurrency must be an integer between 1 and 1024/],
    ['concurrency above 1024', { concurrency: 1025 }, /options\.concurrency/],
    [
      'hooks.beforeConnection not a function',
      loose({ hooks: { beforeConnection: 1 } }),
      /options\.hooks\.beforeConnection/,
    ],
    [
      'hooks.lostConnection not a function',
      loose({ hooks: { lostConnection: null } }),
      /options\.hooks\.lostConnection/,
    ],
  ];
  for (const [what, options, message] of invalid) {
    test(`refused, naming the option: ${what}`, () => {
      assert.throws(() => new Slave(options), message);
    });
  }

  test('refused, naming the option: heartbeatSpan beyond what a timer can wait', () => {
    assert.throws(() => new Slave({ heartbeatSpan: (kTimerLimitMs + 1) / 1000 }), /options\.heartbeatSpan/);
  });
});

describe('secrets in resolved options', () => {
  const selfToken = 'self-token-0123456789-abcdef';
  const fleetSecret = 'fleet-secret-that-must-not-print';

  /** Every way options usually get printed: console.log, util.inspect (%o shows hidden fields), JSON, a logger. */
  function printed(options: object): string[] {
    const lines: string[] = [];
    const original = console.log;
    console.log = (...args: unknown[]) => lines.push(format(...args));
    try {
      console.log(options);
      console.log('%o', options);
      console.log({ nested: { options } });
    } finally {
      console.log = original;
    }
    return [
      ...lines,
      inspect(options, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
      JSON.stringify(options),
      JSON.stringify({ options }),
      format('%j', options),
    ];
  }

  test('master.options and slave.options print selfToken and fleetSecret as [redacted]', () => {
    const master = new Master({ selfToken, fleetSecret });
    const slave = new Slave({ fleetSecret });
    for (const [what, options] of [
      ['master', master.options],
      ['slave', slave.options],
    ] as const) {
      for (const text of printed(options)) {
        assert.ok(!text.includes(fleetSecret), `${what}: fleetSecret printed in ${text}`);
        assert.ok(!text.includes(selfToken), `${what}: selfToken printed in ${text}`);
      }
      assert.match(inspect(options), /fleetSecret: '\[redacted\]'/, what);
      assert.equal(JSON.parse(JSON.stringify(options)).fleetSecret, '[redacted]', what);
      assert.match(inspect(options), /channel: 0/, `${what}: the rest still prints`);
    }
    assert.match(inspect(master.options), /selfToken: '\[redacted\]'/);
    // the library (and the user's code) still reads them
    assert.equal(master.options.selfToken, selfToken);
    assert.equal(master.options.fleetSecret, fleetSecret);
    assert.equal(slave.options.fleetSecret, fleetSecret);
    assert.equal(master.selfToken, selfToken);
    assert.ok(Object.keys(slave.options).includes('fleetSecret'), 'still an option of its own name');
    // options left unset print as they are
    assert.equal(JSON.parse(JSON.stringify(new Slave().options)).fleetSecret, undefined);
  });
});

describe('secrets inside option objects', () => {
  test('the TLS key passphrase prints as [redacted], on both ends; code still reads it', () => {
    const passphrase = 'key-passphrase-9f2c';
    const tls = { keyFile: '/k.pem', certFile: '/c.pem', passphrase };
    const master = new Master({ tls });
    const slave = new Slave({ tls });
    for (const [what, options] of [
      ['master', master.options],
      ['slave', slave.options],
    ] as const) {
      for (const text of [inspect(options, { depth: 5 }), JSON.stringify(options), format('%j', options)]) {
        assert.ok(!text.includes(passphrase), `${what}: passphrase printed in ${text}`);
      }
      assert.match(inspect(options.tls), /passphrase: '\[redacted\]'/, what);
      assert.match(inspect(options.tls), /keyFile: '\/k.pem'/, `${what}: the rest still prints`);
      assert.equal(options.tls?.passphrase, passphrase, what);
    }
    assert.throws(
      () => new Master({ tls: { ...tls, passphrase: 42 as unknown as string } }),
      /tls\.passphrase/,
    );
  });

  test('a NATS URL prints without its user and password; the URL itself is kept for connecting', () => {
    const queue = resolveJetStreamOptions({
      servers: 'nats://alice:s3cret-pw@127.0.0.1:4222,nats://10.0.0.2:4222',
    });
    for (const text of [inspect(queue), JSON.stringify(queue)]) {
      assert.ok(!text.includes('s3cret-pw') && !text.includes('alice'), text);
      assert.match(text, /nats:\/\/\[redacted\]@127\.0\.0\.1:4222/);
      assert.match(text, /nats:\/\/10\.0\.0\.2:4222/);
    }
    assert.equal(queue.servers[0], 'nats://alice:s3cret-pw@127.0.0.1:4222');
    assert.equal(printableUrl('token@127.0.0.1:4222'), '[redacted]@127.0.0.1:4222');
    assert.equal(printableUrl('tls://127.0.0.1:4222'), 'tls://127.0.0.1:4222');
    // a password may hold an '@', '#', '?' or '/': everything up to the last '@' goes
    assert.equal(printableUrl('nats://alice:p@ss@w0rd@h:4222'), 'nats://[redacted]@h:4222');
    for (const url of [
      'nats://alice:hunter#2@h:4222',
      'nats://alice:a?b@h:4222',
      'nats://alice:pa/ss@h:4222',
    ]) {
      assert.equal(printableUrl(url), 'nats://[redacted]@h:4222');
      const text = inspect(resolveJetStreamOptions(url));
      assert.ok(!text.includes('alice') && text.includes('nats://[redacted]@h:4222'), text);
    }
  });

  test('a NATS URL that is refused is named without its user and password; a port past 65535 is refused', async () => {
    assert.throws(
      () => resolveJetStreamOptions('nats://alice:s3cret@h:4222/x y'),
      (err: Error) => {
        assert.match(err.message, /servers must hold NATS URLs .*\[redacted\]@h:4222/);
        assert.ok(!err.message.includes('s3cret'), err.message);
        return true;
      },
    );
    for (const url of ['nats://h:99999', 'nats://alice:s3cret@h:65536', 'nats://[::1]:70000', 'h:0']) {
      assert.throws(
        () => resolveJetStreamOptions(url),
        (err: Error) => {
          assert.equal(err.name, 'RangeError');
          assert.match(err.message, /the port must be between 1 and 65535/);
          assert.ok(!err.message.includes('s3cret'), err.message);
          return true;
        },
      );
    }
    for (const url of ['nats://h:99999x', 'nats://h:4222:1', '::1', 'nats://a b']) {
      assert.throws(() => resolveJetStreamOptions(url), /servers must hold NATS URLs/, url);
    }
    assert.throws(
      () => resolveJetStreamOptions({ servers: ['nats://a:b@h1:1', 'nats://a:c@h2:1'] }),
      /must carry the same one/,
    );
    for (const url of [
      'nats://h:65535',
      'tls://[::1]:4222',
      'nats://[fe80::1%eth0]:4222',
      'nats://u:p@ss@h:1',
      'nats://token@h',
      'NATS://h:4222',
      'h:4222/',
      'h',
    ]) {
      assert.equal(resolveJetStreamOptions(url).servers[0], url);
    }
    // the NATS client reads no login from a URL: it is taken out and given as user/pass or token, decoded
    assert.deepEqual(splitLogin(['nats://al%40ce:p@ss#1@h:1', 'tls://h2:2']), {
      servers: ['nats://h:1', 'tls://h2:2'],
      login: { user: 'al@ce', pass: 'p@ss#1' },
    });
    assert.deepEqual(splitLogin(['t%zzok@h']), { servers: ['h'], login: { token: 't%zzok' } });
    // the NATS client's own error for a URL it cannot parse carries the URL (an 'input' field): not passed on
    await assert.rejects(
      connectNats({
        servers: 'nats://alice:s3cret@[zz]:4222',
        name: 't',
        timeoutMs: 1000,
        logger: toLogger(undefined),
      }),
      (err: Error) => {
        assert.ok(err instanceof QueueUnreachableError);
        const everything = [
          err.message,
          String(err.stack),
          String((err.cause as Error).stack),
          JSON.stringify(err.cause),
        ];
        for (const text of everything) assert.ok(!text.includes('s3cret'), text);
        assert.match(err.message, /nats:\/\/\[redacted\]@\[zz\]:4222/);
        return true;
      },
    );
  });
});

describe('Master.newConnection checks where it will connect', () => {
  test('a port outside 1–65535 or not an integer, or a host that is not a string, is refused at once', () => {
    const master = new Master();
    for (const port of [0, -1, 65536, 70000, 1.5, Number.NaN, '80' as unknown as number]) {
      assert.throws(() => master.newConnection('s', '127.0.0.1', port), {
        name: 'RangeError',
        message: `port must be an integer between 1 and 65535 (got ${String(port)})`,
      });
    }
    for (const host of ['', 42 as unknown as string, undefined as unknown as string]) {
      assert.throws(() => master.newConnection('s', host, 7236), /host must be a non-empty string/);
    }
    assert.equal(master.newConnection('s', '127.0.0.1', 65535).name, 's');
  });
});

describe('the option tables', () => {
  /** Each property of an interface with its doc comment, from the source text. */
  function documented(file: string, name: string): Map<string, string> {
    const text = readFileSync(new URL(file, import.meta.url), 'utf8');
    const from = text.indexOf(`export interface ${name} {`);
    assert.ok(from >= 0, `${file} declares ${name}`);
    const body = text.slice(from, text.indexOf('\n}\n', from));
    const docs = new Map<string, string>();
    for (const match of body.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*(\w+)\?:/g))
      docs.set(match[2]!, match[1]!);
    return docs;
  }

  /** `` `17` `` → 17, `` `'lean'` `` → lean, `64 MiB` → 67108864: the value a `@defaultValue` states, as text. */
  function statedDefault(doc: string): string | undefined {
    const line = /@defaultValue\s+(.*)/.exec(doc)?.[1]?.replace(/\s*\*?\s*$/, '');
    if (line === undefined) return undefined;
    const quoted = /^`([^`]*)`/.exec(line)?.[1] ?? line;
    const mib = /^(\d+) MiB$/.exec(quoted);
    return mib ? String(Number(mib[1]) * 2 ** 20) : quoted.replace(/^'(.*)'$/, '$1');
  }

  // The interfaces' TSDoc is the one copy of these facts the tables cannot generate: hold it to them.
  for (const [file, name, table] of [
    ['../src/master/options.ts', 'MasterOptions', kMasterOptions],
    ['../src/slave/options.ts', 'SlaveOptions', kSlaveOptions],
  ] as const) {
    test(`${name}'s TSDoc states the defaults and minimums of its table`, () => {
      const docs = documented(file, name);
      for (const [option, spec] of Object.entries(table as OptionTable)) {
        const doc = docs.get(option);
        assert.ok(doc !== undefined, `${name}.${option} is documented`);
        const stated = statedDefault(doc);
        if (spec.shown !== undefined) {
          // a computed default (cores − 1, derived): the doc says it in words
          const line = /@defaultValue\s+(.*)/.exec(doc)?.[1];
          if (line !== undefined) assert.ok(line.includes(spec.shown), `${name}.${option}: @defaultValue`);
        } else if (spec.default !== undefined) {
          assert.equal(stated, String(spec.default), `${name}.${option}: @defaultValue`);
        }
        const minimum = /\(minimum ([\d.]+)\)/.exec(doc)?.[1];
        if (minimum !== undefined) assert.equal(Number(minimum), spec.min, `${name}.${option}: minimum`);
      }
    });
  }

  test('resolved options are the table, the defaults filled in, and nothing else but the code options', () => {
    const master = new Master().options as unknown as Record<string, unknown>;
    for (const [option, spec] of Object.entries(kMasterOptions as OptionTable)) {
      const expected = typeof spec.default === 'function' ? spec.default() : spec.default;
      assert.equal(master[option], expected, option);
    }
    const extra = Object.keys(master).filter((k) => !(k in kMasterOptions));
    assert.deepEqual(extra.sort(), ['hooks', 'logger', 'placement', 'queue', 'slaveTls', 'tls']);
  });
});
