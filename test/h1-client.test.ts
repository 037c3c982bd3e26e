// The HTTP/1.1 client against real servers on 127.0.0.1 (node:http, node:https and raw node:net peers): keep-alive
// and its loss, framing, pipelining, timeouts, aborts, close and destroy, TLS, and peers that misbehave.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { generate } from 'selfsigned';
import { H1Client, type H1ClientOptions } from '../src/client/h1-client.ts';
import { AnswerTimeoutError, AnswerTooLargeError, H1ConnectionError, H1ParseError } from '../src/errors.ts';
import { deferred } from './helpers/deferred.ts';

interface Started {
  port: number;
  /** TCP connections accepted so far. */
  connections(): number;
  /** Of those, the ones closed since. */
  closed(): number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1, any free port; `close()` drops every connection still open, then the listener. */
async function start(server: net.Server): Promise<Started> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  let closed = 0;
  server.on('connection', (socket: net.Socket) => {
    accepted++;
    sockets.add(socket);
    socket.once('close', () => {
      closed++;
      sockets.delete(socket);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    connections: () => accepted,
    closed: () => closed,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A node:http server that records every request (body included) before handing it to `handle`. */
async function startHttp(
  handle: (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen) => void,
  configure?: (server: http.Server) => void,
): Promise<Started & { seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      const entry = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(parts) };
      seen.push(entry);
      handle(req, res, entry);
    });
  });
  configure?.(server);
  return { ...(await start(server)), seen };
}

/** A raw TCP peer: `onData` sees every read of each connection. */
function startRaw(onData: (socket: net.Socket, data: Buffer) => void): Promise<Started> {
  return start(net.createServer((socket) => socket.on('data', (data) => onData(socket, data))));
}

function client(port: number, options: Partial<H1ClientOptions> = {}): H1Client {
  return new H1Client({ host: '127.0.0.1', port, timeoutMs: 5000, ...options });
}

/** A client of `server`; the test closes both when it ends. */
function clientFor(
  t: TestContext,
  server: { port: number; close(): Promise<unknown> },
  options: Partial<H1ClientOptions> = {},
): H1Client {
  const h1 = client(server.port, options);
  t.after(async () => {
    h1.destroy();
    await server.close();
  });
  return h1;
}

/** A port nothing listens on. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `predicate` until it holds; fails after `timeoutMs`. */
async function waitFor(what: string, predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A predicate for `assert.rejects`: an `AnswerTimeoutError`. */
function timeoutError(err: unknown): boolean {
  assert.ok(err instanceof AnswerTimeoutError, `expected AnswerTimeoutError, got ${String(err)}`);
  assert.equal(err.code, 'FLEETMASTER_ANSWER_TIMEOUT');
  return true;
}

/** A predicate for `assert.rejects`: an `H1ParseError` whose message matches. */
function parseError(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof H1ParseError, `expected H1ParseError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  };
}

/**
 * A predicate for `assert.rejects`: an `H1ConnectionError` (with `code` when given; a socket's own code, such as
 * `ECONNREFUSED`, is its cause's).
 */
function connectionError(code?: string) {
  return (err: unknown) => {
    assert.ok(err instanceof H1ConnectionError, `expected H1ConnectionError, got ${String(err)}`);
    if (code?.startsWith('FLEETMASTER_')) assert.equal(err.code, code);
    else if (code !== undefined) {
      assert.equal(err.code, 'FLEETMASTER_H1_CONNECTION');
      assert.equal((err.cause as NodeJS.ErrnoException | undefined)?.code, code);
    }
    return true;
  };
}

test('GET and POST (string, bytes, no body): the answer, and what the server saw', async (t) => {
  const server = await startHttp((req, res, seen) => {
    res.setHeader('x-reply', `to-${req.method}`);
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.end(`${req.method} ${req.url} ${seen.body.length} é`);
  });
  const h1 = clientFor(t, server);

  const get = await h1.request('GET', '/hello?x=1', 'x-test: one\r\naccept: text/plain\r\n');
  assert.equal(get.statusCode, 200);
  assert.equal(get.headers['x-reply'], 'to-GET');
  assert.equal(get.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(get.text, 'GET /hello?x=1 0 é');
  assert.equal(get.keepAlive, true);
  const [g] = server.seen;
  assert.equal(g!.method, 'GET');
  assert.equal(g!.url, '/hello?x=1');
  assert.equal(g!.headers['x-test'], 'one');
  assert.equal(g!.headers['accept'], 'text/plain');
  assert.equal(g!.headers['host'], `127.0.0.1:${server.port}`);
  assert.equal(g!.headers['content-length'], undefined, 'a GET without a body says no length');

  const text = '{"task":"ünïcødé ✓"}';
  const post = await h1.request('POST', '/task/new', 'content-type: application/json\r\n', text);
  assert.equal(post.statusCode, 200);
  assert.equal(post.headers['x-reply'], 'to-POST');
  assert.equal(post.text, `POST /task/new ${Buffer.byteLength(text)} é`);
  const p = server.seen[1]!;
  assert.equal(p.method, 'POST');
  assert.equal(p.url, '/task/new');
  assert.equal(p.headers['content-type'], 'application/json');
  assert.equal(p.headers['content-length'], String(Buffer.byteLength(text)), 'the length counts bytes');
  assert.equal(p.body.toString('utf8'), text);

  const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256);
  const put = await h1.request('PUT', '/bytes', '', bytes);
  assert.equal(put.text, 'PUT /bytes 300 é');
  const b = server.seen[2]!;
  assert.equal(b.method, 'PUT');
  assert.equal(b.headers['content-length'], '300');
  assert.deepEqual(new Uint8Array(b.body), bytes);

  // a view into a larger buffer sends only its own bytes
  const backing = Buffer.from('xxxxpayloadyyyy');
  const view = await h1.request('POST', '/view', '', backing.subarray(4, 11));
  assert.equal(view.text, 'POST /view 7 é');
  assert.equal(server.seen[3]!.body.toString(), 'payload');

  const empty = await h1.request('DELETE', '/nothing', '');
  assert.equal(empty.text, 'DELETE /nothing 0 é');
  assert.equal(server.seen[4]!.headers['content-length'], '0');
  assert.equal(h1.pending, 0);
});

test('non-2xx answers resolve too, with their status', async (t) => {
  const server = await startHttp((_req, res) => {
    res.statusCode = 503;
    res.end('busy');
  });
  const h1 = clientFor(t, server);
  const answer = await h1.request('GET', '/', '');
  assert.equal(answer.statusCode, 503);
  assert.equal(answer.text, 'busy');
});

test('keep-alive: sequential requests share one connection', async (t) => {
  const server = await startHttp((req, res) => res.end(`answer ${req.url}`));
  const h1 = clientFor(t, server);
  for (let i = 0; i < 6; i++) {
    const answer = await h1.request('POST', `/${i}`, '', `body ${i}`);
    assert.equal(answer.text, `answer /${i}`);
  }
  assert.equal(server.seen.length, 6);
  assert.equal(server.connections(), 1);
});

test('an answer with Connection: close: the next request goes on a new connection', async (t) => {
  let first = true;
  const server = await startHttp((_req, res) => {
    if (first) res.setHeader('connection', 'close');
    first = false;
    res.end('ok');
  });
  const h1 = clientFor(t, server);
  const closing = await h1.request('GET', '/1', '');
  assert.equal(closing.text, 'ok');
  assert.equal(closing.keepAlive, false);
  const next = await h1.request('GET', '/2', '');
  assert.equal(next.text, 'ok');
  assert.equal(next.keepAlive, true);
  assert.equal(server.connections(), 2);
  const third = await h1.request('GET', '/3', '');
  assert.equal(third.text, 'ok');
  assert.equal(server.connections(), 2, 'the second connection is kept');
});

test('the server closes an idle keep-alive connection: the next request opens a new one', async (t) => {
  const server = await startHttp(
    (_req, res) => res.end('ok'),
    (s) => {
      s.keepAliveTimeout = 100;
    },
  );
  const h1 = clientFor(t, server);
  assert.equal((await h1.request('GET', '/1', '')).text, 'ok');
  // Node 20 closes an idle socket a second or so after keepAliveTimeout: wait for it rather than a fixed time
  await waitFor('the server to close the idle connection', () => server.closed() === 1);
  await sleep(300); // the client sees the close
  assert.equal((await h1.request('GET', '/2', '')).text, 'ok');
  assert.equal(server.connections(), 2);
});

test('the client closes its own idle connection after keepAliveMs', async (t) => {
  const server = await startHttp((_req, res) => res.end('ok'));
  const h1 = clientFor(t, server, { keepAliveMs: 100 });
  assert.equal((await h1.request('GET', '/1', '')).text, 'ok');
  assert.equal(server.closed(), 0);
  // the idle sweep runs every 250 ms: the server sees the client's close soon after
  await waitFor('the client to close its idle connection', () => server.closed() === 1);
  assert.equal((await h1.request('GET', '/2', '')).text, 'ok');
  assert.equal(server.connections(), 2);
});

test('a body framed by the close (HTTP/1.0, no length) resolves when the peer closes', async (t) => {
  const server = await startRaw((socket) => {
    socket.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nread until the close');
  });
  const h1 = clientFor(t, server);
  const answer = await h1.request('GET', '/', '');
  assert.equal(answer.text, 'read until the close');
  assert.equal(answer.keepAlive, false);
  assert.equal((await h1.request('GET', '/again', '')).text, 'read until the close');
  assert.equal(server.connections(), 2);
});

test('a peer that closes without answering: the request rejects with H1ConnectionError', async (t) => {
  for (const hangUp of ['end', 'destroy'] as const) {
    await t.test(`the peer calls ${hangUp}()`, async () => {
      const server = await startRaw((socket) => socket[hangUp]());
      const h1 = client(server.port);
      try {
        await assert.rejects(h1.request('GET', '/', ''), connectionError());
        assert.equal(h1.pending, 0);
      } finally {
        h1.destroy();
        await server.close();
      }
    });
  }
});

test('a peer that closes in the middle of an answer: the request rejects with H1ParseError', async (t) => {
  const server = await startRaw((socket) => {
    socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part of it');
  });
  const h1 = clientFor(t, server);
  await assert.rejects(h1.request('GET', '/', ''), (err: unknown) => {
    assert.ok(err instanceof H1ParseError, String(err));
    assert.match(err.message, /middle of a response/);
    return true;
  });
});

test('connection refused: every queued request rejects with ECONNREFUSED', async () => {
  const port = await freePort();
  const h1 = client(port, { pipelining: 2 });
  try {
    const results = await Promise.allSettled([
      h1.request('GET', '/1', ''),
      h1.request('GET', '/2', ''),
      h1.request('POST', '/3', '', 'x'),
      h1.request('GET', '/4', ''),
    ]);
    assert.equal(results.length, 4);
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      connectionError('ECONNREFUSED')((result as PromiseRejectedResult).reason);
    }
    assert.equal(h1.pending, 0);
    // and again, on a fresh attempt
    await assert.rejects(h1.request('GET', '/5', ''), connectionError('ECONNREFUSED'));
  } finally {
    h1.destroy();
  }
});

test('a peer that never answers: the request rejects with AnswerTimeoutError', async (t) => {
  const server = await startRaw(() => undefined);
  const h1 = clientFor(t, server, { timeoutMs: 300 });
  await assert.rejects(h1.request('GET', '/', ''), timeoutError);
  assert.equal(h1.pending, 0);
  await waitFor('the timed-out connection to close', () => server.closed() === 1);
});

test('pipelining: four requests on the wire at once, answered in order, each gets its own body', async (t) => {
  let buffered = '';
  let received = 0;
  let answered = 0;
  let mostInFlight = 0;
  let chain = Promise.resolve();
  const server = await startRaw((socket, data) => {
    buffered += data.toString('latin1');
    for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
      const path = buffered.slice(0, end).split(' ')[1]!;
      buffered = buffered.slice(end + 4);
      received++;
      mostInFlight = Math.max(mostInFlight, received - answered);
      // answers go out one after the other, each after a delay
      chain = chain.then(async () => {
        await sleep(30);
        const body = `answer to ${path}`;
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        answered++;
      });
    }
  });
  const h1 = clientFor(t, server, { pipelining: 4 });
  const order: string[] = [];
  const answers = await Promise.all(
    [0, 1, 2, 3].map((i) =>
      h1.request('GET', `/${i}`, '').then((answer) => {
        order.push(`/${i}`);
        return answer.text;
      }),
    ),
  );
  assert.deepEqual(answers, ['answer to /0', 'answer to /1', 'answer to /2', 'answer to /3']);
  assert.deepEqual(order, ['/0', '/1', '/2', '/3']);
  assert.equal(mostInFlight, 4, 'all four were written before the first answer');
  assert.equal(server.connections(), 1);
});

test('pipelining: aborting a request on the wire fails the others written with it, not the ones after', async (t) => {
  let received = 0;
  const server = await startRaw((socket, data) => {
    const requests = data.toString('latin1').split('\r\n\r\n').length - 1;
    received += requests;
    // answers only requests to /late (which come on a later connection)
    if (data.includes('/late')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate');
  });
  const h1 = clientFor(t, server, { pipelining: 2 });
  const controller = new AbortController();
  const first = h1.request('GET', '/first', '', undefined, controller.signal);
  const second = h1.request('GET', '/second', '');
  const third = h1.request('GET', '/late', '');
  await waitFor('the two pipelined requests to arrive', () => received === 2);
  controller.abort();
  await assert.rejects(first, (err) => err === controller.signal.reason);
  await assert.rejects(second, connectionError('FLEETMASTER_H1_CONNECTION'));
  assert.equal((await third).text, 'late');
  assert.equal(server.connections(), 2);
});

test('pipelining: an answer with Connection: close fails the request written after it', async (t) => {
  const server = await startRaw((socket) => {
    socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nfirst');
  });
  const h1 = clientFor(t, server, { pipelining: 2 });
  const first = h1.request('GET', '/1', '');
  const second = h1.request('GET', '/2', '');
  assert.equal((await first).text, 'first');
  await assert.rejects(second, connectionError());
  assert.equal((await h1.request('GET', '/3', '')).text, 'first');
});

test('without pipelining, a request waits for the previous answer', async (t) => {
  let inFlight = 0;
  let mostInFlight = 0;
  const server = await startHttp((_req, res) => {
    inFlight++;
    mostInFlight = Math.max(mostInFlight, inFlight);
    setTimeout(() => {
      inFlight--;
      res.end('ok');
    }, 20);
  });
  const h1 = clientFor(t, server);
  const answers = await Promise.all([1, 2, 3].map((i) => h1.request('GET', `/${i}`, '')));
  assert.deepEqual(
    answers.map((a) => a.text),
    ['ok', 'ok', 'ok'],
  );
  assert.equal(mostInFlight, 1);
  assert.deepEqual(
    server.seen.map((s) => s.url),
    ['/1', '/2', '/3'],
  );
});

test('abort: a request on the wire rejects with the signal reason; the client goes on', async (t) => {
  const arrived = deferred();
  const server = await startHttp((req, res) => {
    if (req.url === '/slow')
      arrived.resolve(); // and never answered
    else res.end(`fast ${req.url}`);
  });
  const h1 = clientFor(t, server);
  const controller = new AbortController();
  const reason = new Error('the caller gave up');
  const slow = h1.request('GET', '/slow', '', undefined, controller.signal);
  await arrived.promise;
  controller.abort(reason);
  await assert.rejects(slow, (err) => err === reason);
  assert.equal(h1.pending, 0);
  const next = await h1.request('GET', '/next', '');
  assert.equal(next.text, 'fast /next');
  assert.equal(server.connections(), 2, 'the aborted request took its connection with it');
  // an already-aborted signal rejects at once, with its reason
  const gone = new AbortController();
  gone.abort();
  await assert.rejects(
    h1.request('GET', '/never', '', undefined, gone.signal),
    (err) => err === gone.signal.reason,
  );
  assert.ok(!server.seen.some((s) => s.url === '/never'));
});

test('abort: a request still waiting in the queue leaves without touching the one on the wire', async (t) => {
  const server = await startHttp((req, res) => setTimeout(() => res.end(`answer ${req.url}`), 100));
  const h1 = clientFor(t, server);
  const controller = new AbortController();
  const first = h1.request('GET', '/first', '');
  const queued = h1.request('GET', '/queued', '', undefined, controller.signal);
  assert.equal(h1.pending, 2);
  controller.abort();
  await assert.rejects(queued, (err) => err === controller.signal.reason);
  assert.equal(h1.pending, 1);
  assert.equal((await first).text, 'answer /first');
  assert.equal((await h1.request('GET', '/after', '')).text, 'answer /after');
  assert.deepEqual(
    server.seen.map((s) => s.url),
    ['/first', '/after'],
  );
  assert.equal(server.connections(), 1);
});

test('close(): waits for the request in flight, then refuses new ones', async (t) => {
  const server = await startHttp((_req, res) => setTimeout(() => res.end('done'), 100));
  const h1 = clientFor(t, server);
  const events: string[] = [];
  const inFlight = h1.request('GET', '/', '').then((answer) => {
    events.push('answered');
    return answer;
  });
  const closed = h1.close().then(() => events.push('closed'));
  await assert.rejects(h1.request('GET', '/late', ''), connectionError('FLEETMASTER_H1_CLOSED'));
  assert.equal((await inFlight).text, 'done');
  await closed;
  assert.deepEqual(events, ['answered', 'closed']);
  await waitFor('the drained connection to close', () => server.closed() === 1, 1000);
  await assert.rejects(h1.request('GET', '/after', ''), connectionError('FLEETMASTER_H1_CLOSED'));
  await h1.close(); // idempotent
  assert.equal(server.seen.length, 1);
});

test('close() on an idle client resolves at once and closes its connection', async (t) => {
  const server = await startHttp((_req, res) => res.end('ok'));
  const h1 = clientFor(t, server);
  assert.equal((await h1.request('GET', '/', '')).text, 'ok');
  assert.equal(server.closed(), 0);
  await h1.close();
  await waitFor('the connection to close', () => server.closed() === 1, 1000);
  await assert.rejects(h1.request('GET', '/', ''), connectionError('FLEETMASTER_H1_CLOSED'));
  assert.equal(server.connections(), 1);
});

test('destroy(): the request in flight rejects at once', async (t) => {
  const arrived = deferred();
  const server = await startHttp(() => arrived.resolve()); // never answers
  const h1 = clientFor(t, server);
  const inFlight = h1.request('GET', '/', '');
  const waiting = h1.request('GET', '/queued', '');
  await arrived.promise;
  const closing = h1.close(); // a graceful close in progress is cut short too
  h1.destroy();
  await assert.rejects(inFlight, connectionError('FLEETMASTER_H1_CLOSED'));
  await assert.rejects(waiting, connectionError('FLEETMASTER_H1_CLOSED'));
  await closing;
  assert.equal(h1.pending, 0);
  await assert.rejects(h1.request('GET', '/', ''), connectionError('FLEETMASTER_H1_CLOSED'));
});

test('a chunked answer written in pieces comes out whole', async (t) => {
  const server = await startHttp((_req, res) => {
    res.write('hello, ');
    setTimeout(() => {
      res.write('chunked ');
      setTimeout(() => res.end('world ✓'), 20);
    }, 20);
  });
  const h1 = clientFor(t, server);
  const answer = await h1.request('GET', '/', '');
  assert.equal(answer.headers['transfer-encoding'], 'chunked');
  assert.equal(answer.text, 'hello, chunked world ✓');
  assert.equal((await h1.request('GET', '/', '')).text, 'hello, chunked world ✓');
  assert.equal(server.connections(), 1);
});

test('TLS: trusted with its CA the client talks to the server; without it the connection fails', async (t) => {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  });
  const server = https.createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
    res.end(`secure ${req.method} ${req.url}`);
  });
  const started = await start(server);
  const trusting = client(started.port, { tls: { ca: pems.cert } });
  const strict = client(started.port, { tls: {} });
  t.after(async () => {
    trusting.destroy();
    strict.destroy();
    await started.close();
  });
  assert.equal((await trusting.request('GET', '/a', '')).text, 'secure GET /a');
  const post = await trusting.request('POST', '/b', '', 'tls body');
  assert.equal(post.text, 'secure POST /b');
  assert.equal(started.connections(), 1, 'kept alive over TLS');
  // a connection error (not a timeout)
  await assert.rejects(strict.request('GET', '/c', ''), connectionError());
  assert.equal(strict.pending, 0);
});

test('a garbage answer rejects with H1ParseError', async (t) => {
  const server = await startRaw((socket) => socket.write('hello\r\n\r\n'));
  const h1 = clientFor(t, server);
  await assert.rejects(h1.request('GET', '/', ''), (err: unknown) => {
    assert.ok(err instanceof H1ParseError, String(err));
    assert.equal(err.code, 'FLEETMASTER_H1_PARSE');
    return true;
  });
  assert.equal(h1.pending, 0);
});

test('an answer no request asked for, in the same read, fails the connection and the answer before it', async (t) => {
  let reads = 0;
  const server = await startRaw((socket) => {
    reads++;
    socket.write(
      reads === 1
        ? 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb'
        : 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc',
    );
  });
  const h1 = clientFor(t, server);
  await assert.rejects(h1.request('GET', '/', ''), parseError(/to no request/));
  // the next request goes on a new connection
  assert.equal((await h1.request('GET', '/', '')).text, 'c');
  assert.equal(server.connections(), 2);
});

/** A raw peer that answers each request with `wire`, one byte every `everyMs` (from `from` on; before it, at once). */
function startTrickling(wire: string, everyMs: number, from = 0): Promise<Started> {
  const timers = new Set<NodeJS.Timeout>();
  return startRaw((socket) => {
    socket.write(wire.slice(0, from));
    let at = from;
    const timer = setInterval(() => {
      if (at >= wire.length || socket.destroyed) {
        clearInterval(timer);
        return;
      }
      socket.write(wire.slice(at, ++at));
    }, everyMs);
    timers.add(timer);
    socket.once('close', () => clearInterval(timer));
  });
}

test('one deadline per request: a head trickled a byte at a time fails at timeoutMs', async (t) => {
  // 150 bytes at one per 20 ms would take 3 s; every byte restarting the timer would let it through
  const wire = `HTTP/1.1 200 OK\r\nX-Pad: ${'p'.repeat(100)}\r\nContent-Length: 2\r\n\r\nok`;
  const server = await startTrickling(wire, 20);
  const h1 = clientFor(t, server, { timeoutMs: 300 });
  await assert.rejects(h1.request('GET', '/', ''), timeoutError);
  assert.equal(h1.pending, 0);
});

test('one deadline per request: a body trickled a byte at a time fails at timeoutMs', async (t) => {
  const head = 'HTTP/1.1 200 OK\r\nContent-Length: 150\r\n\r\n';
  const server = await startTrickling(`${head}${'b'.repeat(150)}`, 20, head.length + 1);
  const h1 = clientFor(t, server, { timeoutMs: 300 });
  await assert.rejects(h1.request('GET', '/', ''), timeoutError);
});

test('the deadline counts from the call: a request queued behind a hung one fails with it', async (t) => {
  const server = await startRaw(() => undefined); // never answers
  const h1 = clientFor(t, server, { timeoutMs: 300 });
  const results = await Promise.allSettled([h1.request('GET', '/1', ''), h1.request('GET', '/2', '')]);
  for (const result of results) {
    assert.equal(result.status, 'rejected');
    timeoutError((result as PromiseRejectedResult).reason);
  }
  assert.equal(h1.pending, 0);
});

test('an answer body over maxAnswerBytes fails with AnswerTooLargeError; the client goes on', async (t) => {
  const server = await startRaw((socket, data) => {
    const size = Number(/GET \/(\d+)/.exec(data.toString('latin1'))?.[1]);
    // chunked, in 100-byte chunks: the cap is met while the body arrives, not announced up front
    let wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
    for (let left = size; left > 0; left -= 100)
      wire += `${Math.min(left, 100).toString(16)}\r\n${'z'.repeat(Math.min(left, 100))}\r\n`;
    socket.write(`${wire}0\r\n\r\n`);
  });
  const h1 = clientFor(t, server, { maxAnswerBytes: 1000 });
  assert.equal((await h1.request('GET', '/1000', '')).text.length, 1000);
  await assert.rejects(h1.request('GET', '/1001', ''), (err: unknown) => {
    assert.ok(err instanceof AnswerTooLargeError, String(err));
    assert.equal(err.limit, 'body');
    return true;
  });
  assert.equal((await h1.request('GET', '/10', '')).text, 'z'.repeat(10));
  assert.equal(server.connections(), 2, 'the refused answer took its connection with it');
});

test('bytes after the last answer, in the same read or a later one, never reach the next request', async (t) => {
  let requests = 0;
  const server = await startRaw((socket) => {
    requests++;
    if (requests === 1) {
      // an answer, then the start of something no request asked for
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 2');
    } else if (requests === 2) {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb');
      // a stray byte, a moment later, between this answer and the next request
      setTimeout(() => socket.write('x'), 20);
    } else {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc');
    }
  });
  const h1 = clientFor(t, server);
  await assert.rejects(h1.request('GET', '/1', ''), parseError(/no request asked for/));
  assert.equal((await h1.request('GET', '/2', '')).text, 'b');
  await waitFor('the stray byte to close the connection', () => server.closed() === 2);
  assert.equal((await h1.request('GET', '/3', '')).text, 'c');
  assert.equal(server.connections(), 3);
});

test('an unsolicited second answer in the same read does not become the answer to the next request', async (t) => {
  const server = await startRaw((socket, data) => {
    if (data.includes('GET /1 ')) {
      // the answer to /1 and, in the same write, one nobody asked for
      socket.write(
        'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none' +
          'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nunsolicited',
      );
    } else if (data.includes('GET /2 ')) {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo');
    }
  });
  const h1 = clientFor(t, server);
  // /2 waits in the queue while /1 is on the wire: it is written the moment /1's answer is read
  const first = h1.request('GET', '/1', '');
  const second = h1.request('GET', '/2', '');
  await assert.rejects(first, parseError(/to no request/));
  assert.equal((await second).text, 'two');
});

test('a chunked answer of 100,000 one-byte chunks comes out whole', async (t) => {
  const n = 100_000;
  const server = await startRaw((socket) => {
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
    socket.write(`${'1\r\nq\r\n'.repeat(n)}0\r\n\r\n`);
  });
  const h1 = clientFor(t, server);
  assert.equal((await h1.request('GET', '/', '')).text, 'q'.repeat(n));
});
