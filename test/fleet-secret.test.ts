// The fleet secret on the wire: a challenge from the verifier, single use; proofs bound to that nonce, the token
// and the request body (so the master address); a refusal never carries a proof; nothing changes without a secret.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { describe, test } from 'node:test';
import { FleetSecretError, SlaveErrorCode as S } from '../src/index.ts';
import {
  bodyDigest,
  fleetProof,
  isFleetProof,
  parseFleetProof,
  randomNonce,
} from '../src/protocol/fleet-secret.ts';
import { assertEnvelope, assertSuccess } from './helpers/envelope.ts';
import { startMaster, startSlave } from './helpers/fleet.ts';
import { HoldingPeer } from './helpers/holding-peer.ts';
import { raw } from './helpers/raw-http.ts';
import { type RecordedRequest, RecordingProxy } from './helpers/recording-proxy.ts';

const kSecret = 'fleet-secret-for-tests';

/** The request as captured, sent again (Host and Content-Length are set anew), with another body if given. */
function replay(port: number, captured: RecordedRequest, body: Buffer | string = captured.body) {
  const headers = { ...captured.headers };
  delete headers.host;
  delete headers['content-length'];
  return raw(port, { method: captured.method, path: captured.path, headers, body });
}

function connectBody(address = 'http://127.0.0.1:1'): string {
  return JSON.stringify({ master: { address }, data: {} });
}

function postConnect(port: number, token: string, body: string, headers: Record<string, string> = {}) {
  return raw(port, {
    method: 'POST',
    path: '/connect',
    headers: { Channel: '0', Token: token, ...headers },
    body,
  });
}

/** The challenge a slave with a secret sends in its refusal of a /connect without a proof. */
function challengeIn(answer: Awaited<ReturnType<typeof raw>>): string {
  const challenge = (answer.json?.data as { fleetChallenge?: unknown } | null)?.fleetChallenge;
  assert.equal(typeof challenge, 'string', `a challenge in ${answer.body}`);
  return challenge as string;
}

/** The whole handshake as a master with the secret makes it; resolves with the second answer and our nonce. */
async function handshake(port: number, token: string, body = connectBody()) {
  const first = await postConnect(port, token, body);
  assertEnvelope(first, 403, S.SLAVE_CONNECTION_REFUSED, 'the first /connect is refused with a challenge');
  const ours = randomNonce();
  const answer = await postConnect(port, token, body, {
    'Fleet-Auth': fleetProof(kSecret, 'master', challengeIn(first), token, bodyDigest(body)),
    'Fleet-Challenge': ours,
  });
  return { answer, ours, digest: bodyDigest(body) };
}

function withAddress(body: Buffer, address: string): string {
  const value = JSON.parse(body.toString('utf8')) as { master: { address: string } };
  value.master.address = address;
  return JSON.stringify(value);
}

describe('fleet-secret proofs', () => {
  const nonce = randomNonce();
  const token = 'a'.repeat(64);
  const digest = bodyDigest('{"master":{"address":"http://10.0.0.1:7235"},"data":{}}');

  test('a proof holds for exactly its secret, role, nonce, token and body', () => {
    const proof = fleetProof(kSecret, 'master', nonce, token, digest);
    assert.equal(isFleetProof(kSecret, 'master', nonce, token, digest, proof), true);
    const otherBody = bodyDigest('{"master":{"address":"http://10.6.6.6:7235"},"data":{}}');
    for (const [what, ok] of [
      ['another secret', isFleetProof('other', 'master', nonce, token, digest, proof)],
      ['the other role', isFleetProof(kSecret, 'slave', nonce, token, digest, proof)],
      ['another nonce', isFleetProof(kSecret, 'master', randomNonce(), token, digest, proof)],
      ['another token', isFleetProof(kSecret, 'master', nonce, 'b'.repeat(64), digest, proof)],
      ['another master address', isFleetProof(kSecret, 'master', nonce, token, otherBody, proof)],
    ] as const) {
      assert.equal(ok, false, what);
    }
  });

  test('Fleet-Auth is "<nonce>.<64 hex>"; anything else does not parse', () => {
    const proof = fleetProof(kSecret, 'slave', nonce, token, digest);
    assert.deepEqual(parseFleetProof(proof), { nonce, proof: proof.slice(nonce.length + 1) });
    for (const value of [
      '',
      nonce,
      `${nonce}.`,
      `${nonce}.${'g'.repeat(64)}`,
      `.${'0'.repeat(64)}`,
      `a.b.c`,
    ]) {
      assert.equal(parseFleetProof(value), undefined, JSON.stringify(value));
      assert.equal(isFleetProof(kSecret, 'slave', nonce, token, digest, value), false);
    }
  });
});

describe('fleet secret on the wire', () => {
  test('a refused /connect never carries a proof, whatever token the caller chose', async () => {
    const slave = await startSlave({ fleetSecret: kSecret, heartbeatSpan: 60, requestRetries: 0 });
    try {
      for (const auth of [undefined, 'not-a-proof', `${'A'.repeat(40)}.${'0'.repeat(64)}`]) {
        const answer = await raw(slave.port, {
          method: 'POST',
          path: '/connect',
          headers: {
            Channel: '0',
            Token: randomBytes(32).toString('hex'),
            ...(auth === undefined ? {} : { 'Fleet-Auth': auth }),
          },
          body: JSON.stringify({ master: { address: 'http://127.0.0.1:1' }, data: {} }),
        });
        assertEnvelope(answer, 403, S.SLAVE_CONNECTION_REFUSED, String(auth));
        assert.equal(answer.headers['fleet-auth'], undefined, `no proof in a refusal (Fleet-Auth ${auth})`);
      }
      assert.equal(slave.isConnected, false);
    } finally {
      await slave.close();
    }
  });

  test('a captured /connect replayed, as is or with another master.address, does not connect the slave', async () => {
    const slave = await startSlave({ fleetSecret: kSecret, heartbeatSpan: 0.2, processTask: (d) => d });
    const proxy = await RecordingProxy.start(slave.port);
    const master = await startMaster({ fleetSecret: kSecret });
    try {
      await master.newConnection('observed', '127.0.0.1', proxy.port).connect();
      const requests = proxy.requests();
      const answers = proxy.answers();
      const index = requests.findLastIndex((r) => r.method === 'POST' && r.path === '/connect');
      assert.ok(index >= 0, 'the /connect was seen on the wire');
      assert.equal(answers[index]?.status, 200, 'and it connected the slave');
      const captured = requests[index]!;
      await master.delete('observed'); // the slave is free again: a replay would connect it
      assert.equal(slave.isConnected, false);

      const redirected = await replay(slave.port, captured, withAddress(captured.body, 'http://127.0.0.1:9'));
      assertEnvelope(redirected, 403, S.SLAVE_CONNECTION_REFUSED, 'replayed with the attacker as master');
      assert.equal(redirected.headers['fleet-auth'], undefined);
      const again = await replay(slave.port, captured);
      assertEnvelope(again, 403, S.SLAVE_CONNECTION_REFUSED, 'replayed as is');
      assert.equal(again.headers['fleet-auth'], undefined);
      assert.equal(slave.isConnected, false);
    } finally {
      await master.close();
      await proxy.close();
      await slave.close();
    }
  });

  test('the handshake by hand: the slave proves itself only on success, over our nonce; a used token is refused', async () => {
    const slave = await startSlave({ fleetSecret: kSecret, heartbeatSpan: 60, requestRetries: 0 });
    const peer = await HoldingPeer.start(); // the master address: it holds the first heartbeat, so the link stays
    try {
      const token = randomBytes(32).toString('hex');
      const { answer, ours, digest } = await handshake(slave.port, token, connectBody(peer.origin));
      assertSuccess(answer, 'Connect success.');
      assert.equal(
        isFleetProof(kSecret, 'slave', ours, token, digest, answer.headers['fleet-auth'] ?? ''),
        true,
      );
      assert.equal(slave.masterToken, token);
      const bye = await raw(slave.port, {
        method: 'DELETE',
        path: '/disconnect',
        headers: { Channel: '0', Token: token },
        body: '{"data":{}}',
      });
      assertSuccess(bye, 'Disconnect success.');
      // the same token again, even with a fresh challenge answered right: refused, and no challenge offered
      const reused = await postConnect(slave.port, token, connectBody());
      const envelope = assertEnvelope(reused, 403, S.SLAVE_CONNECTION_REFUSED, 'a used token');
      assert.match(String((envelope.data as { reason: string }).reason), /already used/);
      assert.equal((envelope.data as { fleetChallenge?: string }).fleetChallenge, undefined);
      assert.equal(reused.headers['fleet-auth'], undefined);
      const fresh = await handshake(slave.port, randomBytes(32).toString('hex'), connectBody(peer.origin));
      assertSuccess(fresh.answer, 'Connect success.');
    } finally {
      await peer.close();
      await slave.close();
    }
  });

  test('a challenge is spent only by a proof that checked out, and then only once', async () => {
    const slave = await startSlave({ fleetSecret: kSecret, heartbeatSpan: 60, requestRetries: 0 });
    const peer = await HoldingPeer.start();
    try {
      const token = randomBytes(32).toString('hex');
      const body = connectBody(peer.origin);
      const challenge = challengeIn(await postConnect(slave.port, token, body));
      const proof = fleetProof(kSecret, 'master', challenge, token, bodyDigest(body));
      const wrong = fleetProof('not-the-secret', 'master', challenge, token, bodyDigest(body));
      // a wrong proof, or a right one without our own challenge: refused with a new challenge, never a proof
      const attempts: Record<string, string>[] = [
        { 'Fleet-Auth': wrong, 'Fleet-Challenge': randomNonce() },
        { 'Fleet-Auth': proof },
      ];
      for (const headers of attempts) {
        const refused = await postConnect(slave.port, token, body, headers);
        assertEnvelope(refused, 403, S.SLAVE_CONNECTION_REFUSED, JSON.stringify(Object.keys(headers)));
        assert.notEqual(challengeIn(refused), challenge);
        assert.equal(refused.headers['fleet-auth'], undefined);
      }
      // the challenge is still good
      const ok = await postConnect(slave.port, token, body, {
        'Fleet-Auth': proof,
        'Fleet-Challenge': randomNonce(),
      });
      assertSuccess(ok, 'Connect success.');
      // spent: a proof over it for another token (what a holder of the secret could make) is refused
      const other = randomBytes(32).toString('hex');
      const again = await postConnect(slave.port, other, body, {
        'Fleet-Auth': fleetProof(kSecret, 'master', challenge, other, bodyDigest(body)),
        'Fleet-Challenge': randomNonce(),
      });
      const envelope = assertEnvelope(again, 403, S.SLAVE_CONNECTION_REFUSED, 'a spent challenge');
      assert.match(String((envelope.data as { reason: string }).reason), /spent/);
      assert.equal(slave.masterToken, token, 'still the master that proved itself');
    } finally {
      await peer.close();
      await slave.close();
    }
  });

  test('a connected slave: a stranger gets a challenge and no proof; the link stays', async () => {
    const slave = await startSlave({ fleetSecret: kSecret, heartbeatSpan: 0.2 });
    const master = await startMaster({ fleetSecret: kSecret });
    try {
      const connection = master.newConnection('kept', '127.0.0.1', slave.port);
      await connection.connect();
      const answer = await postConnect(slave.port, randomBytes(32).toString('hex'), connectBody());
      assertEnvelope(answer, 403, S.SLAVE_CONNECTION_REFUSED);
      challengeIn(answer);
      assert.equal(answer.headers['fleet-auth'], undefined);
      assert.equal(slave.masterToken, connection.token);
    } finally {
      await master.close();
      await slave.close();
    }
  });

  test('a master with the secret refuses an impostor slave: a replayed proof, or one made without the secret', async () => {
    // a real exchange first, as an observer would have recorded it
    const slave = await startSlave({ fleetSecret: kSecret, heartbeatSpan: 60 });
    const proxy = await RecordingProxy.start(slave.port);
    const master = await startMaster({ fleetSecret: kSecret });
    const disconnects: string[] = [];
    const impostors = ['replayed', 'forged'].map((kind) =>
      http.createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          res.setHeader('content-type', 'application/json');
          if (req.url === '/disconnect') disconnects.push(kind);
          const nonce = String(req.headers['fleet-challenge'] ?? '');
          if (req.url === '/connect' && nonce === '') {
            res.statusCode = 403;
            const data = { reason: 'prove it', fleetChallenge: randomNonce() };
            return res.end(
              JSON.stringify({ success: false, code: 503, message: 'Connection refused!', data }),
            );
          }
          res.setHeader(
            'fleet-auth',
            kind === 'replayed'
              ? seen
              : fleetProof('a-guess', 'slave', nonce, String(req.headers.token), randomNonce()),
          );
          res.end(JSON.stringify({ success: true, code: 0, message: 'Connect success.', data: null }));
        });
      }),
    );
    let seen = '';
    try {
      await master.newConnection('real', '127.0.0.1', proxy.port).connect();
      seen = proxy.answers().find((a) => a.headers['fleet-auth'] !== undefined)?.headers['fleet-auth'] ?? '';
      assert.notEqual(seen, '', 'the slave proof was on the wire');
      for (const [i, impostor] of impostors.entries()) {
        await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
        const { port } = impostor.address() as { port: number };
        await assert.rejects(
          master.newConnection(`impostor-${i}`, '127.0.0.1', port).connect(),
          FleetSecretError,
        );
        assert.equal(master.has(`impostor-${i}`), false);
      }
      assert.deepEqual(disconnects, ['replayed', 'forged'], 'each impostor was told to disconnect');
    } finally {
      await master.close();
      await proxy.close();
      await slave.close();
      for (const impostor of impostors) impostor.close();
    }
  });

  test('a connection connects again after a disconnect, with a new token', async () => {
    const slave = await startSlave({ fleetSecret: kSecret, heartbeatSpan: 0.2, processTask: (d) => d });
    const master = await startMaster({ fleetSecret: kSecret });
    try {
      const connection = master.newConnection('again', '127.0.0.1', slave.port);
      await connection.connect();
      const first = connection.token;
      await connection.disconnect();
      await connection.connect();
      assert.notEqual(connection.token, first);
      assert.equal(slave.masterToken, connection.token);
      const task = await connection.newTask({ n: 2 }).start();
      await task.join();
      assert.deepEqual(task.result, { n: 2 });
    } finally {
      await master.close();
      await slave.close();
    }
  });

  test('without a secret on either end the wire is DI-engine’s: one /connect, no fleet-auth headers', async () => {
    const slave = await startSlave({ heartbeatSpan: 60 });
    const proxy = await RecordingProxy.start(slave.port);
    const master = await startMaster();
    try {
      await master.newConnection('plain', '127.0.0.1', proxy.port).connect();
      const connects = proxy.requests().filter((r) => r.path === '/connect');
      assert.equal(connects.length, 1, 'one round trip');
      for (const request of proxy.requests()) {
        const names = Object.keys(request.headers).filter((h) => h.startsWith('fleet-'));
        assert.deepEqual(names, ['fleet-extensions'], `${request.method} ${request.path} headers`);
      }
      for (const answer of proxy.answers()) {
        const names = Object.keys(answer.headers).filter((h) => h.startsWith('fleet-'));
        assert.deepEqual(names, ['fleet-extensions'], 'answer headers');
      }
    } finally {
      await master.close();
      await proxy.close();
      await slave.close();
    }
  });
});
