// The error catalogue: every class has its own stable code, the README's table lists exactly those codes with
// their classes (both ways), every class is public, `instanceof` holds across two copies of the package (a slave
// included, for what a task module throws), and src/ throws no bare Error.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import * as catalogue from '../src/errors.ts';
import * as publicApi from '../src/index.ts';
import { TaskStatus } from '../src/index.ts';
import { startMaster, startSlave } from './helpers/fleet.ts';

type ErrorClass = typeof catalogue.FleetmasterError;

/** Every exported class of the catalogue (hand-written and wire), by export name. */
function catalogueClasses(): Map<string, ErrorClass> {
  const classes = new Map<string, ErrorClass>();
  for (const [name, value] of Object.entries(catalogue as Record<string, unknown>)) {
    const base = catalogue.FleetmasterError;
    if (value === base || (typeof value === 'function' && Object.prototype.isPrototypeOf.call(base, value))) {
      classes.set(name, value as ErrorClass);
    }
  }
  return classes;
}

/** `class` and `errorCode` pairs of README's error tables, in order. */
function readmePairs(): [string, string][] {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('<!-- errors:start -->');
  const end = readme.indexOf('<!-- errors:end -->');
  assert.ok(start >= 0 && end > start, 'README has the error table markers');
  const pairs: [string, string][] = [];
  for (const match of readme
    .slice(start, end)
    .matchAll(/`([A-Z][A-Za-z0-9]*)`(?: \| | )`(FLEETMASTER_[A-Z0-9_]+)`/g)) {
    pairs.push([match[1]!, match[2]!]);
  }
  return pairs;
}

/** Where the second copy lives: removed when the file's tests end. */
let copyDir: string | undefined;
after(() => (copyDir === undefined ? undefined : rm(copyDir, { recursive: true, force: true })));

/**
 * The catalogue of a second copy of the package: the same src/, in another directory, loaded as other modules
 * (other class identities), as two installed versions are.
 */
async function otherCopy(): Promise<typeof catalogue> {
  if (copyDir === undefined) {
    copyDir = await mkdtemp(join(tmpdir(), 'fleetmaster-copy-'));
    await cp(new URL('../src', import.meta.url), copyDir, { recursive: true });
  }
  const other = (await import(pathToFileURL(join(copyDir, 'errors.ts')).href)) as typeof catalogue;
  assert.notEqual(other.ClosedError, catalogue.ClosedError, 'a second copy, not the same module');
  return other;
}

describe('the error catalogue', () => {
  test('every class has a code of its own, unique, FLEETMASTER_…, and a name equal to its export', () => {
    const classes = catalogueClasses();
    assert.ok(classes.size > 60, `found ${classes.size} classes`);
    const owners = new Map<string, string>();
    for (const [name, cls] of classes) {
      assert.ok(Object.hasOwn(cls, 'errorCode'), `${name} has a code of its own`);
      assert.match(cls.errorCode, /^FLEETMASTER_[A-Z0-9_]+$/, name);
      assert.equal(
        owners.get(cls.errorCode),
        undefined,
        `${cls.errorCode} is ${name}'s and ${owners.get(cls.errorCode)}'s`,
      );
      owners.set(cls.errorCode, name);
      assert.equal(cls.name, name, 'the class is named as exported');
    }
  });

  test("README's error tables list exactly the catalogue's codes, each with its class", () => {
    const classes = catalogueClasses();
    const pairs = readmePairs();
    const listed = new Map<string, string>();
    for (const [name, code] of pairs) {
      assert.equal(listed.has(code), false, `${code} is listed once`);
      listed.set(code, name);
    }
    for (const [name, cls] of classes) {
      assert.equal(listed.get(cls.errorCode), name, `README lists ${cls.errorCode} with ${name}`);
    }
    for (const [code, name] of listed) {
      assert.equal(
        classes.get(name)?.errorCode,
        code,
        `README's ${code} (${name}) is a class of the catalogue`,
      );
    }
  });

  test('every class is public, but the command line’s own', () => {
    const exported = publicApi as Record<string, unknown>;
    for (const [name, cls] of catalogueClasses()) {
      if (name === 'ConfigError' || name === 'ModuleLoadError') assert.equal(exported[name], undefined, name);
      else assert.equal(exported[name], cls, `${name} is exported from the package`);
    }
  });

  test('an instance carries its class code as errorCode, and code where nothing older held it', () => {
    const closed = new catalogue.ClosedError('closed');
    assert.equal(closed.errorCode, 'FLEETMASTER_CLOSED');
    assert.equal(closed.code, 'FLEETMASTER_CLOSED');
    assert.equal(closed.name, 'ClosedError');
    assert.ok(closed instanceof Error);
    // pino's error serialiser copies own enumerable fields: both codes must be among them
    assert.deepEqual(
      Object.keys(closed).filter((k) => k.endsWith('ode')),
      ['errorCode', 'code'],
    );
    const exists = new catalogue.ConnectionExistsError('s1');
    assert.equal(exists.connection, 's1');
    assert.match(exists.message, /Connection "s1" already exists/);
    // the classes whose code predates the catalogue keep it
    const failed = new catalogue.RequestFailedError('http://x', 3, new Error('refused'));
    assert.equal(failed.code, 'REQUEST_FAILED');
    assert.equal(failed.errorCode, 'FLEETMASTER_REQUEST_FAILED');
    const ended = new catalogue.TaskEndedError(catalogue.TaskEndCode.SLAVE_LOST, 'gone');
    assert.equal(ended.code, 'SLAVE_LOST');
    assert.equal(ended.errorCode, 'FLEETMASTER_TASK_ENDED');
    const refused = catalogue.slaveErrorFor(403, { success: false, code: 202, message: 'no', data: null });
    assert.equal(refused.code, 202);
    assert.equal(refused.errorCode, 'FLEETMASTER_SLAVE_CHANNEL_INVALID');
    assert.ok(refused instanceof catalogue.SlaveChannelInvalidError);
    assert.equal(new catalogue.TaskRefuse().code, 602);
    assert.equal(new catalogue.TaskRefuse().errorCode, 'FLEETMASTER_TASK_REFUSE');
  });

  test('instanceof holds across two copies of the package, class by class', async () => {
    const other = await otherCopy();
    const theirs = new other.ClosedError('from the other copy');
    assert.ok(theirs instanceof catalogue.ClosedError);
    assert.ok(theirs instanceof catalogue.FleetmasterError);
    assert.equal(theirs instanceof catalogue.NotStartedError, false);
    assert.ok(new other.H1ClosedError('x') instanceof catalogue.H1ConnectionError, 'a subclass is its base');
    assert.equal(
      new other.H1ConnectionError('x') instanceof catalogue.H1ClosedError,
      false,
      'not the other way',
    );
    assert.ok(new other.TaskRefuse() instanceof catalogue.SlaveRefusal);
    assert.ok(new catalogue.TaskFail() instanceof other.TaskFail, 'and the other way round');
    for (const value of [undefined, null, 0, 'FLEETMASTER_CLOSED', {}, new Error('plain')]) {
      assert.equal(value instanceof catalogue.ClosedError, false, String(value));
    }
    // the wire errors too, by their own codes
    const answer = other.masterErrorFor(503, { success: false, code: 908, message: 'full', data: null });
    assert.ok(answer instanceof catalogue.MasterQueueFullError);
    assert.ok(answer instanceof catalogue.ResponseError);
    assert.equal(answer instanceof catalogue.MasterResultStageBusyError, false);
    assert.equal(answer instanceof catalogue.SlaveResponseError, false);
    assert.ok(catalogue.isResponseError(answer));
  });

  test('a subclass of a catalogue class without a code of its own is matched as JavaScript matches classes', () => {
    class GpuFail extends catalogue.TaskFail {}
    assert.ok(new GpuFail() instanceof GpuFail);
    assert.ok(new GpuFail() instanceof catalogue.TaskFail);
    assert.equal(new catalogue.TaskFail() instanceof GpuFail, false);
  });

  test('a slave recognises a TaskFail and a refusal thrown with another copy of the package', async () => {
    const other = await otherCopy();
    const slave = await startSlave({
      heartbeatSpan: 0.2,
      processTask: () => {
        throw new other.TaskFail({ reason: 'bad input' });
      },
      hooks: {
        beforeTask: (data) => {
          if ((data as { refuse?: boolean }).refuse) throw new other.TaskRefuse({ why: 'busy' });
        },
      },
    });
    const master = await startMaster();
    try {
      const connection = master.newConnection('s1', '127.0.0.1', slave.port);
      await connection.connect();
      const task = connection.newTask({});
      await task.start();
      await task.join();
      assert.equal(task.status, TaskStatus.FAILED);
      assert.deepEqual(
        task.result,
        { reason: 'bad input' },
        "the TaskFail's own result, not a generic failure",
      );
      const refused = connection.newTask({ refuse: true });
      await assert.rejects(refused.start(), (err: unknown) => {
        assert.ok(err instanceof catalogue.SlaveTaskRefusedError, `a 403/602 refusal, got ${String(err)}`);
        assert.deepEqual(err.data, { why: 'busy' });
        return true;
      });
    } finally {
      await master.close();
      await slave.close();
    }
  });

  test('state errors are typed', async () => {
    const master = await startMaster();
    try {
      await assert.rejects(master.start(), catalogue.AlreadyStartedError);
      assert.throws(() => master.get('nobody'), catalogue.ConnectionNotFoundError);
      await assert.rejects(master.delete('nobody'), catalogue.ConnectionNotFoundError);
      const task = master.submit({});
      await assert.rejects(task.start(), catalogue.TaskNotIdleError);
      task.cancel();
    } finally {
      await master.close();
    }
    await assert.rejects(master.start(), catalogue.ClosedError);
    const slave = await startSlave();
    await assert.rejects(slave.start(), catalogue.AlreadyStartedError);
    await slave.close();
    await assert.rejects(slave.start(), catalogue.ClosedError);
  });
});

describe('src/ throws from the catalogue', () => {
  /** `new Error(` in src/ only where a value that is not an Error must become one, or Node's API wants one. */
  const kAllowed = [
    /new Error\(String\((err|reason)\)\)/, // a thrown non-Error, wrapped to be logged or passed on
    /new Error\(describeError\(err\)\)/, // a handler module's failure, made cloneable to cross from its thread
    /new Error\('the server did not present this server’s own certificate'\)/, // checkServerIdentity's return
    /const copy = new Error\(message\);/, // the NATS client's error without a login in it, passed on as a cause
  ];

  function sources(dir: string): string[] {
    return readdirSync(dir).flatMap((entry) => {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) return sources(path);
      return path.endsWith('.ts') ? [path] : [];
    });
  }

  test('no bare Error is thrown or rejected with', () => {
    const root = new URL('../src', import.meta.url).pathname;
    const found: string[] = [];
    for (const file of sources(root)) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (/new Error\(/.test(line) && !kAllowed.some((allowed) => allowed.test(line))) {
          found.push(`${file.slice(root.length - 3)}:${i + 1}: ${line.trim()}`);
        }
      });
    }
    assert.deepEqual(found, [], 'use (or add) a class of src/errors.ts');
  });
});
