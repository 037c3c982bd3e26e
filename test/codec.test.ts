// The wire codec's msgpackr settings (src/protocol/codec.ts), against bodies a peer can send: pure, no sockets.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Packr } from 'msgpackr';
import { decodeBody, encodeBody, kMsgpack } from '../src/protocol/codec.ts';

const decode = (bytes: Uint8Array) => decodeBody(bytes, kMsgpack);

describe('MessagePack from a peer', () => {
  test('int64 and uint64 read as numbers: the same values JSON.parse gives for the same integers', () => {
    // {"a": int64 5000000000, "b": uint64 2^64 - 1, "c": int64 -(2^53 + 2)}, as msgpack-python writes big ints
    const body = Buffer.concat([
      Buffer.from([0x83, 0xa1, 0x61, 0xd3]),
      Buffer.from('000000012a05f200', 'hex'),
      Buffer.from([0xa1, 0x62, 0xcf]),
      Buffer.from('ffffffffffffffff', 'hex'),
      Buffer.from([0xa1, 0x63, 0xd3]),
      Buffer.from('ffdffffffffffffe', 'hex'),
    ]);
    const decoded = decode(body);
    assert.deepEqual(decoded, {
      ok: true,
      value: JSON.parse('{"a": 5000000000, "b": 18446744073709551615, "c": -9007199254740994}'),
    });
    const value = (decoded as { value: Record<string, unknown> }).value;
    for (const key of ['a', 'b', 'c']) assert.equal(typeof value[key], 'number', key);
    assert.doesNotThrow(() => JSON.stringify(value));
  });

  test("msgpackr's structured-clone extension (cycles, shared references) is refused as invalid", () => {
    const peer = new Packr({ useRecords: false, structuredClone: true });
    // an array holding itself: msgpackr would rebuild that cycle (a cycle through a map fails in msgpackr anyway)
    const loop: unknown[] = [1];
    loop.push(loop);
    const shared = { x: 1 };
    for (const [what, value] of [
      ['a cycle', { loop }],
      ['a shared reference', { one: shared, two: shared }],
    ] as const) {
      assert.deepEqual(
        decode(peer.pack(value)),
        { ok: false, message: 'Body is not valid MessagePack.' },
        what,
      );
    }
    // the same data without references is plain MessagePack and reads
    assert.deepEqual(decode(peer.pack({ one: { x: 1 }, two: { x: 1 } })), {
      ok: true,
      value: { one: { x: 1 }, two: { x: 1 } },
    });
  });

  test("msgpackr's other extensions still read whatever our options (what JSON writers must expect)", () => {
    const peer = new Packr({ useRecords: false, moreTypes: true });
    const decoded = decode(peer.pack({ weights: new Float32Array([0.5, 1.5]), huge: 2n ** 70n }));
    assert.equal(decoded.ok, true);
    const value = (decoded as { value: { weights: unknown; huge: unknown } }).value;
    assert.ok(value.weights instanceof Float32Array);
    assert.deepEqual([...value.weights], [0.5, 1.5]);
    assert.equal(value.huge, 2n ** 70n, 'a BigInt past 64 bits comes as its extension: still a BigInt');
  });
});

describe('MessagePack we write', () => {
  test('typed arrays keep their type; a BigInt within 64 bits comes back a number', () => {
    const body = encodeBody({ weights: new Float64Array([0.25]), count: 5_000_000_000n }, kMsgpack) as Buffer;
    const decoded = decode(body);
    assert.equal(decoded.ok, true);
    const value = (decoded as { value: { weights: unknown; count: unknown } }).value;
    assert.ok(value.weights instanceof Float64Array);
    assert.equal(value.count, 5_000_000_000);
  });
});
