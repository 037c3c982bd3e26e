// SlaveRegistry: name ↔ token ↔ connection, and the heartbeat order the sweep walks.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type SlaveRecord, SlaveRegistry } from '../src/master/fleet/registry.ts';

type Entry = SlaveRecord<string>;

function names(records: Iterable<Entry>): string[] {
  return [...records].map((r) => r.name);
}

/** A registry holding `name`s added in order, the i-th with heartbeat `i + 1`. */
function registryOf(...list: string[]): { registry: SlaveRegistry<string>; byName: Map<string, Entry> } {
  const registry = new SlaveRegistry<string>();
  const byName = new Map<string, Entry>();
  list.forEach((name, i) => {
    byName.set(name, registry.add(name, `token-${name}`, `connection-${name}`, 'connected', i + 1));
  });
  return { registry, byName };
}

/**
 * Counts the reads of each record's `lastHeartbeat` from now on: the sweep's cost is the heartbeats it looks
 * at, so this shows how far `expire` walked without timing anything.
 */
function countHeartbeatReads(records: Iterable<Entry>): { reads: number } {
  const counter = { reads: 0 };
  for (const record of records) {
    let value = record.lastHeartbeat;
    Object.defineProperty(record, 'lastHeartbeat', {
      get() {
        counter.reads++;
        return value;
      },
      set(next: number) {
        value = next;
      },
      configurable: true,
      enumerable: true,
    });
  }
  return counter;
}

describe('SlaveRegistry', () => {
  test('add: a record with its heartbeat and state, found by token and by name', () => {
    const registry = new SlaveRegistry<string>();
    assert.equal(registry.size, 0);
    const record = registry.add('a', 'token-a', 'connection-a', 'pending', 10);
    assert.equal(record.name, 'a');
    assert.equal(record.token, 'token-a');
    assert.equal(record.connection, 'connection-a');
    assert.equal(record.state, 'pending');
    assert.equal(record.lastHeartbeat, 10);
    assert.equal(registry.size, 1);
    assert.equal(registry.byToken('token-a'), record);
    assert.equal(registry.byName('a'), record);
    assert.equal(registry.byToken('token-b'), undefined);
    assert.equal(registry.byName('b'), undefined);
    assert.equal(registry.byToken('a'), undefined, 'a name is not a token');
  });

  test('add with a known token keeps the one record, updates its state and heartbeat, and moves it last', () => {
    const { registry, byName } = registryOf('a', 'b', 'c');
    const again = registry.add('a', 'token-a', 'connection-a', 'connected', 10);
    assert.equal(again, byName.get('a'));
    assert.equal(again.lastHeartbeat, 10);
    assert.equal(registry.size, 3);
    assert.deepEqual(names(registry.records()), ['b', 'c', 'a']);
  });

  test('touch: sets the heartbeat and moves the record behind the others', () => {
    const { registry, byName } = registryOf('a', 'b', 'c');
    registry.touch(byName.get('a')!, 4);
    assert.equal(byName.get('a')!.lastHeartbeat, 4);
    assert.deepEqual(names(registry.records()), ['b', 'c', 'a']);
    registry.touch(byName.get('c')!, 5); // the middle one
    assert.deepEqual(names(registry.records()), ['b', 'a', 'c']);
    registry.touch(byName.get('c')!, 6); // already last
    assert.deepEqual(names(registry.records()), ['b', 'a', 'c']);
    assert.equal(byName.get('c')!.lastHeartbeat, 6);
  });

  test('remove: gone from both lookups and from the order; removing twice is false', () => {
    const { registry, byName } = registryOf('a', 'b', 'c', 'd');
    assert.equal(registry.remove(byName.get('b')!), true, 'middle');
    assert.equal(registry.byToken('token-b'), undefined);
    assert.equal(registry.byName('b'), undefined);
    assert.equal(registry.remove(byName.get('b')!), false, 'twice');
    assert.deepEqual(names(registry.records()), ['a', 'c', 'd']);
    assert.equal(registry.remove(byName.get('a')!), true, 'head');
    assert.equal(registry.remove(byName.get('d')!), true, 'tail');
    assert.deepEqual(names(registry.records()), ['c']);
    assert.equal(registry.remove(byName.get('c')!), true, 'last one');
    assert.equal(registry.size, 0);
    assert.deepEqual(names(registry.records()), []);
    registry.add('e', 'token-e', 'connection-e', 'connected', 9);
    assert.deepEqual(names(registry.records()), ['e'], 'usable again once empty');
  });

  test('remove of an old record leaves a newer record of the same name in place', () => {
    const registry = new SlaveRegistry<string>();
    const old = registry.add('n', 'token-1', 'connection-1', 'connected', 1);
    const current = registry.add('n', 'token-2', 'connection-2', 'pending', 2);
    assert.equal(registry.byName('n'), current);
    assert.equal(registry.remove(old), true);
    assert.equal(registry.byName('n'), current);
    assert.equal(registry.byToken('token-2'), current);
    assert.deepEqual(names(registry.records()), ['n']);
  });

  test('expire(cutoff) removes and returns exactly the records older than cutoff, oldest first', () => {
    const { registry, byName } = registryOf('a', 'b', 'c', 'd', 'e');
    registry.touch(byName.get('b')!, 6); // heartbeats now: a 1, c 3, d 4, e 5, b 6
    const expired = registry.expire(4.5);
    assert.deepEqual(names(expired), ['a', 'c', 'd']);
    assert.deepEqual(names(registry.records()), ['e', 'b']);
    assert.equal(registry.size, 2);
    for (const name of ['a', 'c', 'd']) {
      assert.equal(registry.byName(name), undefined, name);
      assert.equal(registry.byToken(`token-${name}`), undefined, name);
    }
    assert.equal(registry.byName('e'), byName.get('e'));
  });

  test('expire: a heartbeat exactly at the cutoff is not older than it', () => {
    const { registry } = registryOf('a', 'b');
    assert.deepEqual(names(registry.expire(1)), []);
    assert.deepEqual(names(registry.expire(2)), ['a']);
    assert.deepEqual(names(registry.records()), ['b']);
  });

  test('expire: a touched record is judged by its new heartbeat, not its place when added', () => {
    const { registry, byName } = registryOf('a', 'b', 'c');
    registry.touch(byName.get('a')!, 10);
    assert.deepEqual(names(registry.expire(5)), ['b', 'c']);
    assert.deepEqual(names(registry.records()), ['a']);
  });

  test('expire on an empty registry, or with nothing old enough, returns []', () => {
    assert.deepEqual(new SlaveRegistry<string>().expire(100), []);
    const { registry } = registryOf('a');
    assert.deepEqual(registry.expire(0), []);
    assert.equal(registry.size, 1);
  });

  test('with 10,000 records and none expired, expire looks at one heartbeat and changes nothing', () => {
    const registry = new SlaveRegistry<string>();
    for (let i = 0; i < 10_000; i++)
      registry.add(`s${i}`, `token-${i}`, `connection-${i}`, 'connected', 1000 + i);
    const counter = countHeartbeatReads(registry.records());
    assert.deepEqual(registry.expire(1000), []);
    assert.equal(registry.size, 10_000);
    assert.equal(counter.reads, 1, 'only the oldest heartbeat is read');
  });

  test('with 10,000 records and 3 expired, expire looks at 4 heartbeats', () => {
    const registry = new SlaveRegistry<string>();
    for (let i = 0; i < 10_000; i++)
      registry.add(`s${i}`, `token-${i}`, `connection-${i}`, 'connected', 1000 + i);
    const counter = countHeartbeatReads(registry.records());
    assert.deepEqual(names(registry.expire(1003)), ['s0', 's1', 's2']);
    assert.equal(registry.size, 9_997);
    assert.equal(counter.reads, 4, 'the expired ones and the first fresh one');
    assert.equal(registry.byName('s3')?.token, 'token-3');
  });
});
