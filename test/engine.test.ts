// Choosing the HTTP engine (issue 12): `engine: 'auto' | 'uws' | 'node'` on Master and Slave, FLEETMASTER_ENGINE as
// the default, what each reports (`.engine`, /status, fleetmaster_info), and what happens where uWS's native build
// does not load (Node 22 and 24 here): `auto` falls back to node:http with one warn line, `uws` is a clear error.
// Which branch runs depends on this Node; both are asserted where they apply, and the error is also checked for a
// runtime that cannot exist (ABI 999) on any Node.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EngineUnavailableError } from '../src/errors.ts';
import { runtime } from '../src/http/engine.ts';
import { loadUws, loadUwsFor } from '../src/http/engines/uws.ts';
import { Master, Slave } from '../src/index.ts';
import { startMaster, startSlave } from './helpers/fleet.ts';

const uws = loadUws();
const uwsLoads = !(uws instanceof Error);

describe('the HTTP engine', () => {
  test('no native build for a runtime: an error naming the ABI, the platform and the C library', () => {
    const found = { ...runtime(), abi: '999' };
    const err = loadUwsFor(found);
    assert.ok(err instanceof EngineUnavailableError);
    assert.equal(err.code, 'FLEETMASTER_ENGINE_UNAVAILABLE');
    assert.match(err.message, /Node ABI 999/);
    assert.match(err.message, new RegExp(`${found.platform}-${found.arch}`));
    assert.ok(err.message.includes(found.libc), err.message);
    assert.deepEqual(err.runtime, found);
  });

  test('engine: node is node:http on every Node; a master and a slave say so', async () => {
    const master = await startMaster({ engine: 'node', metrics: true });
    const slave = await startSlave({ engine: 'node' });
    try {
      assert.equal(master.engine, 'node');
      assert.equal(slave.engine, 'node');
      const status = await fetch(`http://127.0.0.1:${master.port}/status`, {
        headers: { token: master.selfToken },
      }).then((r) => r.json() as Promise<{ data: { master: { engine: string; node: string } } }>);
      assert.deepEqual(
        { engine: status.data.master.engine, node: status.data.master.node },
        { engine: 'node', node: process.version },
      );
      const text = await master.metrics();
      assert.match(text ?? '', new RegExp(`fleetmaster_info\\{engine="node",node="${process.version}"\\} 1`));
    } finally {
      await master.close();
      await slave.close();
    }
  });

  test(`engine: uws ${uwsLoads ? 'runs uWebSockets.js here' : 'cannot run here: the constructor says why'}`, async () => {
    if (uwsLoads) {
      const master = await startMaster({ engine: 'uws' });
      assert.equal(master.engine, 'uws');
      await master.close();
      return;
    }
    for (const make of [() => new Master({ engine: 'uws' }), () => new Slave({ engine: 'uws' })]) {
      assert.throws(make, (err: unknown) => {
        assert.ok(err instanceof EngineUnavailableError);
        assert.match(err.message, new RegExp(`Node ABI ${process.versions.modules}`));
        return true;
      });
    }
  });

  test(`engine: auto takes ${uwsLoads ? 'uws, which loads here' : 'node, with one warn line per process'}`, async () => {
    const warnings: { fields: object; message?: string }[] = [];
    const logger = { warn: (fields: object, message?: string) => warnings.push({ fields, message }) };
    const first = new Master({ engine: 'auto', host: '127.0.0.1', port: 0, logger });
    const second = new Slave({ engine: 'auto', host: '127.0.0.1', port: 0, logger });
    assert.equal(first.engine, uwsLoads ? 'uws' : 'node');
    assert.equal(second.engine, first.engine);
    if (uwsLoads) {
      assert.deepEqual(warnings, []);
      return;
    }
    assert.equal(warnings.length, 1, 'one line for the whole process');
    assert.match(warnings[0]!.message ?? '', /node:http/);
    assert.match(JSON.stringify(warnings[0]!.fields), /"engine":"node"/);
  });

  test('a bad engine is refused, naming the option or the variable', () => {
    assert.throws(
      () => new Master({ engine: 'fast' as never }),
      /options\.engine must be 'auto', 'uws' or 'node' \(got fast\)/,
    );
    const before = process.env.FLEETMASTER_ENGINE;
    process.env.FLEETMASTER_ENGINE = 'fast';
    try {
      assert.throws(() => new Slave({}), /FLEETMASTER_ENGINE must be one of auto, uws, node \(got fast\)/);
      // the option beats the variable
      assert.equal(new Slave({ engine: 'node' }).engine, 'node');
    } finally {
      if (before === undefined) delete process.env.FLEETMASTER_ENGINE;
      else process.env.FLEETMASTER_ENGINE = before;
    }
  });
});
