// The admin listener's Host check as pure functions (src/http/allowed-hosts.ts): how a Host header is read, how
// names are normalised, what is allowed by default. No sockets: test/admin-hosts.test.ts drives the listener.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  createHostCheck,
  defaultAllowedHosts,
  hostnameOf,
  kMaxHostHeaderLength,
  normaliseHostname,
} from '../src/http/allowed-hosts.ts';

describe('hostnameOf: the host name of a Host header', () => {
  const read: [string, string][] = [
    ['localhost', 'localhost'],
    ['localhost:9464', 'localhost'],
    ['LocalHost:9464', 'localhost'],
    ['localhost.', 'localhost'],
    ['localhost.:9464', 'localhost'],
    ['127.0.0.1:80', '127.0.0.1'],
    ['127.0.0.1:', '127.0.0.1'],
    ['[::1]', '::1'],
    ['[::1]:9464', '::1'],
    ['[0:0:0:0:0:0:0:1]:9464', '::1'],
    ['[::FFFF:127.0.0.1]', '::ffff:7f00:1'],
    ['Fleet.Example.:443', 'fleet.example'],
    ['under_score.example', 'under_score.example'],
  ];
  for (const [header, name] of read) {
    test(`${JSON.stringify(header)} → ${name}`, () => assert.equal(hostnameOf(header), name));
  }

  const malformed: [string, string][] = [
    ['', 'no Host at all'],
    ['::1', 'an IPv6 address without brackets'],
    ['[::1', 'an unclosed bracket'],
    ['[::1]x', 'text after the bracket'],
    ['[::1]:80:80', 'two ports'],
    ['[fe80::1%25eth0]', 'a zone id'],
    ['[evil.example]', 'a name in brackets'],
    ['evil.example]', 'a stray bracket'],
    ['localhost:http', 'a port that is not digits'],
    ['localhost:123456', 'a port of six digits'],
    ['localhost..', 'two trailing dots'],
    ['.localhost', 'an empty first label'],
    ['local host', 'a space'],
    ['localhost/x', 'a path'],
    ['user@localhost', 'user info'],
    ['a'.repeat(kMaxHostHeaderLength + 1), 'one character over the bound'],
  ];
  for (const [header, what] of malformed) {
    test(`refused: ${what}`, () => assert.equal(hostnameOf(header), undefined));
  }

  test('a header at the bound is still read', () => {
    const name = `${'a'.repeat(kMaxHostHeaderLength - 6)}:12345`;
    assert.equal(name.length, kMaxHostHeaderLength);
    assert.equal(hostnameOf(name), 'a'.repeat(kMaxHostHeaderLength - 6));
  });
});

describe('normaliseHostname: an allow-list item', () => {
  test('names and addresses, with or without brackets and trailing dot, in one form', () => {
    assert.equal(normaliseHostname('Fleet.Example.'), 'fleet.example');
    assert.equal(normaliseHostname('::1'), '::1');
    assert.equal(normaliseHostname('[::1]'), '::1');
    assert.equal(normaliseHostname('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(normaliseHostname('10.0.0.5'), '10.0.0.5');
  });

  test('anything with a port, a scheme or a path is no host name', () => {
    for (const bad of [
      'fleet.example:80',
      'http://fleet.example',
      'fleet.example/',
      '',
      '[::1]:80',
      '*.example',
    ]) {
      assert.equal(normaliseHostname(bad), undefined, bad);
    }
  });
});

describe('defaultAllowedHosts', () => {
  test('loopback by name and address, and the listening address unless a wildcard', () => {
    assert.deepEqual(defaultAllowedHosts('127.0.0.1'), ['localhost', '127.0.0.1', '::1']);
    assert.deepEqual(defaultAllowedHosts('0.0.0.0'), ['localhost', '127.0.0.1', '::1']);
    assert.deepEqual(defaultAllowedHosts('::'), ['localhost', '127.0.0.1', '::1']);
    assert.deepEqual(defaultAllowedHosts('10.0.0.5'), ['localhost', '127.0.0.1', '::1', '10.0.0.5']);
    assert.deepEqual(defaultAllowedHosts('[::1]'), ['localhost', '127.0.0.1', '::1']);
    assert.deepEqual(defaultAllowedHosts('Admin.Internal'), [
      'localhost',
      '127.0.0.1',
      '::1',
      'admin.internal',
    ]);
  });
});

describe('createHostCheck', () => {
  test('only the listed names pass, whatever the port or case', () => {
    const allowed = createHostCheck(['localhost', '::1', 'fleet.example']);
    for (const ok of ['localhost', 'LOCALHOST:1', '[::1]:9464', 'fleet.example.', 'Fleet.Example:443']) {
      assert.equal(allowed(ok), true, ok);
    }
    for (const no of [
      '',
      'evil.example',
      'localhost.evil.example',
      'fleet.example.evil',
      '127.0.0.1',
      '::1',
    ]) {
      assert.equal(allowed(no), false, no);
    }
  });

  test("'*' lets everything through, a missing or malformed Host included", () => {
    const any = createHostCheck(['localhost', '*']);
    for (const host of ['', 'evil.example', '[[[', 'a'.repeat(10_000)]) assert.equal(any(host), true);
  });
});
