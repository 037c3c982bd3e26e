// A connected slave and a /connect from another master: it leaves its master only when that master is
// demonstrably gone (its heartbeats refused, or unanswered for longer than `masterTimeout`), or when the new
// master proves the fleet secret. Masters run in child processes, so they can be paused (SIGSTOP) and killed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { SlaveErrorCode as S } from '../src/index.ts';
import { MasterLink } from '../src/slave/master-link.ts';
import { resolveSlaveOptions } from '../src/slave/options.ts';
import { isMasterGone, type LinkHealth } from '../src/slave/takeover.ts';
import { assertEnvelope, assertFailure, assertSuccess } from './helpers/envelope.ts';
import { killChild, spawnMaster, startMaster, startSlave, waitFor } from './helpers/fleet.ts';
import { HoldingPeer } from './helpers/holding-peer.ts';
import { raw } from './helpers/raw-http.ts';

/** An unauthenticated /connect, as anyone who knows the channel can send: its master address goes nowhere. */
function strangerConnect(port: number) {
  return raw(port, {
    method: 'POST',
    path: '/connect',
    headers: { Channel: '0', Token: randomBytes(32).toString('hex') },
    body: JSON.stringify({ master: { address: 'http://127.0.0.1:1' }, data: {} }),
  });
}

test('isMasterGone: answered keeps; a refusal after an accepted beat or the grace replaces; silence only past the bound', () => {
  const bound = 30_000;
  const health = (h: Partial<LinkHealth>): LinkHealth => ({
    accepted: true,
    inGrace: false,
    silentForMs: 0,
    ...h,
  });
  // the master answered the probe: it stays, however long it had been silent before
  assert.equal(isMasterGone('answered', health({ silentForMs: 10 * bound }), bound), false);
  // a refusal from where the master was: a master there that no longer knows this slave
  assert.equal(isMasterGone('refused', health({}), bound), true);
  assert.equal(isMasterGone('refused', health({ accepted: false, inGrace: false }), bound), true);
  // ... unless it may be the master's not having listed this slave yet (nothing accepted, still in the grace)
  assert.equal(isMasterGone('refused', health({ accepted: false, inGrace: true }), bound), false);
  assert.equal(
    isMasterGone('refused', health({ accepted: false, inGrace: true, silentForMs: bound + 1 }), bound),
    true,
  );
  // no answer: gone only past the bound (a GC pause or a paused process is not gone)
  assert.equal(isMasterGone('silent', health({ silentForMs: 2_000 }), bound), false);
  assert.equal(isMasterGone('silent', health({ silentForMs: bound }), bound), false);
  assert.equal(isMasterGone('silent', health({ silentForMs: bound + 1 }), bound), true);
});

test('a paused master (SIGSTOP) keeps its slave against an unauthenticated /connect', async () => {
  const slave = await startSlave({ heartbeatSpan: 0.2 });
  const master = await spawnMaster([slave.port]);
  try {
    await waitFor('connected to the child master', () => slave.masterAddress === master.address);
    master.child.kill('SIGSTOP'); // a long GC pause, a VM migration: far below the master's 17 s tolerance
    // the slave asks its master (which cannot answer now) and refuses: the master was heard from a moment ago
    assertFailure(await strangerConnect(slave.port), 400, S.SLAVE_ALREADY_CONNECTED);
    assert.equal(slave.masterAddress, master.address, 'still the paused master');
    master.child.kill('SIGCONT');
    assertFailure(await strangerConnect(slave.port), 400, S.SLAVE_ALREADY_CONNECTED, 'after the pause');
    assert.equal(slave.masterAddress, master.address);
  } finally {
    await killChild(master.child);
    await slave.close();
  }
});

test('a master that is gone (SIGKILL) is replaced once masterTimeout has passed, not before', async () => {
  // retries that outlast the test: the link is not ended by failed heartbeats, only the bound decides
  const patient = await startSlave({
    heartbeatSpan: 0.2,
    masterTimeout: 60,
    requestRetries: 1000,
    requestRetryWaiting: 0.05,
  });
  const quick = await startSlave({
    heartbeatSpan: 0.2,
    masterTimeout: 0.5,
    requestRetries: 1000,
    requestRetryWaiting: 0.05,
  });
  const gone = await spawnMaster([patient.port, quick.port]);
  const next = await startMaster();
  try {
    await waitFor('both connected', () => patient.isConnected && quick.isConnected);
    await killChild(gone.child);
    assertFailure(await strangerConnect(patient.port), 400, S.SLAVE_ALREADY_CONNECTED, 'within 60 s');
    // its heartbeats go unanswered from the first one after the kill
    await waitFor('the quick slave past its bound', () => quick.stats().masterSilence > 0.5);
    assert.equal(quick.masterAddress, gone.address, 'still linked: only the bound lets a new master in');
    await next.newConnection('quick', '127.0.0.1', quick.port).connect();
    assert.equal(quick.masterAddress, `http://127.0.0.1:${next.port}`);
    assertFailure(await strangerConnect(patient.port), 400, S.SLAVE_ALREADY_CONNECTED, 'still within 60 s');
    assert.equal(patient.masterAddress, gone.address);
  } finally {
    await killChild(gone.child);
    await next.close();
    await Promise.all([patient.close(), quick.close()]);
  }
});

test('with a fleet secret: a master that proves it replaces a paused master at once; a stranger gets a challenge', async () => {
  const secret = 'takeover-secret';
  const slave = await startSlave({ heartbeatSpan: 0.2, fleetSecret: secret });
  const paused = await spawnMaster([slave.port], secret);
  const next = await startMaster({ fleetSecret: secret });
  try {
    await waitFor('connected to the child master', () => slave.masterAddress === paused.address);
    paused.child.kill('SIGSTOP');
    const stranger = await strangerConnect(slave.port);
    const envelope = assertEnvelope(stranger, 403, S.SLAVE_CONNECTION_REFUSED);
    const data = envelope.data as { fleetChallenge?: unknown };
    assert.equal(typeof data.fleetChallenge, 'string', 'a challenge to prove the secret over');
    assert.equal(stranger.headers['fleet-auth'], undefined, 'a refusal carries no proof');
    assert.equal(slave.masterAddress, paused.address);
    // one of the fleet: no need to wait for the paused master to be gone
    await next.newConnection('next', '127.0.0.1', slave.port).connect();
    assert.equal(slave.masterAddress, `http://127.0.0.1:${next.port}`);
  } finally {
    await killChild(paused.child);
    await next.close();
    await slave.close();
  }
});

test('concurrent /connects to a slave whose master hangs share one probe, and are all refused', async () => {
  const peer = await HoldingPeer.start(); // a master that never answers: its heartbeats hang
  const link = new MasterLink(
    resolveSlaveOptions({ requestRetries: 0 }),
    'a'.repeat(64),
    peer.origin,
    '',
    {
      pushedBack: 0,
    },
    () => undefined,
  );
  try {
    const first = link.probe();
    assert.equal(link.probe(), first, 'a second caller gets the probe in flight');
    assert.equal(await first, 'silent');
    assert.notEqual(link.probe(), first, 'once settled, the next caller probes anew');
  } finally {
    await peer.close();
    await link.close();
  }
  const slave = await startSlave({ heartbeatSpan: 60, requestRetries: 0 });
  const holding = await HoldingPeer.start();
  try {
    const connect = (address: string) =>
      raw(slave.port, {
        method: 'POST',
        path: '/connect',
        headers: { Channel: '0', Token: randomBytes(32).toString('hex') },
        body: JSON.stringify({ master: { address }, data: {} }),
      });
    assertSuccess(await connect(holding.origin), 'Connect success.');
    const answers = await Promise.all(Array.from({ length: 20 }, () => strangerConnect(slave.port)));
    for (const answer of answers) assertFailure(answer, 400, S.SLAVE_ALREADY_CONNECTED);
    assert.equal(slave.masterAddress, holding.origin);
  } finally {
    await holding.close();
    await slave.close();
  }
});

test('an unauthenticated /connect to an unconnected slave is accepted, as DI-engine does', async () => {
  const slave = await startSlave({ heartbeatSpan: 60, requestRetries: 0 });
  try {
    assertSuccess(await strangerConnect(slave.port), 'Connect success.');
  } finally {
    await slave.close();
  }
});
