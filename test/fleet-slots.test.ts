// The free-slot index and the placement policy: pure, no sockets.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { leastLoaded, type PlacementPolicy } from '../src/master/fleet/placement.ts';
import { kMaxIdleLanes, laneKey, SlotIndex } from '../src/master/fleet/slots.ts';

describe('leastLoaded', () => {
  const load = (inFlight: number, idleSince: number) => ({
    name: 'x',
    capacity: 4,
    inFlight,
    idleSince,
    tags: new Set<string>(),
  });
  test('fewest tasks in flight first, then the one idle the longest', () => {
    assert.ok(leastLoaded(load(0, 50), load(1, 10)) < 0, 'leastLoaded(load(0, 50), load(1, 10)) < 0');
    assert.ok(leastLoaded(load(2, 10), load(1, 50)) > 0, 'leastLoaded(load(2, 10), load(1, 50)) > 0');
    assert.ok(leastLoaded(load(1, 10), load(1, 50)) < 0, 'idle since 10 is idle longer');
    assert.equal(leastLoaded(load(1, 10), load(1, 10)), 0);
  });
});

describe('SlotIndex', () => {
  test('a pick is the least loaded slave with a free slot; a full slave is never picked', () => {
    const index = new SlotIndex<string>(leastLoaded);
    const a = index.add('a', 'a', 1, [], 3);
    const b = index.add('b', 'b', 1, [], 1);
    const c = index.add('c', 'c', 2, [], 2);
    const all = index.lane([]);
    assert.equal(index.capacity, 4);
    assert.equal(index.freeSlots, 4);
    assert.equal(index.pick(all)?.name, 'b', 'all idle: the one idle the longest');
    index.setInFlight(b, 1, 10);
    assert.equal(index.pick(all)?.name, 'c');
    index.setInFlight(c, 1, 11);
    assert.equal(index.pick(all)?.name, 'a', 'c has one in flight, a none');
    index.setInFlight(a, 1, 12);
    assert.equal(index.pick(all)?.name, 'c', 'only c has a slot left');
    index.setInFlight(c, 2, 13);
    assert.equal(index.pick(all), undefined, 'every slot taken');
    assert.equal(index.freeSlots, 0);
    index.setInFlight(a, 0, 20);
    index.setInFlight(b, 0, 21);
    assert.equal(index.pick(all)?.name, 'a', 'a ended its task first');
    assert.equal(index.freeSlots, 2);
  });

  test('a slave over its capacity (tasks started by hand) has no free slot until it is back under', () => {
    const index = new SlotIndex<string>(leastLoaded);
    const a = index.add('a', 'a', 1, [], 0);
    index.setInFlight(a, 3, 1);
    assert.equal(index.freeSlots, 0);
    index.setInFlight(a, 1, 2);
    assert.equal(index.pick(index.lane([])), undefined);
    index.setInFlight(a, 0, 3);
    assert.equal(index.pick(index.lane([]))?.name, 'a');
    assert.equal(index.freeSlots, 1);
  });

  test('pick(avoid): the next slave when the first is the one to avoid, unless it is the only one', () => {
    const index = new SlotIndex<string>(leastLoaded);
    index.add('a', 'a', 1, [], 1);
    index.add('b', 'b', 1, [], 2);
    index.add('c', 'c', 1, [], 3);
    const all = index.lane([]);
    assert.equal(index.pick(all, 'a')?.name, 'b');
    assert.equal(index.pick(all, 'b')?.name, 'a');
    const alone = new SlotIndex<string>(leastLoaded);
    alone.add('z', 'z', 1, [], 1);
    assert.equal(alone.pick(alone.lane([]), 'z')?.name, 'z');
  });

  test('tags: a lane holds only the slaves carrying all of its tags, including slaves added later', () => {
    const index = new SlotIndex<string>(leastLoaded);
    index.add('cpu', 'cpu', 1, [], 0);
    index.add('gpu', 'gpu', 1, ['gpu'], 1);
    index.add('gpu-big', 'gpu-big', 2, ['gpu', 'big'], 2);
    const gpu = index.lane(['gpu']);
    const gpuBig = index.lane(['big', 'gpu', 'big']);
    assert.equal(gpuBig.key, laneKey(['gpu', 'big']));
    assert.equal(index.lane(['gpu', 'big']), gpuBig, 'the same lane for the same set in any order');
    assert.deepEqual([...gpu.free.values()].map((s) => s.name).sort(), ['gpu', 'gpu-big']);
    assert.deepEqual(
      [...gpuBig.free.values()].map((s) => s.name),
      ['gpu-big'],
    );
    assert.equal(gpu.freeSlots, 3);
    assert.equal(index.lane(['tpu']).free.size, 0, 'nobody carries it');
    const late = index.add('gpu-late', 'gpu-late', 1, ['big', 'gpu', 'tpu'], 3);
    assert.equal(gpuBig.free.size, 2);
    assert.equal(index.lane(['tpu']).freeSlots, 1);
    assert.deepEqual([...index.lanesOf(late)].map((l) => l.key).sort(), ['', 'big\ngpu', 'gpu', 'tpu']);
    index.setInFlight(late, 1, 4);
    assert.equal(index.lane(['tpu']).freeSlots, 0);
    assert.equal(index.pick(index.lane(['tpu'])), undefined);
    index.remove(late);
    assert.equal(gpuBig.free.size, 1);
    assert.equal(index.size, 3);
  });

  test('remove: the slave leaves every lane and the totals', () => {
    const index = new SlotIndex<string>(leastLoaded);
    const a = index.add('a', 'a', 3, ['t'], 0);
    index.add('b', 'b', 1, [], 0);
    const t = index.lane(['t']);
    index.setInFlight(a, 1, 1);
    index.remove(a);
    index.remove(a);
    assert.equal(index.capacity, 1);
    assert.equal(index.freeSlots, 1);
    assert.equal(t.freeSlots, 0);
    assert.equal(index.pick(t), undefined);
    index.setInFlight(a, 0, 2); // a late end on a removed slave changes nothing
    assert.equal(index.freeSlots, 1);
  });

  test('a replaced policy orders the picks', () => {
    const byName: PlacementPolicy = (a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0);
    const index = new SlotIndex<string>(byName);
    for (const n of ['m', 'z', 'a']) index.add(n, n, 1, [], 0);
    assert.equal(index.pick(index.lane([]))?.name, 'z');
  });

  test(`idle lanes beyond ${kMaxIdleLanes} are dropped; lanes with waiting tasks and '' stay`, () => {
    const index = new SlotIndex<string>(leastLoaded);
    const tags = Array.from({ length: kMaxIdleLanes + 10 }, (_, i) => `t${i}`);
    index.add('all-tags', 'all-tags', 1, tags, 0);
    const busy = index.lane(['t0']);
    busy.waiting = 1;
    for (const tag of tags) index.lane([tag]);
    assert.ok(index.laneCount <= kMaxIdleLanes + 2, `lanes: ${index.laneCount}`);
    assert.equal(index.laneOf('t0'), busy, 'a lane with a waiting task is kept');
    assert.ok(index.laneOf(''), 'index.laneOf()');
    // a dropped lane is rebuilt on demand with its slaves
    assert.equal(index.lane(['t1']).free.size, 1);
  });

  test('10,000 slaves: a pick and a task start/end compare O(log n) slaves, never the fleet', () => {
    let compares = 0;
    const counting: PlacementPolicy = (a, b) => {
      compares++;
      return leastLoaded(a, b);
    };
    const index = new SlotIndex<number>(counting);
    const slots = Array.from({ length: 10_000 }, (_, i) => index.add(i, `s${i}`, 4, [], i));
    const all = index.lane([]);
    const log2 = Math.ceil(Math.log2(10_000));
    let worst = 0;
    for (let round = 0; round < 2000; round++) {
      compares = 0;
      const slot = index.pick(all)!;
      index.setInFlight(slot, slot.inFlight + 1, round);
      worst = Math.max(worst, compares);
      compares = 0;
      const done = slots[(round * 7919) % slots.length]!;
      if (done.inFlight > 0) index.setInFlight(done, done.inFlight - 1, 20_000 + round);
      worst = Math.max(worst, compares);
    }
    // a sift down compares two children per level, a sift up one parent per level
    assert.ok(worst <= 3 * log2 + 2, `at most ${worst} comparisons for one change (log2 n = ${log2})`);
    assert.ok(worst > 0, 'worst > 0');
  });
});
