// The task queue's contract, as a suite any implementation must pass (the in-memory queue now; a JetStream
// queue later runs the same suite), and the indexed heap under it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IndexedHeap } from '../src/master/fleet/heap.ts';
import { MemoryQueue } from '../src/master/fleet/memory-queue.ts';
import type { QueueEntry, TaskQueue } from '../src/master/fleet/queue.ts';
import { JetStreamQueue } from '../src/nats/jetstream-queue.ts';
import { resolveJetStreamOptions } from '../src/nats/options.ts';
import { fleetNames } from '../src/nats/schema.ts';
import { toLogger } from '../src/options.ts';

interface Entry extends QueueEntry {
  name: string;
}

const entry = (name: string, priority = 0, lane = ''): Entry => ({ name, priority, lane });

/** Takes every waiting entry of the lane, in order. */
function drain(queue: TaskQueue<Entry>, lane = ''): string[] {
  const out: string[] = [];
  for (let e = queue.shift(lane); e !== undefined; e = queue.shift(lane)) out.push(e.name);
  return out;
}

function queueSuite(name: string, make: (limit: number) => TaskQueue<Entry>): void {
  describe(`TaskQueue: ${name}`, () => {
    test('first in, first out within a priority', () => {
      const queue = make(100);
      for (const n of ['a', 'b', 'c']) assert.equal(queue.push(entry(n)), true);
      assert.equal(queue.size, 3);
      assert.equal(queue.peek('')?.name, 'a');
      assert.equal(queue.size, 3, 'peek leaves it in place');
      assert.deepEqual(drain(queue), ['a', 'b', 'c']);
      assert.equal(queue.size, 0);
      assert.equal(queue.shift(''), undefined);
      assert.equal(queue.peek(''), undefined);
    });

    test('higher priority first, FIFO within each, negative priorities last', () => {
      const queue = make(100);
      queue.push(entry('low1', -1));
      queue.push(entry('mid1', 0));
      queue.push(entry('high1', 5));
      queue.push(entry('mid2', 0));
      queue.push(entry('high2', 5));
      queue.push(entry('low2', -1));
      queue.push(entry('top', 9.5));
      assert.deepEqual(drain(queue), ['top', 'high1', 'high2', 'mid1', 'mid2', 'low1', 'low2']);
    });

    test('unshift puts an entry back ahead of its priority, never ahead of a higher one', () => {
      const queue = make(100);
      const back = entry('back', 1);
      queue.push(entry('a', 1));
      queue.push(entry('urgent', 2));
      queue.push(entry('b', 1));
      queue.unshift(back);
      assert.deepEqual(drain(queue), ['urgent', 'back', 'a', 'b']);
      // the latest put-back goes first among put-backs too
      queue.push(entry('c', 0));
      queue.unshift(entry('first-back', 0));
      queue.unshift(entry('second-back', 0));
      assert.deepEqual(drain(queue), ['second-back', 'first-back', 'c']);
    });

    test('push refuses past the limit and adds nothing; unshift is never refused', () => {
      const queue = make(2);
      assert.equal(queue.push(entry('a')), true);
      assert.equal(queue.push(entry('b')), true);
      assert.equal(queue.push(entry('c')), false);
      assert.equal(queue.size, 2);
      queue.unshift(entry('back'));
      assert.equal(queue.size, 3, 'a re-dispatch may exceed the limit');
      assert.deepEqual(drain(queue), ['back', 'a', 'b']);
      assert.equal(queue.push(entry('d')), true, 'room again once taken');
    });

    test('remove takes a waiting entry out from anywhere; twice, or once taken, is false', () => {
      const queue = make(100);
      const entries = Array.from({ length: 50 }, (_, i) => entry(`e${i}`, i % 3));
      for (const e of entries) queue.push(e);
      const gone = new Set([0, 7, 25, 26, 49].map((i) => entries[i]!));
      for (const e of gone) assert.equal(queue.remove(e), true, e.name);
      for (const e of gone) assert.equal(queue.remove(e), false, `${e.name} twice`);
      assert.equal(queue.size, 45);
      const expected = entries
        .filter((e) => !gone.has(e))
        .sort((a, b) => b.priority - a.priority || entries.indexOf(a) - entries.indexOf(b))
        .map((e) => e.name);
      const first = queue.shift('')!;
      assert.equal(queue.remove(first), false, 'a taken entry is not waiting');
      assert.deepEqual([first.name, ...drain(queue)], expected);
    });

    test('lanes are separate queues under one limit', () => {
      const queue = make(3);
      queue.push(entry('plain'));
      queue.push(entry('gpu1', 0, 'gpu'));
      queue.push(entry('gpu2', 9, 'gpu'));
      assert.equal(queue.push(entry('x', 0, 'x')), false, 'the limit counts every lane');
      assert.equal(queue.peek('gpu')?.name, 'gpu2');
      assert.equal(queue.peek('nope'), undefined);
      assert.deepEqual(drain(queue, 'gpu'), ['gpu2', 'gpu1']);
      assert.deepEqual(drain(queue, ''), ['plain']);
    });

    test('ack of a taken entry changes nothing waiting', () => {
      const queue = make(10);
      const a = entry('a');
      queue.push(a);
      queue.push(entry('b'));
      queue.ack(queue.shift('')!);
      assert.equal(queue.size, 1);
      assert.deepEqual(drain(queue), ['b']);
    });
  });
}

queueSuite('MemoryQueue', (limit) => new MemoryQueue<Entry>({ limit }));

describe('IndexedHeap', () => {
  const byValue = (a: number, b: number) => a - b;

  test('pops in order; remove and update from the middle keep it ordered', () => {
    const heap = new IndexedHeap<{ key: number }>((a, b) => a.key - b.key);
    let seed = 7;
    const random = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed % 1000;
    };
    const nodes = Array.from({ length: 500 }, () => heap.push({ key: random() }));
    for (let i = 0; i < 100; i++) assert.equal(heap.remove(nodes[i * 5]!), true);
    assert.equal(heap.remove(nodes[0]!), false, 'twice');
    for (let i = 1; i < 500; i += 5) {
      nodes[i]!.value.key = random();
      heap.update(nodes[i]!);
    }
    assert.equal(heap.size, 400);
    const out: number[] = [];
    for (let v = heap.pop(); v !== undefined; v = heap.pop()) out.push(v.key);
    assert.deepEqual(
      out,
      [...out].sort((a, b) => a - b),
    );
    assert.equal(out.length, 400);
  });

  test('peekExcept gives the second in order when the first is excluded', () => {
    const heap = new IndexedHeap<number>(byValue);
    assert.equal(heap.peekExcept(1), undefined);
    heap.push(1);
    assert.equal(heap.peekExcept(1), undefined, 'only the excluded one');
    assert.equal(heap.peekExcept(2), 1);
    for (const v of [9, 4, 7, 3, 8]) heap.push(v);
    assert.equal(heap.peekExcept(1), 3);
    assert.equal(heap.peekExcept(5), 1);
  });

  test('a handle re-inserted after removal takes its place again', () => {
    const heap = new IndexedHeap<number>(byValue);
    const node = heap.push(5);
    heap.push(3);
    heap.remove(node);
    assert.equal(heap.has(node), false);
    heap.insert(node);
    assert.equal(heap.has(node), true);
    assert.deepEqual([heap.pop(), heap.pop(), heap.pop()], [3, 5, undefined]);
  });
});

// The JetStream queue's own side (entries pushed by this master): the same contract, no server needed; what it
// pulls from JetStream is tested against a real nats-server in test/nats-queue.test.ts.
queueSuite(
  'JetStreamQueue',
  (limit) =>
    new JetStreamQueue<Entry>(
      { limit, freeSlots: () => 0, wake: () => undefined },
      {
        admit: () => 'unused',
        keyOf: (e) => e,
        outcome: () => 'running',
        laneKey: (tags) => tags.join('\n'),
      },
      {
        names: fleetNames('fleetmaster'),
        options: resolveJetStreamOptions('nats://127.0.0.1:4222'),
        masterId: 'm',
        logger: toLogger(undefined),
      },
    ),
);
