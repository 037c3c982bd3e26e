// The master's own address as slaves should see it: pure helpers, and the route lookup a master listening on a
// wildcard address makes for each slave (a connected UDP socket: no packet is sent).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatOrigin, isWildcard, localAddressTowards } from '../src/http/address.ts';

describe('address', () => {
  test('isWildcard: the addresses that listen everywhere, and nothing else', () => {
    for (const host of ['0.0.0.0', '::', '']) assert.equal(isWildcard(host), true, host);
    for (const host of ['127.0.0.1', '::1', '10.0.0.5', 'localhost'])
      assert.equal(isWildcard(host), false, host);
  });

  test('formatOrigin brackets IPv6 hosts only', () => {
    assert.equal(formatOrigin('http', '10.0.0.5', 7235), 'http://10.0.0.5:7235');
    assert.equal(formatOrigin('https', '::1', 7235), 'https://[::1]:7235');
    assert.equal(formatOrigin('http', 'master.local', 80), 'http://master.local:80');
  });

  test('localAddressTowards: the local address of the route to a slave (loopback for a loopback slave)', async () => {
    assert.equal(await localAddressTowards('127.0.0.1', 7236), '127.0.0.1');
  });

  test('localAddressTowards rejects where no route can be asked for (a port out of range)', async () => {
    await assert.rejects(localAddressTowards('127.0.0.1', 70_000), RangeError);
  });
});
