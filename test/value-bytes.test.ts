// How a handler's value crosses from a pool thread (src/master/results/value-bytes.ts): pure, no threads.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { valueFromBytes, valueToBytes } from '../src/master/results/value-bytes.ts';

const roundTrip = (value: unknown) => valueFromBytes(valueToBytes(value));

test('plain data, Maps, Sets, Dates, BigInts, Errors and cycles come back as they went', () => {
  const value: Record<string, unknown> = {
    n: 1.5,
    s: 'text',
    list: [1, null, true],
    map: new Map([['k', 1]]),
    set: new Set([2]),
    date: new Date(0),
    big: 2n ** 70n,
    error: new RangeError('out of range'),
  };
  value.self = value;
  const back = roundTrip(value) as typeof value;
  assert.deepEqual(
    { ...back, self: undefined, error: undefined },
    { ...value, self: undefined, error: undefined },
  );
  assert.equal(back.self, back, 'the cycle is rebuilt');
  assert.ok(back.error instanceof RangeError);
  assert.equal((back.error as Error).message, 'out of range');
});

test('each binary view comes back owning exactly its bytes, with its type (a Buffer stays a Buffer)', () => {
  // views into one larger buffer, as msgpackr decodes binary fields (views of the whole request body)
  const body = Buffer.alloc(4096, 7);
  const samples = new Float64Array(body.buffer, body.byteOffset + 8, 4);
  samples.set([0.5, 1.5, 2.5, 3.5]);
  const raw = body.subarray(100, 110);
  const bytes = valueToBytes({ samples, raw, view: new DataView(body.buffer, 0, 4) });
  assert.ok(bytes.byteLength < 1024, 'only the views are written, not the buffer under them');
  assert.equal(bytes.buffer.byteLength, bytes.byteLength, 'the bytes own their buffer (safe to transfer)');
  const back = valueFromBytes(bytes) as { samples: Float64Array; raw: Buffer; view: DataView };
  assert.ok(back.samples instanceof Float64Array);
  assert.deepEqual([...back.samples], [0.5, 1.5, 2.5, 3.5]);
  assert.equal(back.samples.buffer.byteLength, 32, 'its own buffer, not a view into the bytes read');
  assert.ok(Buffer.isBuffer(back.raw));
  assert.deepEqual([...back.raw], Array(10).fill(7));
  assert.equal(back.raw.buffer.byteLength, 10);
  assert.ok(back.view instanceof DataView);
  assert.equal(back.view.byteLength, 4);
  assert.notEqual(back.samples.buffer, back.raw.buffer);
});

test('a subclass of a typed array travels as its base type', () => {
  class Weights extends Float32Array {}
  const back = roundTrip(new Weights([1, 2]));
  assert.equal(Object.getPrototypeOf(back), Float32Array.prototype);
  assert.deepEqual([...(back as Float32Array)], [1, 2]);
});

test('what cannot be written throws (functions, symbols, promises, shared memory), for the caller to blame', () => {
  for (const value of [{ f: () => 1 }, Symbol('s'), { p: Promise.resolve() }, new SharedArrayBuffer(8)]) {
    assert.throws(() => valueToBytes(value), /could not be cloned/);
  }
});

test('nesting deeper than the stack can write throws a RangeError instead of crashing', () => {
  let deep: unknown[] = [];
  for (let i = 0; i < 200_000; i++) deep = [deep];
  assert.throws(() => valueToBytes(deep), RangeError);
});
