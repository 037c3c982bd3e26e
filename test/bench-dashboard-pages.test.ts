// bench/fleet/dashboard-pages.ts against a real master's dashboard (the engine is this run's): pages get their
// snapshot, then count every update; a stream the master ends counts as dropped; a page that is refused or gets no
// snapshot fails the opening with its reason, and the opening closes what it opened.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { DashboardPages } from '../bench/fleet/dashboard-pages.ts';
import type { Master } from '../src/index.ts';
import { startMaster, waitFor } from './helpers/fleet.ts';

describe('DashboardPages', () => {
  let master: Master;

  before(async () => {
    master = await startMaster({ adminPort: 0 });
  });

  after(async () => {
    await master.destroy();
  });

  test('each page gets its snapshot, then every update is counted; a stream the master ends is dropped', async () => {
    const pages = await DashboardPages.open(master.adminPort, 2, 10_000);
    assert.equal(pages.count, 2);
    let updates = 0;
    let bytes = 0;
    await waitFor('one update on each page', () => {
      const window = pages.take();
      assert.ok(window.snapshotBytes > 0, 'every page had its snapshot before open() resolved');
      assert.equal(window.pages, 2);
      updates += window.updates;
      bytes += window.bytes;
      return updates >= 2;
    });
    assert.ok(bytes >= updates * 100, `${bytes} bytes for ${updates} updates`);
    assert.equal(pages.take().dropped, 0);
    // a closing master ends every stream: the pages count them
    const closing = await startMaster({ adminPort: 0 });
    const doomed = await DashboardPages.open(closing.adminPort, 3, 10_000);
    await closing.close();
    await waitFor('three streams ended', () => doomed.take().dropped === 3);
    // counted since they opened: a drop in one window is not lost at the next
    assert.equal(doomed.take().dropped, 3);
    pages.close();
    doomed.close();
  });

  test('a page answered anything but 200, or with no snapshot in time, fails the opening with its reason', async () => {
    const sockets = new Set<Socket>();
    const server = http.createServer((_req, res) => {
      if (refuse) {
        res.writeHead(503).end('Too many dashboard pages open');
        return;
      }
      // an event stream that never sends its snapshot
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('retry: 3000\n\n');
    });
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    let refuse = true;
    await assert.rejects(
      DashboardPages.open(port, 2, 10_000),
      /dashboard page \d: GET \/dashboard\/events answered 503/,
    );
    refuse = false;
    await assert.rejects(
      DashboardPages.open(port, 2, 200),
      /dashboard pages: no snapshot for every page within 200 ms/,
    );
    // the failed opening closed its pages: the server is left with no connection
    await waitFor('the pages closed', () => sockets.size === 0);
    await new Promise((resolve) => server.close(resolve));
  });
});
