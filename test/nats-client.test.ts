// FleetClient and the `queue` option without a fleet behind them: lazy loading, bad options, an unreachable NATS.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { FleetClient, QueueUnreachableError } from '../src/index.ts';
import { resolveJetStreamOptions } from '../src/nats/options.ts';
import { freePort } from './helpers/fleet.ts';
import { type NatsServer, startNatsServer } from './helpers/nats-server.ts';

const run = promisify(execFile);

describe('NATS: loading and bad input', () => {
  let server: NatsServer;
  before(async () => {
    server = await startNatsServer();
  });
  after(() => server.destroy());

  test('a master without queue never loads the NATS client', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/no-nats-master.ts', import.meta.url));
    const { stdout } = await run(process.execPath, ['--import', 'tsx', fixture]);
    const counts = JSON.parse(stdout) as { withoutQueue: number; afterClient: number };
    assert.equal(counts.withoutQueue, 0);
    assert.ok(counts.afterClient > 0, 'the count does rise once NATS is used (the check can fail)');
  });

  test('an unreachable NATS is a QueueUnreachableError naming the URL', async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    await assert.rejects(FleetClient.connect({ servers: url, connectTimeout: 1 }), (err: Error) => {
      assert.ok(err instanceof QueueUnreachableError);
      assert.equal((err as QueueUnreachableError).code, 'FLEETMASTER_QUEUE_UNREACHABLE');
      assert.ok(err.message.includes(url), err.message);
      return true;
    });
  });

  test('options are checked, each message naming the option', async () => {
    assert.throws(() => resolveJetStreamOptions('http://x y'), /options\.queue\.servers must hold NATS URLs/);
    assert.throws(() => resolveJetStreamOptions({ servers: [] }), /options\.queue\.servers must be/);
    assert.throws(
      () => resolveJetStreamOptions({ servers: 'nats://a:1', fleet: 'a.b' }),
      /options\.queue\.fleet must be/,
    );
    assert.throws(
      () => resolveJetStreamOptions({ servers: 'nats://a:1', ackWait: 0 }),
      /options\.queue\.ackWait must be a number/,
    );
    assert.throws(
      () => resolveJetStreamOptions({ servers: 'nats://a:1', maxDeliver: 0 }, 'options.'),
      /options\.maxDeliver must be an integer/,
    );
    assert.deepEqual(resolveJetStreamOptions('nats://a:1,nats://b:2').servers, ['nats://a:1', 'nats://b:2']);
    await assert.rejects(
      FleetClient.connect({ servers: server.url, client: 'a.b' }),
      /options\.client must be/,
    );
  });

  test('submit refuses bad options and data synchronously, naming them; nothing is published', async () => {
    const client = await FleetClient.connect({ servers: server.url, fleet: 'badinput', maxTaskBytes: 1000 });
    try {
      assert.throws(
        () => client.submit({}, { priority: Number.NaN }),
        /options\.priority must be a finite number/,
      );
      assert.throws(() => client.submit({}, { retries: -1 }), /options\.retries must be an integer/);
      assert.throws(() => client.submit({}, { deadline: 0 }), /options\.deadline must be/);
      assert.throws(() => client.submit({}, { tags: ['a\nb'] }), /options\.tags must hold/);
      assert.throws(() => client.submit({}, { id: 'a b' }), /options\.id must be/);
      assert.throws(() => client.submit(undefined), /data must be serialisable/);
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      assert.throws(() => client.submit(circular), TypeError);
      assert.throws(() => client.submit('x'.repeat(2000)), /the limit is 1000 \(maxTaskBytes\)/);
      client.submit({ ok: 1 }, { id: 'same' });
      assert.throws(() => client.submit({ ok: 2 }, { id: 'same' }), /already waiting/);
      assert.deepEqual(client.stats(), { submitted: 1, settled: 0, duplicates: 0, malformed: 0, pending: 1 });
    } finally {
      await client.close();
    }
  });

  test('closing the client fails what still waits with FleetClientClosedError', async () => {
    const client = await FleetClient.connect({ servers: server.url, fleet: 'closing' });
    const handle = client.submit({ a: 1 });
    await client.close();
    await assert.rejects(handle.result(), { code: 'FLEETMASTER_CLIENT_CLOSED' });
    assert.throws(() => client.submit({}), { code: 'FLEETMASTER_SUBMIT_FAILED' });
  });
});
