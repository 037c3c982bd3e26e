// A server's ping of itself (issue 11, finding 10): over TLS it verifies and pins its own certificate, so its self
// token goes to no other server: a server on that port presenting another certificate gets no request at all.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generate } from 'selfsigned';
import { SelfClient } from '../src/http/self.ts';

async function certificate(dir: string, name: string) {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  });
  const keyFile = join(dir, `${name}-key.pem`);
  const certFile = join(dir, `${name}-cert.pem`);
  await writeFile(keyFile, pems.private);
  await writeFile(certFile, pems.cert);
  return { keyFile, certFile, pems };
}

test('the self ping pins its own certificate: another server on the port never sees the token', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fleetmaster-self-'));
  try {
    const ours = await certificate(dir, 'ours');
    const theirs = await certificate(dir, 'theirs');
    const tokens: string[] = [];
    const answer = JSON.stringify({ success: true, code: 0, message: 'PONG!', data: null });
    const serve = (pems: { private: string; cert: string }) =>
      https.createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
        tokens.push(String(req.headers.token));
        res.writeHead(200, { 'content-type': 'application/json' }).end(answer);
      });
    for (const [pems, expected] of [
      [theirs.pems, false],
      [ours.pems, true],
    ] as const) {
      const server = serve(pems);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as AddressInfo;
        const ok = await new SelfClient().ping('127.0.0.1', port, ours, 'the-self-token');
        assert.equal(ok, expected, expected ? 'our own certificate' : 'another certificate');
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    }
    assert.deepEqual(tokens, ['the-self-token'], 'only the server with our certificate got the token');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
