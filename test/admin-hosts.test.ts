// The admin listener answers only the Host names it is known by (DNS rebinding: a page whose own name was
// pointed at 127.0.0.1 must not read /status, /metrics or the dashboard from the operator's browser). A real
// master, raw sockets (so the Host header is exactly what the test writes); the engine is this run's.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type Master, MasterErrorCode } from '../src/index.ts';
import { ensureDashboardBuilt } from './helpers/browser.ts';
import { assertFailure } from './helpers/envelope.ts';
import { startMaster } from './helpers/fleet.ts';
import { parseAnswers, type RawAnswer } from './helpers/raw-http.ts';

const kCode = MasterErrorCode.HOST_NOT_ALLOWED;

interface Exchange {
  /** The first answer, if a whole one arrived. */
  answer: RawAnswer | undefined;
  /** Every byte that arrived (an event stream's head, where the answer does not end). */
  text: string;
}

/**
 * One request on a fresh socket, written byte for byte (no Host unless `host` is given); resolves with the first
 * whole answer, an event stream's head, or what arrived when the server closed or 2 s passed.
 */
function send(
  port: number,
  request: { path: string; host?: string; method?: string; version?: string; body?: string },
  address = '127.0.0.1',
): Promise<Exchange> {
  const { path, host, method = 'GET', version = '1.1', body } = request;
  const lines = [`${method} ${path} HTTP/${version}`];
  if (host !== undefined) lines.push(`Host: ${host}`);
  if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  const bytes = `${lines.join('\r\n')}\r\n\r\n${body ?? ''}`;
  return new Promise((resolve) => {
    const socket = net.connect(port, address);
    let data = Buffer.alloc(0);
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ answer: parseAnswers(data).answers[0], text: data.toString('latin1') });
    };
    const timer = setTimeout(finish, 2000);
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const text = data.toString('latin1');
      if (parseAnswers(data).answers.length > 0 || /text\/event-stream[\s\S]*\r\n\r\n/.test(text)) finish();
    });
    socket.on('close', finish);
    socket.on('error', () => undefined);
    socket.write(bytes);
  });
}

function refused(exchange: Exchange, label: string): void {
  assert.ok(exchange.answer, `an answer (${label}); got ${JSON.stringify(exchange.text.slice(0, 120))}`);
  const envelope = assertFailure(exchange.answer, 403, kCode, label);
  assert.match(envelope.message, /adminAllowedHosts/, 'the message says how to allow a name');
  assert.doesNotMatch(exchange.answer.body, /evil/, 'the refused Host is not echoed');
}

function served(exchange: Exchange, label: string): void {
  assert.match(exchange.text, /^HTTP\/1\.1 200 /, `200 (${label}); got ${exchange.text.slice(0, 200)}`);
}

describe('admin listener: the Host allow-list', () => {
  let master: Master;
  let port: number;

  before(async () => {
    await ensureDashboardBuilt();
    master = await startMaster({ adminPort: 0, adminAllowedHosts: ['Fleet.Example.'], resultThreads: 0 });
    port = master.adminPort;
  });
  after(() => master.close());

  test('loopback names and addresses, and the configured names, are served (port, case, trailing dot ignored)', async () => {
    for (const host of [
      'localhost',
      `localhost:${port}`,
      `LOCALHOST.:${port}`,
      `127.0.0.1:${port}`,
      '127.0.0.1',
      `[::1]:${port}`,
      '[0:0:0:0:0:0:0:1]',
      'fleet.example',
      `FLEET.example.:${port}`,
    ]) {
      const status = await send(port, { path: '/status', host });
      served(status, host);
      assert.equal(JSON.parse(status.answer!.body).code, 0, host);
    }
    const metrics = await send(port, { path: '/metrics', host: `localhost:${port}` });
    served(metrics, '/metrics');
    assert.match(metrics.answer!.body, /^fleetmaster_slaves/m);
    served(await send(port, { path: '/dashboard', host: `localhost:${port}` }), '/dashboard');
    const events = await send(port, { path: '/dashboard/events', host: `127.0.0.1:${port}` });
    served(events, '/dashboard/events');
    assert.match(events.text, /text\/event-stream/);
  });

  test('another name is refused with 403, code 910, in the envelope, on every route of the listener', async () => {
    for (const path of [
      '/status',
      '/metrics',
      '/dashboard',
      '/dashboard/events',
      '/dashboard/assets/main.js',
      '/no-such-route',
    ]) {
      refused(await send(port, { path, host: `evil.example:${port}` }), path);
    }
    // names a rebinding page could have: the allowed names as parts of another
    for (const host of [
      'evil.example',
      'localhost.evil.example',
      'fleet.example.evil.example',
      '127.0.0.1.nip.io',
      'evil-fleet.example',
    ]) {
      refused(await send(port, { path: '/status', host }), host);
    }
    // another method, and a body left unread: refused too, and the connection closed after the answer
    const post = await send(port, { path: '/status', host: 'evil.example', method: 'POST', body: '{}' });
    refused(post, 'POST with a body');
    assert.equal(post.answer?.headers.connection, 'close');
  });

  test('HEAD from another name: 403 without a body', async () => {
    const head = await send(port, { path: '/status', host: 'evil.example', method: 'HEAD' });
    assert.match(head.text, /^HTTP\/1\.1 403 /);
    assert.doesNotMatch(head.text, /"code"/);
  });

  test('a malformed or oversized Host is refused (cheaply: the length alone decides)', async () => {
    for (const host of [
      '::1',
      '[::1',
      'localhost:http',
      'local host',
      'a'.repeat(301),
      `localhost${'.'.repeat(3)}`,
    ]) {
      refused(await send(port, { path: '/status', host }), JSON.stringify(host.slice(0, 20)));
    }
    // a whole allowed name padded past the bound is still refused: nothing past the bound is read
    refused(await send(port, { path: '/status', host: `localhost:${'9'.repeat(300)}` }), 'a long port');
    refused(await send(port, { path: '/status', host: 'x'.repeat(10_000) }), '10 KB Host');
  });

  test('no Host is never served: HTTP/1.1 the engine refuses itself; HTTP/1.0 the guard (node) or the engine (uws)', async () => {
    const h11 = await send(port, { path: '/status' });
    const h10 = await send(port, { path: '/status', version: '1.0' });
    if (master.engine === 'node') {
      // node:http answers an HTTP/1.1 request without Host 400 before any route (requireHostHeader)
      assert.match(h11.text, /^HTTP\/1\.1 400 /);
      refused(h10, 'HTTP/1.0 without Host');
    } else {
      // this uWS build closes such connections unanswered, as it does any HTTP/1.0 request
      assert.equal(h11.text, '');
      assert.equal(h10.text, '');
    }
  });

  test('refusals are counted as error answers (request_errors_total{code="910"})', async () => {
    const metrics = await send(port, { path: '/metrics', host: 'localhost' });
    const count = /^fleetmaster_request_errors_total\{code="910"\} (\d+)$/m.exec(metrics.answer!.body);
    assert.ok(count, 'the series exists');
    assert.ok(Number(count[1]) >= 20, `counted: ${count[1]}`);
  });

  test('the front end is untouched: any Host reaches its routes (the self token guards them)', async () => {
    const status = await send(master.port, { path: '/status', host: 'evil.example' });
    assert.ok(status.answer);
    assertFailure(status.answer, 400, MasterErrorCode.SELF_TOKEN_NOT_GIVEN, 'front end, no token');
    const lines = ['GET /status HTTP/1.1', 'Host: evil.example', `Token: ${master.selfToken}`, '', ''];
    const withToken = await new Promise<string>((resolve) => {
      const socket = net.connect(master.port, '127.0.0.1');
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString('latin1');
        if (parseAnswers(Buffer.from(text, 'latin1')).answers.length > 0) socket.end();
      });
      socket.on('close', () => resolve(text));
      socket.write(lines.join('\r\n'));
    });
    assert.match(withToken, /^HTTP\/1\.1 200 /);
  });
});

describe("admin listener: adminAllowedHosts ['*'] turns the check off", () => {
  let master: Master;
  before(async () => {
    master = await startMaster({ adminPort: 0, adminAllowedHosts: ['*'], resultThreads: 0 });
  });
  after(() => master.close());

  test('any Host is served, a malformed or oversized one too', async () => {
    for (const host of ['evil.example', 'localhost.evil.example:1', '::1', 'x'.repeat(1000)]) {
      served(await send(master.adminPort, { path: '/status', host }), host.slice(0, 30));
    }
    served(await send(master.adminPort, { path: '/metrics', host: 'evil.example' }), '/metrics');
    if (master.engine === 'node') {
      served(await send(master.adminPort, { path: '/status', version: '1.0' }), 'HTTP/1.0 without Host');
    }
  });
});

describe('admin listener: adminHost is allowed by its own address, a wildcard by none', () => {
  test('a specific adminHost (127.0.0.2) is allowed as Host; other names still are not', async () => {
    const master = await startMaster({ adminPort: 0, adminHost: '127.0.0.2', resultThreads: 0 });
    try {
      const port = master.adminPort;
      served(await send(port, { path: '/status', host: `127.0.0.2:${port}` }, '127.0.0.2'), '127.0.0.2');
      served(await send(port, { path: '/status', host: 'localhost' }, '127.0.0.2'), 'localhost');
      refused(await send(port, { path: '/status', host: 'evil.example' }, '127.0.0.2'), 'evil.example');
    } finally {
      await master.close();
    }
  });

  test('adminHost 0.0.0.0 does not allow Host 0.0.0.0; loopback and the listed names still pass', async () => {
    const master = await startMaster({
      adminPort: 0,
      adminHost: '0.0.0.0',
      adminAllowedHosts: ['10.1.2.3'],
      resultThreads: 0,
    });
    try {
      const port = master.adminPort;
      refused(await send(port, { path: '/status', host: `0.0.0.0:${port}` }), '0.0.0.0');
      served(await send(port, { path: '/status', host: `127.0.0.1:${port}` }), '127.0.0.1');
      served(await send(port, { path: '/status', host: `10.1.2.3:${port}` }), 'a listed address');
      refused(await send(port, { path: '/status', host: `10.1.2.4:${port}` }), 'an address not listed');
    } finally {
      await master.close();
    }
  });
});
