// The bounds every transport enforces on a peer's answer, run once per transport (undici, the lean h1) through
// PeerClient against raw TCP peers on 127.0.0.1: body size, head and trailer size, trailer and interim counts,
// one deadline per request that trickled bytes do not extend, and which of these failures are retried.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, type TestContext, test } from 'node:test';
import { PeerClient, type PeerClientOptions } from '../src/client/peer-client.ts';
import { kMaxHeadBytes, kMaxInterimAnswers, kMaxTrailerFields } from '../src/client/transport.ts';
import { AnswerTimeoutError, AnswerTooLargeError, RequestFailedError, slaveErrorFor } from '../src/errors.ts';

type Answer = (socket: net.Socket, path: string) => void;

interface Peer {
  origin: string;
  /** Requests seen, by path. */
  seen(path: string): number;
}

/** A raw peer: every GET request (no body) is handed to `answer` with its path. Closed when the test ends. */
async function startPeer(t: TestContext, answer: Answer): Promise<Peer> {
  const seen = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = '';
    socket.on('data', (data) => {
      buffered += data.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
        const path = buffered.slice(0, end).split(' ')[1]!;
        buffered = buffered.slice(end + 4);
        seen.set(path, (seen.get(path) ?? 0) + 1);
        answer(socket, path);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    origin: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen: (path) => seen.get(path) ?? 0,
  };
}

const kEmptyEnvelope = '{"success":true,"code":0,"message":"","data":null}';

/** A success envelope of exactly `size` bytes. */
function envelope(size: number): string {
  return `{"success":true,"code":0,"message":"${'m'.repeat(size - kEmptyEnvelope.length)}","data":null}`;
}

function contentLength(body: string, head = ''): string {
  return `HTTP/1.1 200 OK\r\n${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** `body` in chunks of `size` bytes, then `trailers` (whole lines). */
function chunked(body: string, size: number, trailers = ''): string {
  let wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
  for (let at = 0; at < body.length; at += size) {
    const part = body.slice(at, at + size);
    wire += `${part.length.toString(16)}\r\n${part}\r\n`;
  }
  return `${wire}0\r\n${trailers}\r\n`;
}

/** Writes `wire` one byte every `everyMs`, from byte `from` on (the rest at once); stops when the socket closes. */
function trickle(socket: net.Socket, wire: string, everyMs: number, from = 0): void {
  socket.write(wire.slice(0, from));
  let at = from;
  const timer = setInterval(() => {
    if (at >= wire.length || socket.destroyed) clearInterval(timer);
    else socket.write(wire.slice(at, ++at));
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

const isTooLarge = (limit: string) => (err: unknown) => {
  assert.ok(err instanceof AnswerTooLargeError, `expected AnswerTooLargeError, got ${String(err)}`);
  assert.equal(err.code, 'FLEETMASTER_ANSWER_TOO_LARGE');
  assert.equal(err.limit, limit);
  return true;
};

const isTimeout = (err: unknown) => {
  assert.ok(err instanceof RequestFailedError, `expected RequestFailedError, got ${String(err)}`);
  assert.ok(err.cause instanceof AnswerTimeoutError, `expected AnswerTimeoutError, got ${String(err.cause)}`);
  return true;
};

for (const transport of ['undici', 'h1'] as const) {
  describe(`transport ${transport}`, () => {
    function clientFor(t: TestContext, peer: Peer, options: Partial<PeerClientOptions> = {}): PeerClient {
      const client = new PeerClient({
        origin: peer.origin,
        headers: { token: 't' },
        retries: 3,
        retryWaitingMs: 10,
        errorFor: slaveErrorFor,
        transport,
        ...options,
      });
      t.after(() => client.destroy());
      return client;
    }

    test('a body at maxAnswerBytes is accepted; one byte over fails with AnswerTooLargeError, sent once', async (t) => {
      const max = 2000;
      const peer = await startPeer(t, (socket, path) => {
        const [, framing, size] = path.split('/');
        const body = envelope(Number(size));
        socket.write(framing === 'length' ? contentLength(body) : chunked(body, 100));
      });
      const client = clientFor(t, peer, { maxAnswerBytes: max });
      for (const framing of ['length', 'chunked']) {
        const ok = await client.request('GET', `/${framing}/${max}`);
        assert.equal(ok.envelope.message.length, max - kEmptyEnvelope.length, framing);
        await assert.rejects(client.request('GET', `/${framing}/${max + 1}`), isTooLarge('body'), framing);
        assert.equal(peer.seen(`/${framing}/${max + 1}`), 1, `${framing}: not retried`);
      }
      // the client goes on
      assert.equal((await client.request('GET', '/length/100')).envelope.success, true);
    });

    test('the default cap is 1 MiB', async (t) => {
      const peer = await startPeer(t, (socket, path) =>
        socket.write(contentLength(envelope(Number(path.slice(1))))),
      );
      const client = clientFor(t, peer);
      assert.equal((await client.request('GET', `/${1024 * 1024}`)).envelope.success, true);
      await assert.rejects(client.request('GET', `/${1024 * 1024 + 1}`), isTooLarge('body'));
    });

    test('an answer of 50,000 one-byte chunks comes out whole', async (t) => {
      const body = envelope(50_000 + kEmptyEnvelope.length);
      const peer = await startPeer(t, (socket) => socket.write(chunked(body, 1)));
      const client = clientFor(t, peer);
      const answer = await client.request('GET', '/');
      assert.equal(answer.envelope.message, 'm'.repeat(50_000));
    });

    test('a head over the limit fails with AnswerTooLargeError, sent once', async (t) => {
      const peer = await startPeer(t, (socket) =>
        socket.write(contentLength(envelope(100), `X-Big: ${'b'.repeat(kMaxHeadBytes)}\r\n`)),
      );
      const client = clientFor(t, peer);
      await assert.rejects(client.request('GET', '/'), isTooLarge('head'));
      assert.equal(peer.seen('/'), 1);
    });

    test(`at most ${kMaxInterimAnswers} interim (1xx) answers before the final one`, async (t) => {
      const peer = await startPeer(t, (socket, path) => {
        const interim = 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n'.repeat(Number(path.slice(1)));
        socket.write(interim + contentLength(envelope(100)));
      });
      const client = clientFor(t, peer);
      assert.equal((await client.request('GET', `/${kMaxInterimAnswers}`)).statusCode, 200);
      await assert.rejects(client.request('GET', `/${kMaxInterimAnswers + 1}`), isTooLarge('interim'));
      assert.equal(peer.seen(`/${kMaxInterimAnswers + 1}`), 1);
    });

    test(`trailers: at most ${kMaxTrailerFields} fields and ${kMaxHeadBytes} bytes`, async (t) => {
      const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-T${i}: v\r\n`).join('');
      const peer = await startPeer(t, (socket, path) => {
        const trailers =
          path === '/long' ? `X-Long: ${'l'.repeat(kMaxHeadBytes)}\r\n` : fields(Number(path.slice(1)));
        socket.write(chunked(envelope(100), 30, trailers));
      });
      const client = clientFor(t, peer);
      assert.equal((await client.request('GET', `/${kMaxTrailerFields}`)).statusCode, 200);
      await assert.rejects(client.request('GET', `/${kMaxTrailerFields + 1}`), isTooLarge('trailers'));
      await assert.rejects(client.request('GET', '/long'), isTooLarge('trailers'));
    });

    test('an unsolicited 100 Continue is refused', async (t) => {
      const peer = await startPeer(t, (socket) =>
        socket.write(`HTTP/1.1 100 Continue\r\n\r\n${contentLength(envelope(100))}`),
      );
      const client = clientFor(t, peer, { retries: 0 });
      await assert.rejects(client.request('GET', '/'), RequestFailedError);
    });

    test('one deadline per request: a head trickled a byte at a time fails at timeoutMs', async (t) => {
      // 160 bytes at one per 20 ms would take over 3 s; a timer restarted by every byte would never fire
      const wire = contentLength(envelope(100));
      const peer = await startPeer(t, (socket) => trickle(socket, wire, 20));
      const client = clientFor(t, peer, { timeoutMs: 300, retries: 0 });
      await assert.rejects(client.request('GET', '/'), isTimeout);
    });

    test('one deadline per request: a body trickled a byte at a time fails at timeoutMs', async (t) => {
      const body = envelope(150);
      const wire = contentLength(body);
      const peer = await startPeer(t, (socket) => trickle(socket, wire, 20, wire.length - body.length + 1));
      const client = clientFor(t, peer, { timeoutMs: 300, retries: 0 });
      await assert.rejects(client.request('GET', '/'), isTimeout);
    });

    test('one deadline per request: interim answers one after another do not extend it', async (t) => {
      const peer = await startPeer(t, (socket) => {
        let sent = 0;
        const timer = setInterval(() => {
          if (socket.destroyed || ++sent > kMaxInterimAnswers) clearInterval(timer);
          else socket.write('HTTP/1.1 102 Processing\r\n\r\n');
        }, 100);
        socket.once('close', () => clearInterval(timer));
      });
      const client = clientFor(t, peer, { timeoutMs: 300, retries: 0 });
      await assert.rejects(client.request('GET', '/'), isTimeout);
    });

    test('the deadline counts from the call: a request queued behind a hung one fails with it', async (t) => {
      const peer = await startPeer(t, () => undefined);
      const client = clientFor(t, peer, { timeoutMs: 300, retries: 0 });
      const results = await Promise.allSettled([client.request('GET', '/1'), client.request('GET', '/2')]);
      for (const result of results) {
        assert.equal(result.status, 'rejected');
        isTimeout((result as PromiseRejectedResult).reason);
      }
    });

    test('a timed-out request is retried', async (t) => {
      let first = true;
      const peer = await startPeer(t, (socket) => {
        if (!first) socket.write(contentLength(envelope(100)));
        first = false;
      });
      const client = clientFor(t, peer, { timeoutMs: 300, retries: 1 });
      assert.equal((await client.request('GET', '/')).statusCode, 200);
      assert.equal(peer.seen('/'), 2);
    });
  });
}

test('PeerClient validates its options', () => {
  const base = {
    origin: 'http://127.0.0.1:1',
    headers: {},
    retries: 0,
    retryWaitingMs: 0,
    errorFor: slaveErrorFor,
  };
  assert.throws(
    () => new PeerClient({ ...base, maxAnswerBytes: 0 }),
    /options\.maxAnswerBytes must be an integer >= 1/,
  );
  assert.throws(() => new PeerClient({ ...base, maxAnswerBytes: 1.5 }), /options\.maxAnswerBytes/);
  assert.throws(() => new PeerClient({ ...base, timeoutMs: 0 }), /options\.timeoutMs must be a number > 0/);
  assert.throws(() => new PeerClient({ ...base, connections: 0 }), /options\.connections/);
  assert.throws(
    () => new PeerClient({ ...base, transport: 'h3' as 'h1' }),
    /options\.transport must be 'undici' or 'h1'/,
  );
});
