// The JetStream queue against a real nats-server: it pulls no more than the free slots, keeps the scheduler's
// order among what it pulled, acknowledges only after the result is stored, keeps long tasks with in-progress
// acks, gives tasks back when it closes, suppresses a duplicate after a master died, and terminates what is
// not a task.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { QueueContext, QueueEntry } from '../src/master/fleet/queue.ts';
import { connectNats, type NatsLink } from '../src/nats/connect.ts';
import { parseAdvisory } from '../src/nats/dead-letters.ts';
import { JetStreamQueue, type TaskOutcome } from '../src/nats/jetstream-queue.ts';
import { resolveJetStreamOptions } from '../src/nats/options.ts';
import {
  encodeTask,
  type FleetNames,
  fleetNames,
  kSchemaVersion,
  laneToken,
  parseResultMessage,
  type ResultMessage,
} from '../src/nats/schema.ts';
import { ensureStreams } from '../src/nats/setup.ts';
import { toLogger } from '../src/options.ts';
import { waitFor } from './helpers/fleet.ts';
import { type NatsServer, startNatsServer } from './helpers/nats-server.ts';

interface Entry extends QueueEntry {
  id: string;
  delivery: number;
  /** Set when the stand-in scheduler says it ended. */
  ended?: TaskOutcome | 'give-back';
}

let server: NatsServer;
const links: NatsLink[] = [];
/** Every queue made, closed after the tests (a queue left open would keep pulling). */
const queues: JetStreamQueue<Entry, Entry>[] = [];
let fleetSeq = 0;

before(async () => {
  server = await startNatsServer();
});
after(async () => {
  for (const queue of queues) await queue.close();
  for (const link of links) if (!link.nc.isClosed()) await link.nc.close();
  await server.destroy();
});

async function link(): Promise<NatsLink> {
  const l = await connectNats({
    servers: server.url,
    name: 'test',
    timeoutMs: 5000,
    logger: toLogger(undefined),
  });
  links.push(l);
  return l;
}

/** A fresh fleet (its own streams) per test, so tests never see each other's tasks. */
async function fleet(ackWait = 30) {
  const names = fleetNames(`q${++fleetSeq}`);
  const options = resolveJetStreamOptions({ servers: server.url, fleet: names.fleet, ackWait });
  const publisher = await link();
  await ensureStreams(publisher, names, options);
  return { names, options, publisher };
}

/** A queue with a scheduler stand-in: `capacity` slots, minus the entries taken and not acknowledged. */
async function queueOf(
  names: FleetNames,
  options: ReturnType<typeof resolveJetStreamOptions>,
  capacity: number,
  outcome: (e: Entry) => TaskOutcome | 'give-back' = () => completed,
  logged: string[] = [],
) {
  const state = { capacity, taken: 0, wakes: 0 };
  const context: QueueContext = {
    limit: 100,
    freeSlots: () => state.capacity - state.taken,
    wake: () => {
      state.wakes++;
    },
  };
  const logger = toLogger({ warn: (fields: object) => logged.push(JSON.stringify(fields)) });
  // like the scheduler's submit: the entry is pushed (no slot is ever free at once in this stand-in)
  const queue: JetStreamQueue<Entry, Entry> = new JetStreamQueue<Entry, Entry>(
    context,
    {
      admit: (task, delivery) => {
        const entry: Entry = { id: task.id, priority: task.priority, lane: '', delivery };
        assert.equal(queue.push(entry), true);
        return entry;
      },
      keyOf: (e) => e,
      outcome: (e) => e.ended ?? 'running',
      laneKey: (tags) => tags.join('\n'),
    },
    { names, options, masterId: 'test-master', logger },
  );
  const l = await link();
  queue.start(l);
  queues.push(queue);
  const take = () => {
    const e = queue.shift('');
    if (e) state.taken++;
    return e;
  };
  const done = (e: Entry) => {
    state.taken--;
    e.ended = outcome(e);
    queue.ack(e);
  };
  return { queue, state, take, done, link: l };
}

const completed: TaskOutcome = {
  status: 'completed',
  result: { ok: true },
  error: null,
  slave: 's',
  attempts: 1,
};

async function publish(l: NatsLink, names: FleetNames, id: string, extra: object = {}) {
  const tags = (extra as { tags?: string[] }).tags ?? [];
  await l.js.publish(
    names.taskSubject(laneToken(tags)),
    encodeTask({ v: kSchemaVersion, id, client: 'c', data: { id }, ...extra }),
    { msgID: `c.${id}` },
  );
}

async function results(l: NatsLink, names: FleetNames): Promise<ResultMessage[]> {
  const out: ResultMessage[] = [];
  const info = await l.jsm.streams.info(names.resultsStream);
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await l.jsm.streams.getMessage(names.resultsStream, { seq });
    if (m) out.push(parseResultMessage(m.data)!);
  }
  return out;
}

async function tasksLeft(l: NatsLink, names: FleetNames): Promise<number> {
  return (await l.jsm.streams.info(names.tasksStream)).state.messages;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('JetStreamQueue on nats-server', () => {
  test('pulls no more than the free slots, in priority order among what it pulled', async () => {
    const { names, options, publisher } = await fleet();
    for (let i = 0; i < 10; i++) await publish(publisher, names, `t${i}`, { priority: i === 2 ? 5 : 0 });
    const q = await queueOf(names, options, 3);
    await waitFor('three pulled', () => q.queue.size === 3);
    await sleep(300);
    assert.equal(q.queue.size, 3, 'no more than the 3 free slots');
    assert.deepEqual(
      [q.take()!.id, q.take()!.id, q.take()!.id],
      ['t2', 't0', 't1'],
      'priority, then arrival',
    );
    await sleep(300);
    assert.equal(q.queue.size, 0, 'every slot taken: nothing more pulled');
    q.state.capacity = 5;
    q.queue.kick();
    await waitFor('two more pulled', () => q.queue.size === 2);
    assert.equal(q.queue.stats().pulled, 5);
    await q.queue.close();
  });

  test('acknowledges a task only after its result is stored; the result says who ran it', async () => {
    const { names, options, publisher } = await fleet();
    await publish(publisher, names, 'a');
    const q = await queueOf(names, options, 1);
    await waitFor('pulled', () => q.queue.size === 1);
    const e = q.take()!;
    assert.equal(await tasksLeft(publisher, names), 1, 'held, not acknowledged');
    q.done(e);
    await waitFor('result stored', () => q.queue.stats().resultsPublished === 1);
    await waitFor('task acknowledged', () => q.queue.stats().held === 0);
    const [r] = await results(publisher, names);
    assert.deepEqual(
      { id: r!.id, client: r!.client, status: r!.status, master: r!.master, delivery: r!.delivery },
      { id: 'a', client: 'c', status: 'completed', master: 'test-master', delivery: 1 },
    );
    for (let i = 0; i < 50 && (await tasksLeft(publisher, names)) > 0; i++) await sleep(20);
    assert.equal(await tasksLeft(publisher, names), 0, 'the work-queue stream dropped the acknowledged task');
    await q.queue.close();
  });

  test('a long task is kept by in-progress acks past the ack wait; another master never gets it', async () => {
    const { names, options, publisher } = await fleet(1);
    await publish(publisher, names, 'long');
    const a = await queueOf(names, options, 1);
    await waitFor('pulled', () => a.queue.size === 1);
    const e = a.take()!;
    const b = await queueOf(names, options, 1);
    await sleep(3500); // three and a half ack waits
    assert.equal(b.queue.stats().pulled, 0, 'not redelivered while in progress');
    a.done(e);
    await waitFor('result', () => a.queue.stats().resultsPublished === 1);
    await Promise.all([a.queue.close(), b.queue.close()]);
  });

  test('a master that dies holding a task: another gets it after the ack wait, and a stored result is not run twice', async () => {
    const { names, options, publisher } = await fleet(1);
    await publish(publisher, names, 'x');
    await publish(publisher, names, 'y');
    const a = await queueOf(names, options, 2);
    await waitFor('pulled', () => a.queue.size === 2);
    a.take();
    a.take();
    // as if the dead master had published y's result and died before acknowledging y
    await publisher.js.publish(
      names.resultSubject('c', 'y'),
      JSON.stringify({ v: 1, id: 'y', client: 'c', status: 'completed', result: 1, error: null }),
      { msgID: 'c.y' },
    );
    await a.link.nc.close(); // dies: nothing acknowledged, no more in-progress acks
    const b = await queueOf(names, options, 2);
    await waitFor('x redelivered', () => b.queue.size === 1, 10_000);
    const e = b.take()!;
    assert.deepEqual({ id: e.id, delivery: e.delivery }, { id: 'x', delivery: 2 });
    await waitFor('y suppressed', () => b.queue.stats().duplicatesSuppressed === 1);
    b.done(e);
    await waitFor('x result', () => b.queue.stats().resultsPublished === 1);
    const stats = b.queue.stats();
    assert.equal(stats.redelivered, 2);
    const stored = await results(publisher, names);
    assert.deepEqual(stored.map((r) => r.id).sort(), ['x', 'y'], 'one result each');
    await b.queue.close();
  });

  test('close gives waiting and unreported tasks back at once; a given-back result is not published', async () => {
    const { names, options, publisher } = await fleet();
    for (const id of ['p', 'q', 'r']) await publish(publisher, names, id);
    const a = await queueOf(names, options, 3, () => 'give-back');
    await waitFor('pulled', () => a.queue.size === 3);
    const taken = a.take()!;
    a.done(taken); // outcome undefined: shutting down, give it back
    await a.queue.close();
    assert.equal(a.queue.stats().givenBack, 3);
    const b = await queueOf(names, options, 3);
    await waitFor('all three again, long before the 30 s ack wait', () => b.queue.size === 3);
    assert.equal((await results(publisher, names)).length, 0);
    await b.queue.close();
  });

  test('what is not a task is terminated with a logged reason (a failed result when it named one), never redelivered', async () => {
    const { names, options, publisher } = await fleet(1);
    const subject = names.taskSubject('_');
    await publisher.js.publish(subject, 'not json');
    await publisher.js.publish(subject, JSON.stringify({ v: 2, id: 'future', client: 'c', data: 1 }));
    await publisher.js.publish(
      subject,
      JSON.stringify({ v: 1, id: 'big', client: 'c', data: 'x'.repeat(2000) }),
    );
    await publisher.js.publish(
      subject,
      JSON.stringify({ v: 1, id: 'bad', client: 'c', data: 1, retries: -1 }),
    );
    await publisher.js.publish(
      subject,
      JSON.stringify({ v: 1, id: 'tagged', client: 'c', data: 1, tags: ['gpu'] }),
    );
    await publish(publisher, names, 'good');
    const logged: string[] = [];
    const small = { ...options, maxTaskBytes: 1000 };
    const q = await queueOf(names, small, 10, () => completed, logged);
    await waitFor('five terminated', () => q.queue.stats().terminated === 5);
    await waitFor('the good one waits', () => q.queue.size === 1);
    assert.equal(q.take()!.id, 'good');
    await sleep(2500); // past two ack waits: a terminated message never comes back
    assert.equal(q.queue.stats().pulled, 6);
    const byId = new Map((await results(publisher, names)).map((r) => [r.id, r]));
    assert.deepEqual([...byId.keys()].sort(), ['bad', 'big', 'future', 'tagged']);
    for (const r of byId.values()) assert.equal(r.error?.code, 'INVALID_TASK');
    assert.match(byId.get('future')!.error!.message, /schema version 2/);
    assert.match(byId.get('big')!.error!.message, /bytes \(limit 1000\)/);
    assert.match(byId.get('bad')!.error!.message, /retries must be an integer/);
    assert.match(byId.get('tagged')!.error!.message, /its tags make lane/);
    assert.ok(logged.some((l) => l.includes('not JSON')));
    await q.queue.close();
  });

  test('a result that is not JSON or too large for NATS ends the task as failed, once, instead of redelivering it', async () => {
    const { names, options, publisher } = await fleet(1);
    await publish(publisher, names, 'bigint');
    await publish(publisher, names, 'huge');
    const outcomes: Record<string, TaskOutcome> = {
      bigint: { ...completed, result: { n: 1n } },
      huge: { ...completed, result: 'x'.repeat(2 * 1024 * 1024) },
    };
    const q = await queueOf(names, options, 2, (e) => outcomes[e.id]!);
    await waitFor('pulled', () => q.queue.size === 2);
    q.done(q.take()!);
    q.done(q.take()!);
    await waitFor('both published', () => q.queue.stats().resultsPublished === 2);
    await sleep(1500); // past the ack wait: acknowledged, so never redelivered
    assert.equal(q.queue.stats().pulled, 2);
    const byId = new Map((await results(publisher, names)).map((r) => [r.id, r]));
    assert.equal(byId.get('bigint')?.error?.code, 'RESULT_NOT_JSON');
    assert.equal(byId.get('huge')?.error?.code, 'RESULT_TOO_LARGE');
    assert.equal(byId.get('huge')?.status, 'failed');
    await q.queue.close();
  });
});

describe('dead letters: closing while a failed result cannot be stored', { timeout: 60_000 }, () => {
  test("close() returns (bounded) while a dead task's result publish retries, instead of waiting for it", async () => {
    const { names, options, publisher } = await fleet(0.5);
    await publish(publisher, names, 'dead-1');
    const seq = (await publisher.jsm.streams.info(names.tasksStream)).state.last_seq;
    // the results stream still answers reads (no result yet) but no longer takes this fleet's results: every
    // publish of one fails while the connection stays up, so the publish retries for as long as it is let
    await publisher.jsm.streams.delete(names.resultsStream);
    await publisher.jsm.streams.add({ name: names.resultsStream, subjects: [`elsewhere.${names.fleet}.>`] });
    const logged: string[] = [];
    const q = await queueOf(names, options, 0, () => completed, logged);
    // the queue makes the dead stream as it starts
    while (
      !(await publisher.jsm.streams.info(names.deadStream).then(
        () => true,
        () => false,
      ))
    )
      await sleep(50);
    // JetStream's advisory for the task, as nats-server writes it
    await publisher.js.publish(
      `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${names.tasksStream}.x`,
      JSON.stringify({ stream: names.tasksStream, stream_seq: seq, deliveries: 5 }),
    );
    await waitFor(
      'the failed result being retried',
      () => logged.some((l) => l.includes('"taskId":"dead-1"')),
      20_000,
    );
    await q.queue.close();
    assert.equal(q.queue.stats().deadLettered, 0, 'nothing was stored');
    assert.equal(await tasksLeft(publisher, names), 1, 'the task stays for a master that can fail it');
  });
});

describe('dead letters: reading an advisory', () => {
  test('only a max-deliveries advisory of this fleet’s tasks stream, with a sequence, is read', () => {
    const read = (value: unknown) => parseAdvisory(Buffer.from(JSON.stringify(value)), 'f_tasks');
    assert.deepEqual(read({ stream: 'f_tasks', stream_seq: 7, deliveries: 5, consumer: 'c' }), {
      stream: 'f_tasks',
      consumer: 'c',
      stream_seq: 7,
      deliveries: 5,
    });
    assert.equal(read({ stream: 'f_tasks', stream_seq: 7, consumer: 'c'.repeat(257) })?.consumer, undefined);
    assert.equal(read({ stream: 'other_tasks', stream_seq: 7, deliveries: 5 }), undefined);
    for (const seq of [0, -1, 1.5, '7', null, 2 ** 60]) {
      assert.equal(read({ stream: 'f_tasks', stream_seq: seq, deliveries: 5 }), undefined, String(seq));
    }
    assert.equal(read({ stream: 'f_tasks', stream_seq: 3, deliveries: 'x' })?.deliveries, 0);
    assert.equal(read(null), undefined);
    assert.equal(parseAdvisory(Buffer.from('{'), 'f_tasks'), undefined);
    const padded = { stream: 'f_tasks', stream_seq: 1, deliveries: 1, pad: 'x'.repeat(5000) };
    assert.equal(read(padded), undefined, 'larger than any advisory');
  });
});
