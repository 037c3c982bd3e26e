// A Server-Sent Events answer on the HTTP engine of this run (npm test runs the file once per engine): streamed
// writes, the engine's onWritable after push-back, and the bounds that keep a slow or vanished reader from
// holding memory on the server. Real sockets on 127.0.0.1.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { defaultEngine, type HttpApp } from '../src/http/engine.ts';
import {
  EventStream,
  type EventStreamEnd,
  type EventStreamLimits,
  sseEvent,
} from '../src/http/event-stream.ts';
import { selectEngine } from '../src/http/select-engine.ts';
import { kAnswers } from '../src/master/answers.ts';
import { kSilentLogger } from '../src/options.ts';
import { waitFor } from './helpers/fleet.ts';

const engine = selectEngine(defaultEngine(), kSilentLogger);

interface Served {
  port: number;
  streams: EventStream[];
  ends: EventStreamEnd[];
}

let app: HttpApp | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function serve(limits: Partial<EventStreamLimits> = {}): Promise<Served> {
  const served: Served = { port: 0, streams: [], ends: [] };
  app = engine.createApp({ malformed: kAnswers.malformed });
  app.get('/events', (res) => {
    const stream = new EventStream(
      res,
      { maxQueuedBytes: 1 << 20, maxBlockedMs: 60_000, retryMs: 1000, ...limits },
      (why) => served.ends.push(why),
    );
    served.streams.push(stream);
  });
  served.port = await app.listen('127.0.0.1', 0, 'test');
  return served;
}

/** A client that sends the request and never reads a byte of the answer. */
async function neverReading(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.pause();
  socket.write('GET /events HTTP/1.1\r\nhost: x\r\n\r\n');
  return socket;
}

const frame = (i: number, size: number) => sseEvent('n', `${i}:${'x'.repeat(size)}`);

describe(`EventStream on the ${engine.name} engine`, () => {
  test('a reader that falls behind, then reads, gets every event in order (queued meanwhile, flushed on writable)', async () => {
    const served = await serve({ maxQueuedBytes: 64 << 20 });
    const received: string[] = [];
    let head: http.IncomingMessage | undefined;
    let text = '';
    const req = http.get({ host: '127.0.0.1', port: served.port, path: '/events' }, (res) => {
      head = res;
      res.setEncoding('utf8');
      res.pause();
      res.on('data', (chunk: string) => {
        text += chunk;
        let cut = text.indexOf('\n\n');
        while (cut >= 0) {
          const block = text.slice(0, cut);
          text = text.slice(cut + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (data) received.push(data.slice(6, data.indexOf(':', 6)));
          cut = text.indexOf('\n\n');
        }
      });
    });
    req.on('error', () => undefined);
    await waitFor('the stream', () => served.streams.length === 1 && head !== undefined);
    assert.equal(head!.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(head!.headers['cache-control'], 'no-store');
    const stream = served.streams[0]!;
    // 400 events of 32 KiB while the reader is paused: more than the sockets hold, so some wait in the queue
    const count = 400;
    let maxQueued = 0;
    for (let i = 0; i < count; i++) {
      assert.equal(stream.send(frame(i, 32 * 1024)), true);
      maxQueued = Math.max(maxQueued, stream.queuedBytes);
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    assert.ok(maxQueued > 0, 'the socket pushed back and events waited in the queue');
    head!.resume();
    await waitFor('every event', () => received.length === count, 20_000);
    assert.deepEqual(
      received,
      Array.from({ length: count }, (_, i) => String(i)),
    );
    assert.equal(stream.queuedBytes, 0);
    assert.deepEqual(served.ends, []);
    req.destroy();
  });

  test('a client that connects and never reads is dropped once its queue passes the bound', async () => {
    const bound = 512 * 1024;
    const served = await serve({ maxQueuedBytes: bound });
    const socket = await neverReading(served.port);
    await waitFor('the stream', () => served.streams.length === 1);
    const stream = served.streams[0]!;
    let maxQueued = 0;
    let sent = 0;
    // one 64 KiB event a millisecond until the stream refuses (bounded: 4,000 events at most)
    while (sent < 4000 && stream.send(frame(sent, 64 * 1024))) {
      sent++;
      maxQueued = Math.max(maxQueued, stream.queuedBytes);
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.ok(sent < 4000, 'the stream was dropped');
    assert.deepEqual(served.ends, ['overflow']);
    assert.equal(stream.isOpen, false);
    assert.equal(stream.queuedBytes, 0, 'the queue is released');
    assert.ok(maxQueued <= bound, `queue peaked at ${maxQueued} bytes (bound ${bound})`);
    // what reached the engine is what the sockets held plus one event: far below what was offered
    assert.ok(
      stream.written < sent * 64 * 1024,
      `${stream.written} handed to the engine of ${sent * 65_536}`,
    );
    // the server closed the connection: a client reading now gets what the sockets held, then the end
    const closed = once(socket, 'close');
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.resume();
    await closed;
    assert.equal(stream.send(frame(0, 1)), false, 'a dropped stream takes nothing more');
  });

  test('a reader stalled past maxBlockedMs is dropped, even with room left in its queue', async () => {
    const served = await serve({ maxQueuedBytes: 256 << 20, maxBlockedMs: 200 });
    const socket = await neverReading(served.port);
    await waitFor('the stream', () => served.streams.length === 1);
    const stream = served.streams[0]!;
    let sent = 0;
    while (sent < 10_000 && stream.send(frame(sent, 64 * 1024))) {
      sent++;
      await new Promise((r) => setTimeout(r, sent < 300 ? 1 : 20));
    }
    assert.deepEqual(served.ends, ['stalled']);
    assert.equal(stream.isOpen, false);
    socket.destroy();
  });

  test('a client that goes away ends the stream as aborted', async () => {
    const served = await serve();
    const socket = net.connect(served.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /events HTTP/1.1\r\nhost: x\r\n\r\n');
    await once(socket, 'data');
    socket.destroy();
    await waitFor('the abort', () => served.ends.length === 1);
    assert.deepEqual(served.ends, ['aborted']);
    assert.equal(served.streams[0]!.send(frame(1, 10)), false);
  });

  test('close() ends the answer: the reader sees the end of the stream and the retry hint', async () => {
    const served = await serve({ retryMs: 1234 });
    let body = '';
    const ended = new Promise<void>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: served.port, path: '/events' }, (res) => {
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', resolve);
        })
        .on('error', reject);
    });
    await waitFor('the stream', () => served.streams.length === 1);
    served.streams[0]!.send(sseEvent('hello', 'world'));
    await waitFor('the first event', () => body.includes('world'));
    served.streams[0]!.close();
    await ended;
    assert.equal(body, 'retry: 1234\n\nevent: hello\ndata: world\n\n');
    assert.deepEqual(served.ends, ['closed']);
  });
});
