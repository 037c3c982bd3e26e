// Bodies an unauthenticated caller can make a slave read (issue 11, finding 3): `/connect` and `/disconnect` take
// JSON only, up to a few KiB, checked from the headers before a byte of the body is read, and the bodies being
// read at once are counted and bounded, so neither a huge body nor many unfinished ones can stall or fill a slave.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SlaveErrorCode as S, type Slave } from '../src/index.ts';
import { kControlBodyBytes, kMaxUploads } from '../src/slave/front-end.ts';
import { assertFailure, assertSuccess } from './helpers/envelope.ts';
import { startSlave, waitFor } from './helpers/fleet.ts';
import { RawConnection, raw } from './helpers/raw-http.ts';

const kToken = 'a'.repeat(64);

/** The head of a `/connect` (or another route) declaring `length` body bytes, and the first `sent` of them. */
function head(path: string, method: string, contentType: string, length: number, sent = 0): Buffer {
  const lines = [
    `${method} ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Channel: 0',
    `Token: ${kToken}`,
    `Content-Type: ${contentType}`,
    `Content-Length: ${length}`,
  ];
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), Buffer.alloc(sent, 0x80)]);
}

describe('slave: what an unauthenticated caller can make it read', () => {
  let slave: Slave;
  const open: RawConnection[] = [];

  before(async () => {
    slave = await startSlave({ heartbeatSpan: 60, requestRetries: 0 });
  });
  after(async () => {
    for (const connection of open) connection.destroy();
    await slave.close();
  });

  test('a MessagePack /connect body is refused (400, 904) from its headers, unread', async () => {
    // 16 MiB declared, 10 bytes sent: the answer cannot wait for the body (decoding 16 MiB of empty maps used to
    // block the slave's event loop for seconds)
    const connection = await RawConnection.open(slave.port);
    open.push(connection);
    const [answer] = await connection.send(
      head('/connect', 'POST', 'application/msgpack', 16 * 1024 * 1024, 10),
    );
    assert.ok(answer, 'answered before its body arrived');
    assertFailure(answer, 400, S.REQUEST_DATA_INVALID, '/connect');
    assert.match(answer.json?.message ?? '', /must be JSON/);
    assert.equal(slave.isConnected, false);
  });

  test(`a /connect body declared over ${kControlBodyBytes} bytes is refused (413, 901) unread`, async () => {
    // maxBodySize (64 MiB) is for tasks; a 60 MiB /connect used to be preallocated and read
    for (let i = 0; i < 16; i++) {
      const connection = await RawConnection.open(slave.port);
      open.push(connection);
      const [answer] = await connection.send(
        head('/connect', 'POST', 'application/json', 60 * 1024 * 1024, 10),
      );
      assert.ok(answer, 'answered before its body arrived');
      assertFailure(answer, 413, S.REQUEST_BODY_TOO_LARGE, `upload ${i}`);
    }
    // a chunked one is cut as soon as it passes the cap
    const chunk = 'x'.repeat(kControlBodyBytes + 1);
    const chunked = Buffer.from(
      `POST /connect HTTP/1.1\r\nHost: 127.0.0.1\r\nChannel: 0\r\nToken: ${kToken}\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n`,
      'latin1',
    );
    const connection = await RawConnection.open(slave.port);
    open.push(connection);
    const [answer] = await connection.send(chunked);
    assert.ok(answer, 'a chunked body over the cap is answered before it ends');
    assertFailure(answer, 413, S.REQUEST_BODY_TOO_LARGE, 'chunked');
  });

  test(`${kMaxUploads} unfinished /connect uploads at once: the next is refused (503, 907) until they end`, async () => {
    const held: RawConnection[] = [];
    for (let i = 0; i < kMaxUploads; i++) {
      const connection = await RawConnection.open(slave.port);
      held.push(connection);
      // 10 of 100 bytes: the slave reads and waits for the rest
      connection.write(head('/connect', 'POST', 'application/json', 100, 10));
    }
    // the last one has reached the slave once a request after it is answered on another socket
    const ping = await raw(slave.port, { method: 'GET', path: '/ping', headers: { Token: slave.selfToken } });
    assertSuccess(ping, 'PONG!', 'ping');
    const refused = await raw(slave.port, {
      method: 'POST',
      path: '/connect',
      headers: { Channel: '0', Token: kToken },
      body: JSON.stringify({ master: { address: 'http://127.0.0.1:1' }, data: {} }),
    });
    assertFailure(refused, 503, S.UPLOADS_BUSY, `upload ${kMaxUploads + 1}`);
    for (const connection of held) connection.destroy();
    await waitFor('the cut uploads to be forgotten', () => slave.replies.open === 0);
    const accepted = await raw(slave.port, {
      method: 'POST',
      path: '/connect',
      headers: { Channel: '0', Token: kToken },
      body: JSON.stringify({ master: { address: 'http://127.0.0.1:1' }, data: {} }),
    });
    assertSuccess(accepted, 'Connect success.', 'a /connect once the uploads ended');
  });
});
